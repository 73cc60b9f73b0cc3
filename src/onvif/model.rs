//! What the device is, as ONVIF answers describe it: identity, the media
//! profile of the RTSP mount (its real forward streams), the audio output
//! (the back channel) and the decoders it takes.
//!
//! INTERFACE DRAFT (lead): the glue fills a `DeviceModel` from the element's
//! properties and the forward streams' caps; `services` answers from it.

use crate::codecs::BackchannelCodec;

/// Who is calling, as far as the answer depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// "http" or "https": service XAddrs carry the scheme the client used.
    pub scheme: String,
    /// The host the client used (Host header, without port; an IPv6
    /// address without brackets), for XAddrs and the stream URI.
    pub host: String,
    /// The HTTP port the client used.
    pub http_port: u16,
    /// ONVIF user level of the caller (after authentication).
    pub level: UserLevel,
    /// Now, in seconds since the Unix epoch (UTC), for GetSystemDateAndTime.
    pub now_unix: i64,
}

/// ONVIF user levels (Core), lowest first. `viewer` maps to User and
/// `talker` to Operator; without users-file everyone is Operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserLevel {
    Anonymous,
    User,
    Operator,
    Administrator,
}

/// A forward video stream of `launch`.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    /// "H264", "H265", "JPEG", "MPEG4", "VP8"... (Media2 names; Media1
    /// knows only JPEG, MPEG4 and H264).
    pub encoding: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second (0 if unknown).
    pub framerate: f64,
    /// kbit/s, if the encoder says.
    pub bitrate_kbps: Option<u32>,
    /// Frames between key frames, if the encoder says.
    pub gov_length: Option<u32>,
    /// H.264 profile as in caps ("baseline", "main", "high"...), if known.
    pub profile: Option<String>,
}

/// A forward audio stream of `launch`.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    /// Media2 / IANA name: "PCMU", "PCMA", "G726", "MP4A-LATM", "mpeg4-generic", "opus"...
    pub encoding: String,
    pub sample_rate: u32,
    pub bitrate_kbps: Option<u32>,
}

/// The whole device.
#[derive(Debug, Clone)]
pub struct DeviceModel {
    pub manufacturer: String,
    pub model: String,
    pub firmware_version: String,
    pub serial_number: String,
    pub hardware_id: String,
    /// Friendly name (scope `onvif://www.onvif.org/name/...`).
    pub name: String,
    /// Hardware (scope `onvif://www.onvif.org/hardware/...`).
    pub hardware: String,
    /// `urn:uuid:...`, stable.
    pub endpoint_reference: String,
    pub hostname: String,
    /// First network interface: name and MAC (aa:bb:cc:dd:ee:ff).
    pub interface_name: String,
    pub hw_address: String,
    /// The RTSP mount: scheme "rtsp" or "rtsps", port, path ("/stream").
    pub rtsp_scheme: String,
    pub rtsp_port: u16,
    pub rtsp_path: String,
    /// Forward streams of the first (only) media profile.
    pub video: Option<VideoStream>,
    pub audio: Option<AudioStream>,
    /// Back channel codecs, in `codecs` order (what the SDP lists).
    pub backchannel: Vec<&'static BackchannelCodec>,
}

impl DeviceModel {
    /// The stream URI as reached from `host` (brackets added for IPv6).
    pub fn stream_uri(&self, host: &str) -> String {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        format!(
            "{}://{}:{}{}",
            self.rtsp_scheme, host, self.rtsp_port, self.rtsp_path
        )
    }
}

//! What the device is, as ONVIF answers describe it: identity, the media
//! profile of the RTSP mount (its real forward streams), the audio output
//! (the back channel) and the decoders it takes.
//!
//! The glue fills a `DeviceModel` from the element's properties and the
//! forward streams' caps; `services` answers from it.

use crate::codecs::BackchannelCodec;

/// Tokens of the one profile and of its configurations. One media profile
/// (the RTSP mount), one of each configuration: fixed, so that clients may
/// keep them.
pub mod tokens {
    pub const PROFILE: &str = "profile_0";
    pub const VIDEO_SOURCE: &str = "video_source_0";
    pub const VIDEO_SOURCE_CONFIG: &str = "video_source_config_0";
    pub const VIDEO_ENCODER_CONFIG: &str = "video_encoder_config_0";
    pub const AUDIO_SOURCE: &str = "audio_source_0";
    pub const AUDIO_SOURCE_CONFIG: &str = "audio_source_config_0";
    pub const AUDIO_ENCODER_CONFIG: &str = "audio_encoder_config_0";
    pub const AUDIO_OUTPUT: &str = "audio_output_0";
    pub const AUDIO_OUTPUT_CONFIG: &str = "audio_output_config_0";
    pub const AUDIO_DECODER_CONFIG: &str = "audio_decoder_config_0";
}

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

impl CallContext {
    /// The address of one of our services as this caller reaches it:
    /// `{scheme}://{host}:{port}/onvif/{service}` (`service` e.g.
    /// `device_service`), an IPv6 host in brackets.
    pub fn xaddr(&self, service: &str) -> String {
        format!(
            "{}://{}:{}/onvif/{}",
            self.scheme,
            bracket_ipv6(&self.host),
            self.http_port,
            service
        )
    }

    /// Whether the caller may talk: only then do its profiles carry the
    /// audio output and decoder (a viewer's do not, so that clients offer
    /// no talk button that the RTSP server would refuse).
    pub fn may_talk(&self) -> bool {
        self.level >= UserLevel::Operator
    }
}

/// `host` as it goes into a URL: an IPv6 address in brackets, its zone
/// (`fe80::1%eth0`) with the `%` written `%25` (RFC 6874).
pub fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{}]", host.replacen('%', "%25", 1))
    } else {
        host.to_string()
    }
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
        format!(
            "{}://{}:{}{}",
            self.rtsp_scheme,
            bracket_ipv6(host),
            self.rtsp_port,
            self.rtsp_path
        )
    }

    /// Whether the device has an audio output: a back channel with at
    /// least one codec.
    pub fn has_audio_output(&self) -> bool {
        !self.backchannel.is_empty()
    }

    /// The device's scopes (GetScopes, WS-Discovery): the Profile/Streaming
    /// scope that Home Assistant's discovery requires, Profile/T (Media2),
    /// the media types, name, hardware and MAC. Name and hardware are
    /// percent-encoded.
    pub fn scopes(&self) -> Vec<String> {
        crate::onvif::discovery::device_scopes(&crate::onvif::discovery::ScopeInfo {
            name: self.name.clone(),
            hardware: self.hardware.clone(),
            mac: (!self.hw_address.is_empty()).then(|| self.hw_address.clone()),
            location: None,
            profile_t: true,
            video_encoder: self.video.is_some(),
            audio_encoder: self.audio.is_some(),
        })
    }
}

impl Default for DeviceModel {
    /// A device with the element's default streams (H.264 640x480 at 30
    /// fps, PCMU) and every back channel codec; the glue overwrites what it
    /// knows. Also the base of the unit tests' models.
    fn default() -> Self {
        DeviceModel {
            manufacturer: "GStreamer".into(),
            model: "onvifbackchannelsrc".into(),
            firmware_version: env!("CARGO_PKG_VERSION").into(),
            serial_number: "0".into(),
            hardware_id: "onvifbackchannelsrc".into(),
            name: "GStreamer ONVIF back channel".into(),
            hardware: "onvifbackchannelsrc".into(),
            endpoint_reference: "urn:uuid:00000000-0000-0000-0000-000000000000".into(),
            hostname: "localhost".into(),
            interface_name: "eth0".into(),
            hw_address: "00:00:00:00:00:00".into(),
            rtsp_scheme: "rtsp".into(),
            rtsp_port: 8554,
            rtsp_path: "/stream".into(),
            video: Some(VideoStream {
                encoding: "H264".into(),
                width: 640,
                height: 480,
                framerate: 30.0,
                bitrate_kbps: None,
                gov_length: None,
                profile: None,
            }),
            audio: Some(AudioStream {
                encoding: "PCMU".into(),
                sample_rate: 8000,
                bitrate_kbps: None,
            }),
            backchannel: crate::codecs::ALL_CODECS.iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(host: &str) -> CallContext {
        CallContext {
            scheme: "https".into(),
            host: host.into(),
            http_port: 8443,
            level: UserLevel::User,
            now_unix: 0,
        }
    }

    #[test]
    fn xaddr_and_stream_uri_bracket_ipv6() {
        assert_eq!(
            ctx("fe80::1").xaddr("media_service"),
            "https://[fe80::1]:8443/onvif/media_service"
        );
        assert_eq!(
            ctx("192.0.2.7").xaddr("device_service"),
            "https://192.0.2.7:8443/onvif/device_service"
        );
        let model = DeviceModel::default();
        assert_eq!(model.stream_uri("::1"), "rtsp://[::1]:8554/stream");
        assert_eq!(model.stream_uri("[::1]"), "rtsp://[::1]:8554/stream");
        assert_eq!(
            model.stream_uri("fe80::2%eth0"),
            "rtsp://[fe80::2%25eth0]:8554/stream"
        );
    }

    #[test]
    fn scopes_encode_name_and_list_profiles() {
        let model = DeviceModel {
            name: "Front door/1".into(),
            ..DeviceModel::default()
        };
        let scopes = model.scopes();
        assert!(scopes.contains(&"onvif://www.onvif.org/Profile/Streaming".to_string()));
        assert!(scopes.contains(&"onvif://www.onvif.org/name/Front%20door%2F1".to_string()));
    }
}

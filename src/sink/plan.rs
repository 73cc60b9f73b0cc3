//! What to send to a camera: its back channel formats out of a DESCRIBE
//! answer, the control URLs to SETUP, and the codec, payload type and packet
//! duration chosen among them.
//!
//! Plain Rust, no GStreamer objects and no I/O: the element's glue hands in
//! the answer's body and headers and builds its encoder and payloader from the
//! [`Choice`].
//!
//! Both SDP forms of ONVIF's back channel are read (ONVIF Streaming §5.3):
//! one `a=sendonly` audio section listing every payload type the camera
//! decodes (the ONVIF form; Dahua lists up to 20), or one sendonly section
//! per codec, all with the same `a=control` (gst-rtsp-server's
//! `GstRTSPOnvifMedia`). What real cameras get wrong and we take anyway
//! (see the project's client notes): lower-case encoding names (Avigilon's
//! `pcmu/8000`), static payload types without `a=rtpmap`, broken `c=` lines
//! (`c=SM SM spk0_trackID2`, `c=IN` without an address), a sendonly VIDEO
//! section (IDS uEye marks its camera picture so: not a back channel), a
//! Content-Base that ends in `/` after a query (Dahua) or is not a URL at
//! all (`rtsp://rtsp://...`).
//!
//! The SDP is read by the WHIP offer's parser (src/webrtc/offer.rs) after a
//! lenient pass that drops lines it would refuse and that a camera's answer
//! can do without.

use std::fmt;

use crate::codecs::{BackchannelCodec, ALL_CODECS};
use crate::webrtc::offer::{self, Direction, Media, RtpMap, Sdp};

/// One payload type the camera takes on its back channel (a sendonly media).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub pt: u8,
    /// Upper case, e.g. `PCMU`, `MPEG4-GENERIC`, `OPUS`.
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u32>,
    /// The `a=fmtp` parameters of this payload type, as written.
    pub fmtp: Option<String>,
    /// Absolute URL to SETUP (resolved, see [`resolve_control`]).
    pub control: String,
    /// `a=ptime` of its media, ms.
    pub ptime: Option<u32>,
    /// `a=maxptime` of its media, ms.
    pub maxptime: Option<u32>,
}

impl Offered {
    /// `ENCODING/rate[/channels]`, as messages name it.
    pub fn describe(&self) -> String {
        match self.channels {
            Some(ch) => format!("{}/{}/{}", self.encoding, self.clock_rate, ch),
            None => format!("{}/{}", self.encoding, self.clock_rate),
        }
    }

    fn rtpmap(&self) -> RtpMap {
        RtpMap {
            pt: self.pt,
            name: self.encoding.clone(),
            clock_rate: self.clock_rate,
            channels: self.channels,
        }
    }

    /// Whether it is `codec`: encoding (any case) and clock rate, and the
    /// channels when the camera states them. An AAC without `config` is
    /// still AAC: we send our own config in-band.
    pub fn is(&self, codec: &BackchannelCodec) -> bool {
        offer::matches(codec, &self.rtpmap())
    }
}

/// Why there is nothing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// No sendonly audio section, or none with a payload type we can read.
    NoBackchannel(String),
    /// Nothing of `camera` (`ENCODING/rate`, comma separated) is in `ours`
    /// (codec names, comma separated).
    NoCommonCodec { camera: String, ours: String },
    /// The body is not an SDP.
    BadSdp(String),
}

impl PlanError {
    /// One sentence for an element error.
    pub fn message(&self) -> String {
        match self {
            PlanError::NoBackchannel(detail) => {
                format!("the camera offers no back channel: {detail}")
            }
            PlanError::NoCommonCodec { camera, ours } => {
                format!("no codec in common: the camera takes {camera}; we can send {ours}")
            }
            PlanError::BadSdp(detail) => format!("the camera's SDP cannot be read: {detail}"),
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for PlanError {}

/// Reads a camera's SDP. Before the strict parser sees it: invalid UTF-8 is
/// replaced, a byte order mark and blanks around lines are dropped, and so
/// are lines that are not `<letter>=`, anything before `v=0`, a second
/// `v=` and an `o=` without its six fields; a missing `o=` is made up. What
/// is left and still unreadable (a broken `m=` line: its attributes could
/// not be placed) is [`PlanError::BadSdp`].
fn read_sdp(sdp: &[u8]) -> Result<Sdp, PlanError> {
    if sdp.len() > offer::MAX_SDP_BYTES {
        return Err(PlanError::BadSdp(format!(
            "{} bytes, at most {} are read",
            sdp.len(),
            offer::MAX_SDP_BYTES
        )));
    }
    let text = String::from_utf8_lossy(sdp);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut kept: Vec<&str> = Vec::new();
    let mut seen_version = false;
    let mut seen_origin = false;
    for line in text.lines() {
        let line = line.trim();
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
            continue;
        }
        match b[0] {
            b'v' if !seen_version && line == "v=0" => seen_version = true,
            _ if !seen_version => continue,
            b'v' => continue,
            b'o' if line[2..].split_ascii_whitespace().count() != 6 => continue,
            b'o' => seen_origin = true,
            _ => {}
        }
        kept.push(line);
    }
    if !seen_version {
        return Err(PlanError::BadSdp("no 'v=0' line".into()));
    }
    if !seen_origin {
        kept.insert(1, "o=- 0 0 IN IP4 0.0.0.0");
    }
    Sdp::parse(&kept.join("\r\n")).map_err(|e| PlanError::BadSdp(e.reason().to_string()))
}

/// The camera's back channel: an audio section the camera receives on.
fn is_backchannel(media: &Media) -> bool {
    media.kind.eq_ignore_ascii_case("audio") && media.direction() == Some(Direction::SendOnly)
}

/// `a=ptime` / `a=maxptime` in ms (fractions rounded, RFC 4566 allows
/// them); `None` when absent, zero or unreadable.
fn milliseconds(media: &Media, key: &str) -> Option<u32> {
    let ms: f64 = media.attribute(key)?.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.5 && ms <= f64::from(u32::MAX)).then(|| ms.round() as u32)
}

/// Whether `url` can be a base: one `rtsp://` or `rtsps://` (any case), a
/// host, and no blanks or a second scheme (`rtsp://rtsp://...`).
fn sane_base(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("rtsp://")
        .or_else(|| lower.strip_prefix("rtsps://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty()
        && !rest.contains("://")
        && !rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// The base for relative controls (RFC 2326 C.1.1): Content-Base if it is
/// a sane single `rtsp(s)://` URL, else Content-Location (same test), else
/// the request URL. [`backchannel_formats`] and [`other_controls`] take one
/// header: a caller with a Content-Location passes this function's result
/// as their `content_base`.
pub fn base_url(
    request_url: &str,
    content_base: Option<&str>,
    content_location: Option<&str>,
) -> String {
    [content_base, content_location]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|u| sane_base(u))
        .unwrap_or(request_url)
        .to_string()
}

/// Whether `url` starts with a scheme and `://`.
fn is_absolute(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// A media's control URL against `base` (RFC 2326 C.1.1, the way RTSP
/// clients do it rather than RFC 3986's merge, which would drop a base's
/// last segment and query): none or `*` is the base itself; an absolute
/// URL (Avigilon's, with a query) stays as it is; `/path` replaces the
/// base's path; anything else is appended after a `/`, or directly when the
/// base ends in one, also after a query (Dahua's
/// `.../realmonitor?channel=1&proto=Onvif/` + `trackID=5`).
pub fn resolve_control(base: &str, control: &str) -> String {
    let control = control.trim();
    if control.is_empty() || control == "*" {
        return base.to_string();
    }
    if is_absolute(control) {
        return control.to_string();
    }
    if control.starts_with('/') {
        let authority_end = base
            .find("://")
            .map(|i| i + 3)
            .and_then(|start| {
                base[start..]
                    .find(['/', '?', '#'])
                    .map(|i| start + i)
                    .or(Some(base.len()))
            })
            .unwrap_or(base.len());
        return format!("{}{}", &base[..authority_end], control);
    }
    if base.ends_with('/') {
        format!("{base}{control}")
    } else {
        format!("{base}/{control}")
    }
}

/// Every back channel payload type of a DESCRIBE answer, in the camera's
/// order (sections, then payload types of each). Both SDP forms; static
/// payload types without `a=rtpmap` (0 PCMU, 8 PCMA, 9 G722); names upper
/// cased; a payload type listed again with the same control only once. The
/// controls are resolved against [`base_url`]`(request_url, content_base,
/// None)`.
pub fn backchannel_formats(
    sdp: &[u8],
    request_url: &str,
    content_base: Option<&str>,
) -> Result<Vec<Offered>, PlanError> {
    let sdp = read_sdp(sdp)?;
    let base = base_url(request_url, content_base, None);
    let mut out: Vec<Offered> = Vec::new();
    let mut sections = 0;
    for media in sdp.media.iter().filter(|m| is_backchannel(m)) {
        sections += 1;
        let control = resolve_control(&base, media.attribute("control").unwrap_or(""));
        let ptime = milliseconds(media, "ptime");
        let maxptime = milliseconds(media, "maxptime");
        for map in media.rtpmaps() {
            if out.iter().any(|o| o.pt == map.pt && o.control == control) {
                continue;
            }
            out.push(Offered {
                pt: map.pt,
                encoding: map.name.to_ascii_uppercase(),
                clock_rate: map.clock_rate,
                channels: map.channels,
                fmtp: media.fmtp(map.pt).map(str::to_string),
                control: control.clone(),
                ptime,
                maxptime,
            });
        }
    }
    if sections == 0 {
        let media: Vec<String> = sdp
            .media
            .iter()
            .map(|m| match m.direction() {
                Some(d) => format!("{} {}", m.kind, d.as_str()),
                None => m.kind.clone(),
            })
            .collect();
        return Err(PlanError::NoBackchannel(format!(
            "its SDP has no sendonly audio section (media: {})",
            if media.is_empty() {
                "none".to_string()
            } else {
                media.join(", ")
            }
        )));
    }
    if out.is_empty() {
        return Err(PlanError::NoBackchannel(
            "its sendonly audio section lists no payload type with a known encoding".into(),
        ));
    }
    Ok(out)
}

/// Controls of the other (non-back-channel) media, resolved as in
/// [`backchannel_formats`], each once, without the back channel's and
/// without `inactive` media: what `setup-all-tracks` SETUPs. Empty for an
/// unreadable SDP.
pub fn other_controls(sdp: &[u8], request_url: &str, content_base: Option<&str>) -> Vec<String> {
    let Ok(sdp) = read_sdp(sdp) else {
        return Vec::new();
    };
    let base = base_url(request_url, content_base, None);
    let control = |m: &Media| resolve_control(&base, m.attribute("control").unwrap_or(""));
    let back: Vec<String> = sdp
        .media
        .iter()
        .filter(|m| is_backchannel(m))
        .map(control)
        .collect();
    let mut out: Vec<String> = Vec::new();
    for media in sdp.media.iter().filter(|m| !is_backchannel(m)) {
        if media.direction() == Some(Direction::Inactive) {
            continue;
        }
        let c = control(media);
        if !back.contains(&c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The codec and payload type to send, and the packet duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub offered: Offered,
    pub codec: &'static BackchannelCodec,
    pub ptime_ms: u32,
}

/// The packet duration: `ptime` (0: the camera's `a=ptime`, else 20 ms),
/// never above the camera's `a=maxptime`.
fn packet_duration(offered: &Offered, ptime: u32) -> u32 {
    let wanted = match ptime {
        0 => offered.ptime.unwrap_or(20),
        ms => ms,
    };
    offered.maxptime.map_or(wanted, |max| wanted.min(max))
}

/// Picks what to send. `prefs`: names as in the factory's `codecs`
/// (aliases such as `AAC` included, unknown names skipped); `None` takes
/// the camera's order among the codecs `can_send` says we can encode or
/// pass through, `Some` takes the order of `prefs` among what the camera
/// offers (its first payload type of a codec). `ptime`: see
/// [`Choice::ptime_ms`] (0 = the camera's `a=ptime`, else 20 ms; capped
/// at its `a=maxptime`).
pub fn choose(
    offered: &[Offered],
    prefs: Option<&[&str]>,
    can_send: impl Fn(&BackchannelCodec) -> bool,
    ptime: u32,
) -> Result<Choice, PlanError> {
    let ours: Vec<&'static BackchannelCodec> = match prefs {
        None => ALL_CODECS.iter().filter(|c| can_send(c)).collect(),
        Some(names) => {
            let mut list: Vec<&'static BackchannelCodec> = Vec::new();
            for codec in names
                .iter()
                .filter_map(|n| BackchannelCodec::resolve(n))
                .flatten()
            {
                if can_send(codec) && !list.contains(&codec) {
                    list.push(codec);
                }
            }
            list
        }
    };
    let found = match prefs {
        None => offered
            .iter()
            .find_map(|o| Some((o, *ours.iter().find(|c| o.is(c))?))),
        Some(_) => ours
            .iter()
            .find_map(|c| Some((offered.iter().find(|o| o.is(c))?, *c))),
    };
    match found {
        Some((o, codec)) => Ok(Choice {
            offered: o.clone(),
            codec,
            ptime_ms: packet_duration(o, ptime),
        }),
        None => {
            let mut camera: Vec<String> = Vec::new();
            for name in offered.iter().map(Offered::describe) {
                if !camera.contains(&name) {
                    camera.push(name);
                }
            }
            let list = |v: Vec<String>| {
                if v.is_empty() {
                    "nothing".to_string()
                } else {
                    v.join(", ")
                }
            };
            Err(PlanError::NoCommonCodec {
                camera: list(camera),
                ours: list(ours.iter().map(|c| c.name.to_string()).collect()),
            })
        }
    }
}

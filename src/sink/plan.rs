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

#[cfg(test)]
mod tests {
    use super::*;

    /// Dahua/Amcrest with `unicast=true&proto=Onvif` (go2rtc#936, #685,
    /// gortsplib#479): 20 payload types on one sendonly line, control
    /// `trackID=5` relative to a Content-Base that ends in `/` after the query.
    const DAHUA: &str = "v=0\r\n\
o=- 2251938210 2251938210 IN IP4 0.0.0.0\r\n\
s=Media Server\r\n\
c=IN IP4 0.0.0.0\r\n\
t=0 0\r\n\
a=control:*\r\n\
a=packetization-supported:DH\r\n\
a=rtppayload-supported:DH\r\n\
a=range:npt=now-\r\n\
m=video 0 RTP/AVP 96\r\n\
a=control:trackID=0\r\n\
a=framerate:25.000000\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1;profile-level-id=4D002A\r\n\
a=recvonly\r\n\
m=audio 0 RTP/AVP 8\r\n\
a=control:trackID=1\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=recvonly\r\n\
m=audio 0 RTP/AVP 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 0 8 114\r\n\
a=control:trackID=5\r\n\
a=rtpmap:97 MPEG4-GENERIC/8000/1\r\n\
a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3\r\n\
a=rtpmap:98 MPEG4-GENERIC/16000/1\r\n\
a=fmtp:98 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3\r\n\
a=rtpmap:99 MPEG4-GENERIC/32000/1\r\n\
a=rtpmap:100 MPEG4-GENERIC/44100/1\r\n\
a=rtpmap:101 MPEG4-GENERIC/48000/1\r\n\
a=rtpmap:102 MPEG4-GENERIC/64000/1\r\n\
a=rtpmap:103 G726-40/8000\r\n\
a=rtpmap:104 L16/8000/1\r\n\
a=rtpmap:105 L16/16000/1\r\n\
a=rtpmap:106 L16/48000/1\r\n\
a=rtpmap:107 PCMU/16000\r\n\
a=rtpmap:108 PCMU/48000\r\n\
a=rtpmap:109 PCMA/16000\r\n\
a=rtpmap:110 PCMA/48000\r\n\
a=rtpmap:111 G726-16/8000\r\n\
a=rtpmap:112 G726-24/8000\r\n\
a=rtpmap:113 G726-32/8000\r\n\
a=rtpmap:114 MPEG4-GENERIC/22050/1\r\n\
a=sendonly\r\n";
    const DAHUA_URL: &str =
        "rtsp://192.168.1.108:554/cam/realmonitor?channel=1&subtype=0&unicast=true&proto=Onvif";
    const DAHUA_BASE: &str =
        "rtsp://192.168.1.108:554/cam/realmonitor?channel=1&subtype=0&unicast=true&proto=Onvif/";

    /// Avigilon (gortsplib PR #501): port 0, lower-case names, Opus, an
    /// absolute control with a query and an invalid `c=` line.
    const AVIGILON: &str = "v=0\n\
o=- 1 1 IN IP4 10.0.0.5\n\
s=Avigilon RTSP\n\
t=0 0\n\
a=control:rtsp://10.0.0.5:554/defaultPrimary?streamType=u\n\
m=video 0 RTP/AVP 96\n\
c=IN IP4 0.0.0.0\n\
a=rtpmap:96 H264/90000\n\
a=control:rtsp://10.0.0.5:554/defaultPrimary/trackID=1?streamType=u\n\
a=recvonly\n\
m=audio 0 RTP/AVP 0 97\n\
c=SM SM spk0_trackID2\n\
a=rtpmap:0 pcmu/8000\n\
a=rtpmap:97 opus/48000/2\n\
a=control:rtsp://10.0.0.5:554/defaultPrimary/trackID=2?streamType=u\n\
a=sendonly\n";

    /// Reolink (`BC Streaming Media`, go2rtc#987, #331): one PCMA track, a
    /// Content-Base whose path differs from the request's.
    fn reolink(extra: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=BC Streaming Media\r\nt=0 0\r\n\
             m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\na=recvonly\r\n\
             m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n{extra}a=control:track3\r\na=sendonly\r\n"
        )
    }

    /// gst-rtsp-server 1.22's GstRTSPOnvifMedia with a back channel capsfilter
    /// of PCMU, PCMA and OPUS (captured: one sendonly m= per codec, one control).
    const GST_RTSP_SERVER: &str = include_str!("testdata/gst_rtsp_onvif_media.sdp");
    /// This plugin's onvifbackchannelsrc (README "What the SDP looks like").
    const OURS: &str = include_str!("testdata/onvifbackchannelsrc.sdp");

    fn formats(sdp: &str, url: &str, base: Option<&str>) -> Vec<Offered> {
        backchannel_formats(sdp.as_bytes(), url, base).unwrap()
    }

    fn summary(o: &[Offered]) -> Vec<(u8, String)> {
        o.iter().map(|o| (o.pt, o.describe())).collect()
    }

    fn everything(_: &BackchannelCodec) -> bool {
        true
    }

    fn only(names: &'static [&'static str]) -> impl Fn(&BackchannelCodec) -> bool {
        move |c| names.contains(&c.name)
    }

    #[test]
    fn dahua_twenty_payload_types_and_a_base_after_a_query() {
        let o = formats(DAHUA, DAHUA_URL, Some(DAHUA_BASE));
        assert_eq!(o.len(), 20);
        assert_eq!(
            summary(&o[..3]),
            [
                (97, "MPEG4-GENERIC/8000/1".into()),
                (98, "MPEG4-GENERIC/16000/1".into()),
                (99, "MPEG4-GENERIC/32000/1".into())
            ]
        );
        // Static 0 and 8 without rtpmap, in the m= line's order.
        assert_eq!(o[17].pt, 0);
        assert_eq!(o[17].encoding, "PCMU");
        assert_eq!(o[18].pt, 8);
        assert_eq!(o[18].encoding, "PCMA");
        for x in &o {
            assert_eq!(x.control, format!("{DAHUA_BASE}trackID=5"));
        }
        assert!(o[0].fmtp.as_deref().unwrap().contains("AAC-hbr"));
        assert_eq!(o[2].fmtp, None);
        // The camera's order: AAC at 8 kHz first (no config in its fmtp).
        let c = choose(&o, None, everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("AAC-8000", 97));
        // Without AAC: L16 8 kHz before PCMU (static 0 comes late).
        let c = choose(&o, None, only(&["PCMU", "PCMA", "L16-8000"]), 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("L16-8000", 104));
        // PCMU at 16000 (pt 107) is not our PCMU.
        let c = choose(&o, Some(&["PCMU"]), everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("PCMU", 0));
        let c = choose(&o, Some(&["G726-32", "PCMA"]), everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("G726-32", 113));
        assert_eq!(c.ptime_ms, 20);
        assert_eq!(
            other_controls(DAHUA.as_bytes(), DAHUA_URL, Some(DAHUA_BASE)),
            [
                format!("{DAHUA_BASE}trackID=0"),
                format!("{DAHUA_BASE}trackID=1")
            ]
        );
    }

    #[test]
    fn avigilon_lower_case_opus_absolute_control_and_bad_c_line() {
        let o = formats(
            AVIGILON,
            "rtsp://10.0.0.5/defaultPrimary?streamType=u",
            None,
        );
        assert_eq!(
            summary(&o),
            [(0, "PCMU/8000".into()), (97, "OPUS/48000/2".into())]
        );
        let control = "rtsp://10.0.0.5:554/defaultPrimary/trackID=2?streamType=u";
        assert!(o.iter().all(|x| x.control == control));
        let c = choose(&o, None, everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("PCMU", 0));
        let c = choose(&o, Some(&["OPUS", "PCMU"]), everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("OPUS", 97));
        // An absolute control ignores a (sane) Content-Base too.
        let o = formats(
            AVIGILON,
            "rtsp://10.0.0.5/x",
            Some("rtsp://10.0.0.5/other/"),
        );
        assert_eq!(o[0].control, control);
        assert_eq!(
            other_controls(AVIGILON.as_bytes(), "rtsp://10.0.0.5/x", None),
            ["rtsp://10.0.0.5:554/defaultPrimary/trackID=1?streamType=u"]
        );
    }

    #[test]
    fn reolink_pcma_ptime_and_maxptime() {
        let url = "rtsp://192.168.1.20:554/h264Preview_01_main";
        let base = Some("rtsp://192.168.1.20:554/");
        let o = formats(&reolink("a=maxptime:128\r\n"), url, base);
        assert_eq!(summary(&o), [(8, "PCMA/8000".into())]);
        assert_eq!(o[0].control, "rtsp://192.168.1.20:554/track3");
        assert_eq!((o[0].ptime, o[0].maxptime), (None, Some(128)));
        let pcma = &["PCMA"][..];
        // 0: no a=ptime, so 20; asked: as asked, up to maxptime.
        assert_eq!(choose(&o, Some(pcma), everything, 0).unwrap().ptime_ms, 20);
        assert_eq!(
            choose(&o, Some(pcma), everything, 128).unwrap().ptime_ms,
            128
        );
        assert_eq!(
            choose(&o, Some(pcma), everything, 200).unwrap().ptime_ms,
            128
        );
        assert_eq!(choose(&o, Some(pcma), everything, 40).unwrap().ptime_ms, 40);
        // The camera's a=ptime when ours is 0, capped by its maxptime.
        let o = formats(&reolink("a=ptime:128\r\na=maxptime:128\r\n"), url, base);
        assert_eq!(choose(&o, None, everything, 0).unwrap().ptime_ms, 128);
        let o = formats(&reolink("a=ptime:60\r\na=maxptime:40\r\n"), url, base);
        assert_eq!(choose(&o, None, everything, 0).unwrap().ptime_ms, 40);
        let o = formats(&reolink("a=ptime:40\r\n"), url, base);
        assert_eq!(choose(&o, None, everything, 0).unwrap().ptime_ms, 40);
        assert_eq!(choose(&o, None, everything, 10).unwrap().ptime_ms, 10);
        // Fractions round, nonsense is absent.
        let o = formats(&reolink("a=ptime:2.5\r\na=maxptime:junk\r\n"), url, base);
        assert_eq!((o[0].ptime, o[0].maxptime), (Some(3), None));
        let o = formats(&reolink("a=ptime:0\r\n"), url, base);
        assert_eq!(choose(&o, None, everything, 0).unwrap().ptime_ms, 20);
    }

    #[test]
    fn gst_rtsp_server_one_section_per_codec_sharing_a_control() {
        let url = "rtsp://127.0.0.1:34947/stream";
        let base = Some("rtsp://127.0.0.1:34947/stream/");
        let o = formats(GST_RTSP_SERVER, url, base);
        assert_eq!(
            summary(&o),
            [
                (0, "PCMU/8000".into()),
                (8, "PCMA/8000".into()),
                (96, "OPUS/48000/2".into())
            ]
        );
        assert!(o
            .iter()
            .all(|x| x.control == "rtsp://127.0.0.1:34947/stream/stream=1"));
        let c = choose(&o, Some(&["OPUS"]), everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("OPUS", 96));
        let c = choose(&o, None, only(&["PCMA", "OPUS"]), 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("PCMA", 8));
        // The forward track only; the back channel's control is not repeated.
        assert_eq!(
            other_controls(GST_RTSP_SERVER.as_bytes(), url, base),
            ["rtsp://127.0.0.1:34947/stream/stream=0"]
        );
    }

    #[test]
    fn our_own_onvif_form() {
        let url = "rtsp://127.0.0.1:34969/stream";
        let base = Some("rtsp://127.0.0.1:34969/stream/");
        let o = formats(OURS, url, base);
        assert_eq!(
            summary(&o),
            [
                (0, "PCMU/8000".into()),
                (8, "PCMA/8000".into()),
                (9, "G722/8000".into()),
                (96, "OPUS/48000/2".into()),
                (97, "L16/16000/1".into())
            ]
        );
        assert_eq!(o[3].fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
        assert!(o
            .iter()
            .all(|x| x.control == "rtsp://127.0.0.1:34969/stream/stream=2"));
        let c = choose(&o, Some(&["L16-16000", "G722"]), everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("L16-16000", 97));
        let c = choose(&o, Some(&["g722"]), everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("G722", 9));
        assert_eq!(
            other_controls(OURS.as_bytes(), url, base),
            [
                "rtsp://127.0.0.1:34969/stream/stream=0",
                "rtsp://127.0.0.1:34969/stream/stream=1"
            ]
        );
    }

    #[test]
    fn static_payload_types_without_rtpmap() {
        let sdp =
            "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 0 RTP/AVP 9 0 8 13 99\na=sendonly\n";
        let o = formats(sdp, "rtsp://h/s", None);
        // 99 has no rtpmap and no static meaning: left out. CN is read but
        // never chosen.
        assert_eq!(
            summary(&o),
            [
                (9, "G722/8000".into()),
                (0, "PCMU/8000".into()),
                (8, "PCMA/8000".into()),
                (13, "CN/8000".into())
            ]
        );
        assert_eq!(o[0].control, "rtsp://h/s");
        let c = choose(&o, None, only(&["PCMU", "PCMA"]), 0).unwrap();
        assert_eq!(c.codec.name, "PCMU");
        assert!(choose(&o[3..], None, everything, 0).is_err());
    }

    #[test]
    fn a_sendonly_video_is_not_a_back_channel() {
        // IDS uEye (mediamtx#5074) marks its picture sendonly.
        let sdp = "v=0\r\no=- 0 0 IN IP4 1.2.3.4\r\ns=uEye\r\nt=0 0\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:v\r\na=sendonly\r\n";
        let err = backchannel_formats(sdp.as_bytes(), "rtsp://h/s", None).unwrap_err();
        assert!(matches!(err, PlanError::NoBackchannel(_)), "{err:?}");
        assert_eq!(
            err.message(),
            "the camera offers no back channel: its SDP has no sendonly audio section \
             (media: video sendonly)"
        );
        assert_eq!(
            other_controls(sdp.as_bytes(), "rtsp://h/s", None),
            ["rtsp://h/s/v"]
        );
        // With a sendonly audio next to it, only the audio counts.
        let both = format!("{sdp}m=audio 0 RTP/AVP 0\r\na=control:a\r\na=sendonly\r\n");
        let o = formats(&both, "rtsp://h/s", None);
        assert_eq!(summary(&o), [(0, "PCMU/8000".into())]);
        assert_eq!(o[0].control, "rtsp://h/s/a");
    }

    #[test]
    fn no_back_channel_and_no_sdp() {
        // Hikvision without Profile T: recvonly only.
        let sdp = "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=Media Presentation\nt=0 0\n\
                   m=video 0 RTP/AVP 96\na=recvonly\nm=audio 0 RTP/AVP 0\na=recvonly\nm=application 0 RTP/AVP 107\n";
        let err = backchannel_formats(sdp.as_bytes(), "rtsp://h/s", None).unwrap_err();
        assert_eq!(
            err,
            PlanError::NoBackchannel(
                "its SDP has no sendonly audio section (media: video recvonly, audio recvonly, \
                 application)"
                    .into()
            )
        );
        // A sendonly section whose formats mean nothing.
        let sdp = "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 0 RTP/AVP 101\na=sendonly\n";
        let err = backchannel_formats(sdp.as_bytes(), "rtsp://h/s", None).unwrap_err();
        assert!(matches!(err, PlanError::NoBackchannel(_)), "{err:?}");
        for body in [
            &b""[..],
            b"<html>401</html>",
            b"\xff\xfe",
            b"m=audio 0 RTP/AVP 0\n",
        ] {
            let err = backchannel_formats(body, "rtsp://h/s", None).unwrap_err();
            assert!(matches!(err, PlanError::BadSdp(_)), "{err:?}");
            assert!(err
                .message()
                .starts_with("the camera's SDP cannot be read: "));
            assert!(other_controls(body, "rtsp://h/s", None).is_empty());
        }
        let err = backchannel_formats(
            b"v=0\no=- 0 0 IN IP4 1.2.3.4\nm=audio x\n",
            "rtsp://h/s",
            None,
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::BadSdp(_)), "{err:?}");
        let huge = vec![b'a'; offer::MAX_SDP_BYTES + 1];
        assert!(matches!(
            backchannel_formats(&huge, "rtsp://h/s", None),
            Err(PlanError::BadSdp(_))
        ));
    }

    #[test]
    fn lenient_reading() {
        // Junk before v=0, a BOM, blanks around lines, no o=, a broken
        // line, Uniview's `c=IN` without an address, Latin-1 in s=.
        let mut sdp =
            b"\xef\xbb\xbf  \r\nRTSP junk\r\nv=0  \r\ns=Cam\xe9ra\r\nc=IN\r\n  t=0 0\r\n".to_vec();
        sdp.extend_from_slice(
            b"this is not sdp\r\nv=1\r\nm=audio 0 RTP/AVP 0 8\r\n a=rtpmap:0 PCMU/8000 \r\n",
        );
        sdp.extend_from_slice(b"c=IN\r\na=control:trackID=3\r\na=sendonly");
        let o = backchannel_formats(&sdp, "rtsp://h/s", None).unwrap();
        assert_eq!(
            summary(&o),
            [(0, "PCMU/8000".into()), (8, "PCMA/8000".into())]
        );
        assert_eq!(o[0].control, "rtsp://h/s/trackID=3");
        // An o= with the wrong field count is replaced, not fatal.
        let sdp = "v=0\no=broken\ns=-\nm=audio 0 RTP/AVP 0\na=sendonly\n";
        assert_eq!(formats(sdp, "rtsp://h/s", None).len(), 1);
    }

    #[test]
    fn the_same_payload_type_twice_once() {
        // gst-rtsp-server has written a section twice (same control).
        let sdp = "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=-\nt=0 0\n\
                   m=audio 0 RTP/AVP 8\na=rtpmap:8 PCMA/8000\na=control:stream=1\na=sendonly\n\
                   m=audio 0 RTP/AVP 8\na=rtpmap:8 PCMA/8000\na=control:stream=1\na=sendonly\n\
                   m=audio 0 RTP/AVP 8\na=rtpmap:8 PCMA/8000\na=control:stream=2\na=sendonly\n";
        let o = formats(sdp, "rtsp://h/s", None);
        assert_eq!(
            o.iter().map(|o| o.control.as_str()).collect::<Vec<_>>(),
            ["rtsp://h/s/stream=1", "rtsp://h/s/stream=2"]
        );
        assert!(other_controls(sdp.as_bytes(), "rtsp://h/s", None).is_empty());
    }

    #[test]
    fn content_base_fallbacks() {
        let sdp = "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 0 RTP/AVP 0\na=control:trackID=2\na=sendonly\n";
        let url = "rtsp://10.0.0.9/live";
        let control = |base: Option<&str>| formats(sdp, url, base)[0].control.clone();
        // go2rtc#830: `rtsp://rtsp://...`: the request URL is used.
        assert_eq!(
            control(Some("rtsp://rtsp://10.0.0.9/live/")),
            "rtsp://10.0.0.9/live/trackID=2"
        );
        for bad in [
            "",
            "/live/",
            "http://10.0.0.9/live/",
            "rtsp:///live/",
            "rtsp://a b/",
            "live",
        ] {
            assert_eq!(
                control(Some(bad)),
                "rtsp://10.0.0.9/live/trackID=2",
                "{bad}"
            );
        }
        assert_eq!(
            control(Some(" RTSP://10.0.0.9:554/x/ ")),
            "RTSP://10.0.0.9:554/x/trackID=2"
        );
        assert_eq!(
            control(Some("rtsps://10.0.0.9/x")),
            "rtsps://10.0.0.9/x/trackID=2"
        );
        assert_eq!(
            base_url(url, Some("rtsp://rtsp://x/"), Some("rtsp://10.0.0.9/loc/")),
            "rtsp://10.0.0.9/loc/"
        );
        assert_eq!(
            base_url(
                url,
                Some("rtsp://10.0.0.9/b/"),
                Some("rtsp://10.0.0.9/loc/")
            ),
            "rtsp://10.0.0.9/b/"
        );
        assert_eq!(base_url(url, None, Some("garbage")), url);
        assert_eq!(base_url(url, None, None), url);
    }

    #[test]
    fn control_resolution() {
        let b = "rtsp://h:554/path/stream";
        assert_eq!(resolve_control(b, "*"), b);
        assert_eq!(resolve_control(b, ""), b);
        assert_eq!(
            resolve_control(b, " trackID=1 "),
            "rtsp://h:554/path/stream/trackID=1"
        );
        assert_eq!(
            resolve_control("rtsp://h/p/", "trackID=1"),
            "rtsp://h/p/trackID=1"
        );
        assert_eq!(resolve_control(b, "/other/x"), "rtsp://h:554/other/x");
        assert_eq!(resolve_control("rtsp://h:554", "/x"), "rtsp://h:554/x");
        assert_eq!(resolve_control("rtsp://h?q=1", "/x"), "rtsp://h/x");
        assert_eq!(resolve_control(b, "rtsp://o/x?a=1"), "rtsp://o/x?a=1");
        assert_eq!(resolve_control(b, "RTSPS://o/x"), "RTSPS://o/x");
        // Query in the base: appended after it, with or without its '/'.
        assert_eq!(
            resolve_control("rtsp://h/c?x=1&y=2/", "trackID=5"),
            "rtsp://h/c?x=1&y=2/trackID=5"
        );
        assert_eq!(
            resolve_control("rtsp://h/c?x=1", "trackID=5"),
            "rtsp://h/c?x=1/trackID=5"
        );
        // Not a scheme: relative.
        assert_eq!(
            resolve_control(b, "a:b://c"),
            "rtsp://h:554/path/stream/a:b://c"
        );
        assert_eq!(resolve_control("not a url", "/x"), "not a url/x");
    }

    #[test]
    fn choice_orders() {
        let sdp = "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 0 RTP/AVP 96 97 8 0 98\n\
                   a=rtpmap:96 MPEG4-GENERIC/16000\na=rtpmap:97 opus/48000/2\na=rtpmap:98 MPEG4-GENERIC/16000/2\na=sendonly\n";
        let o = formats(sdp, "rtsp://h/s", None);
        // The camera's order among what we can send.
        let c = choose(&o, None, everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("AAC-16000", 96));
        let c = choose(&o, None, only(&["PCMU", "PCMA"]), 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("PCMA", 8));
        // Our order among what the camera takes; unknown names skipped,
        // aliases resolved, names in any case.
        let c = choose(
            &o,
            Some(&["G722", "nonsense", "pcmu", "PCMA"]),
            everything,
            0,
        )
        .unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("PCMU", 0));
        let c = choose(&o, Some(&["AAC", "PCMU"]), everything, 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("AAC-16000", 96));
        // A preferred codec we cannot send is passed over.
        let c = choose(&o, Some(&["OPUS", "PCMA"]), only(&["PCMA"]), 0).unwrap();
        assert_eq!((c.codec.name, c.offered.pt), ("PCMA", 8));
        // Stereo AAC (98) is not our mono AAC.
        let c = choose(&o[4..], None, everything, 0);
        assert_eq!(
            c.unwrap_err().message(),
            "no codec in common: the camera takes MPEG4-GENERIC/16000/2; we can send PCMU, PCMA, \
             G722, OPUS, AAC-16000, AAC-48000, AAC-44100, AAC-32000, AAC-8000, L16-48000, \
             L16-16000, L16-8000, G726-40, G726-32, G726-24, G726-16"
        );
    }

    #[test]
    fn no_codec_in_common_names_both_lists() {
        let sdp = "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 0 RTP/AVP 96 97 98\n\
                   a=rtpmap:96 G726-32/8000\na=rtpmap:97 L16/16000\na=rtpmap:98 g726-32/8000\na=sendonly\n";
        let o = formats(sdp, "rtsp://h/s", None);
        let err = choose(&o, Some(&["PCMU", "PCMA", "OPUS"]), everything, 0).unwrap_err();
        assert_eq!(
            err,
            PlanError::NoCommonCodec {
                camera: "G726-32/8000, L16/16000".into(),
                ours: "PCMU, PCMA, OPUS".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "no codec in common: the camera takes G726-32/8000, L16/16000; we can send PCMU, PCMA, OPUS"
        );
        // Without prefs: what can_send allows, in table order.
        let err = choose(&o, None, only(&["OPUS", "PCMA"]), 0).unwrap_err();
        assert_eq!(
            err,
            PlanError::NoCommonCodec {
                camera: "G726-32/8000, L16/16000".into(),
                ours: "PCMA, OPUS".into()
            }
        );
        let err = choose(&o, None, |_| false, 0).unwrap_err();
        assert!(err.message().ends_with("we can send nothing"), "{err}");
        let err = choose(&[], None, everything, 0).unwrap_err();
        assert!(err.message().contains("the camera takes nothing;"), "{err}");
    }

    #[test]
    fn opus_without_channels_and_wrong_rates() {
        let sdp = "v=0\no=- 0 0 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 0 RTP/AVP 96 97 98\n\
                   a=rtpmap:96 G722/16000\na=rtpmap:97 OPUS/48000\na=rtpmap:98 opus/48000/1\na=sendonly\n";
        let o = formats(sdp, "rtsp://h/s", None);
        let c = choose(&o, None, everything, 0).unwrap();
        // G722/16000 is not RFC 3551's G722/8000; opus/48000 is Opus.
        assert_eq!((c.codec.name, c.offered.pt), ("OPUS", 97));
    }
}

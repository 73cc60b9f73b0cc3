//! The WHIP offer and its answer: parse what a browser sends, decide whether
//! the back channel can take it, and write (or fix) the answer.
//!
//! WHIP (RFC 9725) wants the whole POST refused with a 4xx and a reason when
//! the server cannot take an offer, rather than single m-lines rejected, so
//! [`decide`] either returns an [`AnswerPlan`] for the offer as a whole or an
//! [`OfferError`] that carries the status and the reason for the body.
//!
//! What we take: exactly one m-line, `audio`, over DTLS-SRTP
//! (`UDP/TLS/RTP/SAVPF` or `TCP/DTLS/RTP/SAVPF`), in which the browser sends
//! (`sendonly` or `sendrecv`), with `a=rtcp-mux` (the only mode webrtcbin
//! handles), ICE credentials and a DTLS fingerprint (media or session level),
//! and at least one codec of the mount's list. A video (or data) m-line next
//! to the audio is refused with 422, as WHIP §4.4.3 asks for unsupported
//! track counts, instead of being answered with port 0: a talk page offers
//! audio only, and a client that sends video would otherwise believe it is
//! being watched.
//!
//! The answer lists the common codecs in the MOUNT's order with the OFFER's
//! payload types (RFC 3264 §6.1): Chrome sends the first answered codec it can
//! encode, so the answer order picks the codec. CN, telephone-event and RED
//! are not answered: we decode none of them, and a payload type that is not
//! answered is never sent (no extra webrtcbin pad for DTMF, no CN gaps).
//!
//! The parser is our own line parser: bounded ([`MAX_SDP_BYTES`],
//! [`MAX_MEDIA`]), CRLF or LF, and it never panics on any input.

use std::fmt;

use crate::codecs::BackchannelCodec;

/// Largest offer we read. Browser offers are 1-6 KiB (Chrome's audio+video
/// offer with simulcast is about 6 KiB).
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Most m-lines we read.
pub const MAX_MEDIA: usize = 64;

/// The codecs a browser can send, by their names in the `codecs` property.
/// Other names of a mount's list (AAC, L16, G.726) are skipped: no browser
/// offers them over WebRTC.
pub const WEBRTC_CODECS: &[&str] = &["OPUS", "G722", "PCMU", "PCMA"];

/// An SDP attribute: `a=key:value` or the flag `a=key` (value `None`).
pub type Attribute = (String, Option<String>);

/// A media section (`m=` line and the lines after it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `application`...
    pub kind: String,
    pub port: u16,
    /// e.g. `UDP/TLS/RTP/SAVPF`.
    pub proto: String,
    /// Payload formats of the m-line, in offer order.
    pub formats: Vec<String>,
    pub attributes: Vec<Attribute>,
}

/// A parsed SDP: session-level attributes and media sections. Lines other
/// than `v=`, `m=` and `a=` are checked for shape and otherwise skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sdp {
    pub session: Vec<Attribute>,
    pub media: Vec<Media>,
}

/// One `a=rtpmap`: `<pt> <name>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    pub name: String,
    pub clock_rate: u32,
    pub channels: Option<u32>,
}

/// Stream direction from the media's point of view of the one who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn from_attribute(key: &str) -> Option<Direction> {
        match key {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// Why an offer was refused. [`OfferError::status`] is the HTTP status of
/// the refusal and `Display` the reason for its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferError {
    /// Larger than [`MAX_SDP_BYTES`] or more than [`MAX_MEDIA`] m-lines (413).
    TooLarge(String),
    /// Not SDP, or a line we cannot read (400).
    Malformed(String),
    /// Valid SDP that is not a usable WebRTC offer: no ICE credentials, no
    /// DTLS fingerprint (400).
    NotWebRtc(String),
    /// Valid WebRTC, but not what the back channel takes: media, transport,
    /// direction, codecs (422).
    Unsupported(String),
}

impl OfferError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            OfferError::TooLarge(_) => 413,
            OfferError::Malformed(_) | OfferError::NotWebRtc(_) => 400,
            OfferError::Unsupported(_) => 422,
        }
    }

    /// The reason, for the body of the 4xx.
    pub fn reason(&self) -> &str {
        match self {
            OfferError::TooLarge(r)
            | OfferError::Malformed(r)
            | OfferError::NotWebRtc(r)
            | OfferError::Unsupported(r) => r,
        }
    }
}

impl fmt::Display for OfferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for OfferError {}

/// Cuts an SDP into lines: LF or CRLF, a missing final newline is fine.
fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// A shortened, printable copy of a line for an error reason.
fn quote(line: &str) -> String {
    let mut out: String = line
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if line.chars().count() > 60 {
        out.push_str("...");
    }
    out
}

impl Sdp {
    /// Parses bytes (an HTTP body): they must be UTF-8.
    pub fn parse_bytes(sdp: &[u8]) -> Result<Sdp, OfferError> {
        if sdp.len() > MAX_SDP_BYTES {
            return Err(OfferError::TooLarge(format!(
                "the offer has {} bytes, at most {MAX_SDP_BYTES} are read",
                sdp.len()
            )));
        }
        let text = std::str::from_utf8(sdp)
            .map_err(|_| OfferError::Malformed("the offer is not UTF-8 text".into()))?;
        Sdp::parse(text)
    }

    /// Parses an SDP. The first line must be `v=0`; every other non-empty
    /// line must be `<letter>=<value>`. Unknown attributes are kept.
    pub fn parse(sdp: &str) -> Result<Sdp, OfferError> {
        if sdp.len() > MAX_SDP_BYTES {
            return Err(OfferError::TooLarge(format!(
                "the offer has {} bytes, at most {MAX_SDP_BYTES} are read",
                sdp.len()
            )));
        }
        let mut out = Sdp::default();
        let mut seen_version = false;
        let mut seen_origin = false;
        for (n, line) in lines(sdp).enumerate() {
            if line.is_empty() {
                continue;
            }
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
                return Err(OfferError::Malformed(format!(
                    "line {} is not an SDP line: '{}'",
                    n + 1,
                    quote(line)
                )));
            }
            let value = &line[2..];
            if !seen_version {
                if line != "v=0" {
                    return Err(OfferError::Malformed(
                        "an SDP starts with the line 'v=0'".into(),
                    ));
                }
                seen_version = true;
                continue;
            }
            match bytes[0] {
                b'v' => {
                    return Err(OfferError::Malformed(format!(
                        "line {}: a second 'v=' line",
                        n + 1
                    )))
                }
                b'o' => {
                    if value.split_ascii_whitespace().count() != 6 {
                        return Err(OfferError::Malformed(format!(
                            "line {}: 'o=' needs 6 fields: '{}'",
                            n + 1,
                            quote(line)
                        )));
                    }
                    seen_origin = true;
                }
                b'm' => {
                    if out.media.len() == MAX_MEDIA {
                        return Err(OfferError::TooLarge(format!(
                            "the offer has more than {MAX_MEDIA} m-lines"
                        )));
                    }
                    out.media.push(parse_media_line(value).ok_or_else(|| {
                        OfferError::Malformed(format!(
                            "line {}: not an m-line: '{}'",
                            n + 1,
                            quote(line)
                        ))
                    })?);
                }
                b'a' => {
                    let attribute = match value.split_once(':') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (value.to_string(), None),
                    };
                    match out.media.last_mut() {
                        Some(m) => m.attributes.push(attribute),
                        None => out.session.push(attribute),
                    }
                }
                _ => {}
            }
        }
        if !seen_version {
            return Err(OfferError::Malformed("the offer is empty".into()));
        }
        if !seen_origin {
            return Err(OfferError::Malformed("the offer has no 'o=' line".into()));
        }
        Ok(out)
    }

    /// The first value of a session-level attribute.
    pub fn session_attribute(&self, key: &str) -> Option<&str> {
        attribute(&self.session, key)
    }

    /// The mids of `a=group:BUNDLE`, empty without one.
    pub fn bundle_group(&self) -> Vec<&str> {
        self.session
            .iter()
            .filter(|(k, _)| k == "group")
            .filter_map(|(_, v)| v.as_deref())
            .filter_map(|v| v.strip_prefix("BUNDLE"))
            .flat_map(|v| v.split_ascii_whitespace())
            .collect()
    }
}

fn parse_media_line(value: &str) -> Option<Media> {
    let mut fields = value.split_ascii_whitespace();
    let kind = fields.next()?.to_string();
    // `<port>` or `<port>/<count>`
    let port = fields.next()?.split('/').next()?.parse().ok()?;
    let proto = fields.next()?.to_string();
    let formats: Vec<String> = fields.map(str::to_string).collect();
    Some(Media {
        kind,
        port,
        proto,
        formats,
        attributes: Vec::new(),
    })
}

fn attribute<'a>(attributes: &'a [Attribute], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_deref().unwrap_or(""))
}

fn has_flag(attributes: &[Attribute], key: &str) -> bool {
    attributes.iter().any(|(k, _)| k == key)
}

fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, encoding) = value.trim().split_once(' ')?;
    let pt = pt.parse().ok().filter(|pt| *pt < 128)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?.to_string();
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.trim().parse().ok()?),
        None => None,
    };
    if name.is_empty() || parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        pt,
        name,
        clock_rate,
        channels,
    })
}

/// Encodings of the static payload types a browser may list without an
/// `a=rtpmap` (RFC 3551 table 4).
fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let (name, clock_rate) = match pt {
        0 => ("PCMU", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        _ => return None,
    };
    Some(RtpMap {
        pt,
        name: name.into(),
        clock_rate,
        channels: None,
    })
}

impl Media {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        attribute(&self.attributes, key)
    }

    pub fn has_flag(&self, key: &str) -> bool {
        has_flag(&self.attributes, key)
    }

    pub fn mid(&self) -> Option<&str> {
        self.attribute("mid")
            .map(str::trim)
            .filter(|m| !m.is_empty())
    }

    /// The direction written in this section, if any.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes
            .iter()
            .find_map(|(k, v)| v.is_none().then(|| Direction::from_attribute(k))?)
    }

    /// The m-line's payload types with their encodings, in offer order: from
    /// `a=rtpmap`, or the static table for 0, 8, 9 and 13 without one.
    /// Formats that are not numbers or have no known encoding are skipped.
    pub fn rtpmaps(&self) -> Vec<RtpMap> {
        let maps: Vec<RtpMap> = self
            .attributes
            .iter()
            .filter(|(k, _)| k == "rtpmap")
            .filter_map(|(_, v)| parse_rtpmap(v.as_deref()?))
            .collect();
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter_map(|pt| {
                maps.iter()
                    .find(|m| m.pt == pt)
                    .cloned()
                    .or_else(|| static_rtpmap(pt))
            })
            .collect()
    }

    /// The `a=fmtp` parameters of `pt`, as written.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|(k, _)| k == "fmtp")
            .filter_map(|(_, v)| v.as_deref())
            .find_map(|v| {
                let (p, params) = v.split_once(' ')?;
                (p.parse::<u8>().ok()? == pt).then(|| params.trim())
            })
    }

    /// `a=candidate` values (without `candidate:`).
    pub fn candidates(&self) -> Vec<&str> {
        self.attributes
            .iter()
            .filter(|(k, _)| k == "candidate")
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// `a=extmap` as (id, URI); `a=extmap:2/recvonly uri` gives (2, uri).
    pub fn extmaps(&self) -> Vec<(u16, &str)> {
        self.attributes
            .iter()
            .filter(|(k, _)| k == "extmap")
            .filter_map(|(_, v)| {
                let (id, rest) = v.as_deref()?.split_once(' ')?;
                let id = id.split('/').next()?.parse().ok()?;
                Some((id, rest.split_ascii_whitespace().next()?))
            })
            .collect()
    }

    /// The SSRCs of `a=ssrc` lines, each once, in order.
    pub fn ssrcs(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (_, v) in self.attributes.iter().filter(|(k, _)| k == "ssrc") {
            let ssrc = v
                .as_deref()
                .and_then(|v| v.split(' ').next())
                .and_then(|s| s.parse().ok());
            if let Some(s) = ssrc {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }
}

/// A codec of the answer: our codec with the payload type the offer gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerCodec {
    pub pt: u8,
    pub codec: &'static BackchannelCodec,
    /// The `a=fmtp` we answer (`None`: no fmtp line).
    pub fmtp: Option<String>,
}

/// What the answer must say, decided from the offer and the mount's codecs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPlan {
    /// The audio m-line's mid (`None` for offers without one: then the
    /// answer has no mid and no BUNDLE group).
    pub mid: Option<String>,
    /// The offer's transport, echoed in the answer.
    pub proto: String,
    /// Codecs to answer, in the mount's preference order, with offered PTs.
    pub codecs: Vec<AnswerCodec>,
    /// The remote side's ICE and DTLS parameters, for the glue.
    pub remote_ice_ufrag: String,
    pub remote_ice_pwd: String,
    /// `<hash> <hex:hex:...>`, e.g. `sha-256 BE:C0:...`.
    pub remote_fingerprint: String,
    /// `actpass`, `active` or `passive` (`actpass` when absent, RFC 8842).
    pub remote_setup: String,
    /// `a=candidate` values of the offer.
    pub remote_candidates: Vec<String>,
}

impl AnswerPlan {
    /// The `a=setup` to answer: `active` to an `actpass` or `passive`
    /// offer (as webrtcbin does), `passive` to an `active` one.
    pub fn answer_setup(&self) -> &'static str {
        if self.remote_setup == "active" {
            "passive"
        } else {
            "active"
        }
    }

    /// The answered codec with payload type `pt`.
    pub fn codec_by_pt(&self, pt: u8) -> Option<&AnswerCodec> {
        self.codecs.iter().find(|c| c.pt == pt)
    }
}

/// The `a=fmtp` we answer for one of our codecs. Opus: `minptime=10;
/// useinbandfec=1` from the codec table: in an answer `useinbandfec=1` tells
/// the browser that we decode in-band FEC, so it adds it (the glue turns on
/// opusdec's `use-inband-fec`); `stereo` is left out, i.e. mono preferred,
/// as the back channel plays mono.
fn answer_fmtp(codec: &BackchannelCodec) -> Option<String> {
    codec.fmtp.map(str::to_string)
}

/// Whether an offered rtpmap is our codec. Channels are compared when the
/// offer states them; an Opus rtpmap without them (`OPUS/48000`, as
/// GStreamer's webrtcbin writes it, against RFC 7587's `opus/48000/2`) is
/// still Opus. Also the sink's test of a camera's back channel formats
/// (src/sink/plan.rs).
pub(crate) fn matches(codec: &BackchannelCodec, map: &RtpMap) -> bool {
    map.name.eq_ignore_ascii_case(codec.sdp_name)
        && map.clock_rate == codec.clock_rate
        && map
            .channels
            .is_none_or(|c| c == codec.channels.unwrap_or(1))
}

/// A fingerprint must be `<hash function> <hex pairs joined by ':'>`.
fn valid_fingerprint(value: &str) -> bool {
    let mut parts = value.split_ascii_whitespace();
    let (Some(hash), Some(hex), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !hash.is_empty()
        && hex
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// Decides on a parsed offer. `codecs` are names of the `codecs` property
/// in preference order (e.g. `["OPUS", "G722", "PCMU", "PCMA"]`); names that
/// are unknown or not in [`WEBRTC_CODECS`] are skipped.
pub fn decide(offer: &Sdp, codecs: &[&str]) -> Result<AnswerPlan, OfferError> {
    let unsupported = |r: String| Err(OfferError::Unsupported(r));
    let audio: Vec<&Media> = offer.media.iter().filter(|m| m.kind == "audio").collect();
    let others: Vec<&str> = offer
        .media
        .iter()
        .filter(|m| m.kind != "audio")
        .map(|m| m.kind.as_str())
        .collect();
    if audio.is_empty() {
        return unsupported(format!(
            "the offer has no audio m-line{}: a WHIP talker sends one audio track",
            if others.is_empty() {
                String::new()
            } else {
                format!(" (only {})", others.join(", "))
            }
        ));
    }
    if audio.len() > 1 {
        return unsupported(format!(
            "the offer has {} audio m-lines: a WHIP talker sends one audio track",
            audio.len()
        ));
    }
    if !others.is_empty() {
        return unsupported(format!(
            "the offer has {} m-lines besides audio ({}): only one audio track is taken",
            others.len(),
            others.join(", ")
        ));
    }
    let media = audio[0];
    if media.port == 0 {
        return unsupported("the audio m-line is disabled (port 0)".into());
    }
    if media.proto != "UDP/TLS/RTP/SAVPF" && media.proto != "TCP/DTLS/RTP/SAVPF" {
        return unsupported(format!(
            "transport '{}' is not WebRTC: UDP/TLS/RTP/SAVPF or TCP/DTLS/RTP/SAVPF is needed",
            quote(&media.proto)
        ));
    }
    let direction = media
        .direction()
        .or_else(|| {
            offer
                .session
                .iter()
                .find_map(|(k, v)| v.is_none().then(|| Direction::from_attribute(k))?)
        })
        .unwrap_or(Direction::SendRecv);
    if !matches!(direction, Direction::SendOnly | Direction::SendRecv) {
        return unsupported(format!(
            "the audio m-line is {}: a WHIP offer sends (sendonly or sendrecv)",
            direction.as_str()
        ));
    }
    if !media.has_flag("rtcp-mux") {
        return unsupported("the audio m-line has no a=rtcp-mux, which WebRTC requires".into());
    }
    let either = |key: &str| {
        media
            .attribute(key)
            .or_else(|| offer.session_attribute(key))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (Some(ufrag), Some(pwd)) = (either("ice-ufrag"), either("ice-pwd")) else {
        return Err(OfferError::NotWebRtc(
            "the offer has no ICE credentials (a=ice-ufrag and a=ice-pwd)".into(),
        ));
    };
    let Some(fingerprint) = either("fingerprint") else {
        return Err(OfferError::NotWebRtc(
            "the offer has no DTLS fingerprint (a=fingerprint)".into(),
        ));
    };
    if !valid_fingerprint(fingerprint) {
        return Err(OfferError::Malformed(format!(
            "the DTLS fingerprint is not '<hash> <hex:hex:...>': '{}'",
            quote(fingerprint)
        )));
    }
    let setup = either("setup").unwrap_or("actpass");
    if !matches!(setup, "actpass" | "active" | "passive") {
        return unsupported(format!(
            "a=setup:{} cannot run DTLS (actpass, active or passive)",
            quote(setup)
        ));
    }

    let offered = media.rtpmaps();
    let mut answer: Vec<AnswerCodec> = Vec::new();
    for name in codecs {
        let Some(codec) = BackchannelCodec::by_name(name) else {
            continue;
        };
        if !WEBRTC_CODECS.contains(&codec.name) || answer.iter().any(|a| a.codec == codec) {
            continue;
        }
        // The first payload type the offer gives this codec.
        if let Some(map) = offered.iter().find(|m| matches(codec, m)) {
            if answer.iter().all(|a| a.pt != map.pt) {
                answer.push(AnswerCodec {
                    pt: map.pt,
                    codec,
                    fmtp: answer_fmtp(codec),
                });
            }
        }
    }
    if answer.is_empty() {
        let offered: Vec<String> = offered
            .iter()
            .map(|m| match m.channels {
                Some(c) => format!("{}/{}/{}", m.name, m.clock_rate, c),
                None => format!("{}/{}", m.name, m.clock_rate),
            })
            .collect();
        return unsupported(format!(
            "no codec in common: the offer has {}, this mount takes {}",
            if offered.is_empty() {
                "none we know".to_string()
            } else {
                offered.join(" ")
            },
            codecs.join(", ")
        ));
    }
    Ok(AnswerPlan {
        mid: media.mid().map(str::to_string),
        proto: media.proto.clone(),
        codecs: answer,
        remote_ice_ufrag: ufrag.to_string(),
        remote_ice_pwd: pwd.to_string(),
        remote_fingerprint: fingerprint.to_string(),
        remote_setup: setup.to_string(),
        remote_candidates: media.candidates().iter().map(|c| c.to_string()).collect(),
    })
}

/// Parses and decides in one step (what the WHIP endpoint calls).
pub fn decide_offer(offer: &[u8], codecs: &[&str]) -> Result<AnswerPlan, OfferError> {
    decide(&Sdp::parse_bytes(offer)?, codecs)
}

/// Our side of the answer, from the glue's ICE agent and DTLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalParams {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    /// `<hash> <hex:hex:...>`.
    pub fingerprint: String,
    /// `active` or `passive`, see [`AnswerPlan::answer_setup`].
    pub setup: String,
    /// Candidates, with or without the leading `a=` / `candidate:`.
    pub candidates: Vec<String>,
    pub session_id: u64,
}

/// Writes a complete answer (CRLF lines): one recvonly audio m-line with the
/// plan's codecs in the plan's order, max-bundle, rtcp-mux, all candidates
/// (the server does not trickle, WHIP §4.3.2) and `a=end-of-candidates`.
pub fn write_answer(plan: &AnswerPlan, local: &LocalParams) -> String {
    let mut out = String::new();
    let mut line = |l: &str| {
        out.push_str(l);
        out.push_str("\r\n");
    };
    line("v=0");
    line(&format!(
        "o=- {} 2 IN IP4 127.0.0.1",
        local.session_id % (i64::MAX as u64)
    ));
    line("s=-");
    line("t=0 0");
    if let Some(mid) = &plan.mid {
        line(&format!("a=group:BUNDLE {mid}"));
    }
    let pts: Vec<String> = plan.codecs.iter().map(|c| c.pt.to_string()).collect();
    line(&format!("m=audio 9 {} {}", plan.proto, pts.join(" ")));
    line("c=IN IP4 0.0.0.0");
    line(&format!("a=ice-ufrag:{}", local.ice_ufrag));
    line(&format!("a=ice-pwd:{}", local.ice_pwd));
    line(&format!("a=fingerprint:{}", local.fingerprint));
    line(&format!("a=setup:{}", local.setup));
    if let Some(mid) = &plan.mid {
        line(&format!("a=mid:{mid}"));
    }
    line("a=recvonly");
    line("a=rtcp-mux");
    for c in &plan.codecs {
        line(&format!("a=rtpmap:{} {}", c.pt, c.codec.rtpmap()));
        if let Some(fmtp) = &c.fmtp {
            line(&format!("a=fmtp:{} {fmtp}", c.pt));
        }
    }
    for cand in &local.candidates {
        let cand = cand.trim();
        let cand = cand.strip_prefix("a=").unwrap_or(cand);
        let cand = cand.strip_prefix("candidate:").unwrap_or(cand);
        line(&format!("a=candidate:{cand}"));
    }
    line("a=end-of-candidates");
    out
}

/// The line ending an SDP uses (CRLF unless it has only LF).
fn line_ending(sdp: &str) -> &'static str {
    if sdp.contains("\r\n") || !sdp.contains('\n') {
        "\r\n"
    } else {
        "\n"
    }
}

/// The payload type an `a=rtpmap`/`a=fmtp`/`a=rtcp-fb` line is about.
fn pt_attribute(line: &str) -> Option<u8> {
    let rest = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
        .iter()
        .find_map(|p| line.strip_prefix(p))?;
    rest.split(' ').next()?.parse().ok()
}

/// Fixes webrtcbin's answer for the plan: in the audio m-line (the one with
/// the plan's mid, else the first audio one) the payload list becomes the
/// plan's codecs in the plan's order, among those webrtcbin answered; the
/// rtpmap/fmtp/rtcp-fb lines follow that order (those of other payload
/// types, e.g. CN or telephone-event, are dropped), and the direction
/// becomes `a=recvonly`. Every other line is kept as it is, line ending too.
pub fn munge_answer(answer: &str, plan: &AnswerPlan) -> Result<String, OfferError> {
    let parsed = Sdp::parse(answer)?;
    let index = parsed
        .media
        .iter()
        .position(|m| m.kind == "audio" && plan.mid.is_some() && m.mid() == plan.mid.as_deref())
        .or_else(|| parsed.media.iter().position(|m| m.kind == "audio"))
        .ok_or_else(|| OfferError::Malformed("the answer has no audio m-line".into()))?;
    let answered = &parsed.media[index].formats;
    let order: Vec<u8> = plan
        .codecs
        .iter()
        .map(|c| c.pt)
        .filter(|pt| answered.iter().any(|f| f.parse::<u8>().ok() == Some(*pt)))
        .collect();
    if order.is_empty() {
        return Err(OfferError::Unsupported(
            "the answer has none of the planned codecs".into(),
        ));
    }

    let all: Vec<&str> = lines(answer).collect();
    // Drop the empty piece after the final newline; it is written back below.
    let ends_with_newline = answer.ends_with('\n');
    let all = if ends_with_newline {
        &all[..all.len() - 1]
    } else {
        &all[..]
    };
    // Find the section's lines.
    let mut m_count = 0usize;
    let mut start = None;
    let mut end = all.len();
    for (i, l) in all.iter().enumerate() {
        if l.starts_with("m=") {
            if start.is_some() {
                end = i;
                break;
            }
            if m_count == index {
                start = Some(i);
            }
            m_count += 1;
        }
    }
    let start = start.ok_or_else(|| OfferError::Malformed("the answer's m-lines moved".into()))?;
    let section = &all[start..end];

    let mut out: Vec<String> = all[..start].iter().map(|l| l.to_string()).collect();
    // The m-line: same media, port and proto, our payload list.
    let m_fields: Vec<&str> = section[0][2..].split_ascii_whitespace().take(3).collect();
    let pts: Vec<String> = order.iter().map(u8::to_string).collect();
    out.push(format!("m={} {}", m_fields.join(" "), pts.join(" ")));
    let mut direction_written = false;
    let mut codecs_written = false;
    for l in &section[1..] {
        if pt_attribute(l).is_some() {
            if !codecs_written {
                codecs_written = true;
                for pt in &order {
                    out.extend(
                        section[1..]
                            .iter()
                            .filter(|l| pt_attribute(l) == Some(*pt))
                            .map(|l| l.to_string()),
                    );
                }
            }
            continue;
        }
        let key = l.strip_prefix("a=").unwrap_or("");
        if Direction::from_attribute(key).is_some() {
            if !direction_written {
                out.push("a=recvonly".into());
                direction_written = true;
            }
            continue;
        }
        out.push(l.to_string());
    }
    if !direction_written {
        // After the c= line and before the attributes (RFC 8866 §5 order).
        let first_attr = out[start + 1..]
            .iter()
            .position(|l| l.starts_with("a="))
            .map(|p| start + 1 + p)
            .unwrap_or(out.len());
        out.insert(first_attr, "a=recvonly".into());
    }
    out.extend(all[end..].iter().map(|l| l.to_string()));
    let eol = line_ending(answer);
    let mut text = out.join(eol);
    if ends_with_newline {
        text.push_str(eol);
    }
    Ok(text)
}

/// Rewrites an SDP line by line, keeping its line endings.
fn map_lines(sdp: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(sdp.len());
    for piece in sdp.split_inclusive('\n') {
        let (line, eol) = match piece.strip_suffix("\r\n") {
            Some(l) => (l, "\r\n"),
            None => match piece.strip_suffix('\n') {
                Some(l) => (l, "\n"),
                None => (piece, ""),
            },
        };
        if let Some(new) = f(line) {
            out.push_str(&new);
            out.push_str(eol);
        }
    }
    out
}

/// Drops every `a=candidate` and `a=end-of-candidates` line.
pub fn strip_candidates(sdp: &str) -> String {
    map_lines(sdp, |l| {
        (!(l.starts_with("a=candidate") || l.starts_with("a=end-of-candidates")))
            .then(|| l.to_string())
    })
}

/// Points every candidate at 127.0.0.1, so that no ICE agent in a test
/// sends a packet off the machine: the connection address (and `raddr`)
/// of each `a=candidate` becomes 127.0.0.1 (IPv6 and `.local` ones too),
/// candidates too short to rewrite are dropped, and `c=`/`a=rtcp:` addresses
/// other than 0.0.0.0 become 127.0.0.1.
pub fn rewrite_candidates_to_loopback(sdp: &str) -> String {
    map_lines(sdp, |l| {
        if let Some(value) = l.strip_prefix("a=candidate:") {
            // foundation component transport priority address port typ type [raddr a rport p] ...
            let mut fields: Vec<&str> = value.split_ascii_whitespace().collect();
            if fields.len() < 8 || fields[6] != "typ" {
                return None;
            }
            fields[4] = "127.0.0.1";
            let mut i = 8;
            while i + 1 < fields.len() {
                if fields[i] == "raddr" {
                    fields[i + 1] = "127.0.0.1";
                }
                i += 2;
            }
            return Some(format!("a=candidate:{}", fields.join(" ")));
        }
        if let Some(value) = l.strip_prefix("c=") {
            if value.split_ascii_whitespace().nth(2) == Some("0.0.0.0") {
                return Some(l.to_string());
            }
            return Some("c=IN IP4 127.0.0.1".into());
        }
        if let Some(value) = l.strip_prefix("a=rtcp:") {
            let mut fields = value.split_ascii_whitespace();
            let port = fields.next().unwrap_or("9");
            if fields.nth(2).is_none_or(|a| a == "0.0.0.0") {
                return Some(l.to_string());
            }
            return Some(format!("a=rtcp:{port} IN IP4 127.0.0.1"));
        }
        Some(l.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &[&str] = &["OPUS", "G722", "PCMU", "PCMA"];

    /// Chrome 47's offer from the seed (juandebravo, "WebRTC SDP"), as written.
    const CHROME47: &str = include_str!("offers/chrome47.sdp");

    /// Firefox 43's offer from the seed, as written (no BUNDLE, session-level
    /// fingerprint, RTCP component 2).
    const FIREFOX43: &str = include_str!("offers/firefox43.sdp");

    /// A Chrome 120 audio offer as the notes describe it (section 3): opus
    /// with RED before G.722, CN, telephone-event at two rates, four
    /// extmaps, extmap-allow-mixed, m-level msid, an mDNS candidate.
    /// The page's transceiver is sendonly. CRLF, as browsers write.
    const CHROME120: &str = include_str!("offers/chrome120.sdp");

    /// A Firefox 121 audio offer as the notes describe it: session-level
    /// fingerprint, `extmap:2/recvonly`, telephone-event `0-15`.
    const FIREFOX121: &str = include_str!("offers/firefox121.sdp");

    const VIDEO: &str = "m=video 9 UDP/TLS/RTP/SAVPF 96\r
c=IN IP4 0.0.0.0\r
a=mid:1\r
a=sendonly\r
a=rtcp-mux\r
a=rtpmap:96 VP8/90000\r
";

    fn pts(plan: &AnswerPlan) -> Vec<u8> {
        plan.codecs.iter().map(|c| c.pt).collect()
    }

    fn decide_str(sdp: &str, codecs: &[&str]) -> Result<AnswerPlan, OfferError> {
        decide_offer(sdp.as_bytes(), codecs)
    }

    fn local() -> LocalParams {
        LocalParams {
            ice_ufrag: "lUfr".into(),
            ice_pwd: "localpasswordlocalpassword".into(),
            fingerprint: "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF".into(),
            setup: "active".into(),
            candidates: vec![
                "candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host".into(),
                "a=candidate:2 1 TCP 1015021823 127.0.0.1 9 typ host tcptype active".into(),
            ],
            session_id: 1234567890123,
        }
    }

    #[test]
    fn chrome47_seed_offer() {
        let plan = decide_str(CHROME47, OURS).unwrap();
        assert_eq!(pts(&plan), [111, 9, 0, 8]);
        assert_eq!(plan.mid.as_deref(), Some("audio"));
        assert_eq!(plan.remote_ice_ufrag, "bzRv+Hl9e/MnTuO7");
        assert_eq!(plan.remote_ice_pwd, "YC88frVagqjvoBpOVAd+yOCH");
        assert!(plan.remote_fingerprint.starts_with("sha-256 BE:C0:9D"));
        assert_eq!(plan.remote_setup, "actpass");
        assert_eq!(plan.answer_setup(), "active");
        assert_eq!(plan.remote_candidates.len(), 6);
        assert_eq!(
            plan.codecs[0].fmtp.as_deref(),
            Some("minptime=10;useinbandfec=1")
        );
        assert_eq!(plan.codecs[1].fmtp, None);
        // The parser's view of the other lines.
        let sdp = Sdp::parse(CHROME47).unwrap();
        assert_eq!(sdp.bundle_group(), ["audio"]);
        let m = &sdp.media[0];
        assert_eq!(m.fmtp(111), Some("minptime=10; useinbandfec=1"));
        assert_eq!(m.extmaps().len(), 2);
        assert_eq!(m.ssrcs(), [655607873]);
        assert_eq!(m.direction(), Some(Direction::SendRecv));
        assert_eq!(m.rtpmaps().len(), 10);
    }

    #[test]
    fn firefox43_seed_offer() {
        let plan = decide_str(FIREFOX43, OURS).unwrap();
        // G722/8000/1 is G722/8000; the fingerprint is at session level.
        assert_eq!(pts(&plan), [109, 9, 0, 8]);
        assert_eq!(plan.mid.as_deref(), Some("sdparta_0"));
        assert!(plan.remote_fingerprint.starts_with("sha-256 CE:A2"));
        assert_eq!(plan.remote_ice_ufrag, "1cc314ac");
        assert!(Sdp::parse(FIREFOX43).unwrap().bundle_group().is_empty());
    }

    #[test]
    fn chrome120_offer_skips_red_cn_and_dtmf() {
        let plan = decide_str(CHROME120, OURS).unwrap();
        assert_eq!(pts(&plan), [111, 9, 0, 8]);
        assert_eq!(plan.mid.as_deref(), Some("0"));
        assert_eq!(plan.remote_candidates.len(), 2);
        let sdp = Sdp::parse(CHROME120).unwrap();
        assert_eq!(sdp.media[0].extmaps()[2].0, 3);
        assert_eq!(sdp.media[0].direction(), Some(Direction::SendOnly));
    }

    #[test]
    fn firefox121_offer() {
        let plan = decide_str(FIREFOX121, OURS).unwrap();
        assert_eq!(pts(&plan), [109, 9, 0, 8]);
        let sdp = Sdp::parse(FIREFOX121).unwrap();
        assert_eq!(
            sdp.media[0].extmaps(),
            [
                (1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
                (2, "urn:ietf:params:rtp-hdrext:csrc-audio-level"),
                (3, "urn:ietf:params:rtp-hdrext:sdes:mid")
            ]
        );
        assert_eq!(sdp.media[0].fmtp(101), Some("0-15"));
    }

    #[test]
    fn the_mount_order_decides_the_answer_order() {
        for offer in [CHROME47, FIREFOX43, CHROME120, FIREFOX121] {
            let plan = decide_str(offer, &["PCMA", "G722", "OPUS", "PCMU"]).unwrap();
            let names: Vec<&str> = plan.codecs.iter().map(|c| c.codec.name).collect();
            assert_eq!(names, ["PCMA", "G722", "OPUS", "PCMU"]);
            let plan = decide_str(offer, &["pcmu"]).unwrap();
            assert_eq!(pts(&plan), [0]);
        }
        // Names a browser never offers are skipped, not an error.
        let plan = decide_str(CHROME47, &["AAC", "L16-16000", "G722", "nonsense"]).unwrap();
        assert_eq!(pts(&plan), [9]);
    }

    #[test]
    fn offered_payload_types_are_kept() {
        let offer = CHROME47
            .replace(" 111 103 104 9 0 8", " 96 103 104 9 0 8")
            .replace("a=rtpmap:111 opus", "a=rtpmap:96 OPUS")
            .replace("a=fmtp:111", "a=fmtp:96");
        let plan = decide_str(&offer, OURS).unwrap();
        assert_eq!(pts(&plan), [96, 9, 0, 8]);
        // Static payload types without a=rtpmap.
        let offer = FIREFOX43
            .replace("a=rtpmap:0 PCMU/8000\n", "")
            .replace("a=rtpmap:8 PCMA/8000\n", "");
        assert_eq!(pts(&decide_str(&offer, &["PCMA", "PCMU"]).unwrap()), [8, 0]);
        // An rtpmap for a payload type not on the m-line is not offered.
        let offer = FIREFOX43.replace(" 109 9 0 8\n", " 9 0 8\n");
        assert_eq!(pts(&decide_str(&offer, OURS).unwrap()), [9, 0, 8]);
        // Opus without channels (webrtcbin's `OPUS/48000`) is Opus; with
        // other channels than RFC 7587's 2 it is not.
        let offer = FIREFOX43.replace("opus/48000/2", "opus/48000");
        assert_eq!(pts(&decide_str(&offer, OURS).unwrap()), [109, 9, 0, 8]);
        let offer = FIREFOX43.replace("opus/48000/2", "opus/48000/1");
        assert_eq!(pts(&decide_str(&offer, OURS).unwrap()), [9, 0, 8]);
    }

    #[test]
    fn offers_without_mid_or_with_session_level_ice() {
        // No mid (and so no BUNDLE): the answer has neither.
        let offer = CHROME47
            .replace("a=mid:audio\n", "")
            .replace("a=group:BUNDLE audio\n", "");
        let plan = decide_str(&offer, OURS).unwrap();
        assert_eq!(plan.mid, None);
        let answer = write_answer(&plan, &local());
        assert!(!answer.contains("a=mid") && !answer.contains("a=group"));
        // ICE credentials at session level.
        let offer = FIREFOX43
            .replace("a=ice-pwd:1159da14ac942703cfaaf5f555b3b328\n", "")
            .replace("a=ice-ufrag:1cc314ac\n", "")
            .replace(
                "t=0 0\n",
                "t=0 0\na=ice-ufrag:sess\na=ice-pwd:sessionpassword\n",
            );
        let plan = decide_str(&offer, OURS).unwrap();
        assert_eq!(plan.remote_ice_ufrag, "sess");
        assert_eq!(plan.remote_ice_pwd, "sessionpassword");
        // An offer's setup decides ours; the transport is echoed.
        let offer = CHROME47
            .replace("setup:actpass", "setup:active")
            .replace("UDP/TLS/RTP/SAVPF", "TCP/DTLS/RTP/SAVPF");
        let plan = decide_str(&offer, OURS).unwrap();
        assert_eq!(plan.answer_setup(), "passive");
        assert!(
            write_answer(&plan, &local()).contains("m=audio 9 TCP/DTLS/RTP/SAVPF 111 9 0 8\r\n")
        );
        assert_eq!(
            decide_str(&CHROME47.replace("setup:actpass", "setup:passive"), OURS)
                .unwrap()
                .answer_setup(),
            "active"
        );
    }

    #[test]
    fn crlf_and_lf_give_the_same_plan() {
        for offer in [CHROME47, FIREFOX43, CHROME120, FIREFOX121] {
            let lf = offer.replace("\r\n", "\n");
            let crlf = lf.replace('\n', "\r\n");
            assert_eq!(
                decide_str(&lf, OURS).unwrap(),
                decide_str(&crlf, OURS).unwrap()
            );
            assert_eq!(Sdp::parse(&lf).unwrap(), Sdp::parse(&crlf).unwrap());
        }
    }

    fn refused(offer: &str, status: u16, reason: &str) {
        let err = decide_str(offer, OURS).unwrap_err();
        assert_eq!(err.status(), status, "{err}");
        assert!(err.reason().contains(reason), "{err}");
    }

    #[test]
    fn video_next_to_audio_is_refused() {
        refused(&format!("{CHROME120}{VIDEO}"), 422, "video");
        let bundle = CHROME120.replace("BUNDLE 0", "BUNDLE 0 1");
        refused(&format!("{bundle}{VIDEO}"), 422, "besides audio");
        // Video alone, two audio tracks.
        let header_end = CHROME120.find("m=audio").unwrap();
        refused(
            &format!("{}{VIDEO}", &CHROME120[..header_end]),
            422,
            "no audio",
        );
        let audio = &CHROME120[header_end..].replace("a=mid:0", "a=mid:1");
        refused(&format!("{CHROME120}{audio}"), 422, "2 audio");
    }

    #[test]
    fn directions_that_do_not_send_are_refused() {
        refused(
            &CHROME47.replace("a=sendrecv", "a=recvonly"),
            422,
            "recvonly",
        );
        refused(
            &CHROME47.replace("a=sendrecv", "a=inactive"),
            422,
            "inactive",
        );
        refused(
            &CHROME120.replace("a=sendonly", "a=inactive"),
            422,
            "inactive",
        );
        // Session level applies when the media says nothing.
        let offer = CHROME47
            .replace("a=sendrecv\n", "")
            .replace("t=0 0\n", "t=0 0\na=recvonly\n");
        refused(&offer, 422, "recvonly");
        // No direction at all is sendrecv.
        assert!(decide_str(&CHROME47.replace("a=sendrecv\n", ""), OURS).is_ok());
    }

    #[test]
    fn offers_without_ice_or_dtls_are_refused() {
        refused(
            &CHROME47.replace("a=fingerprint", "a=x-fingerprint"),
            400,
            "fingerprint",
        );
        refused(&FIREFOX43.replace("a=ice-ufrag", "a=x"), 400, "ICE");
        refused(&CHROME120.replace("a=ice-pwd", "a=x"), 400, "ICE");
        refused(
            &CHROME47.replace("sha-256 BE:C0", "sha-256 BEC0"),
            400,
            "fingerprint",
        );
        refused(&CHROME47.replace("a=rtcp-mux\n", ""), 422, "rtcp-mux");
        refused(
            &CHROME47.replace("UDP/TLS/RTP/SAVPF", "RTP/AVP"),
            422,
            "RTP/AVP",
        );
        refused(
            &CHROME47.replace("setup:actpass", "setup:holdconn"),
            422,
            "setup",
        );
        refused(&CHROME47.replace("m=audio 9", "m=audio 0"), 422, "port 0");
        assert!(decide_str(&CHROME47.replace("UDP/TLS/RTP", "TCP/DTLS/RTP"), OURS).is_ok());
    }

    #[test]
    fn offers_without_a_common_codec_are_refused() {
        let offer = CHROME47.replace("111 103 104 9 0 8 106 105 13 126", "106 105 13 126");
        refused(&offer, 422, "no codec in common");
        refused(&offer, 422, "CN/32000");
        let err = decide_str(CHROME47, &["AAC", "L16-8000"]).unwrap_err();
        assert_eq!(err.status(), 422);
        assert!(err.reason().contains("AAC, L16-8000"), "{err}");
        assert_eq!(decide_str(CHROME47, &[]).unwrap_err().status(), 422);
    }

    #[test]
    fn malformed_offers_are_400() {
        for (offer, reason) in [
            ("", "empty"),
            ("\r\n\n", "empty"),
            ("hello", "not an SDP line"),
            ("v=1\no=- 1 1 IN IP4 0.0.0.0\n", "v=0"),
            ("o=- 1 1 IN IP4 0.0.0.0\nv=0\n", "v=0"),
            ("v=0\ns=-\n", "no 'o='"),
            ("v=0\no=- 1 IN IP4 0.0.0.0\n", "6 fields"),
            ("v=0\no=- 1 1 IN IP4 0.0.0.0\nm=audio\n", "not an m-line"),
            (
                "v=0\no=- 1 1 IN IP4 0.0.0.0\nm=audio x RTP/AVP 0\n",
                "m-line",
            ),
            ("v=0\no=- 1 1 IN IP4 0.0.0.0\nv=0\n", "second"),
            ("v=0\no=- 1 1 IN IP4 0.0.0.0\nA=x\n", "line 3"),
            ("v=0\no=- 1 1 IN IP4 0.0.0.0\n a=x\n", "line 3"),
        ] {
            let err = Sdp::parse(offer).unwrap_err();
            assert_eq!(err.status(), 400, "{offer:?}: {err}");
            assert!(err.reason().contains(reason), "{offer:?}: {err}");
        }
        let err = decide_offer(b"v=0\n\xff\xfe", OURS).unwrap_err();
        assert_eq!(err.status(), 400);
        // Control characters are not echoed into the reason.
        let err = Sdp::parse("v=0\no=- 1 1 IN IP4 0.0.0.0\n\x1b[31m").unwrap_err();
        assert!(!err.reason().contains('\x1b'));
        // A malformed attribute is kept as text and does no harm.
        let offer = CHROME47.replace("a=maxptime:60", "a=rtpmap:zz");
        assert_eq!(pts(&decide_str(&offer, OURS).unwrap()), [111, 9, 0, 8]);
    }

    #[test]
    fn oversized_offers_are_413() {
        let big = format!("{CHROME47}{}", "a=x-pad:0123456789\n".repeat(4000));
        assert!(big.len() > MAX_SDP_BYTES);
        assert_eq!(decide_str(&big, OURS).unwrap_err().status(), 413);
        assert_eq!(Sdp::parse(&big).unwrap_err().status(), 413);
        assert_eq!(
            munge_answer(&big, &decide_str(CHROME47, OURS).unwrap())
                .unwrap_err()
                .status(),
            413
        );
        let many = format!("{CHROME47}{}", "m=audio 0 RTP/AVP 0\n".repeat(MAX_MEDIA));
        let err = decide_str(&many, OURS).unwrap_err();
        assert_eq!(err.status(), 413, "{err}");
        assert!(err.reason().contains("m-lines"));
        // Exactly MAX_MEDIA m-lines are read (and refused for the count).
        let max = format!(
            "{CHROME47}{}",
            "m=audio 0 RTP/AVP 0\n".repeat(MAX_MEDIA - 1)
        );
        assert_eq!(decide_str(&max, OURS).unwrap_err().status(), 422);
    }

    /// Tiny deterministic generator for the garbage test.
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn truncations_and_garbage_never_panic() {
        let plan = decide_str(CHROME47, OURS).unwrap();
        for offer in [CHROME47, FIREFOX43, CHROME120, FIREFOX121] {
            let answer = write_answer(&plan, &local());
            for cut in 0..=offer.len() {
                if let Some(prefix) = offer.get(..cut) {
                    let _ = decide_str(prefix, OURS);
                    let _ = munge_answer(prefix, &plan);
                    let _ = strip_candidates(prefix);
                    let _ = rewrite_candidates_to_loopback(prefix);
                }
            }
            for cut in 0..=answer.len() {
                let _ = munge_answer(&answer[..cut], &plan);
            }
        }
        let mut state = 7u64;
        let alphabet = b"v=0o-ma:/ \r\n12389SAVPFUDPTLSrtpmapfmtpcandidate\xff\x00";
        for _ in 0..3000 {
            let len = (lcg(&mut state) % 300) as usize;
            let mut bytes: Vec<u8> = b"v=0\no=- 1 1 IN IP4 0.0.0.0\n".to_vec();
            bytes.extend((0..len).map(|_| alphabet[(lcg(&mut state) as usize) % alphabet.len()]));
            let _ = decide_offer(&bytes, OURS);
            let text = String::from_utf8_lossy(&bytes);
            let _ = munge_answer(&text, &plan);
            let _ = rewrite_candidates_to_loopback(&text);
            // Mutate one byte of a real offer.
            let mut offer = CHROME120.as_bytes().to_vec();
            let at = (lcg(&mut state) as usize) % offer.len();
            offer[at] = alphabet[(lcg(&mut state) as usize) % alphabet.len()];
            let _ = decide_offer(&offer, OURS);
        }
    }

    #[test]
    fn the_answer_reads_back() {
        for offer in [CHROME47, FIREFOX43, CHROME120, FIREFOX121] {
            let plan = decide_str(offer, &["G722", "OPUS", "PCMA"]).unwrap();
            let answer = write_answer(&plan, &local());
            assert!(answer.ends_with("a=end-of-candidates\r\n"));
            assert!(!answer.replace("\r\n", "").contains('\n'));
            let sdp = Sdp::parse(&answer).unwrap();
            assert_eq!(sdp.media.len(), 1);
            let m = &sdp.media[0];
            assert_eq!(m.kind, "audio");
            assert_eq!(m.proto, "UDP/TLS/RTP/SAVPF");
            assert_eq!(
                m.formats,
                pts(&plan).iter().map(u8::to_string).collect::<Vec<_>>()
            );
            assert_eq!(m.direction(), Some(Direction::RecvOnly));
            assert!(m.has_flag("rtcp-mux"));
            assert_eq!(m.mid(), plan.mid.as_deref());
            match &plan.mid {
                Some(mid) => assert_eq!(sdp.bundle_group(), [mid.as_str()]),
                None => assert!(sdp.bundle_group().is_empty()),
            }
            let names: Vec<String> = m.rtpmaps().iter().map(|r| r.name.clone()).collect();
            assert_eq!(names, ["G722", "opus", "PCMA"]);
            assert_eq!(
                m.fmtp(plan.codecs[1].pt),
                Some("minptime=10;useinbandfec=1")
            );
            assert_eq!(m.attribute("ice-ufrag"), Some("lUfr"));
            assert_eq!(m.attribute("setup"), Some("active"));
            assert_eq!(m.candidates().len(), 2);
            assert!(m.has_flag("end-of-candidates"));
            // Our own answer is not an offer we would take (recvonly).
            assert_eq!(decide(&sdp, OURS).unwrap_err().status(), 422);
        }
    }

    #[test]
    fn the_answer_reads_back_with_gst_sdp() {
        gst::init().unwrap();
        let plan = decide_str(CHROME120, OURS).unwrap();
        let answer = write_answer(&plan, &local());
        let msg = gst_sdp::SDPMessage::parse_buffer(answer.as_bytes()).unwrap();
        assert_eq!(msg.version(), Some("0"));
        assert_eq!(msg.attribute_val("group"), Some("BUNDLE 0"));
        assert_eq!(msg.medias_len(), 1);
        let m = msg.media(0).unwrap();
        assert_eq!(m.media(), Some("audio"));
        assert_eq!(m.port(), 9);
        assert_eq!(m.proto(), Some("UDP/TLS/RTP/SAVPF"));
        let formats: Vec<&str> = (0..m.formats_len()).filter_map(|i| m.format(i)).collect();
        assert_eq!(formats, ["111", "9", "0", "8"]);
        assert_eq!(m.attribute_val("mid"), Some("0"));
        assert!(m.attribute_val("recvonly").is_some());
        assert!(m.attribute_val("sendrecv").is_none());
        assert_eq!(m.attribute_val("rtpmap"), Some("111 opus/48000/2"));
        assert_eq!(
            m.attribute_val_n("candidate", 1)
                .map(|c| c.contains("127.0.0.1")),
            Some(true)
        );
        // What webrtcbin reads from it: the caps of payload type 111.
        let caps = m.caps_from_media(111).unwrap();
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<&str>("encoding-name").unwrap(), "OPUS");
        assert_eq!(s.get::<i32>("clock-rate").unwrap(), 48000);
    }

    /// An answer as webrtcbin 1.22 writes it without codec preferences: every
    /// offered codec, in offer order, CN and telephone-event included.
    fn webrtcbin_like_answer(eol: &str) -> String {
        [
            "v=0",
            "o=- 3052431180211113613 0 IN IP4 0.0.0.0",
            "s=-",
            "t=0 0",
            "a=ice-options:trickle",
            "a=group:BUNDLE 0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
            "c=IN IP4 0.0.0.0",
            "a=rtpmap:111 OPUS/48000/2",
            "a=rtcp-fb:111 transport-cc",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtpmap:63 red/48000/2",
            "a=fmtp:63 111/111",
            "a=rtpmap:9 G722/8000",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:13 CN/8000",
            "a=rtpmap:110 telephone-event/48000",
            "a=rtpmap:126 telephone-event/8000",
            "a=ice-ufrag:Kq5OaWsC0aSJ4v6SmbGMXZ8YDnDwAaJx",
            "a=ice-pwd:KpiYg2WpPcKyCzWYvOvR1cGqhjXxEMia",
            "a=mid:0",
            "a=setup:active",
            "a=rtcp-mux",
            "a=fingerprint:sha-256 9A:06:0C:4D:3C:7A:11:42:7E:51:24:63:AE:06:43:8D:BD:14:F1:1F:51:2D:4D:01:1B:6B:2C:A6:CD:C2:38:1E",
            "a=sendrecv",
            "a=candidate:1 1 UDP 2015363327 127.0.0.1 40001 typ host",
            "",
        ]
        .join(eol)
    }

    #[test]
    fn munge_puts_our_order_and_recvonly_into_webrtcbins_answer() {
        for eol in ["\r\n", "\n"] {
            let plan = decide_str(CHROME120, &["PCMA", "OPUS", "G722"]).unwrap();
            let answer = webrtcbin_like_answer(eol);
            let munged = munge_answer(&answer, &plan).unwrap();
            assert!(munged.ends_with(eol));
            assert_eq!(munged.matches('\n').count(), munged.matches(eol).count());
            let got: Vec<&str> = munged.split(eol).collect();
            let before: Vec<&str> = answer.split(eol).collect();
            assert!(got.contains(&"m=audio 9 UDP/TLS/RTP/SAVPF 8 111 9"));
            // The codec lines, in our order, where the first one was.
            let at = got.iter().position(|l| l.starts_with("a=rtpmap")).unwrap();
            assert_eq!(
                got[at..at + 5],
                [
                    "a=rtpmap:8 PCMA/8000",
                    "a=rtpmap:111 OPUS/48000/2",
                    "a=rtcp-fb:111 transport-cc",
                    "a=fmtp:111 minptime=10;useinbandfec=1",
                    "a=rtpmap:9 G722/8000",
                ]
            );
            assert_eq!(
                at,
                before
                    .iter()
                    .position(|l| l.starts_with("a=rtpmap"))
                    .unwrap()
            );
            assert!(!munged.contains("CN/8000") && !munged.contains("telephone-event"));
            assert!(!munged.contains("red/") && !munged.contains("fmtp:63"));
            assert!(got.contains(&"a=recvonly") && !munged.contains("sendrecv"));
            // Every other line is kept, in order.
            let changed = |l: &&str| {
                l.starts_with("m=")
                    || pt_attribute(l).is_some()
                    || Direction::from_attribute(l.strip_prefix("a=").unwrap_or("")).is_some()
            };
            let rest_before: Vec<&str> = before.iter().copied().filter(|l| !changed(l)).collect();
            let rest_after: Vec<&str> = got.iter().copied().filter(|l| !changed(l)).collect();
            assert_eq!(rest_before, rest_after);
            // Our parser and gst_sdp read it; our plan of it is the same order.
            let sdp = Sdp::parse(&munged).unwrap();
            assert_eq!(sdp.media[0].formats, ["8", "111", "9"]);
            gst::init().unwrap();
            assert!(gst_sdp::SDPMessage::parse_buffer(munged.as_bytes()).is_ok());
        }
    }

    #[test]
    fn munge_adds_recvonly_and_keeps_only_answered_codecs() {
        let plan = decide_str(CHROME47, OURS).unwrap();
        let answer = webrtcbin_like_answer("\r\n")
            .replace("a=sendrecv\r\n", "")
            .replace(" 111 63 9 0 8 13 110 126", " 0 111");
        let munged = munge_answer(&answer, &plan).unwrap();
        assert!(munged.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"));
        assert!(munged.contains("c=IN IP4 0.0.0.0\r\na=recvonly\r\na=rtpmap:111"));
        // The answer takes none of the plan's codecs.
        let answer = webrtcbin_like_answer("\r\n").replace(" 111 63 9 0 8 13 110 126", " 13");
        assert_eq!(munge_answer(&answer, &plan).unwrap_err().status(), 422);
        assert_eq!(
            munge_answer("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", &plan)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn candidates_are_stripped_or_pointed_at_loopback() {
        for offer in [CHROME47, FIREFOX43, CHROME120, FIREFOX121] {
            let stripped = strip_candidates(offer);
            assert!(!stripped.contains("candidate"));
            assert!(decide_str(&stripped, OURS)
                .unwrap()
                .remote_candidates
                .is_empty());
            // Only candidate lines went.
            let kept = offer
                .split_inclusive('\n')
                .filter(|l| !l.starts_with("a=candidate"))
                .collect::<String>();
            assert_eq!(stripped, kept);

            let rewritten = rewrite_candidates_to_loopback(offer);
            let plan = decide_str(&rewritten, OURS).unwrap();
            assert_eq!(
                plan.remote_candidates.len(),
                Sdp::parse(offer).unwrap().media[0].candidates().len()
            );
            for c in &plan.remote_candidates {
                let f: Vec<&str> = c.split_ascii_whitespace().collect();
                assert_eq!(f[4], "127.0.0.1", "{c}");
                if let Some(i) = f.iter().position(|x| *x == "raddr") {
                    assert_eq!(f[i + 1], "127.0.0.1", "{c}");
                }
            }
            for bad in ["192.168.", "83.49.", "88.25.", "203.0.113.", ".local"] {
                assert!(!rewritten.contains(bad), "{bad}");
            }
            assert_eq!(rewritten.matches('\r').count(), offer.matches('\r').count());
        }
        let odd = "v=0\no=- 1 1 IN IP6 ::1\nc=IN IP6 2001:db8::1\na=rtcp:9 IN IP6 2001:db8::1\na=candidate:1 1 udp 1 2001:db8::1 5000 typ host\na=candidate:short\na=end-of-candidates\n";
        assert_eq!(
            rewrite_candidates_to_loopback(odd),
            "v=0\no=- 1 1 IN IP6 ::1\nc=IN IP4 127.0.0.1\na=rtcp:9 IN IP4 127.0.0.1\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\na=end-of-candidates\n"
        );
        assert_eq!(
            strip_candidates(odd),
            "v=0\no=- 1 1 IN IP6 ::1\nc=IN IP6 2001:db8::1\na=rtcp:9 IN IP6 2001:db8::1\n"
        );
    }

    #[test]
    fn webrtcbin_opus_without_channels() {
        // GStreamer's webrtcbin (1.22, 1.26) writes `OPUS/48000`.
        let offer = CHROME120.replace("opus/48000/2", "OPUS/48000");
        let plan = decide_str(&offer, OURS).unwrap();
        assert_eq!(plan.codecs[0].codec.name, "OPUS");
        assert_eq!(plan.codecs[0].pt, 111);
        // Stated channels must match: mono Opus is not ours.
        let offer = CHROME120.replace("opus/48000/2", "opus/48000/1");
        let plan = decide_str(&offer, OURS).unwrap();
        assert_ne!(plan.codecs[0].codec.name, "OPUS");
    }
}

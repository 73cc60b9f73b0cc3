//! Parsers for the RTSP request headers the back channel looks at: `Require`
//! (does the client ask for the ONVIF back channel?) and `Transport` (how does
//! it want the audio carried?), after RFC 2326 sections 12.32 and 12.39.
//!
//! Plain Rust, no GStreamer types: the factory hands in header values as
//! strings. Both parsers are bounded (header length, number of items) since
//! the values come straight from the network.

use std::fmt;

/// The option tag ONVIF clients send in `Require` to ask for the back channel.
pub const ONVIF_BACKCHANNEL: &str = "www.onvif.org/ver20/backchannel";

/// Longest header value either parser looks at, in bytes.
pub const MAX_HEADER_LEN: usize = 4096;
/// Most option tags [`parse_require`] returns; later ones are ignored.
pub const MAX_REQUIRE_TAGS: usize = 32;
/// Longest option tag, in bytes; longer ones are skipped.
pub const MAX_TAG_LEN: usize = 256;
/// Most transport specs one `Transport` header may offer.
pub const MAX_TRANSPORT_SPECS: usize = 16;

// ---------------------------------------------------------------------------
// Require
// ---------------------------------------------------------------------------

/// The option tags of a `Require` (or `Proxy-Require`, `Supported`) value:
/// comma separated, blanks around them trimmed, empty items skipped.
///
/// Bounded: a value longer than [`MAX_HEADER_LEN`] gives no tags at all, a
/// tag longer than [`MAX_TAG_LEN`] or containing blanks or control characters
/// is skipped, and at most [`MAX_REQUIRE_TAGS`] tags are returned.
pub fn parse_require(value: &str) -> Vec<String> {
    if value.len() > MAX_HEADER_LEN {
        return Vec::new();
    }
    value
        .split(',')
        .map(str::trim_ascii)
        .filter(|tag| !tag.is_empty() && tag.len() <= MAX_TAG_LEN)
        .filter(|tag| {
            !tag.bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        })
        .take(MAX_REQUIRE_TAGS)
        .map(str::to_owned)
        .collect()
}

/// True if a `Require` value asks for the ONVIF back channel. The tag is
/// compared ignoring ASCII case: clients differ in how they spell it.
pub fn requires_backchannel(value: &str) -> bool {
    parse_require(value)
        .iter()
        .any(|tag| tag.eq_ignore_ascii_case(ONVIF_BACKCHANNEL))
}

// ---------------------------------------------------------------------------
// Transport: types
// ---------------------------------------------------------------------------

/// The RTP profile of a transport spec (`RTP/<profile>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Avp,
    Avpf,
    Savp,
    Savpf,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Avp => "AVP",
            Profile::Avpf => "AVPF",
            Profile::Savp => "SAVP",
            Profile::Savpf => "SAVPF",
        }
    }

    fn from_token(token: &str) -> Option<Profile> {
        [Profile::Avp, Profile::Avpf, Profile::Savp, Profile::Savpf]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(token))
    }
}

/// The lower transport; `RTP/AVP` without one means UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowerTransport {
    Udp,
    Tcp,
}

impl LowerTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            LowerTransport::Udp => "UDP",
            LowerTransport::Tcp => "TCP",
        }
    }
}

/// `unicast` or `multicast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Unicast,
    Multicast,
}

/// One method of the `mode` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Play,
    Record,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Play => "PLAY",
            Mode::Record => "RECORD",
        }
    }
}

/// An `interleaved=rtp[-rtcp]` channel pair; `rtcp` is `rtp + 1` when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interleaved {
    pub rtp: u8,
    pub rtcp: Option<u8>,
}

/// A `port[-port]` range (`client_port`, `server_port`, `port`): nonzero, and
/// `last` is larger than `first` when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: Option<u16>,
}

/// One transport spec of a `Transport` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportSpec {
    pub profile: Profile,
    pub lower: LowerTransport,
    /// `None` when the spec says neither `unicast` nor `multicast`.
    pub delivery: Option<Delivery>,
    /// `Some("")` for a `destination` without a value.
    pub destination: Option<String>,
    pub source: Option<String>,
    pub interleaved: Option<Interleaved>,
    pub append: bool,
    pub ttl: Option<u8>,
    pub layers: Option<u32>,
    /// The multicast `port` parameter.
    pub port: Option<PortRange>,
    pub client_port: Option<PortRange>,
    pub server_port: Option<PortRange>,
    pub ssrc: Option<u32>,
    /// Methods of `mode`, without repeats; empty when `mode` is absent
    /// (which RFC 2326 reads as PLAY).
    pub modes: Vec<Mode>,
    /// Parameters this parser does not know, `(name, value)` as written
    /// (blanks around them trimmed), in order.
    pub other: Vec<(String, Option<String>)>,
}

impl TransportSpec {
    /// A spec with only the protocol part, every parameter absent.
    pub fn new(profile: Profile, lower: LowerTransport) -> TransportSpec {
        TransportSpec {
            profile,
            lower,
            delivery: None,
            destination: None,
            source: None,
            interleaved: None,
            append: false,
            ttl: None,
            layers: None,
            port: None,
            client_port: None,
            server_port: None,
            ssrc: None,
            modes: Vec::new(),
            other: Vec::new(),
        }
    }

    /// Unicast unless the spec says `multicast`. RFC 2326 makes multicast the
    /// default, but clients that want it say so, and gst-rtsp-server reads a
    /// spec without either word as unicast too.
    pub fn is_unicast(&self) -> bool {
        self.delivery != Some(Delivery::Multicast)
    }
}

/// Why a `Transport` value was refused. The Display text is meant for the
/// reason phrase or body of a 461 Unsupported Transport answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The value is longer than [`MAX_HEADER_LEN`] (the length is given).
    TooLong(usize),
    /// More than [`MAX_TRANSPORT_SPECS`] specs.
    TooManySpecs(usize),
    /// No transport spec at all.
    Empty,
    /// A `"` without its closing `"`.
    UnterminatedQuote,
    /// No spec is RTP over UDP or TCP with a known profile; holds the first
    /// spec's protocol part.
    Unsupported(String),
    /// `unicast` and `multicast` in one spec.
    ConflictingDelivery,
    /// A known parameter given twice in one spec.
    Duplicate(&'static str),
    /// A known parameter that needs a value has none.
    MissingValue(&'static str),
    /// A flag parameter (`unicast`, `multicast`, `append`) with a value.
    UnexpectedValue(&'static str),
    /// A number that is not one (`param`, text as written).
    BadNumber(&'static str, String),
    /// An interleaved channel outside 0..=255 (text as written).
    ChannelOutOfRange(String),
    /// An interleaved pair whose second channel is not the first plus one.
    ChannelsNotConsecutive(u8, u8),
    /// A number too large for `param` (or a port 0), text as written.
    OutOfRange(&'static str, String),
    /// A port range whose second port is not above the first.
    PortsNotOrdered(&'static str, u16, u16),
    /// A `mode` method other than PLAY or RECORD.
    BadMode(String),
    /// An ssrc that is not 1 to 8 hexadecimal digits.
    BadSsrc(String),
}

/// At most 40 characters of `s`, for error messages about client input.
fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::TooLong(n) => write!(
                f,
                "Transport header of {n} bytes is longer than {MAX_HEADER_LEN}"
            ),
            TransportError::TooManySpecs(n) => write!(
                f,
                "{n} transport specs offered, at most {MAX_TRANSPORT_SPECS} accepted"
            ),
            TransportError::Empty => write!(f, "empty Transport header"),
            TransportError::UnterminatedQuote => {
                write!(f, "unterminated quoted string in Transport header")
            }
            TransportError::Unsupported(p) => write!(
                f,
                "unsupported transport '{}' (expected RTP/AVP, RTP/AVP/UDP or RTP/AVP/TCP)",
                excerpt(p)
            ),
            TransportError::ConflictingDelivery => {
                write!(f, "transport is both unicast and multicast")
            }
            TransportError::Duplicate(p) => write!(f, "transport parameter {p} given twice"),
            TransportError::MissingValue(p) => write!(f, "transport parameter {p} needs a value"),
            TransportError::UnexpectedValue(p) => {
                write!(f, "transport parameter {p} takes no value")
            }
            TransportError::BadNumber(p, v) => {
                write!(f, "{p} value '{}' is not a number", excerpt(v))
            }
            TransportError::ChannelOutOfRange(v) => {
                write!(f, "interleaved channel {} out of range", excerpt(v))
            }
            TransportError::ChannelsNotConsecutive(a, b) => write!(
                f,
                "interleaved channels {a}-{b}: the second must be the first plus one"
            ),
            TransportError::OutOfRange(p, v) => write!(f, "{p} {} out of range", excerpt(v)),
            TransportError::PortsNotOrdered(p, a, b) => {
                write!(
                    f,
                    "{p} range {a}-{b}: the second port must be above the first"
                )
            }
            TransportError::BadMode(m) => {
                write!(f, "mode '{}' is neither PLAY nor RECORD", excerpt(m))
            }
            TransportError::BadSsrc(s) => {
                write!(f, "ssrc '{}' is not 1 to 8 hexadecimal digits", excerpt(s))
            }
        }
    }
}

impl std::error::Error for TransportError {}

// ---------------------------------------------------------------------------
// Transport: parsing
// ---------------------------------------------------------------------------

/// Splits `s` at `sep` outside double-quoted strings (a backslash inside
/// quotes escapes the next character).
fn split_unquoted(s: &str, sep: u8) -> Result<Vec<&str>, TransportError> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == sep {
            // `sep` is ASCII, so `i` is a char boundary.
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    if quoted {
        return Err(TransportError::UnterminatedQuote);
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// A decimal number of at most `max`, ASCII digits only (no sign, no blanks).
/// `Err(true)` if it is digits but too large, `Err(false)` if not digits.
fn decimal(text: &str, max: u32) -> Result<u32, bool> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(false);
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > 10 {
        return Err(true);
    }
    let value: u64 = digits.parse().unwrap_or(0);
    if value > max as u64 {
        return Err(true);
    }
    Ok(value as u32)
}

/// [`decimal`] with the errors for parameter `param`.
fn number(param: &'static str, text: &str, max: u32) -> Result<u32, TransportError> {
    decimal(text, max).map_err(|too_big| {
        if too_big {
            TransportError::OutOfRange(param, text.to_owned())
        } else {
            TransportError::BadNumber(param, text.to_owned())
        }
    })
}

/// Splits `a-b` into `(a, Some(b))`, `a` into `(a, None)`, both trimmed.
fn range_parts(value: &str) -> (&str, Option<&str>) {
    match value.split_once('-') {
        Some((a, b)) => (a.trim_ascii(), Some(b.trim_ascii())),
        None => (value, None),
    }
}

fn parse_interleaved(value: &str) -> Result<Interleaved, TransportError> {
    let channel = |text: &str| {
        decimal(text, u8::MAX as u32)
            .map(|c| c as u8)
            .map_err(|too_big| {
                if too_big {
                    TransportError::ChannelOutOfRange(text.to_owned())
                } else {
                    TransportError::BadNumber("interleaved", text.to_owned())
                }
            })
    };
    let (a, b) = range_parts(value);
    let rtp = channel(a)?;
    let rtcp = match b {
        Some(b) => {
            let rtcp = channel(b)?;
            if rtp.checked_add(1) != Some(rtcp) {
                return Err(TransportError::ChannelsNotConsecutive(rtp, rtcp));
            }
            Some(rtcp)
        }
        None => None,
    };
    Ok(Interleaved { rtp, rtcp })
}

fn parse_ports(param: &'static str, value: &str) -> Result<PortRange, TransportError> {
    let port = |text: &str| match decimal(text, u16::MAX as u32) {
        Ok(0) | Err(true) => Err(TransportError::OutOfRange(param, text.to_owned())),
        Ok(p) => Ok(p as u16),
        Err(false) => Err(TransportError::BadNumber(param, text.to_owned())),
    };
    let (a, b) = range_parts(value);
    let first = port(a)?;
    let last = match b {
        Some(b) => {
            let last = port(b)?;
            if last <= first {
                return Err(TransportError::PortsNotOrdered(param, first, last));
            }
            Some(last)
        }
        None => None,
    };
    Ok(PortRange { first, last })
}

fn parse_ssrc(value: &str) -> Result<u32, TransportError> {
    if value.is_empty() || value.len() > 8 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TransportError::BadSsrc(value.to_owned()));
    }
    u32::from_str_radix(value, 16).map_err(|_| TransportError::BadSsrc(value.to_owned()))
}

fn parse_modes(value: &str) -> Result<Vec<Mode>, TransportError> {
    let inner = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner,
        None => value,
    };
    let mut modes = Vec::new();
    for method in inner.split(',').map(str::trim_ascii) {
        let mode = if method.eq_ignore_ascii_case("PLAY") {
            Mode::Play
        } else if method.eq_ignore_ascii_case("RECORD") {
            Mode::Record
        } else {
            return Err(TransportError::BadMode(method.to_owned()));
        };
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    Ok(modes)
}

/// The protocol part (`RTP/AVP/TCP`), or `None` for one this parser does not
/// handle.
fn parse_protocol(text: &str) -> Option<(Profile, LowerTransport)> {
    let mut parts = text.split('/');
    let protocol = parts.next()?;
    let profile = Profile::from_token(parts.next()?)?;
    let lower = match parts.next() {
        None => LowerTransport::Udp,
        Some(l) if l.eq_ignore_ascii_case("UDP") => LowerTransport::Udp,
        Some(l) if l.eq_ignore_ascii_case("TCP") => LowerTransport::Tcp,
        Some(_) => return None,
    };
    if parts.next().is_some() || !protocol.eq_ignore_ascii_case("RTP") {
        return None;
    }
    Some((profile, lower))
}

/// Stores `value` into `slot`, refusing a second one.
fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), TransportError> {
    if slot.is_some() {
        return Err(TransportError::Duplicate(name));
    }
    *slot = Some(value);
    Ok(())
}

/// One spec, `None` if its protocol is not one we handle.
fn parse_spec(text: &str) -> Result<Option<TransportSpec>, TransportError> {
    let params = split_unquoted(text, b';')?;
    let Some((profile, lower)) = parse_protocol(params[0].trim_ascii()) else {
        return Ok(None);
    };
    let mut spec = TransportSpec::new(profile, lower);
    let mut mode_seen = false;
    for param in params[1..].iter().map(|p| p.trim_ascii()) {
        if param.is_empty() {
            continue;
        }
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim_ascii(), Some(v.trim_ascii())),
            None => (param, None),
        };
        const KNOWN: &[&str] = &[
            "unicast",
            "multicast",
            "destination",
            "source",
            "interleaved",
            "append",
            "ttl",
            "layers",
            "port",
            "client_port",
            "server_port",
            "ssrc",
            "mode",
        ];
        let Some(&known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) else {
            spec.other.push((name.to_owned(), value.map(str::to_owned)));
            continue;
        };
        // Every known parameter except `destination` is a flag or needs a value.
        let flag = matches!(known, "unicast" | "multicast" | "append");
        let value = if flag {
            if value.is_some() {
                return Err(TransportError::UnexpectedValue(known));
            }
            ""
        } else if known == "destination" {
            value.unwrap_or("")
        } else {
            match value {
                Some(v) if !v.is_empty() => v,
                _ => return Err(TransportError::MissingValue(known)),
            }
        };
        match known {
            "unicast" | "multicast" => {
                let d = if known == "unicast" {
                    Delivery::Unicast
                } else {
                    Delivery::Multicast
                };
                match spec.delivery {
                    Some(old) if old != d => return Err(TransportError::ConflictingDelivery),
                    Some(_) => return Err(TransportError::Duplicate(known)),
                    None => spec.delivery = Some(d),
                }
            }
            "append" => {
                if spec.append {
                    return Err(TransportError::Duplicate(known));
                }
                spec.append = true;
            }
            "destination" => set_once(&mut spec.destination, known, value.to_owned())?,
            "source" => set_once(&mut spec.source, known, value.to_owned())?,
            "interleaved" => set_once(&mut spec.interleaved, known, parse_interleaved(value)?)?,
            "ttl" => {
                let ttl = number(known, value, u8::MAX as u32)?;
                set_once(&mut spec.ttl, known, ttl as u8)?
            }
            "layers" => {
                let layers = number(known, value, u32::MAX)?;
                set_once(&mut spec.layers, known, layers)?
            }
            "port" => set_once(&mut spec.port, known, parse_ports(known, value)?)?,
            "client_port" => set_once(&mut spec.client_port, known, parse_ports(known, value)?)?,
            "server_port" => set_once(&mut spec.server_port, known, parse_ports(known, value)?)?,
            "ssrc" => set_once(&mut spec.ssrc, known, parse_ssrc(value)?)?,
            "mode" => {
                if mode_seen {
                    return Err(TransportError::Duplicate(known));
                }
                mode_seen = true;
                spec.modes = parse_modes(value)?;
            }
            _ => unreachable!("every name in KNOWN is handled"),
        }
    }
    Ok(Some(spec))
}

/// Parses a `Transport` header value: comma separated transport specs,
/// each `RTP/<profile>[/<lower transport>]` followed by `;`-separated
/// parameters, in the client's order of preference.
///
/// Specs for protocols other than RTP over UDP or TCP with profile AVP, AVPF,
/// SAVP or SAVPF are left out; if that leaves none, the answer is
/// [`TransportError::Unsupported`]. Unknown parameters are kept in
/// [`TransportSpec::other`]. A malformed known parameter in any spec refuses
/// the whole header.
pub fn parse_transport(value: &str) -> Result<Vec<TransportSpec>, TransportError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(TransportError::TooLong(value.len()));
    }
    let texts: Vec<&str> = split_unquoted(value, b',')?
        .into_iter()
        .map(str::trim_ascii)
        .filter(|t| !t.is_empty())
        .collect();
    if texts.is_empty() {
        return Err(TransportError::Empty);
    }
    if texts.len() > MAX_TRANSPORT_SPECS {
        return Err(TransportError::TooManySpecs(texts.len()));
    }
    let mut specs = Vec::new();
    for text in &texts {
        if let Some(spec) = parse_spec(text)? {
            specs.push(spec);
        }
    }
    if specs.is_empty() {
        let protocol = texts[0].split(';').next().unwrap_or("").trim_ascii();
        return Err(TransportError::Unsupported(protocol.to_owned()));
    }
    Ok(specs)
}

// ---------------------------------------------------------------------------
// Transport: writing
// ---------------------------------------------------------------------------

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last {
            Some(last) => write!(f, "{}-{}", self.first, last),
            None => write!(f, "{}", self.first),
        }
    }
}

impl fmt::Display for Interleaved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rtcp {
            Some(rtcp) => write!(f, "{}-{}", self.rtp, rtcp),
            None => write!(f, "{}", self.rtp),
        }
    }
}

/// Writes the spec in the form [`parse_transport`] reads back to an equal
/// spec: the lower transport always spelled out, `mode` quoted, `ssrc` as 8
/// hexadecimal digits, unknown parameters last.
impl fmt::Display for TransportSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RTP/{}/{}", self.profile.as_str(), self.lower.as_str())?;
        match self.delivery {
            Some(Delivery::Unicast) => write!(f, ";unicast")?,
            Some(Delivery::Multicast) => write!(f, ";multicast")?,
            None => {}
        }
        match self.destination.as_deref() {
            Some("") => write!(f, ";destination")?,
            Some(d) => write!(f, ";destination={d}")?,
            None => {}
        }
        if let Some(s) = &self.source {
            write!(f, ";source={s}")?;
        }
        if let Some(i) = self.interleaved {
            write!(f, ";interleaved={i}")?;
        }
        if self.append {
            write!(f, ";append")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, ";ttl={ttl}")?;
        }
        if let Some(layers) = self.layers {
            write!(f, ";layers={layers}")?;
        }
        if let Some(p) = self.port {
            write!(f, ";port={p}")?;
        }
        if let Some(p) = self.client_port {
            write!(f, ";client_port={p}")?;
        }
        if let Some(p) = self.server_port {
            write!(f, ";server_port={p}")?;
        }
        if let Some(ssrc) = self.ssrc {
            write!(f, ";ssrc={ssrc:08X}")?;
        }
        if !self.modes.is_empty() {
            let modes: Vec<&str> = self.modes.iter().map(|m| m.as_str()).collect();
            write!(f, ";mode=\"{}\"", modes.join(","))?;
        }
        for (name, value) in &self.other {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

/// A whole `Transport` value: the specs' Display forms joined by commas.
pub fn format_transport(specs: &[TransportSpec]) -> String {
    specs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------
// Transport: back channel policy
// ---------------------------------------------------------------------------

/// Whether a transport spec can carry the ONVIF back channel: unicast only,
/// UDP with a `client_port`. TCP may leave out `interleaved`: the server then
/// picks the channels (RFC 2326 10.12) and says which in its answer. The
/// error text is for a 461 Unsupported Transport answer.
///
/// The profile is not checked here: gst-rtsp-server already refuses profiles
/// the stream is not configured for.
pub fn check_backchannel_transport(spec: &TransportSpec) -> Result<(), String> {
    if !spec.is_unicast() {
        return Err("multicast is not supported for the audio back channel; use unicast".into());
    }
    match spec.lower {
        LowerTransport::Udp if spec.client_port.is_none() => Err(format!(
            "RTP/{}/UDP needs client_port for the audio back channel",
            spec.profile.as_str()
        )),
        _ => Ok(()),
    }
}

/// The first spec [`check_backchannel_transport`] accepts, or the reason the
/// first spec was refused.
pub fn first_backchannel_transport(specs: &[TransportSpec]) -> Result<&TransportSpec, String> {
    let mut first_error = None;
    for spec in specs {
        match check_backchannel_transport(spec) {
            Ok(()) => return Ok(spec),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| "no transport offered".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> TransportSpec {
        let specs = parse_transport(value).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(specs.len(), 1, "{value}");
        specs.into_iter().next().unwrap()
    }

    fn err(value: &str) -> String {
        parse_transport(value).expect_err(value).to_string()
    }

    fn round_trips(value: &str) {
        let specs = parse_transport(value).unwrap();
        let again = parse_transport(&format_transport(&specs)).unwrap();
        assert_eq!(specs, again, "{value}");
    }

    #[test]
    fn require_tags() {
        assert_eq!(parse_require(ONVIF_BACKCHANNEL), vec![ONVIF_BACKCHANNEL]);
        assert_eq!(
            parse_require(" play.basic ,, www.onvif.org/ver20/backchannel , "),
            vec!["play.basic", ONVIF_BACKCHANNEL]
        );
        assert!(parse_require("").is_empty());
        assert!(parse_require(" , ,").is_empty());
        assert!(requires_backchannel("WWW.ONVIF.org/ver20/BackChannel"));
        assert!(requires_backchannel("a, www.onvif.org/ver20/backchannel"));
        assert!(!requires_backchannel("www.onvif.org/ver20/backchannel2"));
        assert!(!requires_backchannel("www.onvif.org/ver10/backchannel"));
        assert!(!requires_backchannel(""));
    }

    #[test]
    fn require_is_bounded() {
        let long = "x".repeat(MAX_TAG_LEN + 1);
        assert_eq!(parse_require(&format!("{long},a")), vec!["a"]);
        assert_eq!(parse_require("a b,c\td,e\u{1}f,g"), vec!["g"]);
        let many = vec!["t"; 40].join(",");
        assert_eq!(parse_require(&many).len(), MAX_REQUIRE_TAGS);
        // The back channel tag as the 33rd tag is not seen.
        let late = format!("{many},{ONVIF_BACKCHANNEL}");
        assert!(!requires_backchannel(&late));
        let huge = format!("{ONVIF_BACKCHANNEL},{}", " ".repeat(MAX_HEADER_LEN));
        assert!(parse_require(&huge).is_empty());
    }

    #[test]
    fn rtspsrc_tcp() {
        let s = one("RTP/AVP/TCP;unicast;interleaved=2-3");
        assert_eq!(s.profile, Profile::Avp);
        assert_eq!(s.lower, LowerTransport::Tcp);
        assert_eq!(s.delivery, Some(Delivery::Unicast));
        assert_eq!(
            s.interleaved,
            Some(Interleaved {
                rtp: 2,
                rtcp: Some(3)
            })
        );
        assert_eq!(check_backchannel_transport(&s), Ok(()));
        assert_eq!(s.to_string(), "RTP/AVP/TCP;unicast;interleaved=2-3");
    }

    #[test]
    fn ffmpeg_udp() {
        let s = one("RTP/AVP;unicast;client_port=5000-5001");
        assert_eq!(s.lower, LowerTransport::Udp);
        assert_eq!(
            s.client_port,
            Some(PortRange {
                first: 5000,
                last: Some(5001)
            })
        );
        assert!(s.modes.is_empty());
        assert_eq!(check_backchannel_transport(&s), Ok(()));
        // ffmpeg over TCP, mode=record when publishing.
        let s = one("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
        assert_eq!(s.modes, vec![Mode::Record]);
    }

    #[test]
    fn quoted_mode_and_ssrc() {
        let s = one("RTP/AVP/UDP;unicast;client_port=5000-5001;mode=\"PLAY\"");
        assert_eq!(s.modes, vec![Mode::Play]);
        let s =
            one("RTP/AVP;unicast;client_port=6970-6971;ssrc=1A2b3C4d;mode=\"PLAY,record,PLAY\"");
        assert_eq!(s.ssrc, Some(0x1a2b3c4d));
        assert_eq!(s.modes, vec![Mode::Play, Mode::Record]);
        assert_eq!(one("RTP/AVP/TCP;interleaved=0;ssrc=ff").ssrc, Some(0xff));
        assert_eq!(
            one("RTP/AVP/TCP;unicast;interleaved=0-1;mode=PLAY").modes,
            vec![Mode::Play]
        );
    }

    #[test]
    fn vlc_and_go2rtc_style() {
        // live555 (VLC) with blanks, go2rtc with a server_port echo.
        let s = one(" RTP/AVP ; unicast ; client_port = 51234 - 51235 ");
        assert_eq!(
            s.client_port,
            Some(PortRange {
                first: 51234,
                last: Some(51235)
            })
        );
        let s = one("RTP/AVP/TCP;unicast;interleaved=0-1;server_port=8000-8001;x-dynamic-rate=1");
        assert_eq!(s.server_port.unwrap().first, 8000);
        assert_eq!(s.other, vec![("x-dynamic-rate".into(), Some("1".into()))]);
    }

    #[test]
    fn alternatives_keep_order_and_skip_unknown_protocols() {
        let specs = parse_transport(
            "RAW/RAW/UDP;unicast;client_port=4000, RTP/AVP/UDP;multicast;destination=224.2.0.1;port=3456-3457;ttl=16,RTP/AVP/TCP;unicast;interleaved=4-5",
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].delivery, Some(Delivery::Multicast));
        assert_eq!(specs[0].destination.as_deref(), Some("224.2.0.1"));
        assert_eq!(specs[0].ttl, Some(16));
        assert_eq!(
            specs[0].port,
            Some(PortRange {
                first: 3456,
                last: Some(3457)
            })
        );
        assert!(check_backchannel_transport(&specs[0])
            .unwrap_err()
            .contains("multicast"));
        assert_eq!(first_backchannel_transport(&specs), Ok(&specs[1]));
        assert_eq!(
            err("RAW/RAW/UDP;unicast, MP2T/H2221/UDP"),
            "unsupported transport 'RAW/RAW/UDP' (expected RTP/AVP, RTP/AVP/UDP or RTP/AVP/TCP)"
        );
    }

    #[test]
    fn other_profiles() {
        assert_eq!(one("RTP/AVPF/TCP;interleaved=0-1").profile, Profile::Avpf);
        assert_eq!(one("RTP/SAVP;client_port=2").profile, Profile::Savp);
        assert_eq!(one("rtp/savpf/udp;client_port=2").profile, Profile::Savpf);
        assert!(parse_transport("RTP/AVP/SCTP;unicast").is_err());
        assert!(parse_transport("RTP/XYZ;unicast").is_err());
        assert!(parse_transport("RTP/AVP/TCP/X;unicast").is_err());
        assert!(parse_transport("RTP;unicast").is_err());
    }

    #[test]
    fn backchannel_policy() {
        assert!(check_backchannel_transport(&one("RTP/AVP/TCP;unicast")).is_ok());
        let e = check_backchannel_transport(&one("RTP/AVP;unicast")).unwrap_err();
        assert_eq!(
            e,
            "RTP/AVP/UDP needs client_port for the audio back channel"
        );
        assert!(check_backchannel_transport(&one("RTP/AVP;multicast;client_port=5000")).is_err());
        // No unicast/multicast word: unicast, as gst-rtsp-server reads it.
        assert!(check_backchannel_transport(&one("RTP/AVP/TCP;interleaved=0-1")).is_ok());
        let specs = parse_transport("RTP/AVP;multicast,RTP/AVP;unicast").unwrap();
        assert!(first_backchannel_transport(&specs)
            .unwrap_err()
            .contains("multicast"));
        assert!(first_backchannel_transport(&[]).is_err());
    }

    #[test]
    fn bad_values_are_refused_with_clear_messages() {
        assert_eq!(
            err("RTP/AVP/TCP;interleaved=300-301"),
            "interleaved channel 300 out of range"
        );
        assert_eq!(
            err("RTP/AVP/TCP;interleaved=255-256"),
            "interleaved channel 256 out of range"
        );
        assert_eq!(
            err("RTP/AVP/TCP;interleaved=2-5"),
            "interleaved channels 2-5: the second must be the first plus one"
        );
        assert_eq!(
            one("RTP/AVP/TCP;interleaved=255").interleaved.unwrap().rtp,
            255
        );
        assert_eq!(
            err("RTP/AVP/TCP;interleaved=-1"),
            "interleaved value '' is not a number"
        );
        assert_eq!(
            err("RTP/AVP/TCP;interleaved=+1"),
            "interleaved value '+1' is not a number"
        );
        assert_eq!(err("RTP/AVP;client_port=0-1"), "client_port 0 out of range");
        assert_eq!(
            err("RTP/AVP;client_port=5001-5000"),
            "client_port range 5001-5000: the second port must be above the first"
        );
        assert_eq!(
            err("RTP/AVP;client_port=5000-65536"),
            "client_port 65536 out of range"
        );
        assert_eq!(
            err("RTP/AVP;client_port=99999999999999999999999"),
            "client_port 99999999999999999999999 out of range"
        );
        assert_eq!(
            err("RTP/AVP;client_port"),
            "transport parameter client_port needs a value"
        );
        assert_eq!(
            err("RTP/AVP;client_port="),
            "transport parameter client_port needs a value"
        );
        assert_eq!(
            err("RTP/AVP;unicast=yes"),
            "transport parameter unicast takes no value"
        );
        assert_eq!(
            err("RTP/AVP;unicast;multicast"),
            "transport is both unicast and multicast"
        );
        assert_eq!(
            err("RTP/AVP;unicast;UNICAST"),
            "transport parameter unicast given twice"
        );
        assert_eq!(
            err("RTP/AVP;client_port=1;client_port=2"),
            "transport parameter client_port given twice"
        );
        assert_eq!(
            err("RTP/AVP;mode=TEARDOWN"),
            "mode 'TEARDOWN' is neither PLAY nor RECORD"
        );
        assert_eq!(
            err("RTP/AVP;mode=\"\""),
            "mode '' is neither PLAY nor RECORD"
        );
        assert_eq!(
            err("RTP/AVP;ssrc=123456789"),
            "ssrc '123456789' is not 1 to 8 hexadecimal digits"
        );
        assert_eq!(
            err("RTP/AVP;ssrc=xyz"),
            "ssrc 'xyz' is not 1 to 8 hexadecimal digits"
        );
        assert_eq!(err("RTP/AVP;ttl=256"), "ttl 256 out of range");
        assert_eq!(
            err("RTP/AVP;mode=\"PLAY"),
            "unterminated quoted string in Transport header"
        );
    }

    #[test]
    fn garbage_and_bounds() {
        assert_eq!(parse_transport(""), Err(TransportError::Empty));
        assert_eq!(parse_transport(" , ,"), Err(TransportError::Empty));
        assert!(matches!(
            parse_transport("\u{0}\u{ff}garbage;;;==="),
            Err(TransportError::Unsupported(_))
        ));
        assert!(matches!(
            parse_transport(";"),
            Err(TransportError::Unsupported(_))
        ));
        let long = format!("RTP/AVP;client_port=5000;x={}", "a".repeat(MAX_HEADER_LEN));
        assert_eq!(
            parse_transport(&long),
            Err(TransportError::TooLong(long.len()))
        );
        let many = vec!["RTP/AVP/TCP;interleaved=0-1"; MAX_TRANSPORT_SPECS + 1].join(",");
        assert_eq!(
            parse_transport(&many),
            Err(TransportError::TooManySpecs(MAX_TRANSPORT_SPECS + 1))
        );
        let most = vec!["RTP/AVP/TCP;interleaved=0-1"; MAX_TRANSPORT_SPECS].join(",");
        assert_eq!(parse_transport(&most).unwrap().len(), MAX_TRANSPORT_SPECS);
        // Error messages about client input stay short.
        let e = err(&format!("RTP/AVP;mode={}", "é".repeat(100)));
        assert!(e.chars().count() < 100, "{e}");
    }

    #[test]
    fn quotes_protect_separators_in_unknown_parameters() {
        let s = one("RTP/AVP/TCP;interleaved=0-1;x-note=\"a;b,c\\\"d\";flag");
        assert_eq!(
            s.other,
            vec![
                ("x-note".into(), Some("\"a;b,c\\\"d\"".into())),
                ("flag".into(), None)
            ]
        );
    }

    #[test]
    fn display_round_trips() {
        for value in [
            "RTP/AVP/TCP;unicast;interleaved=2-3",
            "RTP/AVP;unicast;client_port=5000-5001",
            "RTP/AVP/UDP;unicast;client_port=5000-5001;mode=\"PLAY\"",
            "RTP/AVP;multicast;destination;port=3456;ttl=0;layers=007;append;source=10.0.0.1",
            "RTP/AVP;unicast;client_port=5000;ssrc=0;mode=record,RTP/AVP/TCP;interleaved=254-255",
            "RTP/AVPF;unicast;destination=;client_port=1-65535;x=\"1,2\";y=;z",
        ] {
            round_trips(value);
        }
        assert_eq!(
            format_transport(
                &parse_transport("rtp/avp;Unicast;CLIENT_PORT=05000;ssrc=ab").unwrap()
            ),
            "RTP/AVP/UDP;unicast;client_port=5000;ssrc=000000AB"
        );
    }
}

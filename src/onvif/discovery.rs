//! WS-Discovery (April 2005, the version ONVIF Core uses) for an ONVIF
//! Network Video Transmitter: read a Probe, decide whether it asks for us,
//! write ProbeMatches, Hello and Bye. No sockets here: the glue in
//! `discovery_socket.rs` feeds datagrams in and sends what comes out, and
//! passes in message ids and sequence numbers, so everything here is a
//! deterministic unit test.
//!
//! Messages are SOAP 1.2 over UDP with WS-Addressing 2004/08. Elements are
//! matched on namespace plus local name (agsh writes no prefixes, others pick
//! their own), and the QNames in `Types` are resolved against the namespace
//! declarations in scope at the `Types` element, the way XML Schema resolves
//! a QName: `dn:NetworkVideoTransmitter` only asks for us when `dn` is bound
//! to `http://www.onvif.org/ver10/network/wsdl`.

use std::borrow::Cow;
use std::collections::VecDeque;

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::name::{QName as XmlQName, ResolveResult};
use quick_xml::NsReader;

/// Namespace URIs of the discovery messages.
pub mod ns {
    pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
    pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
    /// WS-Addressing of WS-Discovery 2005/04.
    pub const WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    /// WS-Addressing 1.0: some clients put their MessageID in it.
    pub const WSA10: &str = "http://www.w3.org/2005/08/addressing";
    pub const WSD: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
    /// ONVIF network types (`dn:NetworkVideoTransmitter`).
    pub const DN: &str = "http://www.onvif.org/ver10/network/wsdl";
    /// ONVIF device service (`tds:Device`).
    pub const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
}

/// The multicast group and port WS-Discovery fixes for IPv4.
pub const MULTICAST_ADDRESS: &str = "239.255.255.250";
pub const PORT: u16 = 3702;
/// A UDP datagram holds at most this much; anything longer is refused.
pub const MAX_MESSAGE: usize = 65_536;
/// How deep a probe's elements may nest.
const MAX_DEPTH: usize = 32;
/// How many types or scopes a probe may ask for.
const MAX_ITEMS: usize = 64;

/// `wsa:To` of multicast messages (Hello, Bye, Probe).
pub const TO_MULTICAST: &str = "urn:schemas-xmlsoap-org:ws:2005:04:discovery";
/// `wsa:To` of a reply to the sender of a probe.
pub const TO_ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
pub const ACTION_PROBE: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe";
pub const ACTION_PROBE_MATCHES: &str =
    "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches";
pub const ACTION_HELLO: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello";
pub const ACTION_BYE: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Bye";

/// Scope matching rules (`Scopes/@MatchBy`). WS-Discovery 2005/04 names the
/// default `.../discovery/rfc2396`; WS-Discovery 1.1 renamed the same rule
/// `rfc3986`. Both spellings, in both namespaces, are accepted.
const MATCH_BY_PREFIX: [&str; 4] = [
    "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc2396",
    "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986",
    "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/rfc2396",
    "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/rfc3986",
];
const MATCH_BY_STRCMP0: [&str; 2] = [
    "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0",
    "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/strcmp0",
];

/// A type in `Types`: its namespace (None when the probe left it unbound,
/// see [`QName::matches`]) and local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QName {
    pub ns: Option<String>,
    pub local: String,
}

impl QName {
    pub fn new(ns: &str, local: &str) -> Self {
        QName {
            ns: Some(ns.to_owned()),
            local: local.to_owned(),
        }
    }

    /// Whether this requested type names `(ns, local)`. A type resolved to a
    /// namespace must match it exactly (so `wsdp:Device` from Windows is not
    /// `tds:Device`); a type written without a prefix, or with a prefix the
    /// probe never declared, is matched on its local name alone: the probe
    /// is sloppy, and answering it costs one datagram where silence loses a
    /// client.
    pub fn matches(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref().is_none_or(|n| n == ns)
    }
}

/// The types an ONVIF device answers for: Core asks for `tds:Device`,
/// clients probe for `dn:NetworkVideoTransmitter`.
pub const OUR_TYPES: [(&str, &str); 2] = [(ns::DN, "NetworkVideoTransmitter"), (ns::TDS, "Device")];
/// The same, as written in our messages (prefixes declared on the Envelope).
const OUR_TYPES_TEXT: &str = "dn:NetworkVideoTransmitter tds:Device";

/// How the scopes of a probe are compared with ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchBy {
    /// The default: scheme and authority equal ignoring case, the probe's
    /// path a segment-wise prefix of ours (RFC 2396/3986 rule).
    Prefix,
    /// Case-sensitive string equality.
    Strcmp0,
    /// A rule we do not implement (uuid, ldap, ...): nothing matches, so
    /// such a probe with scopes is not answered.
    Unsupported(String),
}

/// A Probe, as far as matching and answering need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `wsa:MessageID`, answered as RelatesTo (trimmed; None if absent).
    pub message_id: Option<String>,
    pub types: Vec<QName>,
    pub scopes: Vec<String>,
    pub match_by: MatchBy,
}

/// A datagram read as a WS-Discovery message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Probe(Probe),
    /// Well-formed SOAP that is not a 2005/04 Probe (Hello, Bye,
    /// ProbeMatches, Resolve, ...): the local name of the Body's first child.
    Other {
        body: String,
        message_id: Option<String>,
    },
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooLarge(usize),
    /// Not well-formed XML (reason, with the position).
    Malformed(String),
    /// Well-formed, but not a SOAP envelope with a Body.
    NotSoap(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::TooLarge(n) => write!(f, "{n} bytes, more than a datagram holds"),
            ParseError::Malformed(s) => write!(f, "malformed XML: {s}"),
            ParseError::NotSoap(s) => write!(f, "not a SOAP message: {s}"),
        }
    }
}

/// Where the parser is: only the elements a probe is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Envelope,
    Header,
    MessageId,
    Body,
    Probe,
    Types,
    Scopes,
    /// Anything else (its content is skipped).
    Other,
}

fn is_soap(ns: &[u8]) -> bool {
    ns == ns::SOAP12.as_bytes() || ns == ns::SOAP11.as_bytes()
}

fn is_wsa(ns: &[u8]) -> bool {
    ns == ns::WSA.as_bytes() || ns == ns::WSA10.as_bytes()
}

/// Reads one datagram. Never panics; bounded by [`MAX_MESSAGE`], a nesting
/// depth and a count of types and scopes.
pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
    if datagram.len() > MAX_MESSAGE {
        return Err(ParseError::TooLarge(datagram.len()));
    }
    let mut reader = NsReader::from_reader(datagram);
    reader.config_mut().check_end_names = true;
    reader.config_mut().expand_empty_elements = true;

    let malformed = |reader: &NsReader<&[u8]>, e: &dyn std::fmt::Display| {
        ParseError::Malformed(format!("at byte {}: {e}", reader.buffer_position()))
    };

    let mut stack: Vec<Place> = Vec::new();
    let mut seen_root = false;
    let mut text = String::new();
    let mut message_id: Option<String> = None;
    let mut body_first: Option<String> = None;
    let mut saw_body = false;
    let mut probe: Option<Probe> = None;

    loop {
        let event = reader.read_event().map_err(|e| malformed(&reader, &e))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError::Malformed(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                let (res, local) = reader.resolve_element(start.name());
                let ns: &[u8] = match res {
                    ResolveResult::Bound(n) => n.into_inner(),
                    ResolveResult::Unbound => b"",
                    ResolveResult::Unknown(p) => {
                        return Err(ParseError::Malformed(format!(
                            "undeclared prefix {}",
                            String::from_utf8_lossy(&p)
                        )))
                    }
                };
                let local = local.into_inner();
                let parent = stack.last().copied();
                let place = match parent {
                    None => {
                        if seen_root {
                            return Err(ParseError::Malformed("two root elements".into()));
                        }
                        seen_root = true;
                        if !(is_soap(ns) && local == b"Envelope") {
                            return Err(ParseError::NotSoap(format!(
                                "root element {}",
                                String::from_utf8_lossy(local)
                            )));
                        }
                        Place::Envelope
                    }
                    Some(Place::Envelope) if is_soap(ns) && local == b"Header" => Place::Header,
                    Some(Place::Envelope) if is_soap(ns) && local == b"Body" => {
                        saw_body = true;
                        Place::Body
                    }
                    Some(Place::Header) if is_wsa(ns) && local == b"MessageID" => Place::MessageId,
                    Some(Place::Body) if body_first.is_none() => {
                        body_first = Some(String::from_utf8_lossy(local).into_owned());
                        if ns == ns::WSD.as_bytes() && local == b"Probe" {
                            probe = Some(Probe {
                                message_id: None,
                                types: Vec::new(),
                                scopes: Vec::new(),
                                match_by: MatchBy::Prefix,
                            });
                            Place::Probe
                        } else {
                            Place::Other
                        }
                    }
                    Some(Place::Probe) if ns == ns::WSD.as_bytes() && local == b"Types" => {
                        Place::Types
                    }
                    Some(Place::Probe) if ns == ns::WSD.as_bytes() && local == b"Scopes" => {
                        let mut match_by = MatchBy::Prefix;
                        for attr in start.attributes() {
                            let attr = attr.map_err(|e| malformed(&reader, &e))?;
                            if attr.key.local_name().as_ref() == b"MatchBy" {
                                let v =
                                    attr.unescape_value().map_err(|e| malformed(&reader, &e))?;
                                let v = v.trim();
                                match_by = if MATCH_BY_PREFIX.contains(&v) {
                                    MatchBy::Prefix
                                } else if MATCH_BY_STRCMP0.contains(&v) {
                                    MatchBy::Strcmp0
                                } else {
                                    MatchBy::Unsupported(v.to_owned())
                                };
                            }
                        }
                        if let Some(p) = probe.as_mut() {
                            p.match_by = match_by;
                        }
                        Place::Scopes
                    }
                    _ => Place::Other,
                };
                text.clear();
                stack.push(place);
            }
            Event::End(_) => {
                let Some(place) = stack.pop() else {
                    return Err(ParseError::Malformed("end tag without start".into()));
                };
                match place {
                    Place::MessageId => message_id = Some(text.trim().to_owned()),
                    Place::Types => {
                        // The End event still sees the bindings of <Types>.
                        let mut types = Vec::new();
                        for token in text.split_whitespace() {
                            if types.len() == MAX_ITEMS {
                                return Err(ParseError::Malformed(format!(
                                    "more than {MAX_ITEMS} types"
                                )));
                            }
                            let (res, local) = reader
                                .resolver()
                                .resolve_element(XmlQName(token.as_bytes()));
                            let ns = match res {
                                ResolveResult::Bound(n) if token.contains(':') => {
                                    Some(String::from_utf8_lossy(n.into_inner()).into_owned())
                                }
                                _ => None,
                            };
                            types.push(QName {
                                ns,
                                local: String::from_utf8_lossy(local.into_inner()).into_owned(),
                            });
                        }
                        if let Some(p) = probe.as_mut() {
                            p.types.extend(types);
                        }
                    }
                    Place::Scopes => {
                        let scopes: Vec<String> =
                            text.split_whitespace().map(str::to_owned).collect();
                        if scopes.len() > MAX_ITEMS {
                            return Err(ParseError::Malformed(format!(
                                "more than {MAX_ITEMS} scopes"
                            )));
                        }
                        if let Some(p) = probe.as_mut() {
                            p.scopes.extend(scopes);
                        }
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Text(t) => {
                if wants_text(&stack) {
                    text.push_str(&t.xml_content().map_err(|e| malformed(&reader, &e))?);
                }
            }
            Event::CData(t) => {
                if wants_text(&stack) {
                    text.push_str(&t.xml_content().map_err(|e| malformed(&reader, &e))?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(&reader, &e))? {
                    if wants_text(&stack) {
                        text.push(c);
                    }
                } else {
                    let name = r.decode().map_err(|e| malformed(&reader, &e))?;
                    let Some(v) = resolve_predefined_entity(&name) else {
                        return Err(ParseError::Malformed(format!("unknown entity &{name};")));
                    };
                    if wants_text(&stack) {
                        text.push_str(v);
                    }
                }
            }
            Event::DocType(_) => {
                return Err(ParseError::Malformed("a DOCTYPE in a SOAP message".into()))
            }
            Event::Empty(_) => {
                // expand_empty_elements turns <a/> into Start and End.
                return Err(ParseError::Malformed("unexpected empty element".into()));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ParseError::Malformed("unexpected end of input".into()));
    }
    if !seen_root {
        return Err(ParseError::Malformed("no element".into()));
    }
    if !saw_body {
        return Err(ParseError::NotSoap("no Body".into()));
    }
    match probe {
        Some(mut p) => {
            p.message_id = message_id;
            Ok(Message::Probe(p))
        }
        None => Ok(Message::Other {
            body: body_first.unwrap_or_default(),
            message_id,
        }),
    }
}

fn wants_text(stack: &[Place]) -> bool {
    matches!(
        stack.last(),
        Some(Place::MessageId | Place::Types | Place::Scopes)
    )
}

/// The parts of a URI the prefix rule compares.
struct UriParts<'a> {
    scheme: &'a str,
    authority: &'a str,
    segments: Vec<Vec<u8>>,
}

fn split_uri(uri: &str) -> Option<UriParts<'_>> {
    let colon = uri.find(':')?;
    let scheme = &uri[..colon];
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let rest = &uri[colon + 1..];
    // Query and fragment take no part in matching.
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => {
            let end = r.find('/').unwrap_or(r.len());
            (&r[..end], &r[end..])
        }
        None => ("", rest),
    };
    let mut segments = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(seg)?;
        // The rule refuses dot segments rather than resolving them.
        if seg == b"." || seg == b".." {
            return None;
        }
        segments.push(seg);
    }
    Some(UriParts {
        scheme,
        authority,
        segments,
    })
}

pub(crate) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Whether the probe's scope `requested` matches our scope `ours` under `rule`.
pub fn scope_matches(rule: &MatchBy, requested: &str, ours: &str) -> bool {
    match rule {
        MatchBy::Strcmp0 => requested == ours,
        MatchBy::Unsupported(_) => false,
        MatchBy::Prefix => {
            let (Some(r), Some(o)) = (split_uri(requested), split_uri(ours)) else {
                return false;
            };
            r.scheme.eq_ignore_ascii_case(o.scheme)
                && r.authority.eq_ignore_ascii_case(o.authority)
                && r.segments.len() <= o.segments.len()
                && r.segments.iter().zip(&o.segments).all(|(a, b)| a == b)
        }
    }
}

/// What the device is, as discovery shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `urn:uuid:...`, stable and the same on every interface.
    pub endpoint: String,
    /// Our scopes (no whitespace inside one: see [`device_scopes`]).
    pub scopes: Vec<String>,
    /// Bumped when scopes or addresses change.
    pub metadata_version: u32,
}

impl Target {
    /// Every requested type must be one of ours and every requested scope
    /// must match one of ours; none requested matches (go2rtc sends none).
    pub fn matches(&self, probe: &Probe) -> bool {
        probe
            .types
            .iter()
            .all(|t| OUR_TYPES.iter().any(|(ns, local)| t.matches(ns, local)))
            && probe.scopes.iter().all(|s| {
                self.scopes
                    .iter()
                    .any(|o| scope_matches(&probe.match_by, s, o))
            })
    }
}

/// `wsd:AppSequence`: InstanceId changes when the device restarts,
/// MessageNumber grows with every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppSequence {
    pub instance_id: u64,
    pub message_number: u64,
}

/// Hands out AppSequence values for one run of the device.
#[derive(Debug, Clone)]
pub struct Sequencer {
    instance_id: u64,
    next: u64,
}

impl Sequencer {
    /// `instance_id`: e.g. the start time in seconds since 1970.
    pub fn new(instance_id: u64) -> Self {
        Sequencer {
            instance_id,
            next: 1,
        }
    }

    pub fn next_seq(&mut self) -> AppSequence {
        let s = AppSequence {
            instance_id: self.instance_id,
            message_number: self.next,
        };
        self.next = self.next.saturating_add(1);
        s
    }
}

fn envelope(
    action: &str,
    message_id: &str,
    to: &str,
    relates_to: Option<&str>,
    seq: AppSequence,
    body: &str,
) -> String {
    let relates = relates_to
        .map(|r| format!("<wsa:RelatesTo>{}</wsa:RelatesTo>", escape(r)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<env:Envelope xmlns:env=\"{soap}\" xmlns:wsa=\"{wsa}\" xmlns:wsd=\"{wsd}\" xmlns:dn=\"{dn}\" xmlns:tds=\"{tds}\">\
<env:Header>\
<wsa:MessageID>{mid}</wsa:MessageID>{relates}\
<wsa:To>{to}</wsa:To>\
<wsa:Action>{action}</wsa:Action>\
<wsd:AppSequence InstanceId=\"{iid}\" MessageNumber=\"{num}\"/>\
</env:Header>\
<env:Body>{body}</env:Body>\
</env:Envelope>",
        soap = ns::SOAP12,
        wsa = ns::WSA,
        wsd = ns::WSD,
        dn = ns::DN,
        tds = ns::TDS,
        mid = escape(message_id),
        to = escape(to),
        action = escape(action),
        iid = seq.instance_id,
        num = seq.message_number,
    )
}

/// EndpointReference, Types, Scopes, XAddrs, MetadataVersion.
fn target_fields(target: &Target, xaddrs: &str) -> String {
    let scopes = target.scopes.join(" ");
    format!(
        "<wsa:EndpointReference><wsa:Address>{}</wsa:Address></wsa:EndpointReference>\
<wsd:Types>{OUR_TYPES_TEXT}</wsd:Types>\
<wsd:Scopes>{}</wsd:Scopes>\
<wsd:XAddrs>{}</wsd:XAddrs>\
<wsd:MetadataVersion>{}</wsd:MetadataVersion>",
        escape(target.endpoint.as_str()),
        escape(scopes.as_str()),
        escape(xaddrs),
        target.metadata_version,
    )
}

/// The unicast answer to a matching probe. `message_id` must be fresh
/// (clients drop repeats), `relates_to` the probe's MessageID.
pub fn build_probe_matches(
    target: &Target,
    xaddrs: &str,
    relates_to: &str,
    message_id: &str,
    seq: AppSequence,
) -> String {
    let body = format!(
        "<wsd:ProbeMatches><wsd:ProbeMatch>{}</wsd:ProbeMatch></wsd:ProbeMatches>",
        target_fields(target, xaddrs)
    );
    envelope(
        ACTION_PROBE_MATCHES,
        message_id,
        TO_ANONYMOUS,
        Some(relates_to),
        seq,
        &body,
    )
}

/// The multicast announcement when the device comes up.
pub fn build_hello(target: &Target, xaddrs: &str, message_id: &str, seq: AppSequence) -> String {
    let body = format!("<wsd:Hello>{}</wsd:Hello>", target_fields(target, xaddrs));
    envelope(ACTION_HELLO, message_id, TO_MULTICAST, None, seq, &body)
}

/// The multicast announcement when the device goes away.
pub fn build_bye(target: &Target, message_id: &str, seq: AppSequence) -> String {
    let body = format!(
        "<wsd:Bye><wsa:EndpointReference><wsa:Address>{}</wsa:Address></wsa:EndpointReference></wsd:Bye>",
        escape(target.endpoint.as_str())
    );
    envelope(ACTION_BYE, message_id, TO_MULTICAST, None, seq, &body)
}

/// What the scopes say about the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeInfo {
    /// Shown by clients as the device name.
    pub name: String,
    pub hardware: String,
    /// A MAC address (`aa:bb:cc:dd:ee:ff`, any case, `:` or `-` or none).
    pub mac: Option<String>,
    pub location: Option<String>,
    /// Media2 is served: Profile T.
    pub profile_t: bool,
    pub video_encoder: bool,
    pub audio_encoder: bool,
}

const SCOPE_BASE: &str = "onvif://www.onvif.org/";

/// Our scopes: Profile/Streaming (Home Assistant keeps only answers that
/// carry it), Profile/T with Media2, types, name, hardware, MAC, location.
pub fn device_scopes(info: &ScopeInfo) -> Vec<String> {
    let mut v = vec![format!("{SCOPE_BASE}Profile/Streaming")];
    if info.profile_t {
        v.push(format!("{SCOPE_BASE}Profile/T"));
    }
    if info.video_encoder {
        v.push(format!("{SCOPE_BASE}type/video_encoder"));
    }
    if info.audio_encoder {
        v.push(format!("{SCOPE_BASE}type/audio_encoder"));
    }
    v.push(format!("{SCOPE_BASE}name/{}", percent_encode(&info.name)));
    v.push(format!(
        "{SCOPE_BASE}hardware/{}",
        percent_encode(&info.hardware)
    ));
    if let Some(mac) = &info.mac {
        // Readers take the last path segment as is (Home Assistant
        // normalises ':'/'-'/bare hex); keep a valid MAC readable.
        let m = match normalize_mac(mac) {
            Some(m) => m,
            None => percent_encode(mac),
        };
        v.push(format!("{SCOPE_BASE}MAC/{m}"));
    }
    if let Some(loc) = &info.location {
        v.push(format!("{SCOPE_BASE}location/{}", percent_encode(loc)));
    }
    v
}

/// `aa:bb:cc:dd:ee:ff` from six hex bytes separated by ':' or '-' or nothing.
pub fn normalize_mac(mac: &str) -> Option<String> {
    let hex: String = mac
        .trim()
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let parts: Vec<&str> = (0..6).map(|i| &hex[2 * i..2 * i + 2]).collect();
    Some(parts.join(":"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so that a
/// name with spaces, slashes or markup stays one path segment of one scope.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// Not in the fuzz build (fuzz/), which compiles this module without glib.
#[cfg(not(fuzzing))]
/// Namespace of our name-based UUIDs (a random UUID drawn once for this
/// project), so that the same seed in another program gives another UUID.
const UUID_NAMESPACE: [u8; 16] = [
    0x6b, 0x1f, 0x3e, 0x52, 0x94, 0x0d, 0x4c, 0x27, 0xa1, 0x88, 0x5e, 0x36, 0xc2, 0x7d, 0x90, 0x4b,
];

/// A stable `urn:uuid:` from a seed: UUID version 5 (SHA-1 of a namespace
/// and the seed, RFC 4122 section 4.3). The glue seeds it with what
/// identifies this device and mount (machine id, RTSP port, mount point),
/// so the endpoint survives restarts, as clients that use it as the device
/// id (Scrypted) need.
#[cfg(not(fuzzing))]
pub fn stable_uuid(seed: &[u8]) -> String {
    let digest = glib::Checksum::new(glib::ChecksumType::Sha1).map(|mut c| {
        c.update(&UUID_NAMESPACE);
        c.update(seed);
        c.digest()
    });
    let mut b = [0u8; 16];
    if let Some(d) = digest {
        for (dst, src) in b.iter_mut().zip(d.iter()) {
            *dst = *src;
        }
    }
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!(
        "urn:uuid:{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// A cap on answers per second, so that a flood of probes (or of spoofed
/// probes aimed at a victim) does not make us flood. Time is passed in.
#[derive(Debug, Clone)]
pub struct RateLimit {
    per_second: u32,
    tokens: f64,
    last_ms: Option<u64>,
}

impl RateLimit {
    /// At most `per_second` answers in any second, on average, with bursts
    /// of up to `per_second`.
    pub fn new(per_second: u32) -> Self {
        RateLimit {
            per_second,
            tokens: per_second as f64,
            last_ms: None,
        }
    }

    /// Takes one answer from the budget at monotonic time `now_ms`.
    pub fn allow(&mut self, now_ms: u64) -> bool {
        if let Some(last) = self.last_ms {
            let dt = now_ms.saturating_sub(last) as f64 / 1000.0;
            self.tokens = (self.tokens + dt * self.per_second as f64).min(self.per_second as f64);
        }
        self.last_ms = Some(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The last few message ids seen, to answer a probe once although clients
/// send each probe several times (SOAP-over-UDP repeats), and to recognise
/// our own messages looping back.
#[derive(Debug, Clone)]
pub struct RecentIds {
    cap: usize,
    ids: VecDeque<String>,
}

impl RecentIds {
    pub fn new(cap: usize) -> Self {
        RecentIds {
            cap: cap.max(1),
            ids: VecDeque::new(),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.iter().any(|i| i == id)
    }

    /// Remembers `id`; false if it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.contains(id) {
            return false;
        }
        if self.ids.len() == self.cap {
            self.ids.pop_front();
        }
        self.ids.push_back(id.to_owned());
        true
    }
}

/// Text of an element for logs: at most `max` characters.
pub fn shorten(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => Cow::Owned(format!("{}...", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            endpoint: "urn:uuid:11111111-2222-5333-8444-555555555555".into(),
            scopes: device_scopes(&ScopeInfo {
                name: "Front door".into(),
                hardware: "GStreamer".into(),
                mac: Some("AA-BB-CC-00-11-22".into()),
                profile_t: true,
                video_encoder: true,
                ..Default::default()
            }),
            metadata_version: 1,
        }
    }

    fn probe(datagram: &str) -> Probe {
        match parse(datagram.as_bytes()) {
            Ok(Message::Probe(p)) => p,
            other => panic!("not a probe: {other:?}"),
        }
    }

    // python-ws-discovery as Home Assistant uses it: prefixes a/d/s, no
    // Types, the Profile/Streaming scope.
    const HA_PROBE: &str = r#"<?xml version="1.0" ?><s:Envelope xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>urn:uuid:8b1c8a2e-0c6a-4f7e-9b1e-1a2b3c4d5e6f</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo></s:Header><s:Body><d:Probe><d:Scopes>onvif://www.onvif.org/Profile/Streaming</d:Scopes></d:Probe></s:Body></s:Envelope>"#;

    // ODM (WCF style): the type's prefix is declared on Types itself.
    const ODM_PROBE_NVT: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>uuid:3a9f5f3c-1d2e-4b6f-8a7c-0e1f2a3b4c5d</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><Probe xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery"><d:Types xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dp0="http://www.onvif.org/ver10/network/wsdl">dp0:NetworkVideoTransmitter</d:Types></Probe></s:Body></s:Envelope>"#;
    const ODM_PROBE_DEVICE: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>uuid:4b0a6f4d-2e3f-4c70-9b8d-1f2a3b4c5d6e</a:MessageID><a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><Probe xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery"><d:Types xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dp0="http://www.onvif.org/ver10/device/wsdl">dp0:Device</d:Types></Probe></s:Body></s:Envelope>"#;

    // agsh/onvif (Scrypted): no prefixes on SOAP elements, default
    // namespaces, dn declared on the Envelope, whitespace around the id.
    const AGSH_PROBE: &str = r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><Header><wsa:MessageID xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">
  urn:uuid:c0ffee00-1234-4abc-8def-0123456789ab
</wsa:MessageID><wsa:To xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To><wsa:Action xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action></Header><Body><Probe xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><Types>dn:NetworkVideoTransmitter</Types><Scopes /></Probe></Body></Envelope>"#;

    // go2rtc: empty Types and Scopes.
    const GO2RTC_PROBE: &str = r#"<?xml version="1.0" ?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">
	<s:Header xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">
		<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
		<a:MessageID>urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d</a:MessageID>
		<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
	</s:Header>
	<s:Body xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
		<d:Probe>
			<d:Types />
			<d:Scopes />
		</d:Probe>
	</s:Body>
</s:Envelope>"#;

    fn probe_with(types_decl: &str, types: &str, scopes_attr: &str, scopes: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header><a:MessageID>urn:uuid:1</a:MessageID></s:Header><s:Body><d:Probe><d:Types {types_decl}>{types}</d:Types><d:Scopes {scopes_attr}>{scopes}</d:Scopes></d:Probe></s:Body></s:Envelope>"#
        )
    }

    fn matches(p: &str) -> bool {
        target().matches(&probe(p))
    }

    #[test]
    fn home_assistant_probe_matches() {
        let p = probe(HA_PROBE);
        assert_eq!(
            p.message_id.as_deref(),
            Some("urn:uuid:8b1c8a2e-0c6a-4f7e-9b1e-1a2b3c4d5e6f")
        );
        assert!(p.types.is_empty());
        assert_eq!(p.scopes, ["onvif://www.onvif.org/Profile/Streaming"]);
        assert_eq!(p.match_by, MatchBy::Prefix);
        assert!(target().matches(&p));
        // A device without the Profile/Streaming scope is not what HA asks for.
        let mut t = target();
        t.scopes.retain(|s| !s.ends_with("Profile/Streaming"));
        assert!(!t.matches(&p));
    }

    #[test]
    fn odm_probes_match_with_types_declared_on_types() {
        let p = probe(ODM_PROBE_NVT);
        assert_eq!(p.types, [QName::new(ns::DN, "NetworkVideoTransmitter")]);
        assert_eq!(
            p.message_id.as_deref(),
            Some("uuid:3a9f5f3c-1d2e-4b6f-8a7c-0e1f2a3b4c5d")
        );
        assert!(target().matches(&p));
        let p = probe(ODM_PROBE_DEVICE);
        assert_eq!(p.types, [QName::new(ns::TDS, "Device")]);
        assert!(target().matches(&p));
    }

    #[test]
    fn agsh_probe_without_prefixes_matches() {
        let p = probe(AGSH_PROBE);
        assert_eq!(
            p.message_id.as_deref(),
            Some("urn:uuid:c0ffee00-1234-4abc-8def-0123456789ab")
        );
        assert_eq!(p.types, [QName::new(ns::DN, "NetworkVideoTransmitter")]);
        assert!(p.scopes.is_empty());
        assert!(target().matches(&p));
    }

    #[test]
    fn go2rtc_empty_probe_matches() {
        let p = probe(GO2RTC_PROBE);
        assert!(p.types.is_empty() && p.scopes.is_empty());
        assert_eq!(
            p.message_id.as_deref(),
            Some("urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
        );
        assert!(target().matches(&p));
    }

    #[test]
    fn types_resolve_against_their_namespace() {
        let dn = r#"xmlns:dn="http://www.onvif.org/ver10/network/wsdl""#;
        let both = r#"xmlns:x="http://www.onvif.org/ver10/network/wsdl" xmlns:y="http://www.onvif.org/ver10/device/wsdl""#;
        assert!(matches(&probe_with(
            dn,
            "dn:NetworkVideoTransmitter",
            "",
            ""
        )));
        assert!(matches(&probe_with(
            both,
            " x:NetworkVideoTransmitter\n y:Device ",
            "",
            ""
        )));
        // Every requested type must be ours.
        assert!(!matches(&probe_with(
            dn,
            "dn:NetworkVideoTransmitter dn:NetworkVideoDisplay",
            "",
            ""
        )));
        // Windows probes for the Devices Profile's Device: not tds:Device.
        let wsdp = r#"xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof""#;
        assert!(!matches(&probe_with(wsdp, "wsdp:Device", "", "")));
        // The right local name in the wrong namespace.
        let wrong = r#"xmlns:dn="http://www.onvif.org/ver10/device/wsdl""#;
        assert!(!matches(&probe_with(
            wrong,
            "dn:NetworkVideoTransmitter",
            "",
            ""
        )));
        // A prefix nobody declared, or none: matched on the local name.
        let p = probe(&probe_with("", "dn:NetworkVideoTransmitter", "", ""));
        assert_eq!(p.types[0].ns, None);
        assert!(target().matches(&p));
        assert!(matches(&probe_with("", "Device", "", "")));
        assert!(!matches(&probe_with("", "Printer", "", "")));
    }

    #[test]
    fn type_prefix_declared_on_an_inner_element_is_out_of_scope() {
        // dn is declared on a sibling that closed before Types: unbound at
        // Types, so only the local name counts; a sibling's binding to a
        // foreign namespace must not leak into Types.
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Body><d:Probe><x xmlns:dn="urn:other"/><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"#;
        assert_eq!(probe(xml).types[0].ns, None);
    }

    #[test]
    fn scopes_prefix_rule() {
        let ours = "onvif://www.onvif.org/Profile/Streaming";
        let r = MatchBy::Prefix;
        assert!(scope_matches(&r, ours, ours));
        assert!(scope_matches(&r, "onvif://www.onvif.org/Profile", ours));
        assert!(scope_matches(&r, "onvif://www.onvif.org/Profile/", ours));
        assert!(scope_matches(&r, "onvif://www.onvif.org", ours));
        assert!(scope_matches(
            &r,
            "ONVIF://WWW.ONVIF.ORG/Profile/Streaming",
            ours
        ));
        // Segment-wise, not string-wise, and case-sensitive in the path.
        assert!(!scope_matches(&r, "onvif://www.onvif.org/Prof", ours));
        assert!(!scope_matches(
            &r,
            "onvif://www.onvif.org/profile/streaming",
            ours
        ));
        assert!(!scope_matches(
            &r,
            "onvif://www.onvif.org/Profile/Streaming/X",
            ours
        ));
        assert!(!scope_matches(
            &r,
            "onvif://example.org/Profile/Streaming",
            ours
        ));
        assert!(!scope_matches(
            &r,
            "http://www.onvif.org/Profile/Streaming",
            ours
        ));
        // Escapes are compared decoded; query and fragment are ignored.
        assert!(scope_matches(
            &r,
            "onvif://www.onvif.org/name/Front%20door",
            "onvif://www.onvif.org/name/Front%20door"
        ));
        assert!(scope_matches(
            &r,
            "onvif://www.onvif.org/%50rofile?x=1#f",
            ours
        ));
        // Dot segments are refused, bad escapes and non-URIs never match.
        assert!(!scope_matches(
            &r,
            "onvif://www.onvif.org/Profile/./Streaming",
            ours
        ));
        assert!(!scope_matches(
            &r,
            "onvif://www.onvif.org/x/../Profile",
            ours
        ));
        assert!(!scope_matches(&r, "onvif://www.onvif.org/%zz", ours));
        assert!(!scope_matches(&r, "no scheme", ours));
        assert!(!scope_matches(&r, "", ours));
    }

    #[test]
    fn scopes_strcmp0_and_unsupported_rules() {
        let ours = "onvif://www.onvif.org/Profile/Streaming";
        assert!(scope_matches(&MatchBy::Strcmp0, ours, ours));
        assert!(!scope_matches(
            &MatchBy::Strcmp0,
            "onvif://www.onvif.org/Profile",
            ours
        ));
        assert!(!scope_matches(
            &MatchBy::Strcmp0,
            "ONVIF://www.onvif.org/Profile/Streaming",
            ours
        ));
        let strcmp = r#"MatchBy="http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0""#;
        let p = probe(&probe_with("", "", strcmp, "onvif://www.onvif.org/Profile"));
        assert_eq!(p.match_by, MatchBy::Strcmp0);
        assert!(!target().matches(&p));
        assert!(matches(&probe_with("", "", strcmp, ours)));
        let rfc = r#"MatchBy="http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc2396""#;
        assert!(matches(&probe_with(
            "",
            "",
            rfc,
            "onvif://www.onvif.org/Profile"
        )));
        let ldap = r#"MatchBy="http://schemas.xmlsoap.org/ws/2005/04/discovery/ldap""#;
        let p = probe(&probe_with("", "", ldap, ours));
        assert!(matches!(p.match_by, MatchBy::Unsupported(_)));
        assert!(!target().matches(&p));
        // An unsupported rule with no scopes asks for nothing: a match.
        assert!(matches(&probe_with("", "", ldap, "")));
    }

    #[test]
    fn every_requested_scope_must_match() {
        let both =
            "onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/name/Front%20door";
        assert!(matches(&probe_with("", "", "", both)));
        let one_foreign =
            "onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/location/Mars";
        assert!(!matches(&probe_with("", "", "", one_foreign)));
        assert!(matches(&probe_with(
            "",
            "",
            "",
            "onvif://www.onvif.org/MAC/aa:bb:cc:00:11:22"
        )));
        assert!(matches(&probe_with(
            "",
            "",
            "",
            "onvif://www.onvif.org/Profile/T"
        )));
        let mut t = target();
        t.scopes.retain(|s| !s.ends_with("Profile/T"));
        assert!(!t.matches(&probe(&probe_with(
            "",
            "",
            "",
            "onvif://www.onvif.org/Profile/T"
        ))));
    }

    #[test]
    fn entities_and_cdata_in_text() {
        let p = probe(&probe_with(
            r#"xmlns:dn="http://www.onvif.org/ver10/network/wsdl""#,
            "dn:Network&#86;ideoTransmitter",
            "",
            "<![CDATA[onvif://www.onvif.org/Profile]]>/Streaming&amp;x",
        ));
        assert_eq!(p.types, [QName::new(ns::DN, "NetworkVideoTransmitter")]);
        assert_eq!(p.scopes, ["onvif://www.onvif.org/Profile/Streaming&x"]);
    }

    #[test]
    fn other_messages_are_not_probes() {
        let t = target();
        let seq = AppSequence {
            instance_id: 7,
            message_number: 1,
        };
        let hello = build_hello(
            &t,
            "http://10.0.0.1:80/onvif/device_service",
            "urn:uuid:h",
            seq,
        );
        assert_eq!(
            parse(hello.as_bytes()).unwrap(),
            Message::Other {
                body: "Hello".into(),
                message_id: Some("urn:uuid:h".into())
            }
        );
        // A Probe in another namespace (WS-Discovery 1.1) is not ours to answer.
        let v11 = GO2RTC_PROBE.replace(
            "http://schemas.xmlsoap.org/ws/2005/04/discovery",
            "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01",
        );
        assert!(matches!(
            parse(v11.as_bytes()),
            Ok(Message::Other { ref body, .. }) if body == "Probe"
        ));
        // A Probe outside Body is nothing.
        let hdr = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header><d:Probe/></s:Header><s:Body/></s:Envelope>"#;
        assert!(matches!(parse(hdr.as_bytes()), Ok(Message::Other { .. })));
    }

    #[test]
    fn malformed_input_is_an_error() {
        let bad: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"   ".to_vec(),
            b"\x00\xff\xfe garbage".to_vec(),
            b"not xml at all".to_vec(),
            b"<a>".to_vec(),
            b"<root/>".to_vec(),
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>".to_vec(),
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body></s:Header></s:Envelope>".to_vec(),
            b"<x:Envelope><x:Body/></x:Envelope>".to_vec(),
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>".to_vec(),
            // Billion laughs: no DOCTYPE at all is accepted.
            br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&lol2;</s:Body></s:Envelope>"#.to_vec(),
            br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&unknown;</s:Body></s:Envelope>"#.to_vec(),
            probe_with("", "\u{0}", "", "").into_bytes().iter().map(|&b| if b == 0 { 0xff } else { b }).collect(),
        ];
        for b in &bad {
            assert!(
                parse(b).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(b)
            );
        }
        // Too large.
        let mut big = GO2RTC_PROBE.as_bytes().to_vec();
        big.resize(MAX_MESSAGE + 1, b' ');
        assert_eq!(parse(&big), Err(ParseError::TooLarge(MAX_MESSAGE + 1)));
        // Too deep.
        let deep = format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>{}{}</s:Body></s:Envelope>"#,
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(ParseError::Malformed(_))
        ));
        // Too many types.
        let many = probe_with("", &"x ".repeat(MAX_ITEMS + 1), "", "");
        assert!(parse(many.as_bytes()).is_err());
    }

    #[test]
    fn truncated_and_mangled_probes_never_panic() {
        for p in [HA_PROBE, ODM_PROBE_NVT, AGSH_PROBE, GO2RTC_PROBE] {
            let b = p.as_bytes();
            for n in 0..b.len() {
                // Every strict prefix lacks the closing Envelope tag.
                assert!(parse(&b[..n]).is_err(), "prefix {n} of {p} accepted");
            }
            for i in (0..b.len()).step_by(7) {
                let mut m = b.to_vec();
                m[i] ^= 0x5a;
                let _ = parse(&m);
                m.insert(i, b'<');
                let _ = parse(&m);
            }
        }
    }

    /// (namespace, local name, text, attributes) of an element.
    type El = (String, String, String, Vec<(String, String)>);

    /// Every element in a message we wrote.
    fn elements(xml: &str) -> Vec<El> {
        let mut r = NsReader::from_str(xml);
        r.config_mut().expand_empty_elements = true;
        let mut out = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            match r.read_resolved_event().expect("well-formed") {
                (ResolveResult::Bound(n), Event::Start(e)) => {
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                String::from_utf8(a.key.local_name().as_ref().to_vec()).unwrap(),
                                a.unescape_value().unwrap().into_owned(),
                            )
                        })
                        .collect();
                    out.push((
                        String::from_utf8(n.as_ref().to_vec()).unwrap(),
                        String::from_utf8(e.local_name().as_ref().to_vec()).unwrap(),
                        String::new(),
                        attrs,
                    ));
                    open.push(out.len() - 1);
                }
                (_, Event::Start(e)) => panic!("unqualified element {e:?}"),
                (_, Event::End(_)) => {
                    open.pop();
                }
                (_, Event::Text(t)) => {
                    if let Some(&i) = open.last() {
                        out[i].2.push_str(&t.xml_content().unwrap());
                    }
                }
                (_, Event::GeneralRef(g)) => {
                    if let Some(&i) = open.last() {
                        let name = g.decode().unwrap();
                        out[i].2.push_str(resolve_predefined_entity(&name).unwrap());
                    }
                }
                (_, Event::Eof) => break,
                _ => {}
            }
        }
        out
    }

    fn text_of(els: &[El], ns: &str, local: &str) -> String {
        let found: Vec<_> = els.iter().filter(|e| e.0 == ns && e.1 == local).collect();
        assert_eq!(found.len(), 1, "{local} once");
        found[0].2.clone()
    }

    #[test]
    fn probe_matches_carry_what_clients_read() {
        let t = target();
        let mut seq = Sequencer::new(1_700_000_000);
        let _ = seq.next_seq();
        let xml = build_probe_matches(
            &t,
            "http://192.168.1.20:8080/onvif/device_service",
            "uuid:3a9f5f3c-1d2e-4b6f-8a7c-0e1f2a3b4c5d",
            "urn:uuid:00000000-0000-4000-8000-000000000002",
            seq.next_seq(),
        );
        let els = elements(&xml);
        assert_eq!(els[0].0, ns::SOAP12);
        assert_eq!(text_of(&els, ns::WSA, "Action"), ACTION_PROBE_MATCHES);
        assert_eq!(
            text_of(&els, ns::WSA, "MessageID"),
            "urn:uuid:00000000-0000-4000-8000-000000000002"
        );
        assert_eq!(
            text_of(&els, ns::WSA, "RelatesTo"),
            "uuid:3a9f5f3c-1d2e-4b6f-8a7c-0e1f2a3b4c5d"
        );
        assert_eq!(text_of(&els, ns::WSA, "To"), TO_ANONYMOUS);
        let app = els.iter().find(|e| e.1 == "AppSequence").unwrap();
        assert_eq!(app.0, ns::WSD);
        assert!(app.3.contains(&("InstanceId".into(), "1700000000".into())));
        assert!(app.3.contains(&("MessageNumber".into(), "2".into())));
        assert_eq!(text_of(&els, ns::WSA, "Address"), t.endpoint);
        assert_eq!(
            text_of(&els, ns::WSD, "Types"),
            "dn:NetworkVideoTransmitter tds:Device"
        );
        // The Types prefixes are declared where Types is read.
        assert!(xml.contains(&format!("xmlns:dn=\"{}\"", ns::DN)));
        assert!(xml.contains(&format!("xmlns:tds=\"{}\"", ns::TDS)));
        assert_eq!(
            text_of(&els, ns::WSD, "Scopes")
                .split(' ')
                .collect::<Vec<_>>(),
            t.scopes
        );
        assert_eq!(
            text_of(&els, ns::WSD, "XAddrs"),
            "http://192.168.1.20:8080/onvif/device_service"
        );
        assert_eq!(text_of(&els, ns::WSD, "MetadataVersion"), "1");
        assert!(els.iter().any(|e| e.0 == ns::WSD && e.1 == "ProbeMatch"));
    }

    #[test]
    fn hello_and_bye_go_to_the_multicast_urn() {
        let t = target();
        let mut seq = Sequencer::new(5);
        let hello = build_hello(
            &t,
            "http://10.0.0.1:80/onvif/device_service",
            "urn:uuid:a",
            seq.next_seq(),
        );
        let els = elements(&hello);
        assert_eq!(text_of(&els, ns::WSA, "Action"), ACTION_HELLO);
        assert_eq!(text_of(&els, ns::WSA, "To"), TO_MULTICAST);
        assert_eq!(
            text_of(&els, ns::WSD, "XAddrs"),
            "http://10.0.0.1:80/onvif/device_service"
        );
        assert!(!els.iter().any(|e| e.1 == "RelatesTo"));
        let bye = build_bye(&t, "urn:uuid:b", seq.next_seq());
        let els = elements(&bye);
        assert_eq!(text_of(&els, ns::WSA, "Action"), ACTION_BYE);
        assert_eq!(text_of(&els, ns::WSA, "To"), TO_MULTICAST);
        assert_eq!(text_of(&els, ns::WSA, "Address"), t.endpoint);
        let app = els.iter().find(|e| e.1 == "AppSequence").unwrap();
        assert!(app.3.contains(&("MessageNumber".into(), "2".into())));
    }

    #[test]
    fn everything_written_is_escaped() {
        let t = Target {
            endpoint: "urn:uuid:<&\"'>".into(),
            scopes: vec!["a<b>&c".into()],
            metadata_version: 3,
        };
        let seq = Sequencer::new(1).next_seq();
        // The relates-to comes from the network.
        let xml = build_probe_matches(&t, "http://x/<&>", "</wsa:RelatesTo><evil/>", "id&", seq);
        let els = elements(&xml);
        assert_eq!(
            text_of(&els, ns::WSA, "RelatesTo"),
            "</wsa:RelatesTo><evil/>"
        );
        assert_eq!(text_of(&els, ns::WSA, "Address"), "urn:uuid:<&\"'>");
        assert_eq!(text_of(&els, ns::WSD, "Scopes"), "a<b>&c");
        assert_eq!(text_of(&els, ns::WSD, "XAddrs"), "http://x/<&>");
        assert!(!els.iter().any(|e| e.1 == "evil"));
    }

    #[test]
    fn device_scopes_are_encoded() {
        let s = device_scopes(&ScopeInfo {
            name: "Front door / <Cam> ü".into(),
            hardware: "GStreamer 1.22".into(),
            mac: Some("AABBCC001122".into()),
            location: Some("Hall".into()),
            profile_t: false,
            video_encoder: false,
            audio_encoder: true,
        });
        assert_eq!(
            s,
            [
                "onvif://www.onvif.org/Profile/Streaming",
                "onvif://www.onvif.org/type/audio_encoder",
                "onvif://www.onvif.org/name/Front%20door%20%2F%20%3CCam%3E%20%C3%BC",
                "onvif://www.onvif.org/hardware/GStreamer%201.22",
                "onvif://www.onvif.org/MAC/aa:bb:cc:00:11:22",
                "onvif://www.onvif.org/location/Hall",
            ]
        );
        assert!(s.iter().all(|x| !x.contains(char::is_whitespace)));
        assert_eq!(normalize_mac("aa:bb:cc:dd:ee"), None);
        assert_eq!(normalize_mac("zz:bb:cc:dd:ee:ff"), None);
        let t = device_scopes(&ScopeInfo {
            mac: Some("not a mac".into()),
            ..Default::default()
        });
        assert_eq!(t.last().unwrap(), "onvif://www.onvif.org/MAC/not%20a%20mac");
    }

    #[test]
    fn stable_uuid_is_a_version_5_urn() {
        let a = stable_uuid(b"machine-id:8554:/stream");
        assert_eq!(a, stable_uuid(b"machine-id:8554:/stream"));
        assert_ne!(a, stable_uuid(b"machine-id:8555:/stream"));
        let u = a.strip_prefix("urn:uuid:").unwrap();
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(u
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(parts[2].starts_with('5'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn sequencer_counts_up() {
        let mut s = Sequencer::new(42);
        let v: Vec<u64> = (0..3).map(|_| s.next_seq().message_number).collect();
        assert_eq!(v, [1, 2, 3]);
        assert_eq!(s.next_seq().instance_id, 42);
    }

    #[test]
    fn rate_limit_caps_answers_per_second() {
        let mut r = RateLimit::new(10);
        let burst = (0..20).filter(|_| r.allow(1000)).count();
        assert_eq!(burst, 10);
        assert!(!r.allow(1050));
        assert!(r.allow(1100));
        // Over a long flood, about 10 per second get through.
        let mut r = RateLimit::new(10);
        let passed = (0..10_000u64).filter(|i| r.allow(*i)).count();
        assert!((100..=111).contains(&passed), "{passed}");
    }

    #[test]
    fn recent_ids_remember_a_few() {
        let mut r = RecentIds::new(2);
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        assert!(r.insert("b"));
        assert!(r.insert("c"));
        assert!(!r.contains("a"));
        assert!(r.contains("c"));
    }
}

//! SOAP requests as ONVIF clients send them, read with a streaming XML reader
//! into a small element tree, and the envelopes and faults we answer with.
//!
//! Elements are matched on namespace plus local name: clients choose their
//! own prefixes (zeep writes `ns0:`, agsh none with default namespaces,
//! go2rtc declares its prefixes on the Envelope). Both SOAP 1.2 (what ONVIF
//! uses) and SOAP 1.1 envelopes are read; the answer uses the request's
//! version.
//!
//! The reader is hardened for requests from anyone on the network: input over
//! [`MAX_INPUT`] bytes, deeper than [`MAX_DEPTH`] or with more than
//! [`MAX_ELEMENTS`] elements is refused before it costs more memory, a DOCTYPE
//! (the door to entity expansion attacks) is refused, only the five XML
//! entities and character references are resolved, and no input panics
//! (fuzzed by `fuzz/fuzz_targets/soap.rs`).

/// Namespace URIs that requests and answers use.
pub mod ns {
    pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
    pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
    pub const WSSE: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    pub const WSU: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    pub const DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
    pub const MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
    pub const MEDIA2: &str = "http://www.onvif.org/ver20/media/wsdl";
    pub const DEVICEIO: &str = "http://www.onvif.org/ver10/deviceIO/wsdl";
    pub const SCHEMA: &str = "http://www.onvif.org/ver10/schema";
    pub const ERROR: &str = "http://www.onvif.org/ver10/error";
    /// WS-Addressing as zeep and agsh send it (and answers use).
    pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
    /// WS-Addressing of the 2004 member submission (WS-Discovery's; some
    /// clients send it over HTTP too).
    pub const WSA_2004: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
}

/// One element of a request: namespace URI (empty if none), local name,
/// attributes by local name, text content (trimmed, entities resolved) and
/// child elements in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlElement {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<XmlElement>,
}

impl XmlElement {
    /// The first child with this local name (any namespace).
    pub fn child(&self, local: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.name == local)
    }

    /// The text of the first child with this local name.
    pub fn child_text(&self, local: &str) -> Option<&str> {
        self.child(local).map(|c| c.text.as_str())
    }

    /// The element at a path of local names below this one.
    pub fn path(&self, locals: &[&str]) -> Option<&XmlElement> {
        locals.iter().try_fold(self, |e, l| e.child(l))
    }

    /// An attribute by local name.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == local)
            .map(|(_, v)| v.as_str())
    }
}

/// SOAP 1.2 (what ONVIF uses) or 1.1 (which some clients send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    Soap11,
    Soap12,
}

/// wsse:UsernameToken from the Security header.
#[derive(Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    pub password: String,
    /// Type="...#PasswordDigest" (true) or PasswordText / absent (false).
    pub digest: bool,
    /// wsse:Nonce as sent (base64).
    pub nonce: Option<String>,
    /// wsu:Created as sent.
    pub created: Option<String>,
}

// Never prints the password.
impl std::fmt::Debug for UsernameToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsernameToken")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("digest", &self.digest)
            .field("nonce", &self.nonce)
            .field("created", &self.created)
            .finish()
    }
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapRequest {
    pub version: SoapVersion,
    /// The first child of Body: the operation (`body.ns`, `body.name`) and
    /// its parameters.
    pub body: XmlElement,
    /// WS-Addressing MessageID, echoed as RelatesTo.
    pub message_id: Option<String>,
    /// WS-Addressing Action, if sent.
    pub action: Option<String>,
    pub username_token: Option<UsernameToken>,
}

/// Why a request could not be read; answered `env:Sender` with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapError {
    /// Not well-formed XML (position and reason).
    Malformed(String),
    /// Well-formed, but not a SOAP envelope with one operation in its Body.
    NotSoap(String),
    /// Over a limit (size, depth, element count).
    TooLarge(String),
}

impl SoapVersion {
    /// The envelope namespace of this version.
    pub fn envelope_ns(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => ns::SOAP11,
            SoapVersion::Soap12 => ns::SOAP12,
        }
    }
}

impl std::fmt::Display for SoapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SoapError::Malformed(why) => write!(f, "malformed XML: {why}"),
            SoapError::NotSoap(why) => write!(f, "not a SOAP request: {why}"),
            SoapError::TooLarge(why) => write!(f, "request too large: {why}"),
        }
    }
}

impl std::error::Error for SoapError {}

// ---------------------------------------------------------------------------
// Reading requests
// ---------------------------------------------------------------------------

/// Largest request read. ONVIF requests are a few kB; the biggest ones we
/// know (SetScopes, CreateUsers with a few entries) stay far below.
pub const MAX_INPUT: usize = 1024 * 1024;
/// Deepest element nesting (Envelope is 1). Real requests reach about 8
/// (Envelope/Body/Set.../Configuration/...); the bound keeps a recursion-free
/// reader's stack and the tree small against `<a><a><a>...` bombs.
pub const MAX_DEPTH: usize = 32;
/// Most elements in a request.
pub const MAX_ELEMENTS: usize = 10_000;
/// Most attributes (namespace declarations included) on one element. Real
/// clients declare at most about ten; the bound matters because checking
/// for duplicate attributes costs the square of their number, and every
/// declared namespace lengthens each later prefix lookup.
pub const MAX_ATTRIBUTES: usize = 64;

/// XML's whitespace (not Unicode's: U+00A0 is content).
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Characters XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// At most `max` characters of `s`, for error texts that quote the input.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_string(),
    }
}

/// `{namespace}local` of an element, clipped, for error texts.
fn describe(e: &XmlElement) -> String {
    if e.ns.is_empty() {
        clip(&e.name, 64)
    } else {
        format!("{{{}}}{}", clip(&e.ns, 64), clip(&e.name, 64))
    }
}

/// Reads a SOAP request: the envelope (1.2 or 1.1), the WS-Addressing
/// MessageID and Action, the WS-Security UsernameToken and the one
/// operation in the Body with its parameters.
///
/// Header blocks we do not know are skipped, whatever their
/// mustUnderstand: like the device servers clients are tested against, we
/// would rather answer than fault on a header we can ignore.
pub fn parse_request(bytes: &[u8]) -> Result<SoapRequest, SoapError> {
    request_from_tree(parse_tree(bytes)?)
}

/// The whole document as an element tree, within the limits.
fn parse_tree(bytes: &[u8]) -> Result<XmlElement, SoapError> {
    use quick_xml::events::Event;

    if bytes.len() > MAX_INPUT {
        return Err(SoapError::TooLarge(format!(
            "{} bytes, at most {MAX_INPUT} are read",
            bytes.len()
        )));
    }
    // SOAP 1.2 over HTTP is UTF-8 or UTF-16 in theory; every ONVIF client
    // sends UTF-8, and reading &str lets the reader hand out borrowed text.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| SoapError::Malformed(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let mut reader = quick_xml::NsReader::from_str(text);
    // Defaults that matter: end names are checked, unmatched end tags and
    // a dangling `&` are errors, text is not trimmed (we trim per element
    // after entities are put back).
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    let mut elements = 0usize;

    loop {
        let (namespace, event) = match reader.read_resolved_event() {
            Ok((resolved, event)) => (namespace_of(resolved), event),
            Err(e) => {
                return Err(SoapError::Malformed(format!(
                    "at byte {}: {}",
                    reader.error_position(),
                    clip(&e.to_string(), 120)
                )))
            }
        };
        let at = reader.buffer_position();
        let malformed = |why: String| SoapError::Malformed(format!("at byte {at}: {why}"));
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if stack.is_empty() && root.is_some() {
                    return Err(malformed("a second root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(SoapError::TooLarge(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(SoapError::TooLarge(format!(
                        "more than {MAX_ELEMENTS} elements"
                    )));
                }
                let element = element_of(namespace.map_err(malformed)?, &start, at)?;
                if empty {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => match stack.pop() {
                Some(element) => close(element, &mut stack, &mut root),
                // The reader reports unmatched end tags itself; this is
                // only a guard.
                None => return Err(malformed("an end tag without a start".into())),
            },
            Event::Text(t) => {
                let content = t
                    .xml10_content()
                    .map_err(|e| malformed(format!("text: {e}")))?;
                add_text(&mut stack, &content).map_err(malformed)?;
            }
            Event::CData(c) => {
                let content = c.decode().map_err(|e| malformed(format!("CDATA: {e}")))?;
                add_text(&mut stack, &content).map_err(malformed)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| malformed(format!("entity: {e}")))?;
                if r.is_char_ref() {
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) if is_xml_char(c) => c,
                        _ => {
                            return Err(malformed(format!(
                                "bad character reference &{};",
                                clip(&name, 16)
                            )))
                        }
                    };
                    add_text(&mut stack, c.encode_utf8(&mut [0; 4])).map_err(malformed)?;
                } else {
                    // Only the five XML entities: with DOCTYPE refused, no
                    // other entity can be declared.
                    let Some(value) = quick_xml::escape::resolve_xml_entity(&name) else {
                        return Err(malformed(format!("unknown entity &{};", clip(&name, 32))));
                    };
                    add_text(&mut stack, value).map_err(malformed)?;
                }
            }
            // Internal subsets declare entities ("billion laughs", external
            // entities); SOAP forbids a DTD anyway (SOAP 1.2 part 1, 5).
            Event::DocType(_) => return Err(malformed("a DOCTYPE (refused in SOAP)".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(SoapError::Malformed(format!(
            "end of input inside <{}>",
            clip(&open.name, 64)
        )));
    }
    root.ok_or_else(|| SoapError::Malformed("no element".into()))
}

/// The namespace URI a resolved name is in ("" for none).
fn namespace_of(resolved: quick_xml::name::ResolveResult<'_>) -> Result<String, String> {
    use quick_xml::name::ResolveResult;
    match resolved {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(prefix) => Err(format!(
            "undeclared prefix {}",
            clip(&String::from_utf8_lossy(&prefix), 32)
        )),
    }
}

/// A new element from a start tag: local name and attributes by local name
/// (namespace declarations left out), values with entities resolved.
fn element_of(
    ns: String,
    start: &quick_xml::events::BytesStart<'_>,
    at: u64,
) -> Result<XmlElement, SoapError> {
    let malformed = |why: String| SoapError::Malformed(format!("at byte {at}: {why}"));
    let name = std::str::from_utf8(start.local_name().into_inner())
        .map_err(|_| malformed("element name not UTF-8".into()))?
        .to_string();
    let mut attrs = Vec::new();
    for (i, attr) in start.attributes().enumerate() {
        if i >= MAX_ATTRIBUTES {
            return Err(SoapError::TooLarge(format!(
                "more than {MAX_ATTRIBUTES} attributes on <{}>",
                clip(&name, 64)
            )));
        }
        let attr = attr.map_err(|e| malformed(format!("attribute: {e}")))?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let key = std::str::from_utf8(attr.key.local_name().into_inner())
            .map_err(|_| malformed("attribute name not UTF-8".into()))?
            .to_string();
        let value = attr
            .unescape_value()
            .map_err(|e| malformed(format!("attribute {}: {e}", clip(&key, 32))))?;
        if let Some(bad) = value.chars().find(|c| !is_xml_char(*c)) {
            return Err(malformed(format!(
                "character U+{:04X} in attribute {}",
                bad as u32,
                clip(&key, 32)
            )));
        }
        attrs.push((key, value.into_owned()));
    }
    Ok(XmlElement {
        ns,
        name,
        attrs,
        ..Default::default()
    })
}

/// Text goes to the open element; outside the root only whitespace may
/// appear.
fn add_text(stack: &mut [XmlElement], text: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if text.chars().all(is_xml_space) => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

/// An element ends: its text is trimmed and it joins its parent (or becomes
/// the root).
fn close(mut element: XmlElement, stack: &mut [XmlElement], root: &mut Option<XmlElement>) {
    let trimmed = element.text.trim_matches(is_xml_space);
    if trimmed.len() != element.text.len() {
        element.text = trimmed.to_string();
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// The request in a parsed document.
fn request_from_tree(envelope: XmlElement) -> Result<SoapRequest, SoapError> {
    let version = match (envelope.ns.as_str(), envelope.name.as_str()) {
        (ns::SOAP12, "Envelope") => SoapVersion::Soap12,
        (ns::SOAP11, "Envelope") => SoapVersion::Soap11,
        _ => {
            return Err(SoapError::NotSoap(format!(
                "the root element is {}, not a SOAP 1.2 or 1.1 Envelope",
                describe(&envelope)
            )))
        }
    };
    let env_ns = envelope.ns;
    let mut header = None;
    let mut body = None;
    for child in envelope.children {
        match (child.ns == env_ns, child.name.as_str()) {
            (true, "Header") if header.is_none() && body.is_none() => header = Some(child),
            (true, "Body") if body.is_none() => body = Some(child),
            _ => {
                return Err(SoapError::NotSoap(format!(
                    "unexpected {} in the Envelope",
                    describe(&child)
                )))
            }
        }
    }
    let body = body.ok_or_else(|| SoapError::NotSoap("no Body".into()))?;
    // ONVIF operations are document/literal with one request element. A
    // second element would be ignored by whoever answers the first, so it
    // is refused rather than silently dropped.
    let count = body.children.len();
    let Some(operation) = body.children.into_iter().next() else {
        return Err(SoapError::NotSoap("empty Body".into()));
    };
    if count > 1 {
        return Err(SoapError::NotSoap(format!(
            "{count} elements in the Body, one operation expected"
        )));
    }

    let mut request = SoapRequest {
        version,
        body: operation,
        message_id: None,
        action: None,
        username_token: None,
    };
    for block in header.map(|h| h.children).unwrap_or_default() {
        match (block.ns.as_str(), block.name.as_str()) {
            (ns::WSA | ns::WSA_2004, "MessageID") if request.message_id.is_none() => {
                request.message_id = Some(block.text)
            }
            (ns::WSA | ns::WSA_2004, "Action") if request.action.is_none() => {
                request.action = Some(block.text)
            }
            (ns::WSSE, "Security") if request.username_token.is_none() => {
                request.username_token = block
                    .children
                    .iter()
                    .find(|c| c.ns == ns::WSSE && c.name == "UsernameToken")
                    .map(username_token);
            }
            _ => {}
        }
    }
    Ok(request)
}

/// A UsernameToken's fields. Its children are a closed vocabulary, so they
/// are matched by local name in the WSSE or WSU namespace or none: clients
/// have been seen putting Created in either of the two, and a child in the
/// wrong namespace gains an attacker nothing (the digest is still checked).
/// Missing fields are left empty or None for the verifier to refuse.
fn username_token(token: &XmlElement) -> UsernameToken {
    let field = |local: &str| {
        token
            .children
            .iter()
            .find(|c| c.name == local && matches!(c.ns.as_str(), ns::WSSE | ns::WSU | ""))
    };
    let password = field("Password");
    UsernameToken {
        username: field("Username")
            .map(|e| e.text.clone())
            .unwrap_or_default(),
        password: password.map(|e| e.text.clone()).unwrap_or_default(),
        // No Type means PasswordText (WSS UsernameToken Profile 1.0, 3.1);
        // an unknown Type is treated like text, which the verifier accepts
        // only where the glue allows text (TLS), compared as sent.
        digest: password
            .and_then(|e| e.attr("Type"))
            .is_some_and(|t| t.ends_with("#PasswordDigest")),
        nonce: field("Nonce").map(|e| e.text.clone()),
        created: field("Created").map(|e| e.text.clone()),
    }
}

// ---------------------------------------------------------------------------
// Writing answers
// ---------------------------------------------------------------------------

/// The prefixes every answer envelope declares, besides `env` (the
/// envelope namespace of the request's SOAP version), so that services
/// write `tds:`, `trt:`, `tr2:`, `tmd:`, `tt:`, `ter:` and `wsa:` without
/// declaring them. Prefixes are the ones the ONVIF specs use.
pub const ANSWER_PREFIXES: &[(&str, &str)] = &[
    ("wsa", ns::WSA),
    ("tds", ns::DEVICE),
    ("trt", ns::MEDIA),
    ("tr2", ns::MEDIA2),
    ("tmd", ns::DEVICEIO),
    ("tt", ns::SCHEMA),
    ("ter", ns::ERROR),
];

/// An answer envelope around `body_xml` (one or more elements using the
/// prefixes of [`ANSWER_PREFIXES`]). With `relates_to` (the request's
/// MessageID), a WS-Addressing RelatesTo header is added: zeep, with
/// WS-Addressing on, expects it.
pub fn envelope(version: SoapVersion, relates_to: Option<&str>, body_xml: &str) -> String {
    use std::fmt::Write;

    let mut out = String::with_capacity(body_xml.len() + 640);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = write!(
        out,
        r#"<env:Envelope xmlns:env="{}""#,
        version.envelope_ns()
    );
    for (prefix, uri) in ANSWER_PREFIXES {
        let _ = write!(out, r#" xmlns:{prefix}="{uri}""#);
    }
    out.push('>');
    if let Some(id) = relates_to {
        let _ = write!(
            out,
            "<env:Header><wsa:RelatesTo>{}</wsa:RelatesTo></env:Header>",
            escape(id)
        );
    }
    out.push_str("<env:Body>");
    out.push_str(body_xml);
    out.push_str("</env:Body></env:Envelope>");
    out
}

/// The fault classes ONVIF uses: the request is wrong (Sender) or the device
/// cannot do it (Receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    Sender,
    Receiver,
}

/// A whole fault envelope. `subcodes` are QNames with the answer prefixes,
/// outermost first (`["ter:InvalidArgVal", "ter:NoProfile"]`), nested as
/// SOAP 1.2 Subcode elements; `reason` is plain text.
///
/// SOAP 1.1 has no subcodes: its fault carries `Client`/`Server` and the
/// reason only (1.1 clients read faultstring).
pub fn fault(
    version: SoapVersion,
    relates_to: Option<&str>,
    code: FaultCode,
    subcodes: &[&str],
    reason: &str,
) -> String {
    let body = match version {
        SoapVersion::Soap12 => {
            let code = match code {
                FaultCode::Sender => "env:Sender",
                FaultCode::Receiver => "env:Receiver",
            };
            let mut xml = format!("<env:Fault><env:Code><env:Value>{code}</env:Value>");
            for subcode in subcodes {
                xml.push_str("<env:Subcode><env:Value>");
                xml.push_str(&escape(subcode));
                xml.push_str("</env:Value>");
            }
            for _ in subcodes {
                xml.push_str("</env:Subcode>");
            }
            xml.push_str("</env:Code><env:Reason><env:Text xml:lang=\"en\">");
            xml.push_str(&escape(reason));
            xml.push_str("</env:Text></env:Reason></env:Fault>");
            xml
        }
        SoapVersion::Soap11 => {
            let code = match code {
                FaultCode::Sender => "env:Client",
                FaultCode::Receiver => "env:Server",
            };
            format!(
                "<env:Fault><faultcode>{code}</faultcode><faultstring xml:lang=\"en\">{}</faultstring></env:Fault>",
                escape(reason)
            )
        }
    };
    envelope(version, relates_to, &body)
}

/// `text` made safe for XML text and attribute values (either quote).
/// Tab, newline and carriage return become character references so that
/// they survive attribute value normalisation and line-end normalisation;
/// characters XML cannot carry at all (most C0 controls, U+FFFE, U+FFFF)
/// become U+FFFD, so what we write always parses.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    let plain =
        |c: char| is_xml_char(c) && !matches!(c, '&' | '<' | '>' | '"' | '\'' | '\t' | '\n' | '\r');
    if text.chars().all(plain) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Result<SoapRequest, SoapError> {
        parse_request(xml.as_bytes())
    }

    // What onvif-zeep-async (Home Assistant) sends: SOAP 1.2 with the
    // `soap-env` prefix, WS-Addressing 2005/08 headers each declaring its
    // prefix, wsse with Nonce EncodingType, Created with +00:00, the
    // operation under `ns0:`.
    const ZEEP: &str = r#"<?xml version='1.0' encoding='utf-8'?>
<soap-env:Envelope xmlns:soap-env="http://www.w3.org/2003/05/soap-envelope"><soap-env:Header><wsa:Action xmlns:wsa="http://www.w3.org/2005/08/addressing">http://www.onvif.org/ver10/device/wsdl/GetCapabilities</wsa:Action><wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">urn:uuid:3c6fd2b4-8a4e-4e4b-9d55-0a8d1a3c9f10</wsa:MessageID><wsa:To xmlns:wsa="http://www.w3.org/2005/08/addressing">http://192.168.1.20:8080/onvif/device_service</wsa:To><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>admin</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">bTZjRZnSFXuZZ03R2vNUqNcyvzY=</wsse:Password><wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">mM6ujj0OaiAq+GtBw1w6XQ==</wsse:Nonce><wsu:Created xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">2026-12-01T17:00:00+00:00</wsu:Created></wsse:UsernameToken></wsse:Security></soap-env:Header><soap-env:Body><ns0:GetCapabilities xmlns:ns0="http://www.onvif.org/ver10/device/wsdl"><ns0:Category>All</ns0:Category></ns0:GetCapabilities></soap-env:Body></soap-env:Envelope>"#;

    #[test]
    fn zeep_request_is_read() {
        let r = parse(ZEEP).unwrap();
        assert_eq!(r.version, SoapVersion::Soap12);
        assert_eq!(r.body.ns, ns::DEVICE);
        assert_eq!(r.body.name, "GetCapabilities");
        assert_eq!(r.body.child_text("Category"), Some("All"));
        assert_eq!(r.body.children[0].ns, ns::DEVICE);
        assert_eq!(
            r.message_id.as_deref(),
            Some("urn:uuid:3c6fd2b4-8a4e-4e4b-9d55-0a8d1a3c9f10")
        );
        assert_eq!(
            r.action.as_deref(),
            Some("http://www.onvif.org/ver10/device/wsdl/GetCapabilities")
        );
        let t = r.username_token.unwrap();
        assert_eq!(t.username, "admin");
        assert_eq!(t.password, "bTZjRZnSFXuZZ03R2vNUqNcyvzY=");
        assert!(t.digest);
        assert_eq!(t.nonce.as_deref(), Some("mM6ujj0OaiAq+GtBw1w6XQ=="));
        assert_eq!(t.created.as_deref(), Some("2026-12-01T17:00:00+00:00"));
        // The Debug form never shows the password.
        assert!(!format!("{t:?}").contains("bTZjRZ"));
    }

    // go2rtc: prefixes declared once on the Envelope, tabs and newlines in
    // the header, Created with nanoseconds, a Body that declares nothing.
    const GO2RTC: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tt=\"http://www.onvif.org/ver10/schema\" xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\" xmlns:timg=\"http://www.onvif.org/ver20/imaging/wsdl\"><s:Header>
\t<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\">
\t\t<wsse:UsernameToken>
\t\t\t<wsse:Username>admin</wsse:Username>
\t\t\t<wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest\">Zm9vYmFyZm9vYmFyZm9vYmFyMTI=</wsse:Password>
\t\t\t<wsse:Nonce EncodingType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary\">YWJjZGVmZ2hpamtsbW5vcA==</wsse:Nonce>
\t\t\t<wsu:Created xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\">2026-12-01T17:00:00.123456789Z</wsu:Created>
\t\t</wsse:UsernameToken>
\t</wsse:Security>
</s:Header><s:Body><trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>profile_0</trt:ProfileToken></trt:GetStreamUri></s:Body></s:Envelope>";

    #[test]
    fn go2rtc_request_is_read() {
        let r = parse(GO2RTC).unwrap();
        assert_eq!(
            (r.body.ns.as_str(), r.body.name.as_str()),
            (ns::MEDIA, "GetStreamUri")
        );
        assert_eq!(r.body.child_text("ProfileToken"), Some("profile_0"));
        let protocol = r
            .body
            .path(&["StreamSetup", "Transport", "Protocol"])
            .unwrap();
        assert_eq!(
            (protocol.ns.as_str(), protocol.text.as_str()),
            (ns::SCHEMA, "RTSP")
        );
        assert_eq!(r.message_id, None);
        let t = r.username_token.unwrap();
        assert_eq!(t.username, "admin");
        assert_eq!(t.created.as_deref(), Some("2026-12-01T17:00:00.123456789Z"));
        assert_eq!(t.nonce.as_deref(), Some("YWJjZGVmZ2hpamtsbW5vcA=="));
    }

    // agsh/onvif (Scrypted): a default namespace on Security, so no prefix
    // on UsernameToken and its children, s:mustUnderstand, Created in the
    // utility namespace by its own default declaration, milliseconds, the
    // operation in a default namespace.
    const AGSH: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken><Username>talker</Username><Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">c2VjcmV0ZGlnZXN0c2VjcmV0ZGk=</Password><Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">AAECAwQFBgcICQoLDA0ODw==</Nonce><Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">2026-12-01T17:00:00.123Z</Created></UsernameToken></Security></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GetProfiles xmlns="http://www.onvif.org/ver20/media/wsdl"><Type>All</Type></GetProfiles></s:Body></s:Envelope>"#;

    #[test]
    fn agsh_request_is_read() {
        let r = parse(AGSH).unwrap();
        assert_eq!(
            (r.body.ns.as_str(), r.body.name.as_str()),
            (ns::MEDIA2, "GetProfiles")
        );
        let ty = r.body.child("Type").unwrap();
        assert_eq!((ty.ns.as_str(), ty.text.as_str()), (ns::MEDIA2, "All"));
        let t = r.username_token.unwrap();
        assert_eq!(t.username, "talker");
        assert!(t.digest);
        assert_eq!(t.nonce.as_deref(), Some("AAECAwQFBgcICQoLDA0ODw=="));
        assert_eq!(t.created.as_deref(), Some("2026-12-01T17:00:00.123Z"));
    }

    #[test]
    fn soap11_request_is_read() {
        let xml = r#"<?xml version="1.0"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
  <SOAP-ENV:Body>
    <GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;
        let r = parse(xml).unwrap();
        assert_eq!(r.version, SoapVersion::Soap11);
        assert_eq!(
            (r.body.ns.as_str(), r.body.name.as_str()),
            (ns::DEVICE, "GetDeviceInformation")
        );
        assert!(r.body.children.is_empty());
        assert_eq!(r.username_token, None);
    }

    #[test]
    fn ws_addressing_2004_password_text_and_no_type() {
        let xml = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
<e:Header><w:MessageID>uuid:1</w:MessageID><w:Action>urn:a</w:Action>
<x:Security><x:UsernameToken><x:Username> viewer </x:Username><x:Password>pa&amp;ss</x:Password></x:UsernameToken></x:Security></e:Header>
<e:Body><GetScopes xmlns="http://www.onvif.org/ver10/device/wsdl"/></e:Body></e:Envelope>"#;
        let r = parse(xml).unwrap();
        assert_eq!(r.message_id.as_deref(), Some("uuid:1"));
        assert_eq!(r.action.as_deref(), Some("urn:a"));
        let t = r.username_token.unwrap();
        assert_eq!(t.username, "viewer");
        assert_eq!(t.password, "pa&ss");
        assert!(!t.digest);
        assert_eq!((t.nonce, t.created), (None, None));
    }

    #[test]
    fn text_and_attributes_resolve_entities_and_are_trimmed() {
        let xml = "<Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\"><Body>\
            <SetScopes xmlns=\"http://www.onvif.org/ver10/device/wsdl\" note=\"a&lt;b &#x41;&quot;\">\
            <Scopes>\n  onvif://www.onvif.org/name/A&amp;B&#233;<![CDATA[<x>]]>\r\n </Scopes>\
            <Scopes/></SetScopes></Body></Envelope>";
        let r = parse(xml).unwrap();
        assert_eq!(r.body.attr("note"), Some("a<b A\""));
        assert_eq!(r.body.children.len(), 2);
        assert_eq!(
            r.body.children[0].text,
            "onvif://www.onvif.org/name/A&Bé<x>"
        );
        assert_eq!(r.body.children[1].text, "");
    }

    #[test]
    fn wrong_namespaces_are_not_taken_for_soap_or_security() {
        // A prefix spelled like the usual one but bound elsewhere.
        let xml = r#"<s:Envelope xmlns:s="urn:not-soap"><s:Body><a/></s:Body></s:Envelope>"#;
        assert!(matches!(parse(xml), Err(SoapError::NotSoap(_))));
        // Security in another namespace is not a token.
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><Security xmlns="urn:x"><UsernameToken><Username>a</Username></UsernameToken></Security></s:Header><s:Body><a/></s:Body></s:Envelope>"#;
        assert_eq!(parse(xml).unwrap().username_token, None);
        // A 1.1 Body in a 1.2 Envelope.
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:o="http://schemas.xmlsoap.org/soap/envelope/"><o:Body><a/></o:Body></s:Envelope>"#;
        assert!(matches!(parse(xml), Err(SoapError::NotSoap(_))));
    }

    #[test]
    fn malformed_input_is_refused() {
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a/>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a></b></s:Body></s:Envelope>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><x:a/></s:Body></s:Envelope>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a>&nbsp;</a></s:Body></s:Envelope>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a>&#0;</a></s:Body></s:Envelope>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a x='1' x='2'/></s:Body></s:Envelope>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a/></s:Body></s:Envelope><again/>",
            b"junk<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a/></s:Body></s:Envelope>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a>\xff\xfe</a></s:Body></s:Envelope>",
            b"\x00\x01\x02\x03\xde\xad\xbe\xef<<<>>>&&&",
        ];
        for case in cases {
            assert!(
                matches!(parse_request(case), Err(SoapError::Malformed(_))),
                "{:?}: {:?}",
                String::from_utf8_lossy(case),
                parse_request(case)
            );
        }
        // Every truncation of a real request is an error, never a panic or
        // a request.
        for end in 0..ZEEP.len() - 1 {
            if ZEEP.is_char_boundary(end) {
                assert!(parse(&ZEEP[..end]).is_err(), "{end}");
            }
        }
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a>&lol2;</a></s:Body></s:Envelope>"#;
        assert!(matches!(parse(bomb), Err(SoapError::Malformed(e)) if e.contains("DOCTYPE")));
        let external = r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a>&xxe;</a></s:Body></s:Envelope>"#;
        assert!(matches!(parse(external), Err(SoapError::Malformed(_))));
        // An undeclared entity without a DOCTYPE is refused too.
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a b="&xxe;"/></s:Body></s:Envelope>"#;
        assert!(matches!(parse(xml), Err(SoapError::Malformed(_))));
    }

    fn wrapped(inner: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>{inner}</s:Body></s:Envelope>"#
        )
    }

    #[test]
    fn limits_are_enforced() {
        // Depth: 30 below Body is the most (Envelope and Body are 1 and 2).
        let nest = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(parse(&wrapped(&nest(MAX_DEPTH - 2))).is_ok());
        let deep = parse(&wrapped(&nest(MAX_DEPTH - 1)));
        assert!(matches!(deep, Err(SoapError::TooLarge(_))), "{deep:?}");
        assert!(matches!(
            parse(&wrapped(&nest(100))),
            Err(SoapError::TooLarge(_))
        ));
        // Same without end tags (never read that far).
        assert!(matches!(
            parse(&"<a>".repeat(100_000)),
            Err(SoapError::TooLarge(_))
        ));

        // Element count: Envelope, Body and the operation count too.
        let many = |n: usize| wrapped(&format!("<op>{}</op>", "<b/>".repeat(n)));
        assert!(parse(&many(MAX_ELEMENTS - 3)).is_ok());
        assert!(matches!(
            parse(&many(MAX_ELEMENTS - 2)),
            Err(SoapError::TooLarge(_))
        ));

        // Size, checked before reading.
        let big = wrapped(&format!("<op>{}</op>", " ".repeat(MAX_INPUT)));
        assert!(matches!(parse(&big), Err(SoapError::TooLarge(_))));

        // Attributes, namespace declarations included.
        let attrs = |n: usize| {
            let list: String = (0..n).map(|i| format!(" xmlns:p{i}=\"urn:{i}\"")).collect();
            wrapped(&format!("<op{list}/>"))
        };
        assert!(parse(&attrs(MAX_ATTRIBUTES)).is_ok());
        assert!(matches!(
            parse(&attrs(MAX_ATTRIBUTES + 1)),
            Err(SoapError::TooLarge(_))
        ));
    }

    #[test]
    fn body_must_hold_one_operation() {
        let empty = parse(&wrapped(""));
        assert!(
            matches!(&empty, Err(SoapError::NotSoap(e)) if e.contains("empty")),
            "{empty:?}"
        );
        let text_only = parse(&wrapped("hello"));
        assert!(matches!(text_only, Err(SoapError::NotSoap(_))));
        let two = parse(&wrapped("<a/><b/>"));
        assert!(
            matches!(&two, Err(SoapError::NotSoap(e)) if e.contains('2')),
            "{two:?}"
        );
        let no_body = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>"#;
        assert!(matches!(parse(no_body), Err(SoapError::NotSoap(_))));
        let header_after_body = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a/></s:Body><s:Header/></s:Envelope>"#;
        assert!(matches!(
            parse(header_after_body),
            Err(SoapError::NotSoap(_))
        ));
        let not_envelope = r#"<Body xmlns="http://www.w3.org/2003/05/soap-envelope"><a/></Body>"#;
        assert!(matches!(parse(not_envelope), Err(SoapError::NotSoap(_))));
    }

    #[test]
    fn escape_covers_markup_quotes_and_controls() {
        assert!(matches!(
            escape("plain text 123 é"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("a\tb\r\nc"), "a&#9;b&#13;&#10;c");
        assert_eq!(
            escape("nul\u{0}bel\u{7}\u{FFFF}"),
            "nul\u{FFFD}bel\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn envelope_declares_the_answer_prefixes_and_relates_to() {
        let body = "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP></tds:HostnameInformation></tds:GetHostnameResponse>";
        let xml = envelope(SoapVersion::Soap12, Some("urn:uuid:1&2"), body);
        assert!(xml.contains("<wsa:RelatesTo>urn:uuid:1&amp;2</wsa:RelatesTo>"));
        // Our own reader takes it back: the prefixes are declared and the
        // document is well formed.
        let r = parse(&xml).unwrap();
        assert_eq!(
            (r.body.ns.as_str(), r.body.name.as_str()),
            (ns::DEVICE, "GetHostnameResponse")
        );
        assert_eq!(
            r.body
                .path(&["HostnameInformation", "FromDHCP"])
                .unwrap()
                .ns,
            ns::SCHEMA
        );
        // Every declared prefix resolves.
        let all: String = ANSWER_PREFIXES
            .iter()
            .map(|(p, _)| format!("<{p}:x/>"))
            .collect();
        let r = parse(&envelope(
            SoapVersion::Soap11,
            None,
            &format!("<tds:op>{all}</tds:op>"),
        ))
        .unwrap();
        assert_eq!(r.version, SoapVersion::Soap11);
        let got: Vec<&str> = r.body.children.iter().map(|c| c.ns.as_str()).collect();
        let want: Vec<&str> = ANSWER_PREFIXES.iter().map(|(_, uri)| *uri).collect();
        assert_eq!(got, want);
        assert!(!envelope(SoapVersion::Soap12, None, "<tds:x/>").contains("Header"));
    }

    #[test]
    fn soap12_fault_nests_subcodes() {
        let xml = fault(
            SoapVersion::Soap12,
            None,
            FaultCode::Sender,
            &["ter:InvalidArgVal", "ter:NoProfile"],
            "no profile <x> & more",
        );
        let r = parse(&xml).unwrap();
        assert_eq!(
            (r.body.ns.as_str(), r.body.name.as_str()),
            (ns::SOAP12, "Fault")
        );
        assert_eq!(r.body.path(&["Code", "Value"]).unwrap().text, "env:Sender");
        assert_eq!(
            r.body.path(&["Code", "Subcode", "Value"]).unwrap().text,
            "ter:InvalidArgVal"
        );
        assert_eq!(
            r.body
                .path(&["Code", "Subcode", "Subcode", "Value"])
                .unwrap()
                .text,
            "ter:NoProfile"
        );
        let text = r.body.path(&["Reason", "Text"]).unwrap();
        assert_eq!(text.text, "no profile <x> & more");
        assert_eq!(text.attr("lang"), Some("en"));

        let xml = fault(SoapVersion::Soap12, None, FaultCode::Receiver, &[], "x");
        let r = parse(&xml).unwrap();
        assert_eq!(
            r.body.path(&["Code", "Value"]).unwrap().text,
            "env:Receiver"
        );
        assert!(r.body.path(&["Code", "Subcode"]).is_none());
    }

    #[test]
    fn soap11_fault_has_faultcode_and_faultstring() {
        let xml = fault(
            SoapVersion::Soap11,
            None,
            FaultCode::Receiver,
            &["ter:ActionNotSupported"],
            "not here",
        );
        let r = parse(&xml).unwrap();
        assert_eq!(
            (r.body.ns.as_str(), r.body.name.as_str()),
            (ns::SOAP11, "Fault")
        );
        assert_eq!(r.body.child_text("faultcode"), Some("env:Server"));
        assert_eq!(r.body.child_text("faultstring"), Some("not here"));
        let xml = fault(SoapVersion::Soap11, None, FaultCode::Sender, &[], "bad");
        assert_eq!(
            parse(&xml).unwrap().body.child_text("faultcode"),
            Some("env:Client")
        );
    }
}

//! src/onvif/soap.rs on arbitrary bytes: the request reader never panics,
//! and whatever it reads goes back through escape, envelope and fault into
//! XML that the reader takes again with the same content (text, attribute
//! values, fault reason), so our answers are well formed for any input a
//! client can echo into them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::soap::{
    envelope, escape, fault, ns, parse_request, FaultCode, SoapVersion, XmlElement, MAX_ELEMENTS,
};

/// Characters XML 1.0 can carry; escape replaces the others, so content
/// with them cannot come back unchanged.
fn xml_chars(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

/// Every text and attribute value of the tree, in document order.
fn contents<'a>(e: &'a XmlElement, texts: &mut Vec<&'a str>, attrs: &mut Vec<&'a str>) {
    texts.push(&e.text);
    attrs.extend(e.attrs.iter().map(|(_, v)| v.as_str()));
    for child in &e.children {
        contents(child, texts, attrs);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = parse_request(data) else {
        return;
    };
    let (mut texts, mut attrs) = (Vec::new(), Vec::new());
    contents(&request.body, &mut texts, &mut attrs);
    let token = request.username_token.as_ref();
    texts.extend(request.message_id.as_deref());
    texts.extend(request.action.as_deref());
    if let Some(t) = token {
        texts.extend([t.username.as_str(), t.password.as_str()]);
        texts.extend(t.nonce.as_deref());
        texts.extend(t.created.as_deref());
    }

    // The echo below needs an element per text and attribute; inputs with
    // more than the reader's limit allows (only longer than libFuzzer's
    // default 4 kB) skip it.
    if texts.len() + attrs.len() + 3 > MAX_ELEMENTS {
        return;
    }

    // Each text as element content, each attribute value in both quote
    // styles, through an answer envelope and back.
    let mut body = String::from("<tds:Echo>");
    for text in &texts {
        body.push_str(&format!("<tt:T>{}</tt:T>", escape(text)));
    }
    for attr in &attrs {
        body.push_str(&format!(
            "<tt:A a=\"{}\" b='{}'/>",
            escape(attr),
            escape(attr)
        ));
    }
    body.push_str("</tds:Echo>");
    let answer = envelope(request.version, request.message_id.as_deref(), &body);
    let back = parse_request(answer.as_bytes()).expect("an answer envelope parses");
    assert_eq!(back.version, request.version);
    assert_eq!(
        (back.body.ns.as_str(), back.body.name.as_str()),
        (ns::DEVICE, "Echo")
    );
    let (back_texts, back_attrs) = back.body.children.split_at(texts.len());
    for (text, echo) in texts.iter().zip(back_texts) {
        assert_eq!((echo.ns.as_str(), echo.name.as_str()), (ns::SCHEMA, "T"));
        // The reader trims each text, so only header fields and trimmed
        // texts come back whole.
        if xml_chars(text) {
            assert_eq!(echo.text, text.trim_matches([' ', '\t', '\n', '\r']));
        }
    }
    assert_eq!(back_attrs.len(), attrs.len());
    for (attr, echo) in attrs.iter().zip(back_attrs) {
        if xml_chars(attr) {
            assert_eq!(echo.attr("a"), Some(*attr));
            assert_eq!(echo.attr("b"), Some(*attr));
        }
    }

    // The operation's name and the token's fields as fault subcodes, the
    // operation's text as the reason.
    let text = request.body.text.as_str();
    let subcodes: Vec<&str> = [
        Some(request.body.name.as_str()),
        token.map(|t| t.username.as_str()),
        token.and_then(|t| t.created.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let code = if data.len() % 2 == 0 {
        FaultCode::Sender
    } else {
        FaultCode::Receiver
    };
    let answer = fault(request.version, None, code, &subcodes, text);
    let back = parse_request(answer.as_bytes()).expect("a fault parses");
    assert_eq!(back.body.name, "Fault");
    let reason = match request.version {
        SoapVersion::Soap12 => back.body.path(&["Reason", "Text"]),
        SoapVersion::Soap11 => back.body.child("faultstring"),
    };
    let reason = reason.expect("a fault has a reason");
    if xml_chars(text) {
        assert_eq!(reason.text, text);
    }
});

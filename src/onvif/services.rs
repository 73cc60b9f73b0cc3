//! Answers to the ONVIF web service calls, from the device model: Device
//! (`device`), Media ver10 (`media`), Media2 ver20 (`media2`) and DeviceIO
//! (`deviceio`). Pure: no I/O, no GStreamer objects; the glue authenticates,
//! fills the `CallContext` and sends the `Answer`.
//!
//! Faults (Core, "Error handling"): an operation of a known service that we
//! do not implement, or an unknown service, answers `env:Receiver` /
//! `ter:ActionNotSupported`; a bad parameter answers `env:Sender` /
//! `ter:InvalidArgVal` / `ter:NoProfile`, `ter:NoConfig`... as the service
//! specs list. The HTTP status follows the SOAP 1.2 HTTP binding (SOAP 1.2
//! part 2, 7.5.1.2, which WS-I Basic Profile 2.0 and so ONVIF Core adopt):
//! 400 for `env:Sender`, 500 for `env:Receiver`. An implemented call never
//! answers a fault inside a success answer (themactep/thingino-firmware#1413
//! broke every client that way): what we do not have is left out or listed
//! empty.

use super::model::{CallContext, DeviceModel};
pub use super::soap::FaultCode;
use super::soap::{self, ns, SoapRequest, SoapVersion, XmlElement};
use super::xml_out::XmlOut;

/// What the glue sends back: HTTP status and a SOAP envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// The operation is not one we implement (`Fault::not_supported`).
    pub not_implemented: bool,
}

/// A fault as the services decide it; `answer` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    /// `ter:` subcodes, outermost first.
    pub subcodes: Vec<&'static str>,
    pub reason: String,
}

impl Fault {
    /// `env:Receiver` / `ter:ActionNotSupported`. The reason carries "not
    /// implemented" in lower case: zeep users (Home Assistant) accept some
    /// optional calls failing only with those words.
    pub fn not_supported(operation: &str) -> Self {
        Fault {
            code: FaultCode::Receiver,
            subcodes: vec!["ter:ActionNotSupported"],
            reason: format!("Optional Action Not Implemented: {operation} is not implemented"),
        }
    }

    /// `env:Receiver` / `ter:ActionNotSupported` / `subcode` (e.g.
    /// `ter:AudioOutputNotSupported`).
    pub fn unsupported(subcode: &'static str, reason: impl Into<String>) -> Self {
        Fault {
            code: FaultCode::Receiver,
            subcodes: vec!["ter:ActionNotSupported", subcode],
            reason: reason.into(),
        }
    }

    /// `env:Sender` / `ter:InvalidArgVal` / `subcode` (e.g. `ter:NoProfile`).
    pub fn invalid_arg(subcode: &'static str, reason: impl Into<String>) -> Self {
        Fault {
            code: FaultCode::Sender,
            subcodes: vec!["ter:InvalidArgVal", subcode],
            reason: reason.into(),
        }
    }

    /// `env:Sender` / `ter:InvalidArgs`: a required parameter is missing.
    pub fn missing(param: &str) -> Self {
        Fault {
            code: FaultCode::Sender,
            subcodes: vec!["ter:InvalidArgs"],
            reason: format!("missing argument {param}"),
        }
    }
}

/// What a service module returns: the Body content, or a fault.
pub(super) type Reply = Result<String, Fault>;

/// Answers one request.
pub fn answer(model: &DeviceModel, request: &SoapRequest, ctx: &CallContext) -> Answer {
    let op = request.body.name.as_str();
    let result = match request.body.ns.as_str() {
        ns::DEVICE => super::device::answer(model, &request.body, ctx),
        ns::MEDIA => super::media::answer(model, &request.body, ctx),
        ns::MEDIA2 => super::media2::answer(model, &request.body, ctx),
        ns::DEVICEIO => super::deviceio::answer(model, &request.body, ctx),
        _ => Err(Fault::not_supported(op)),
    };
    let relates_to = request.message_id.as_deref();
    match result {
        Ok(body) => Answer {
            status: 200,
            body: soap::envelope(request.version, relates_to, &body),
            not_implemented: false,
        },
        Err(fault) => fault_answer(request.version, relates_to, &fault),
    }
}

/// The answer carrying `fault`.
pub fn fault_answer(version: SoapVersion, relates_to: Option<&str>, fault: &Fault) -> Answer {
    Answer {
        status: match fault.code {
            FaultCode::Sender => 400,
            FaultCode::Receiver => 500,
        },
        body: soap::fault(
            version,
            relates_to,
            fault.code,
            &fault.subcodes,
            &fault.reason,
        ),
        // What `Fault::not_supported` makes (`unsupported` adds a subcode).
        not_implemented: fault.code == FaultCode::Receiver
            && fault.subcodes == ["ter:ActionNotSupported"],
    }
}

// ---- helpers shared by the service modules ----

/// Namespace declarations for the answer's root element, by prefix.
pub(super) fn xmlns(prefixes: &[&'static str]) -> Vec<(&'static str, &'static str)> {
    prefixes
        .iter()
        .map(|p| match *p {
            "tds" => ("xmlns:tds", ns::DEVICE),
            "trt" => ("xmlns:trt", ns::MEDIA),
            "tr2" => ("xmlns:tr2", ns::MEDIA2),
            "tmd" => ("xmlns:tmd", ns::DEVICEIO),
            "tt" => ("xmlns:tt", ns::SCHEMA),
            other => panic!("unknown prefix {other}"),
        })
        .collect()
}

/// A response element `name` with the given namespaces declared, its
/// children written by `body`.
pub(super) fn response(
    name: &str,
    prefixes: &[&'static str],
    body: impl FnOnce(&mut XmlOut),
) -> Reply {
    let mut w = XmlOut::new();
    w.el_attrs(name, &xmlns(prefixes), body);
    Ok(w.finish())
}

/// The text of a parameter (any namespace), trimmed.
pub(super) fn param<'a>(body: &'a XmlElement, name: &str) -> Option<&'a str> {
    body.child_text(name).map(str::trim)
}

/// A required parameter.
pub(super) fn required<'a>(body: &'a XmlElement, name: &str) -> Result<&'a str, Fault> {
    param(body, name).ok_or_else(|| Fault::missing(name))
}

/// Checks a profile token: ours, or `ter:NoProfile`.
pub(super) fn check_profile(token: &str) -> Result<(), Fault> {
    if token == super::model::tokens::PROFILE {
        Ok(())
    } else {
        Err(Fault::invalid_arg(
            "ter:NoProfile",
            format!("no profile with token {token:?}"),
        ))
    }
}

/// `ter:NoConfig` for a configuration token we do not have.
pub(super) fn no_config(token: &str) -> Fault {
    Fault::invalid_arg(
        "ter:NoConfig",
        format!("no configuration with token {token:?}"),
    )
}

/// The version every service reports (GetServices, SupportedVersions):
/// ONVIF 17.12, the first release with all the Media2 and DeviceIO audio
/// output calls we answer.
pub(super) const VERSION: (u32, u32) = (17, 12);

#[cfg(test)]
pub(crate) mod test_util {
    //! Requests built by hand (the parser is tested apart) and answers read
    //! back with quick-xml, checked by namespace and local name.

    use super::*;
    use crate::onvif::model::UserLevel;
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    use quick_xml::NsReader;

    pub fn el(ns: &str, name: &str, text: &str, children: Vec<XmlElement>) -> XmlElement {
        XmlElement {
            ns: ns.into(),
            name: name.into(),
            attrs: vec![],
            text: text.into(),
            children,
        }
    }

    /// The default model with the back channel codecs `names` (as the
    /// `codecs` property names them).
    pub fn model_with_codecs(names: &[&str]) -> DeviceModel {
        DeviceModel {
            backchannel: names
                .iter()
                .flat_map(|n| crate::codecs::BackchannelCodec::resolve(n).unwrap())
                .collect(),
            ..DeviceModel::default()
        }
    }

    pub fn request(ns: &str, op: &str, children: Vec<XmlElement>) -> SoapRequest {
        SoapRequest {
            version: SoapVersion::Soap12,
            body: el(ns, op, "", children),
            message_id: None,
            action: None,
            username_token: None,
        }
    }

    pub fn ctx(level: UserLevel) -> CallContext {
        CallContext {
            scheme: "http".into(),
            host: "192.0.2.10".into(),
            http_port: 8080,
            level,
            now_unix: 1_700_000_000,
        }
    }

    /// An element of a parsed answer.
    #[derive(Debug, Clone)]
    pub struct Node {
        pub ns: String,
        pub name: String,
        pub attrs: Vec<(String, String)>,
        pub text: String,
        pub children: Vec<Node>,
    }

    impl Node {
        /// Every descendant (or self) with this namespace and local name,
        /// in document order.
        pub fn find_all(&self, ns: &str, name: &str) -> Vec<&Node> {
            let mut out = vec![];
            self.walk(&mut |n| {
                if n.ns == ns && n.name == name {
                    out.push(n);
                }
            });
            out
        }

        pub fn find(&self, ns: &str, name: &str) -> Option<&Node> {
            self.find_all(ns, name).into_iter().next()
        }

        pub fn get(&self, ns: &str, name: &str) -> &Node {
            self.find(ns, name)
                .unwrap_or_else(|| panic!("no {name} in {self:#?}"))
        }

        pub fn child(&self, ns: &str, name: &str) -> Option<&Node> {
            self.children.iter().find(|c| c.ns == ns && c.name == name)
        }

        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }

        pub fn names(&self) -> Vec<&str> {
            self.children.iter().map(|c| c.name.as_str()).collect()
        }

        fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
            f(self);
            for c in &self.children {
                c.walk(f);
            }
        }
    }

    /// Parses a whole answer (well-formedness and namespaces checked by
    /// quick-xml); panics on any error.
    pub fn parse(xml: &str) -> Node {
        let mut reader = NsReader::from_str(xml);
        let mut stack: Vec<Node> = vec![];
        let mut root = None;
        loop {
            let (resolved, event) = reader.read_resolved_event().expect("well-formed XML");
            let ns = match resolved {
                ResolveResult::Bound(n) => String::from_utf8(n.as_ref().to_vec()).unwrap(),
                ResolveResult::Unbound => String::new(),
                ResolveResult::Unknown(p) => {
                    panic!("unbound prefix {}", String::from_utf8_lossy(&p))
                }
            };
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.expect("attribute");
                            (
                                String::from_utf8(a.key.local_name().as_ref().to_vec()).unwrap(),
                                a.unescape_value().expect("attr value").into_owned(),
                            )
                        })
                        .collect();
                    let node = Node {
                        ns,
                        name: String::from_utf8(e.local_name().as_ref().to_vec()).unwrap(),
                        attrs,
                        text: String::new(),
                        children: vec![],
                    };
                    if matches!(event, Event::Start(_)) {
                        stack.push(node);
                    } else if let Some(parent) = stack.last_mut() {
                        parent.children.push(node);
                    } else {
                        root = Some(node);
                    }
                }
                Event::End(_) => {
                    let node = stack.pop().unwrap();
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(node);
                    } else {
                        root = Some(node);
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.decode().unwrap());
                    }
                }
                Event::GeneralRef(r) => {
                    let name = r.decode().unwrap();
                    let c = match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("entity {other}"),
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push(c);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        root.expect("a root element")
    }

    /// Answers a request and returns the status and the Body's first child.
    pub fn call(model: &DeviceModel, req: &SoapRequest, ctx: &CallContext) -> (u16, Node) {
        let a = answer(model, req, ctx);
        let env = parse(&a.body);
        assert_eq!(env.ns, ns::SOAP12);
        assert_eq!(env.name, "Envelope");
        let body = env.child(ns::SOAP12, "Body").expect("Body").clone();
        assert_eq!(body.children.len(), 1, "one element in Body: {body:#?}");
        (a.status, body.children[0].clone())
    }

    /// Like `call`, and asserts success and no fault anywhere.
    pub fn ok(model: &DeviceModel, req: &SoapRequest, ctx: &CallContext) -> Node {
        let (status, node) = call(model, req, ctx);
        assert_eq!(status, 200, "{node:#?}");
        assert!(node.find(ns::SOAP12, "Fault").is_none());
        assert_eq!(node.name, format!("{}Response", req.body.name));
        assert_eq!(node.ns, req.body.ns);
        node
    }

    /// Like `call`, and returns the fault's subcodes.
    pub fn fault(model: &DeviceModel, req: &SoapRequest, ctx: &CallContext) -> (u16, Vec<String>) {
        let (status, node) = call(model, req, ctx);
        assert_eq!(node.name, "Fault", "{node:#?}");
        let codes = node
            .find_all(ns::SOAP12, "Value")
            .iter()
            .map(|v| v.text.clone())
            .collect();
        (status, codes)
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::onvif::model::UserLevel;

    #[test]
    fn unknown_service_and_operation_are_action_not_supported() {
        let model = DeviceModel::default();
        let ctx = ctx(UserLevel::Operator);
        for (service, op) in [
            (
                "http://www.onvif.org/ver10/events/wsdl",
                "GetEventProperties",
            ),
            (ns::MEDIA, "GetOSDs"),
            (ns::DEVICE, "SystemReboot"),
            (ns::MEDIA2, "GetMasks"),
            (ns::DEVICEIO, "GetRelayOutputs"),
        ] {
            let (status, codes) = fault(&model, &request(service, op, vec![]), &ctx);
            assert_eq!(status, 500);
            assert_eq!(codes, ["env:Receiver", "ter:ActionNotSupported"], "{op}");
        }
    }

    /// Whatever the device has (no video, no audio, no back channel,
    /// encodings Media1 cannot name) and whoever calls, the profile calls
    /// answer 200 without a fault anywhere (thingino-firmware#1413).
    #[test]
    fn no_fault_inside_profiles_for_any_device() {
        use crate::onvif::model::{AudioStream, VideoStream};
        let base = DeviceModel::default();
        let mut models = vec![
            base.clone(),
            DeviceModel {
                video: None,
                ..base.clone()
            },
            DeviceModel {
                audio: None,
                backchannel: vec![],
                ..base.clone()
            },
            DeviceModel {
                video: None,
                audio: None,
                ..base.clone()
            },
        ];
        let mut odd = base.clone();
        odd.video = Some(VideoStream {
            encoding: "H265".into(),
            framerate: 0.0,
            ..base.video.clone().unwrap()
        });
        odd.audio = Some(AudioStream {
            encoding: "opus".into(),
            sample_rate: 48000,
            bitrate_kbps: None,
        });
        models.push(odd);
        let media2_all = vec![test_util::el(ns::MEDIA2, "Type", "All", vec![])];
        for model in &models {
            for level in [
                UserLevel::Anonymous,
                UserLevel::User,
                UserLevel::Operator,
                UserLevel::Administrator,
            ] {
                let c = ctx(level);
                for req in [
                    request(ns::MEDIA, "GetProfiles", vec![]),
                    request(ns::MEDIA2, "GetProfiles", vec![]),
                    request(ns::MEDIA2, "GetProfiles", media2_all.clone()),
                    request(ns::DEVICE, "GetCapabilities", vec![]),
                    request(
                        ns::DEVICE,
                        "GetServices",
                        vec![test_util::el(
                            ns::DEVICE,
                            "IncludeCapability",
                            "true",
                            vec![],
                        )],
                    ),
                    request(ns::MEDIA, "GetVideoSources", vec![]),
                    request(ns::MEDIA, "GetAudioOutputs", vec![]),
                    request(ns::MEDIA, "GetAudioDecoderConfigurations", vec![]),
                ] {
                    let node = ok(model, &req, &c);
                    assert!(!node.text.contains("Fault"));
                }
            }
        }
    }

    #[test]
    fn faults_echo_the_message_id_and_escape_the_reason() {
        let model = DeviceModel::default();
        let mut req = request(
            ns::MEDIA,
            "GetProfile",
            vec![el(ns::MEDIA, "ProfileToken", "<x&y>", vec![])],
        );
        req.message_id = Some("urn:uuid:1<2".into());
        let a = answer(&model, &req, &ctx(UserLevel::User));
        assert_eq!(a.status, 400);
        let env = parse(&a.body);
        assert_eq!(
            env.get("http://www.w3.org/2005/08/addressing", "RelatesTo")
                .text,
            "urn:uuid:1<2"
        );
        assert!(env.get(ns::SOAP12, "Text").text.contains("<x&y>"));
        let codes: Vec<_> = env
            .find_all(ns::SOAP12, "Value")
            .iter()
            .map(|v| v.text.clone())
            .collect();
        assert_eq!(codes, ["env:Sender", "ter:InvalidArgVal", "ter:NoProfile"]);
    }

    #[test]
    fn soap11_requests_get_soap11_envelopes() {
        let model = DeviceModel::default();
        let mut req = request(ns::DEVICE, "GetHostname", vec![]);
        req.version = SoapVersion::Soap11;
        let a = answer(&model, &req, &ctx(UserLevel::User));
        assert_eq!(a.status, 200);
        assert_eq!(parse(&a.body).ns, ns::SOAP11);
        req.body.name = "Nope".into();
        let a = answer(&model, &req, &ctx(UserLevel::User));
        assert_eq!(a.status, 500);
        let env = parse(&a.body);
        assert_eq!(env.get("", "faultcode").text, "env:Server");
    }
}

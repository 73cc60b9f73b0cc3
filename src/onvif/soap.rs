//! SOAP requests as ONVIF clients send them, read with a streaming XML reader
//! into a small element tree. Elements are matched on namespace plus local
//! name: clients choose their own prefixes.
//!
//! INTERFACE DRAFT (lead): the types below are what `services` and the glue
//! use; the parser is being written.

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

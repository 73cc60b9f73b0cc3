//! A small writer for the XML of ONVIF answers: elements, attributes and
//! text, with every attribute value and text escaped. Element and attribute
//! names come from our code (qualified names such as `tt:Name`), never from
//! a request; values may come from anywhere.

use std::fmt::Display;

/// Builds an XML fragment.
#[derive(Debug, Default)]
pub struct XmlOut {
    out: String,
}

impl XmlOut {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<name attrs...>` children written by `body` `</name>`.
    pub fn el_attrs(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        body: impl FnOnce(&mut XmlOut),
    ) -> &mut Self {
        self.open(name, attrs);
        body(self);
        self.close(name);
        self
    }

    /// `<name>` children written by `body` `</name>`.
    pub fn el(&mut self, name: &str, body: impl FnOnce(&mut XmlOut)) -> &mut Self {
        self.el_attrs(name, &[], body)
    }

    /// `<name>text</name>`, the text escaped.
    pub fn text_el(&mut self, name: &str, text: impl Display) -> &mut Self {
        self.open(name, &[]);
        self.text(text);
        self.close(name);
        self
    }

    /// `<name attrs.../>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push_str("/>");
        self
    }

    /// Escaped character data.
    pub fn text(&mut self, text: impl Display) -> &mut Self {
        let text = text.to_string();
        escape_into(&mut self.out, &text);
        self
    }

    /// XML that an `XmlOut` wrote (well-formed, values escaped), e.g. an
    /// answer body put into its envelope. Never request text.
    pub fn push_trusted_xml(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push('>');
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        debug_assert!(is_name(name), "bad element name {name:?}");
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            debug_assert!(is_name(key), "bad attribute name {key:?}");
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
}

/// Escapes text or an attribute value, by the rules of `soap::escape`
/// (which every answer follows).
pub fn escape_into(out: &mut String, text: &str) {
    out.push_str(&super::soap::escape(text));
}

/// The escaped form of `text`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// A qualified XML name made of our own ASCII letters, digits, `_ - . :`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// `xs:boolean` text.
pub fn boolean(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let mut w = XmlOut::new();
        w.el_attrs("tt:A", &[("token", "a\"<b>&'")], |w| {
            w.text_el("tt:B", "x < y & z");
            w.empty("tt:C", &[("v", "1")]);
        });
        assert_eq!(
            w.finish(),
            "<tt:A token=\"a&quot;&lt;b&gt;&amp;&apos;\"><tt:B>x &lt; y &amp; z</tt:B><tt:C v=\"1\"/></tt:A>"
        );
    }

    #[test]
    fn replaces_characters_xml_forbids() {
        // soap::escape's rules: U+FFFD for what XML cannot carry, tab as a
        // character reference.
        assert_eq!(escape("a\u{1}b\tc\u{FFFF}"), "a\u{FFFD}b&#9;c\u{FFFD}");
    }
}

//! The pieces of HTTP/RTSP auth headers (RFC 9110 §11, RFC 7616) that both
//! sides read and write: tokens, parameter values, quoted strings. The
//! server's `Authorization` reader (digest.rs) and the sink's
//! `WWW-Authenticate` reader (src/sink/rtsp.rs) share them.
//!
//! Plain Rust without glib, so the fuzz build (fuzz/) compiles it too.

/// A `tchar` of RFC 9110 §5.6.2 (token characters).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The value of an auth parameter at `value[*i..]` (after its `=` and any
/// blanks): a quoted string (with `\` escapes) or a token, `*i` moved past
/// it; `Err` names what is wrong.
pub fn read_value(value: &str, i: &mut usize) -> Result<String, &'static str> {
    let b = value.as_bytes();
    let mut raw = Vec::new();
    if *i < b.len() && b[*i] == b'"' {
        *i += 1;
        loop {
            match b.get(*i) {
                None => return Err("unterminated quoted string"),
                Some(b'"') => {
                    *i += 1;
                    break;
                }
                Some(b'\\') => {
                    let escaped = *b.get(*i + 1).ok_or("unterminated quoted string")?;
                    raw.push(escaped);
                    *i += 2;
                }
                Some(&c) => {
                    raw.push(c);
                    *i += 1;
                }
            }
        }
    } else {
        // A token; a little more lenient (a bare `uri=/path`).
        while *i < b.len() && b[*i] > b' ' && b[*i] != b',' && b[*i] != b'"' && b[*i] != 0x7f {
            raw.push(b[*i]);
            *i += 1;
        }
        if raw.is_empty() {
            return Err("empty parameter value");
        }
    }
    String::from_utf8(raw).map_err(|_| "not UTF-8")
}

/// A quoted-string of `text`.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

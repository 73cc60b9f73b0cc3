//! The sink's RTSP client decisions that need no connection: header values
//! to write (Transport, Authorization) and to read (Transport, Session,
//! WWW-Authenticate, Public), the keepalive schedule and the reconnect
//! backoff.
//!
//! Plain Rust, no GStreamer objects and no I/O; the glue sends what these
//! functions write over its GstRTSPConnection. Read leniently, as cameras
//! answer (the project's client notes): a SETUP answer without Transport,
//! or with `RTP/AVP` where `RTP/AVP/TCP` was asked, or with another
//! interleaved channel than asked (take the answer's); challenges with or
//! without blanks between parameters, with `stale=`, `random=` or other
//! extra parameters, Digest and Basic in one header or in several.

use std::time::Duration;

use crate::http::auth_params::{is_tchar, read_value};
#[cfg(not(fuzzing))]
use crate::http::{auth_params::quote, digest};

/// The ONVIF back channel's feature tag, for `Require`.
pub const REQUIRE: &str = "www.onvif.org/ver20/backchannel";

/// A Transport reply, read leniently (missing header, missing /TCP,
/// changed channel).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransportReply {
    /// `interleaved=a-b` (`a` alone: `a-(a+1)`).
    pub interleaved: Option<(u8, u8)>,
    /// `server_port=p-q` (`p` alone: `p-(p+1)`).
    pub server_port: Option<(u16, u16)>,
    /// `ssrc=`, hexadecimal as RFC 2326 §12.39 writes it.
    pub ssrc: Option<u32>,
    /// `source=`.
    pub source: Option<String>,
}

/// `a-b` or `a` (then `b = a + 1`), each a `T`.
fn pair<T: std::str::FromStr + Copy>(value: &str, next: impl Fn(T) -> Option<T>) -> Option<(T, T)> {
    match value.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let a = value.trim().parse().ok()?;
            Some((a, next(a)?))
        }
    }
}

/// Reads the first transport spec of a SETUP answer's `Transport` (the
/// one the server chose). `None` (no header) and unreadable parameters give
/// empty fields: the caller keeps what it asked for.
pub fn parse_transport(value: Option<&str>) -> TransportReply {
    let mut out = TransportReply::default();
    let Some(value) = value else {
        return out;
    };
    let spec = value.split(',').next().unwrap_or("");
    for param in spec.split(';') {
        let (key, val) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim().trim_matches('"')),
            None => continue,
        };
        if key.eq_ignore_ascii_case("interleaved") {
            out.interleaved = pair(val, |a: u8| a.checked_add(1)).or(out.interleaved);
        } else if key.eq_ignore_ascii_case("server_port") {
            out.server_port = pair(val, |a: u16| a.checked_add(1)).or(out.server_port);
        } else if key.eq_ignore_ascii_case("ssrc") {
            let hex = val.trim_start_matches("0x").trim_start_matches("0X");
            if !hex.is_empty() && hex.len() <= 8 {
                out.ssrc = u32::from_str_radix(hex, 16).ok().or(out.ssrc);
            }
        } else if key.eq_ignore_ascii_case("source") && !val.is_empty() {
            out.source = Some(val.to_string());
        }
    }
    out
}

/// The back channel SETUP's Transport over TCP: `RTP/AVP/TCP;unicast;interleaved=n-(n+1)`.
pub fn tcp_transport(channel: u8) -> String {
    format!(
        "RTP/AVP/TCP;unicast;interleaved={}-{}",
        channel,
        u16::from(channel) + 1
    )
}

/// The back channel SETUP's Transport over UDP: `RTP/AVP;unicast;client_port=p-(p+1)`.
pub fn udp_transport(rtp_port: u16) -> String {
    format!(
        "RTP/AVP;unicast;client_port={}-{}",
        rtp_port,
        u32::from(rtp_port) + 1
    )
}

/// Session timeout when the answer states none (RFC 2326 §12.37).
pub const DEFAULT_TIMEOUT: u32 = 60;

/// `Session: id;timeout=N` -> (id, timeout seconds, default 60; also for
/// an unreadable or zero timeout). `None` without an id.
pub fn parse_session(value: &str) -> Option<(String, u32)> {
    let mut parts = value.split(';');
    let id = parts.next()?.trim();
    if id.is_empty() {
        return None;
    }
    let timeout = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("timeout"))
        .and_then(|(_, v)| v.trim().trim_matches('"').parse::<u32>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_TIMEOUT);
    Some((id.to_string(), timeout))
}

/// When to send keepalives for a session timeout: 5 s early from 20 s up,
/// 20 % early from 5 s (as GstRTSPConnection's next timeout for rtspsrc),
/// half the timeout below 5 s (rtspsrc: 1 s early, which leaves no margin
/// at 1 and 2 s), at least 500 ms. 0 is taken as the default 60 s.
pub fn keepalive_interval(timeout_s: u32) -> Duration {
    let timeout_ms = u64::from(if timeout_s == 0 {
        DEFAULT_TIMEOUT
    } else {
        timeout_s
    }) * 1000;
    let ms = if timeout_ms >= 20_000 {
        timeout_ms - 5_000
    } else if timeout_ms >= 5_000 {
        timeout_ms - timeout_ms / 5
    } else {
        timeout_ms / 2
    };
    Duration::from_millis(ms.max(500))
}

/// GET_PARAMETER if the OPTIONS `Public` lists it, else OPTIONS (any
/// server must take OPTIONS).
pub fn keepalive_method(public: Option<&str>) -> &'static str {
    let listed = public.is_some_and(|p| {
        p.split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("GET_PARAMETER"))
    });
    if listed {
        "GET_PARAMETER"
    } else {
        "OPTIONS"
    }
}

/// A `WWW-Authenticate` challenge we can answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Challenge {
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        /// As written (`MD5`, `SHA-256`, `MD5-sess`...); empty when the
        /// challenge has none (MD5, and then none is echoed).
        algorithm: String,
        /// As written, e.g. `auth` or `auth,auth-int`.
        qop: Option<String>,
        stale: bool,
    },
    Basic {
        realm: String,
    },
}

/// One challenge as read: scheme and parameters (names lower case).
struct RawChallenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl RawChallenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn into_challenge(self) -> Option<Challenge> {
        let realm = self.param("realm").unwrap_or("").to_string();
        if self.scheme.eq_ignore_ascii_case("digest") {
            Some(Challenge::Digest {
                nonce: self.param("nonce")?.to_string(),
                opaque: self.param("opaque").map(str::to_string),
                algorithm: self.param("algorithm").unwrap_or("").to_string(),
                qop: self.param("qop").map(str::to_string),
                stale: self
                    .param("stale")
                    .is_some_and(|s| s.eq_ignore_ascii_case("true")),
                realm,
            })
        } else if self.scheme.eq_ignore_ascii_case("basic") {
            Some(Challenge::Basic { realm })
        } else {
            None
        }
    }
}

/// Longest header value read; the rest is ignored.
const MAX_CHALLENGE: usize = 8192;

/// The challenges of one header value: `scheme param=value, ...` one after
/// the other, commas between all of them (RFC 9110 §11.6.1). A token not
/// followed by `=` starts a new challenge. Reading stops at a broken
/// value; what was read before stays.
fn read_challenges(value: &str, out: &mut Vec<RawChallenge>) {
    let value = match value.char_indices().nth(MAX_CHALLENGE) {
        Some((end, _)) => &value[..end],
        None => value,
    };
    let b = value.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize, also: &[u8]| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || also.contains(&b[*i])) {
            *i += 1;
        }
    };
    let mut current: Option<RawChallenge> = None;
    loop {
        skip(&mut i, b",");
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            // Not a token: skip the character.
            i += value[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let token = &value[start..i];
        skip(&mut i, b"");
        if i < b.len() && b[i] == b'=' {
            i += 1;
            skip(&mut i, b"");
            let Ok(v) = read_value(value, &mut i) else {
                break;
            };
            if let Some(c) = current.as_mut() {
                let name = token.to_ascii_lowercase();
                if c.param(&name).is_none() {
                    c.params.push((name, v));
                }
            }
        } else {
            out.extend(current.take());
            current = Some(RawChallenge {
                scheme: token.to_string(),
                params: Vec::new(),
            });
        }
    }
    out.extend(current);
}

/// The Digest and Basic challenges of the `WWW-Authenticate` headers of an
/// answer (several headers, or several challenges in one), in order. Other
/// schemes and a Digest without `nonce` are left out.
pub fn parse_challenges(values: &[&str]) -> Vec<Challenge> {
    let mut raw = Vec::new();
    for v in values {
        read_challenges(v, &mut raw);
    }
    raw.into_iter()
        .filter_map(RawChallenge::into_challenge)
        .collect()
}

/// A Digest `algorithm` we compute: `(SHA-256?, -sess?)`.
fn digest_algorithm(name: &str) -> Option<(bool, bool)> {
    let upper = name.trim().to_ascii_uppercase();
    let (base, sess) = match upper.strip_suffix("-SESS") {
        Some(b) => (b, true),
        None => (upper.as_str(), false),
    };
    match base {
        "" | "MD5" => Some((false, sess)),
        "SHA-256" => Some((true, sess)),
        _ => None,
    }
}

/// The `qop` we answer: `auth` if offered, else `auth-int` (our requests
/// have no body), `None` for a challenge without qop (RFC 2069).
/// `Err(())`: only qops we do not know.
fn digest_qop(qop: Option<&str>) -> Result<Option<&'static str>, ()> {
    let Some(qop) = qop else {
        return Ok(None);
    };
    let offered = |q: &str| qop.split(',').any(|o| o.trim().eq_ignore_ascii_case(q));
    if offered("auth") {
        Ok(Some("auth"))
    } else if offered("auth-int") {
        Ok(Some("auth-int"))
    } else if qop.trim().is_empty() {
        Ok(None)
    } else {
        Err(())
    }
}

/// Digest (SHA-256 over MD5) over Basic; among equals the first. A Digest
/// with an algorithm or qop we cannot compute is not chosen.
pub fn best_challenge(challenges: &[Challenge]) -> Option<&Challenge> {
    let rank = |c: &Challenge| match c {
        Challenge::Digest { algorithm, qop, .. } => {
            let (sha256, _) = digest_algorithm(algorithm)?;
            digest_qop(qop.as_deref()).ok()?;
            Some(if sha256 { 3 } else { 2 })
        }
        Challenge::Basic { .. } => Some(1),
    };
    let mut best: Option<(&Challenge, u8)> = None;
    for c in challenges {
        if let Some(r) = rank(c) {
            if best.is_none_or(|(_, b)| r > b) {
                best = Some((c, r));
            }
        }
    }
    best.map(|(c, _)| c)
}

/// The Authorization value for `method` + `uri` (the request URL without
/// credentials): Basic, or Digest (RFC 7616, RFC 2617 and RFC 2069 without
/// qop): MD5 or SHA-256, `-sess` too, `qop=auth` (or `auth-int`, for our
/// bodiless requests) with `nc` (count per nonce, from 1) and `cnonce`,
/// `opaque` and `algorithm` echoed when the challenge had them. An
/// algorithm we do not know is computed as MD5 (see [`best_challenge`]).
#[cfg(not(fuzzing))]
pub fn authorization(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let (realm, nonce, opaque, algorithm, qop) = match challenge {
        Challenge::Basic { .. } => {
            let token = glib::base64_encode(format!("{user}:{password}").as_bytes());
            return format!("Basic {token}");
        }
        Challenge::Digest {
            realm,
            nonce,
            opaque,
            algorithm,
            qop,
            ..
        } => (realm, nonce, opaque, algorithm, qop),
    };
    let (sha256, sess) = digest_algorithm(algorithm).unwrap_or((false, false));
    let hash = if sha256 {
        digest::Algorithm::Sha256
    } else {
        digest::Algorithm::Md5
    };
    let qop = digest_qop(qop.as_deref()).unwrap_or(None);
    let nc = format!("{nc:08x}");
    let mut ha1 = hash.hex(&[user.as_bytes(), realm.as_bytes(), password.as_bytes()]);
    if sess {
        ha1 = hash.hex(&[ha1.as_bytes(), nonce.as_bytes(), cnonce.as_bytes()]);
    }
    let ha2 = match qop {
        Some("auth-int") => {
            hash.hex(&[method.as_bytes(), uri.as_bytes(), hash.hex(&[]).as_bytes()])
        }
        _ => hash.hex(&[method.as_bytes(), uri.as_bytes()]),
    };
    let response = match qop {
        Some(q) => hash.hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            q.as_bytes(),
            ha2.as_bytes(),
        ]),
        None => hash.hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    };
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}",
        quote(user),
        quote(realm),
        quote(nonce),
        quote(uri)
    );
    if !algorithm.is_empty() {
        out.push_str(&format!(", algorithm={algorithm}"));
    }
    out.push_str(&format!(", response={}", quote(&response)));
    if let Some(opaque) = opaque {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    if let Some(q) = qop {
        out.push_str(&format!(", qop={q}, nc={nc}, cnonce={}", quote(cnonce)));
    }
    out
}

/// Percent-decoded text; the text as it is when it is not valid escapes
/// of UTF-8.
fn decode(text: &str) -> String {
    crate::onvif::discovery::percent_decode(text)
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_string())
}

/// Credentials out of an `rtsp://user:password@host/...` URL
/// (percent-decoded; an unescaped `@` in the password is taken: the last
/// `@` before the path ends them) and the URL without them. A user without
/// `:` has the empty password.
pub fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &authority[..at];
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let bare = format!("{}{}", &url[..scheme_end], &rest[at + 1..]);
    (bare, Some((decode(user), decode(password))))
}

/// Reconnect delay after `attempt` failures: 1 s doubling to 30 s (0 and
/// 1 both 1 s).
pub fn backoff(attempt: u32) -> Duration {
    let shift = attempt.saturating_sub(1).min(5);
    Duration::from_secs((1u64 << shift).min(30))
}

/// Headers worth an element error's debug text.
const RELEVANT: &[&str] = &[
    "Unsupported",
    "WWW-Authenticate",
    "Transport",
    "Session",
    "Content-Base",
    "Content-Type",
    "Location",
    "Retry-After",
    "Server",
];

/// Longest header value quoted in [`describe_answer`].
const MAX_QUOTED: usize = 200;

/// A one-line description of an RTSP answer for element errors: status line
/// and the relevant headers (`RTSP/1.0 551 Option not supported
/// (Unsupported: www.onvif.org/ver20/backchannel)`), control characters
/// blanked, long values cut.
pub fn describe_answer(status: u16, reason: &str, headers: &[(String, String)]) -> String {
    let clean = |s: &str| -> String {
        let mut out: String = s
            .trim()
            .chars()
            .take(MAX_QUOTED)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if s.trim().chars().count() > MAX_QUOTED {
            out.push_str("...");
        }
        out
    };
    let mut out = format!("RTSP/1.0 {status} {}", clean(reason));
    let quoted: Vec<String> = headers
        .iter()
        .filter(|(name, _)| RELEVANT.iter().any(|r| r.eq_ignore_ascii_case(name.trim())))
        .map(|(name, value)| format!("{}: {}", clean(name), clean(value)))
        .collect();
    if !quoted.is_empty() {
        out.push_str(&format!(" ({})", quoted.join("; ")));
    }
    out
}

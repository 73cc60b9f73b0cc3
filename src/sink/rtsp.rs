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
/// a third of the timeout below 5 s (rtspsrc: 1 s early, which leaves no
/// margin at 1 and 2 s; half of 2 s left too little on a loaded machine:
/// a CI run lost a 2 s session), at least 500 ms. 0 is taken as the default 60 s.
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
        timeout_ms / 3
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_answers() {
        assert_eq!(parse_transport(None), TransportReply::default());
        // Dahua: ssrc= in hex, mode quoted.
        let t = parse_transport(Some(
            "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5D3C4A2B;mode=\"PLAY\"",
        ));
        assert_eq!(t.interleaved, Some((0, 1)));
        assert_eq!(t.ssrc, Some(0x5D3C_4A2B));
        // Another channel than asked: the answer's.
        let t = parse_transport(Some("RTP/AVP/TCP;unicast;interleaved=6-7"));
        assert_eq!(t.interleaved, Some((6, 7)));
        // Without /TCP (gortsplib#456), one channel, blanks.
        let t = parse_transport(Some("RTP/AVP;unicast; Interleaved = 4 ;ssrc=0x0000ABCD"));
        assert_eq!((t.interleaved, t.ssrc), (Some((4, 5)), Some(0xABCD)));
        let t = parse_transport(Some(
            "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;source=10.0.0.2;ssrc=1",
        ));
        assert_eq!(t.server_port, Some((6970, 6971)));
        assert_eq!(t.source.as_deref(), Some("10.0.0.2"));
        assert_eq!((t.interleaved, t.ssrc), (None, Some(1)));
        assert_eq!(
            parse_transport(Some("RTP/AVP;server_port=7000")).server_port,
            Some((7000, 7001))
        );
        // Only the first spec; unreadable values are absent.
        let t = parse_transport(Some("RTP/AVP/TCP;interleaved=2-3,RTP/AVP;interleaved=8-9"));
        assert_eq!(t.interleaved, Some((2, 3)));
        for bad in [
            "interleaved=x",
            "interleaved=255",
            "interleaved=1-300",
            "server_port=65535",
            "ssrc=123456789",
            "ssrc=zz",
            "ssrc=",
            "source=",
            "",
            ";;;=;",
        ] {
            assert_eq!(
                parse_transport(Some(bad)),
                TransportReply::default(),
                "{bad}"
            );
        }
    }

    #[test]
    fn transports_we_ask_for() {
        assert_eq!(tcp_transport(0), "RTP/AVP/TCP;unicast;interleaved=0-1");
        assert_eq!(tcp_transport(4), "RTP/AVP/TCP;unicast;interleaved=4-5");
        assert_eq!(udp_transport(5000), "RTP/AVP;unicast;client_port=5000-5001");
        assert_eq!(
            udp_transport(65535),
            "RTP/AVP;unicast;client_port=65535-65536"
        );
        // What we ask for reads back.
        assert_eq!(
            parse_transport(Some(&tcp_transport(8))).interleaved,
            Some((8, 9))
        );
    }

    #[test]
    fn sessions() {
        assert_eq!(
            parse_session("12345678;timeout=60"),
            Some(("12345678".into(), 60))
        );
        assert_eq!(parse_session("abc"), Some(("abc".into(), 60)));
        assert_eq!(
            parse_session(" abc ; Timeout = 2 "),
            Some(("abc".into(), 2))
        );
        assert_eq!(
            parse_session("abc;foo=1;timeout=\"5\""),
            Some(("abc".into(), 5))
        );
        assert_eq!(parse_session("abc;timeout=0"), Some(("abc".into(), 60)));
        assert_eq!(parse_session("abc;timeout=x"), Some(("abc".into(), 60)));
        assert_eq!(parse_session(""), None);
        assert_eq!(parse_session(" ;timeout=5"), None);
    }

    #[test]
    fn keepalive_schedule() {
        let ms = |t| keepalive_interval(t).as_millis();
        assert_eq!(ms(60), 55_000);
        assert_eq!(ms(20), 15_000);
        assert_eq!(ms(19), 15_200);
        assert_eq!(ms(10), 8_000);
        assert_eq!(ms(5), 4_000);
        assert_eq!(ms(4), 1_333);
        assert_eq!(ms(2), 666);
        assert_eq!(ms(1), 500);
        assert_eq!(ms(0), 55_000);
        assert_eq!(ms(u32::MAX), u128::from(u32::MAX) * 1000 - 5000);
        for t in 1..100 {
            assert!(ms(t) < u128::from(t) * 1000, "{t}");
        }
    }

    #[test]
    fn keepalive_methods() {
        let public =
            "OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER";
        assert_eq!(keepalive_method(Some(public)), "GET_PARAMETER");
        assert_eq!(
            keepalive_method(Some("OPTIONS,get_parameter")),
            "GET_PARAMETER"
        );
        assert_eq!(keepalive_method(Some("OPTIONS, SET_PARAMETER")), "OPTIONS");
        assert_eq!(keepalive_method(Some("GET_PARAMETERS")), "OPTIONS");
        assert_eq!(keepalive_method(None), "OPTIONS");
    }

    fn digest(realm: &str, nonce: &str, algorithm: &str, qop: Option<&str>) -> Challenge {
        Challenge::Digest {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque: None,
            algorithm: algorithm.into(),
            qop: qop.map(str::to_string),
            stale: false,
        }
    }

    #[test]
    fn hikvision_digest_and_basic_together() {
        // go2rtc#2232: two headers, Digest with extra params, Basic.
        let c = parse_challenges(&[
            "Digest realm=\"IP Camera(C6121)\", nonce=\"4e6a5f3c2b1a\", stale=\"FALSE\", random=\"12\"",
            "Basic realm=\"IP Camera(C6121)\"",
        ]);
        assert_eq!(
            c,
            [
                digest("IP Camera(C6121)", "4e6a5f3c2b1a", "", None),
                Challenge::Basic {
                    realm: "IP Camera(C6121)".into()
                }
            ]
        );
        assert_eq!(best_challenge(&c), Some(&c[0]));
        // Basic first, in one header: still Digest.
        let c =
            parse_challenges(&["Basic realm=\"r\", Digest realm=\"r\", nonce=\"n\", qop=\"auth\""]);
        assert_eq!(c.len(), 2);
        assert_eq!(best_challenge(&c), Some(&c[1]));
    }

    #[test]
    fn uniview_params_without_spaces_and_stale() {
        let c = parse_challenges(&[
            "Digest realm=\"Uniview\",nonce=\"abc,def\",qop=\"auth\",algorithm=MD5,opaque=\"o\\\"q\",stale=TRUE",
        ]);
        assert_eq!(
            c,
            [Challenge::Digest {
                realm: "Uniview".into(),
                nonce: "abc,def".into(),
                opaque: Some("o\"q".into()),
                algorithm: "MD5".into(),
                qop: Some("auth".into()),
                stale: true,
            }]
        );
    }

    #[test]
    fn challenge_choice() {
        let c = parse_challenges(&[
            "Digest realm=\"r\", nonce=\"1\", algorithm=MD5, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"1\", algorithm=SHA-256, qop=\"auth\"",
            "Basic realm=\"r\"",
        ]);
        assert!(
            matches!(best_challenge(&c), Some(Challenge::Digest { algorithm, .. }) if algorithm == "SHA-256")
        );
        // Ones we cannot compute fall back to what we can.
        let c = parse_challenges(&[
            "Digest realm=\"r\", nonce=\"1\", algorithm=SHA-512-256",
            "Digest realm=\"r\", nonce=\"1\", qop=\"auth-conf\"",
            "Basic realm=\"r\"",
        ]);
        assert_eq!(c.len(), 3);
        assert_eq!(best_challenge(&c), Some(&c[2]));
        assert_eq!(best_challenge(&c[..2]), None);
        let c = parse_challenges(&[
            "Digest realm=\"r\", nonce=\"1\", qop=\"auth-int\", algorithm=md5-sess",
        ]);
        assert_eq!(best_challenge(&c), Some(&c[0]));
        // Other schemes, a Digest without nonce, broken text.
        assert!(parse_challenges(&[
            "Bearer realm=\"x\"",
            "Negotiate abc==",
            "Digest realm=\"r\""
        ])
        .is_empty());
        assert_eq!(
            parse_challenges(&["Negotiate abc==, Basic realm=\"x\""]),
            [Challenge::Basic { realm: "x".into() }]
        );
        assert_eq!(
            parse_challenges(&["Digest realm=\"r\", nonce=\"n\", opaque=\"unterminated"]),
            [digest("r", "n", "", None)]
        );
        assert_eq!(
            parse_challenges(&["Basic"]),
            [Challenge::Basic {
                realm: String::new()
            }]
        );
        assert!(parse_challenges(&["", ",,,", "=\"\"", "\u{e9}\u{e9}=", "realm=x"]).is_empty());
        assert_eq!(best_challenge(&[]), None);
    }

    /// RFC 7616 §3.9.1, checked with Python's hashlib (the same values come
    /// out of `hashlib.md5`/`hashlib.sha256` over the RFC's inputs).
    #[test]
    fn rfc7616_vectors() {
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (algorithm, response) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let header = format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                 algorithm={algorithm}, nonce=\"{nonce}\", opaque=\"{opaque}\""
            );
            let c = parse_challenges(&[&header]);
            let value = authorization(
                &c[0],
                "GET",
                "/dir/index.html",
                "Mufasa",
                "Circle of Life",
                1,
                cnonce,
            );
            assert_eq!(
                value,
                format!(
                    "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
                     nonce=\"{nonce}\", uri=\"/dir/index.html\", algorithm={algorithm}, \
                     response=\"{response}\", opaque=\"{opaque}\", qop=auth, nc=00000001, \
                     cnonce=\"{cnonce}\""
                )
            );
            // The server side of this crate agrees.
            let params = crate::http::digest::parse_authorization(&value).unwrap();
            assert_eq!(params["response"], response);
        }
    }

    /// Values from Python's hashlib (see the report of this change).
    #[test]
    fn digest_without_qop_with_sess_and_auth_int() {
        // A camera's MD5 challenge without qop or algorithm (RFC 2069): no
        // qop, nc, cnonce or algorithm in the answer.
        let c = digest("IP Camera(12345)", "4e6a5f3c2b1a", "", None);
        let uri = "rtsp://10.0.0.2:554/Streaming/Channels/101";
        assert_eq!(
            authorization(&c, "DESCRIBE", uri, "admin", "pass word", 1, "ignored"),
            format!(
                "Digest username=\"admin\", realm=\"IP Camera(12345)\", nonce=\"4e6a5f3c2b1a\", \
                 uri=\"{uri}\", response=\"ee702388860656e655111807be23d79e\""
            )
        );
        let c = digest("r", "nn", "SHA-256-sess", Some("auth-int"));
        let value = authorization(&c, "SETUP", "rtsp://h/s", "u", "pw", 10, "cc");
        assert!(
            value.contains(
                "response=\"b974aa70b964509a52ba79eba18a7c50b5c20d8016419a5a97d25b91c567869c\""
            ),
            "{value}"
        );
        assert!(
            value.ends_with("qop=auth-int, nc=0000000a, cnonce=\"cc\""),
            "{value}"
        );
        assert!(value.contains("algorithm=SHA-256-sess"), "{value}");
        // Quotes in names are escaped.
        let value = authorization(
            &digest("r\"", "n", "", None),
            "PLAY",
            "u",
            "a\"b",
            "p",
            1,
            "c",
        );
        assert!(
            value.starts_with("Digest username=\"a\\\"b\", realm=\"r\\\"\""),
            "{value}"
        );
    }

    #[test]
    fn basic() {
        let c = Challenge::Basic { realm: "r".into() };
        // base64.b64encode(b"admin:p@ss:w")
        assert_eq!(
            authorization(&c, "DESCRIBE", "rtsp://h/", "admin", "p@ss:w", 1, "c"),
            "Basic YWRtaW46cEBzczp3"
        );
    }

    #[test]
    fn credentials_in_urls() {
        let split = |u| split_credentials(u);
        assert_eq!(
            split("rtsp://admin:secret@10.0.0.2:554/cam?x=1"),
            (
                "rtsp://10.0.0.2:554/cam?x=1".into(),
                Some(("admin".into(), "secret".into()))
            )
        );
        assert_eq!(
            split("rtsps://us%40er:p%3Aw%2Fd%20x@h/s"),
            (
                "rtsps://h/s".into(),
                Some(("us@er".into(), "p:w/d x".into()))
            )
        );
        // An unescaped '@' and ':' in the password.
        assert_eq!(
            split("rtsp://admin:p@ss:w@h"),
            ("rtsp://h".into(), Some(("admin".into(), "p@ss:w".into())))
        );
        assert_eq!(
            split("rtsp://user@h/"),
            ("rtsp://h/".into(), Some(("user".into(), String::new())))
        );
        assert_eq!(split("rtsp://h/a@b"), ("rtsp://h/a@b".into(), None));
        assert_eq!(split("rtsp://h:554/s"), ("rtsp://h:554/s".into(), None));
        assert_eq!(split("not a url"), ("not a url".into(), None));
        // Broken escapes stay as written.
        assert_eq!(
            split("rtsp://a%zz:%ff@h"),
            ("rtsp://h".into(), Some(("a%zz".into(), "%ff".into())))
        );
    }

    #[test]
    fn reconnect_backoff() {
        let s = |a| backoff(a).as_secs();
        assert_eq!(
            (0..9).map(s).collect::<Vec<_>>(),
            [1, 1, 2, 4, 8, 16, 30, 30, 30]
        );
        assert_eq!(s(u32::MAX), 30);
    }

    #[test]
    fn answers_described() {
        let h = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            describe_answer(
                551,
                "Option not supported",
                &[h("CSeq", "2"), h("Unsupported", REQUIRE), h("Date", "x")]
            ),
            "RTSP/1.0 551 Option not supported (Unsupported: www.onvif.org/ver20/backchannel)"
        );
        assert_eq!(
            describe_answer(
                401,
                "Unauthorized",
                &[
                    h("www-authenticate", "Digest realm=\"r\", nonce=\"n\""),
                    h("WWW-Authenticate", "Basic realm=\"r\"")
                ]
            ),
            "RTSP/1.0 401 Unauthorized (www-authenticate: Digest realm=\"r\", nonce=\"n\"; \
             WWW-Authenticate: Basic realm=\"r\")"
        );
        assert_eq!(
            describe_answer(461, "Unsupported transport", &[]),
            "RTSP/1.0 461 Unsupported transport"
        );
        let long = "x".repeat(500);
        let d = describe_answer(500, "a\r\nb", &[h("Server", &long)]);
        assert_eq!(
            d,
            format!("RTSP/1.0 500 a  b (Server: {}...)", "x".repeat(200))
        );
        assert!(!d.contains('\n'));
    }
}

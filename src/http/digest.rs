//! Server-side HTTP Digest authentication (RFC 7616): MD5 and SHA-256,
//! `qop=auth`, with the nonce bookkeeping that makes a captured
//! `Authorization` header useless to whoever captured it.
//!
//! Why our own and not libsoup's `SoupAuthDomainDigest`: libsoup (3.2 to
//! 3.7, `check_hex_urp()` in `libsoup/server/soup-auth-domain-digest.c`)
//! checks only that a `nonce` parameter is present and that `nc` is above
//! zero. It does not remember the nonces it issues, so a header with a nonce
//! it never issued is accepted, and so is the same header sent again: one
//! captured request can be replayed for ever. It also offers MD5 only.
//!
//! What [`DigestAuth`] does:
//! - a nonce is 32 bytes in hex: when it was issued (ms since the
//!   `DigestAuth` was made), a counter, and 16 bytes of SHA-256 over both
//!   keyed by a random secret. The key tells a nonce we issued and have
//!   since forgotten (answered "stale", so clients retry without asking
//!   their user) from one we never issued (refused);
//! - the nonces issued are remembered ([`MAX_NONCES`], the oldest forgotten
//!   first) with the highest `nc` seen. A request is accepted only with a
//!   remembered nonce younger than [`NONCE_LIFETIME`] and an `nc` above every
//!   `nc` seen with it, so a replayed header is refused;
//! - `qop=auth` is required: RFC 2069's form without `qop` has no `nc`, so
//!   no replay protection. `-sess` algorithms, `auth-int` and `userhash` are
//!   not offered and are refused;
//! - the `uri` parameter must be the request's own target (path and query);
//! - responses are compared in constant time, and an unknown user costs the
//!   same hashing as a known one;
//! - [`DigestError::Stale`] (and [`DigestError::Replay`]) come only after the
//!   response checked out, as RFC 7616 section 3.3 asks of `stale=true`: a
//!   client with the right password then retries with a fresh nonce, and
//!   one without learns nothing.
//!
//! Challenge order: one `WWW-Authenticate` per algorithm, MD5 first and
//! SHA-256 second, with the same nonce; the order Hikvision cameras use, so
//! the one ONVIF clients are made to work with. Many clients take the first
//! challenge whatever it is: curl and httpx (onvif-zeep-async) would take
//! SHA-256 too, but Python's urllib (3.11) takes the first and raises
//! "Unsupported digest authentication algorithm 'SHA-256'", and any
//! MD5-only client that reads only the first header would fail the same
//! way. Clients that pick the strongest (agsh/onvif, neon) use SHA-256, and
//! so do those that merge repeated headers into one parameter list, later
//! values winning (python-requests); the shared nonce keeps such a merged
//! view consistent. MD5 is no weaker here in practice: what a captured
//! exchange allows is guessing the password offline, and both hashes are
//! fast.
//!
//! Pure Rust over GLib's checksums: no sockets, no GStreamer.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::auth_params::{is_tchar, quote, read_value};

/// How long a nonce may be used from the time it was issued. A client
/// using an older one is told `stale=true` and retries silently.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Most nonces remembered; the oldest is forgotten first.
pub const MAX_NONCES: usize = 1024;
/// Longest `Authorization` value read.
pub const MAX_HEADER: usize = 8192;
/// Most parameters read in one header.
const MAX_PARAMS: usize = 32;

/// The hash of a challenge or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `parts` joined by `:`.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        let kind = match self {
            Algorithm::Md5 => glib::ChecksumType::Md5,
            Algorithm::Sha256 => glib::ChecksumType::Sha256,
        };
        // None only for a checksum type GLib lacks; both are built in.
        let mut checksum = glib::Checksum::new(kind).expect("GLib always has MD5 and SHA-256");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                checksum.update(b":");
            }
            checksum.update(part);
        }
        checksum.string().map(|s| s.to_string()).unwrap_or_default()
    }
}

/// The `response` a client computes for `qop=auth` (RFC 7616 section 3.4.1).
#[allow(clippy::too_many_arguments)]
pub fn response(
    algorithm: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let ha1 = algorithm.hex(&[user.as_bytes(), realm.as_bytes(), password.as_bytes()]);
    let ha2 = algorithm.hex(&[method.as_bytes(), uri.as_bytes()]);
    algorithm.hex(&[
        ha1.as_bytes(),
        nonce.as_bytes(),
        nc.as_bytes(),
        cnonce.as_bytes(),
        b"auth",
        ha2.as_bytes(),
    ])
}

/// Why credentials were refused. None carries a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// Another scheme (Basic, Bearer...).
    NotDigest,
    /// Not a readable Digest header, or a required parameter is missing.
    Malformed(&'static str),
    /// Something we do not offer (no qop, auth-int, -sess, userhash...).
    Unsupported(String),
    RealmMismatch,
    /// `uri` is not the request's target.
    UriMismatch,
    /// A nonce we never issued.
    UnknownNonce,
    /// A nonce we issued, expired or forgotten, with a correct response.
    Stale,
    /// An `nc` not above the highest already seen with this nonce, with a
    /// correct response: a replayed (or reordered) request.
    Replay {
        nc: u64,
        highest: u64,
    },
    UnknownUser,
    WrongPassword,
}

impl DigestError {
    /// Whether the challenge answering it says `stale=true`: the client
    /// proved it knows the password, so it may retry with a fresh nonce
    /// without asking its user.
    pub fn stale(&self) -> bool {
        matches!(self, DigestError::Stale | DigestError::Replay { .. })
    }
}

impl std::fmt::Display for DigestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DigestError::NotDigest => write!(f, "not Digest credentials"),
            DigestError::Malformed(why) => write!(f, "malformed Digest header: {why}"),
            DigestError::Unsupported(what) => write!(f, "unsupported: {what}"),
            DigestError::RealmMismatch => write!(f, "wrong realm"),
            DigestError::UriMismatch => write!(f, "uri is not the request's target"),
            DigestError::UnknownNonce => write!(f, "a nonce we never issued"),
            DigestError::Stale => write!(f, "stale nonce (expired or forgotten)"),
            DigestError::Replay { nc, highest } => {
                write!(f, "nc {nc} not above {highest} already seen: replay")
            }
            DigestError::UnknownUser => write!(f, "unknown user"),
            DigestError::WrongPassword => write!(f, "wrong password"),
        }
    }
}

impl std::error::Error for DigestError {}

#[derive(Debug)]
struct NonceState {
    issued_ms: u64,
    highest_nc: u64,
}

/// Issues challenges and checks credentials for one realm.
pub struct DigestAuth {
    realm: String,
    secret: [u8; 32],
    epoch: Instant,
    counter: u64,
    nonces: HashMap<String, NonceState>,
    /// The remembered nonces, oldest first.
    order: VecDeque<String>,
    lifetime: Duration,
    max_nonces: usize,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("realm", &self.realm)
            .field("nonces", &self.nonces.len())
            .finish_non_exhaustive()
    }
}

impl DigestAuth {
    /// For `realm`, with a random secret.
    pub fn new(realm: &str) -> DigestAuth {
        DigestAuth::with_limits(realm, NONCE_LIFETIME, MAX_NONCES)
    }

    /// Same, with another nonce lifetime and memory (at least 1).
    pub fn with_limits(realm: &str, lifetime: Duration, max_nonces: usize) -> DigestAuth {
        DigestAuth {
            realm: realm.to_string(),
            secret: random_bytes::<32>(),
            epoch: Instant::now(),
            counter: 0,
            nonces: HashMap::new(),
            order: VecDeque::new(),
            lifetime,
            max_nonces: max_nonces.max(1),
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Nonces remembered now.
    pub fn remembered(&self) -> usize {
        self.nonces.len()
    }

    fn ms_since_epoch(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn mac(&self, issued_and_counter: &[u8]) -> [u8; 16] {
        let mut checksum =
            glib::Checksum::new(glib::ChecksumType::Sha256).expect("GLib always has SHA-256");
        checksum.update(&self.secret);
        checksum.update(b"onvifbackchannel digest nonce");
        checksum.update(issued_and_counter);
        let digest = checksum.digest();
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&digest[..16]);
        mac
    }

    /// A fresh nonce, remembered from now on.
    fn issue(&mut self, now: Instant) -> String {
        let issued_ms = self.ms_since_epoch(now);
        self.counter = self.counter.wrapping_add(1);
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&issued_ms.to_be_bytes());
        raw[8..16].copy_from_slice(&self.counter.to_be_bytes());
        let mac = self.mac(&raw[..16]);
        raw[16..].copy_from_slice(&mac);
        let nonce = hex(&raw);

        // Forget the expired, then the oldest if still full.
        let lifetime_ms = self.lifetime.as_millis() as u64;
        while let Some(oldest) = self.order.front() {
            let expired = self
                .nonces
                .get(oldest)
                .is_none_or(|s| issued_ms.saturating_sub(s.issued_ms) > lifetime_ms);
            if !expired && self.order.len() < self.max_nonces {
                break;
            }
            if let Some(old) = self.order.pop_front() {
                self.nonces.remove(&old);
            }
        }
        self.nonces.insert(
            nonce.clone(),
            NonceState {
                issued_ms,
                highest_nc: 0,
            },
        );
        self.order.push_back(nonce.clone());
        nonce
    }

    /// The `WWW-Authenticate` values of a 401: MD5 first, then SHA-256,
    /// both with one fresh nonce; `stale` when the request's nonce was.
    pub fn challenge(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.issue(now);
        let realm = quote(&self.realm);
        [Algorithm::Md5, Algorithm::Sha256]
            .iter()
            .map(|alg| {
                format!(
                    "Digest realm={realm}, qop=\"auth\", algorithm={}, nonce=\"{nonce}\"{}",
                    alg.name(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Whether `nonce` is one of ours: `Some(issued_ms)` if its key checks.
    fn authentic(&self, nonce: &str) -> Option<u64> {
        let raw = unhex(nonce)?;
        if raw.len() != 32 {
            return None;
        }
        let mac = self.mac(&raw[..16]);
        if !constant_time_eq(&mac, &raw[16..]) {
            return None;
        }
        Some(u64::from_be_bytes(raw[..8].try_into().ok()?))
    }

    /// Checks the `Authorization` value of a request with `method` to
    /// `request_target` (its path, and `?query` if any). The user's name if
    /// the credentials are good; then the nonce's `nc` is remembered.
    pub fn verify(
        &mut self,
        method: &str,
        request_target: &str,
        authorization: &str,
        password_of: impl Fn(&str) -> Option<String>,
        now: Instant,
    ) -> Result<String, DigestError> {
        let params = parse_authorization(authorization)?;
        let get = |name: &str| params.get(name).map(String::as_str);

        let user = match (get("username"), get("username*")) {
            (Some(_), Some(_)) => return Err(DigestError::Malformed("username and username*")),
            (Some(u), None) => u.to_string(),
            (None, Some(ext)) => {
                decode_ext_value(ext).ok_or(DigestError::Malformed("username* unreadable"))?
            }
            (None, None) => return Err(DigestError::Malformed("no username")),
        };
        let realm = get("realm").ok_or(DigestError::Malformed("no realm"))?;
        let nonce = get("nonce").ok_or(DigestError::Malformed("no nonce"))?;
        let uri = get("uri").ok_or(DigestError::Malformed("no uri"))?;
        let client_response = get("response").ok_or(DigestError::Malformed("no response"))?;
        match get("qop") {
            None => {
                return Err(DigestError::Unsupported(
                    "no qop (RFC 2069 form, no replay protection)".into(),
                ))
            }
            Some(q) if q.eq_ignore_ascii_case("auth") => {}
            Some(q) => return Err(DigestError::Unsupported(format!("qop {q}"))),
        }
        let nc_text = get("nc").ok_or(DigestError::Malformed("no nc"))?;
        let cnonce = get("cnonce").ok_or(DigestError::Malformed("no cnonce"))?;
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
            Some(a) => return Err(DigestError::Unsupported(format!("algorithm {a}"))),
        };
        if get("userhash").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(DigestError::Unsupported("userhash".into()));
        }
        if realm != self.realm {
            return Err(DigestError::RealmMismatch);
        }
        if target_of(uri) != request_target {
            return Err(DigestError::UriMismatch);
        }
        let nc = parse_nc(nc_text).ok_or(DigestError::Malformed("nc is not 1 to 16 hex digits"))?;
        if nc == 0 {
            return Err(DigestError::Malformed("nc is zero"));
        }
        let issued_ms = self.authentic(nonce).ok_or(DigestError::UnknownNonce)?;

        // The same work for an unknown user as for a known one.
        let password = password_of(&user);
        let dummy;
        let password_used = match &password {
            Some(p) => p.as_str(),
            None => {
                dummy = hex(&self.secret);
                dummy.as_str()
            }
        };
        let expected = response(
            algorithm,
            &user,
            &self.realm,
            password_used,
            method,
            uri,
            nonce,
            nc_text,
            cnonce,
        );
        let matches = constant_time_eq(
            expected.as_bytes(),
            client_response.to_ascii_lowercase().as_bytes(),
        );
        if password.is_none() {
            return Err(DigestError::UnknownUser);
        }
        if !matches {
            return Err(DigestError::WrongPassword);
        }

        // The right password: now whether this nonce and nc may be used.
        let now_ms = self.ms_since_epoch(now);
        let lifetime_ms = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(issued_ms) > lifetime_ms {
            return Err(DigestError::Stale);
        }
        let state = self.nonces.get_mut(nonce).ok_or(DigestError::Stale)?;
        if nc <= state.highest_nc {
            return Err(DigestError::Replay {
                nc,
                highest: state.highest_nc,
            });
        }
        state.highest_nc = nc;
        Ok(user)
    }
}

/// The path and query of a `uri` parameter (an absolute URI is cut to them).
fn target_of(uri: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if uri
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            let rest = &uri[scheme.len()..];
            return rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    uri
}

fn parse_nc(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// RFC 8187 `ext-value`: `UTF-8'lang'percent-encoded`.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = bytes.get(i + 1..i + 3)?;
            let h = std::str::from_utf8(h).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The parameters of a `Digest` credentials value, names in lower case.
/// Quoted strings (with `\` escapes) and tokens, any order; a repeated
/// parameter is refused, so no two readers can see different values.
pub fn parse_authorization(value: &str) -> Result<HashMap<String, String>, DigestError> {
    if value.len() > MAX_HEADER {
        return Err(DigestError::Malformed("too long"));
    }
    let b = value.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    let start = i;
    while i < b.len() && is_tchar(b[i]) {
        i += 1;
    }
    if !value[start..i].eq_ignore_ascii_case("digest") {
        return Err(DigestError::NotDigest);
    }
    if i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        return Err(DigestError::NotDigest);
    }
    let mut params = HashMap::new();
    loop {
        // Separators: whitespace and empty list elements.
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let name_start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(DigestError::Malformed("expected a parameter name"));
        }
        let name = value[name_start..i].to_ascii_lowercase();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(DigestError::Malformed(
                "expected '=' after a parameter name",
            ));
        }
        i += 1;
        skip_ws(&mut i);
        let text = read_value(value, &mut i).map_err(DigestError::Malformed)?;
        if params.len() >= MAX_PARAMS {
            return Err(DigestError::Malformed("too many parameters"));
        }
        if params.insert(name, text).is_some() {
            return Err(DigestError::Malformed("a parameter given twice"));
        }
        skip_ws(&mut i);
        if i < b.len() && b[i] != b',' {
            return Err(DigestError::Malformed("expected ',' between parameters"));
        }
    }
    Ok(params)
}

/// Lower case hex digits of `bytes` (nonces, WHIP session ids, cnonces).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Equality whose time depends on the lengths only (also for WHIP bearer
/// tokens and WS-UsernameToken digests).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the compiler from stopping at the first difference.
    std::hint::black_box(diff) == 0
}

/// Bytes from the kernel's generator; GLib's (seeded from it too) if
/// /dev/urandom cannot be read. Also the WHIP session ids.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut out = [0u8; N];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if read.is_err() {
        for chunk in out.chunks_mut(4) {
            let r = glib::random_int().to_ne_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "http-auth@example.org";

    fn passwords(name: &str) -> Option<String> {
        match name {
            "Mufasa" => Some("Circle of Life".into()),
            "alice" => Some("pa\"ss:word".into()),
            _ => None,
        }
    }

    /// An Authorization header answering `nonce` as curl would.
    fn header(alg: Algorithm, user: &str, pw: &str, uri: &str, nonce: &str, nc: u64) -> String {
        let nc = format!("{nc:08x}");
        let cnonce = "0a4f113b";
        let r = response(alg, user, REALM, pw, "POST", uri, nonce, &nc, cnonce);
        format!(
            "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             cnonce=\"{cnonce}\", nc={nc}, qop=auth, response=\"{r}\", algorithm={}",
            alg.name()
        )
    }

    fn nonce_of(challenge: &str) -> String {
        let params = parse_authorization(challenge).unwrap();
        params["nonce"].clone()
    }

    #[test]
    fn rfc7616_example_responses() {
        // RFC 7616 section 3.9.1: GET /dir/index.html, user Mufasa,
        // password "Circle of Life".
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let args = (
            "Mufasa",
            REALM,
            "Circle of Life",
            "GET",
            "/dir/index.html",
            nonce,
            "00000001",
            cnonce,
        );
        assert_eq!(
            response(
                Algorithm::Md5,
                args.0,
                args.1,
                args.2,
                args.3,
                args.4,
                args.5,
                args.6,
                args.7
            ),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert_eq!(
            response(
                Algorithm::Sha256,
                args.0,
                args.1,
                args.2,
                args.3,
                args.4,
                args.5,
                args.6,
                args.7
            ),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn the_rfc_example_header_parses() {
        let h = r#"Digest username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       algorithm=SHA-256,
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       nc=00000001,
       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
       qop=auth,
       response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        // Folded lines as in the RFC's figure, joined with spaces.
        let h = h.replace('\n', " ");
        let p = parse_authorization(&h).unwrap();
        assert_eq!(p["username"], "Mufasa");
        assert_eq!(p["algorithm"], "SHA-256");
        assert_eq!(p["nc"], "00000001");
        assert_eq!(p["opaque"], "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
        // A nonce we did not issue: refused, even with the right response.
        let mut auth = DigestAuth::new(REALM);
        assert_eq!(
            auth.verify("GET", "/dir/index.html", &h, passwords, Instant::now()),
            Err(DigestError::UnknownNonce)
        );
    }

    #[test]
    fn challenge_offers_md5_then_sha256_with_one_nonce() {
        let mut auth = DigestAuth::new("a \"quoted\" realm");
        let c = auth.challenge(Instant::now(), false);
        assert_eq!(c.len(), 2);
        let first = parse_authorization(&c[0]).unwrap();
        let second = parse_authorization(&c[1]).unwrap();
        assert_eq!(first["algorithm"], "MD5");
        assert_eq!(second["algorithm"], "SHA-256");
        assert_eq!(first["nonce"], second["nonce"]);
        assert_eq!(first["realm"], "a \"quoted\" realm");
        assert_eq!(first["qop"], "auth");
        assert!(!first.contains_key("stale"));
        let stale = auth.challenge(Instant::now(), true);
        assert_eq!(parse_authorization(&stale[0]).unwrap()["stale"], "true");
        assert_ne!(nonce_of(&stale[0]), first["nonce"]);
        assert_eq!(auth.remembered(), 2);
    }

    #[test]
    fn both_algorithms_verify_and_nc_must_rise() {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let mut auth = DigestAuth::new(REALM);
            let now = Instant::now();
            let nonce = nonce_of(&auth.challenge(now, false)[0]);
            let uri = "/onvif/media_service";
            let h1 = header(alg, "Mufasa", "Circle of Life", uri, &nonce, 1);
            assert_eq!(
                auth.verify("POST", uri, &h1, passwords, now).as_deref(),
                Ok("Mufasa")
            );
            // The same header again: a replay.
            assert_eq!(
                auth.verify("POST", uri, &h1, passwords, now),
                Err(DigestError::Replay { nc: 1, highest: 1 })
            );
            assert!(DigestError::Replay { nc: 1, highest: 1 }.stale());
            // nc 2 and 5 are fine, then 3 (below 5) is not.
            for nc in [2, 5] {
                let h = header(alg, "Mufasa", "Circle of Life", uri, &nonce, nc);
                assert!(auth.verify("POST", uri, &h, passwords, now).is_ok());
            }
            let h3 = header(alg, "Mufasa", "Circle of Life", uri, &nonce, 3);
            assert_eq!(
                auth.verify("POST", uri, &h3, passwords, now),
                Err(DigestError::Replay { nc: 3, highest: 5 })
            );
        }
    }

    #[test]
    fn password_with_quote_and_colon_and_unknown_user() {
        let mut auth = DigestAuth::new(REALM);
        let now = Instant::now();
        let nonce = nonce_of(&auth.challenge(now, false)[0]);
        let h = header(Algorithm::Md5, "alice", "pa\"ss:word", "/x", &nonce, 1);
        assert_eq!(
            auth.verify("POST", "/x", &h, passwords, now).as_deref(),
            Ok("alice")
        );
        let h = header(Algorithm::Md5, "nobody", "whatever", "/x", &nonce, 2);
        assert_eq!(
            auth.verify("POST", "/x", &h, passwords, now),
            Err(DigestError::UnknownUser)
        );
    }

    #[test]
    fn refusals_name_their_reason() {
        let mut auth = DigestAuth::new(REALM);
        let now = Instant::now();
        let nonce = nonce_of(&auth.challenge(now, false)[0]);
        let uri = "/onvif/device_service";
        let good = header(
            Algorithm::Sha256,
            "Mufasa",
            "Circle of Life",
            uri,
            &nonce,
            1,
        );
        let mut check = |h: &str, target: &str, method: &str, want: DigestError| {
            assert_eq!(
                auth.verify(method, target, h, passwords, now),
                Err(want),
                "{h}"
            );
        };
        // Wrong password.
        check(
            &header(
                Algorithm::Sha256,
                "Mufasa",
                "circle of life",
                uri,
                &nonce,
                1,
            ),
            uri,
            "POST",
            DigestError::WrongPassword,
        );
        // uri of another resource, or a request to another one.
        check(
            &good,
            "/onvif/media_service",
            "POST",
            DigestError::UriMismatch,
        );
        check(
            &good,
            "/onvif/device_service?x",
            "POST",
            DigestError::UriMismatch,
        );
        // Another method changes HA2.
        check(&good, uri, "GET", DigestError::WrongPassword);
        // A made-up nonce, a tampered one.
        let forged = header(
            Algorithm::Sha256,
            "Mufasa",
            "Circle of Life",
            uri,
            "xx1234",
            1,
        );
        check(&forged, uri, "POST", DigestError::UnknownNonce);
        let mut tampered = nonce.clone().into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        let h = header(
            Algorithm::Sha256,
            "Mufasa",
            "Circle of Life",
            uri,
            &tampered,
            1,
        );
        check(&h, uri, "POST", DigestError::UnknownNonce);
        // No qop (RFC 2069): no nc, no replay protection.
        let ha1 = Algorithm::Md5.hex(&[b"Mufasa", REALM.as_bytes(), b"Circle of Life"]);
        let ha2 = Algorithm::Md5.hex(&[b"POST", uri.as_bytes()]);
        let r = Algorithm::Md5.hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]);
        let h = format!(
            "Digest username=\"Mufasa\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\""
        );
        assert!(matches!(
            auth.verify("POST", uri, &h, passwords, now),
            Err(DigestError::Unsupported(_))
        ));
        // qop=auth-int, MD5-sess, userhash, another realm, nc 0.
        for (from, to) in [
            ("qop=auth,", "qop=auth-int,"),
            ("algorithm=SHA-256", "algorithm=SHA-256-sess"),
            ("algorithm=SHA-256", "algorithm=SHA-512-256"),
            ("algorithm=SHA-256", "algorithm=SHA-256, userhash=true"),
        ] {
            let h = good.replace(from, to);
            assert!(
                matches!(
                    auth.verify("POST", uri, &h, passwords, now),
                    Err(DigestError::Unsupported(_))
                ),
                "{h}"
            );
        }
        let h = good.replace(REALM, "other");
        assert_eq!(
            auth.verify("POST", uri, &h, passwords, now),
            Err(DigestError::RealmMismatch)
        );
        let h = good.replace("nc=00000001", "nc=00000000");
        assert!(matches!(
            auth.verify("POST", uri, &h, passwords, now),
            Err(DigestError::Malformed(_))
        ));
        assert_eq!(
            auth.verify(
                "POST",
                uri,
                "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
                passwords,
                now
            ),
            Err(DigestError::NotDigest)
        );
        // None of that used the nonce up: the good header still works.
        assert!(auth.verify("POST", uri, &good, passwords, now).is_ok());
        // And no refusal names the password.
        for e in [DigestError::WrongPassword, DigestError::Stale] {
            assert!(!e.to_string().contains("Circle"));
        }
    }

    #[test]
    fn expired_and_forgotten_nonces_are_stale_with_the_right_password_only() {
        let mut auth = DigestAuth::with_limits(REALM, Duration::from_secs(300), 4);
        let t0 = Instant::now();
        let nonce = nonce_of(&auth.challenge(t0, false)[0]);
        let uri = "/p";
        let h = header(Algorithm::Md5, "Mufasa", "Circle of Life", uri, &nonce, 1);
        let later = t0 + Duration::from_secs(301);
        assert_eq!(
            auth.verify("POST", uri, &h, passwords, later),
            Err(DigestError::Stale)
        );
        assert!(DigestError::Stale.stale());
        let wrong = header(Algorithm::Md5, "Mufasa", "nope", uri, &nonce, 1);
        assert_eq!(
            auth.verify("POST", uri, &wrong, passwords, later),
            Err(DigestError::WrongPassword)
        );
        // Still fine just before it expires.
        assert!(auth
            .verify("POST", uri, &h, passwords, t0 + Duration::from_secs(299))
            .is_ok());

        // Memory of 4: a fifth challenge forgets the first nonce.
        let first = nonce_of(&auth.challenge(t0, false)[0]);
        for _ in 0..4 {
            auth.challenge(t0, false);
        }
        assert_eq!(auth.remembered(), 4);
        let h = header(Algorithm::Md5, "Mufasa", "Circle of Life", uri, &first, 1);
        assert_eq!(
            auth.verify("POST", uri, &h, passwords, t0),
            Err(DigestError::Stale)
        );
        // Expired nonces are dropped when new ones are issued.
        auth.challenge(t0 + Duration::from_secs(400), false);
        assert_eq!(auth.remembered(), 1);
    }

    #[test]
    fn tolerant_forms() {
        let mut auth = DigestAuth::new(REALM);
        let now = Instant::now();
        let nonce = nonce_of(&auth.challenge(now, false)[0]);
        let uri = "/onvif/device_service?a=b";
        let r = response(
            Algorithm::Md5,
            "Mufasa",
            REALM,
            "Circle of Life",
            "POST",
            "http://camera:8080/onvif/device_service?a=b",
            &nonce,
            "00000001",
            "c\"n",
        );
        // Quoted qop, nc and algorithm (python-requests quotes qop and
        // algorithm), names in capitals, an escaped quote in cnonce, an
        // absolute uri, a response in capitals, no spaces, empty elements.
        let h = format!(
            "digest  ,RESPONSE=\"{}\",QOP=\"auth\",nc=\"00000001\",Algorithm=\"md5\",,\
             uri=\"http://camera:8080/onvif/device_service?a=b\" , cnonce=\"c\\\"n\",\
             nonce=\"{nonce}\",realm=\"{REALM}\",username*=UTF-8''Mu%66asa",
            r.to_ascii_uppercase()
        );
        assert_eq!(
            auth.verify("POST", uri, &h, passwords, now).as_deref(),
            Ok("Mufasa")
        );
    }

    #[test]
    fn malformed_headers_never_panic() {
        let mut auth = DigestAuth::new(REALM);
        let now = Instant::now();
        let nonce = nonce_of(&auth.challenge(now, false)[0]);
        let good = header(
            Algorithm::Sha256,
            "Mufasa",
            "Circle of Life",
            "/p",
            &nonce,
            1,
        );
        // Every truncation of a good header: refused, never a panic.
        for end in 0..good.len() {
            let cut = &good[..end];
            let r = auth.verify("POST", "/p", cut, passwords, now);
            assert!(r.is_err(), "{cut}: {r:?}");
        }
        let junk = [
            "",
            "Digest",
            "Digest ",
            "Digest =",
            "Digest a",
            "Digest a=",
            "Digest a=\"",
            "Digest a=\"\\",
            "Digest a=b c=d",
            "Digest a=b,a=b",
            "Digest username=\"\u{e9}\u{1F600}\", realm=\"\\\u{e9}\"",
            "Digestx a=b",
            "Digest\u{0}a=b",
            "Digest nc=ffffffffffffffffff",
            "Digest username*=UTF-8''%",
            "Digest username*=UTF-8''%zz",
            "Digest username*=UTF-8''%ff",
            "Digest username*=x",
            "\u{1F600}",
            "Digest \u{1F600}=1",
        ];
        for h in junk {
            assert!(auth.verify("POST", "/p", h, passwords, now).is_err(), "{h}");
        }
        let long = format!("Digest username=\"{}\"", "a".repeat(MAX_HEADER));
        assert_eq!(
            auth.verify("POST", "/p", &long, passwords, now),
            Err(DigestError::Malformed("too long"))
        );
        let many: String = (0..40).map(|i| format!("p{i}=1,")).collect();
        assert_eq!(
            parse_authorization(&format!("Digest {many}")),
            Err(DigestError::Malformed("too many parameters"))
        );
        // Pseudo-random bytes, and bytes of the good header shuffled.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"Digest =,\"\\ abcnoqr0123456789/-";
        for _ in 0..5000 {
            let len = (next() % 80) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            let _ = auth.verify("POST", "/p", &s, passwords, now);
            let mut g = good.clone().into_bytes();
            let (a, b) = (
                (next() % g.len() as u64) as usize,
                (next() % g.len() as u64) as usize,
            );
            g.swap(a, b);
            if let Ok(g) = String::from_utf8(g) {
                let _ = auth.verify("POST", "/p", &g, passwords, now);
            }
        }
    }
}

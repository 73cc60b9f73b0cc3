//! WHIP (RFC 9725, WebRTC-HTTP Ingestion Protocol) resources, as a pure
//! state machine over the web server's plain [`Request`] and [`Response`]:
//! no socket, no GStreamer object. The glue hands it each request under
//! `/whip`, does what the returned [`Decision`] says (run a webrtcbin for a
//! new session, tear one down) and reports back ([`Whip::created`],
//! [`Whip::failed`], [`Whip::deleted`]), which gives the HTTP answer.
//!
//! Paths: the endpoint is `/whip` (`/whip/` too, for URLs typed with a
//! trailing slash); a session's resource is `/whip/<id>`, `<id>` 32 lower
//! case hex digits (128 bits from the kernel's generator: unguessable, RFC
//! 9725 §5). Anything else under the prefix (`/whip//`, `/whip/../x`,
//! `/whip/ABC`) is 404.
//!
//! What each request gets:
//! - `OPTIONS` (endpoint or resource): never needs credentials, since
//!   browsers send none with a CORS preflight (§4.7.1). A preflight (it has
//!   `Access-Control-Request-Method`) gets 204 with the CORS headers; a plain
//!   OPTIONS gets 200, `Accept-Post: application/sdp` and `Allow` (§4.2), and
//!   the ICE servers as `Link` headers (§4.6: not on preflights).
//! - `POST` on the endpoint: credentials (below), then a talker's role (a
//!   viewer gets 403), `Content-Type: application/sdp` (else 415), a body of
//!   at most [`MAX_OFFER`] (else 413) that looks like SDP (else 400), a free
//!   session slot (else 503, the overload status of §4.5). Then
//!   [`Decision::CreateSession`]; the glue answers with
//!   [`Whip::created`] (201, the answer, `Location`, `ETag`, `Link`) or
//!   [`Whip::failed`] (the 4xx/5xx the offer deserves).
//! - `DELETE` on a resource: the same credentials as its POST (the same user
//!   if users are configured), then [`Decision::DeleteSession`]; the glue
//!   tears the session down and [`Whip::deleted`] answers 200.
//! - `GET`/`HEAD` on a resource: 200 without body (the notes' §4.1 reading:
//!   2xx, no body). On the endpoint: 405.
//! - `PATCH` on a resource: 405 with `Allow`. The server gathers all its
//!   candidates before it answers (webrtcbin cannot trickle in an answer,
//!   §4.3.2), and it supports neither client trickle nor ICE restarts, for
//!   which §4.3.1 asks for 405 (422 is for supporting only one of the two).
//!   A client's late candidates are then simply not used; the ones in its
//!   offer are, and browsers gather host candidates at once.
//!
//! Credentials, when a `users-file` or bearer tokens are configured
//! (without either, anyone may talk, as for the RTSP back channel):
//! - HTTP digest, verified by the web server ([`Request::digest_user`]);
//! - Basic, over https only (over http the password would have crossed the
//!   network in clear: refused, 401, and the log says why);
//! - `Authorization: Bearer <token>` (RFC 6750), which RFC 9725 §4.7 makes
//!   mandatory for servers: [`Config::tokens`], each with a name (for logs
//!   and talk events) and a role.
//!
//! A missing or refused credential gets 401 with a digest challenge (when
//! there are users; `stale=true` is added by the server when due), plus
//! `WWW-Authenticate: Bearer realm=...` when tokens are configured. Basic is
//! accepted but not offered: browsers pick the strongest scheme they are
//! offered, and digest does not send the password.
//!
//! CORS ([`Cors`]). The push-to-talk page is served by the same server, so it
//! needs none. Other web pages (a dashboard on another host) need CORS to
//! read the answer. `Access-Control-Allow-Origin: *` forbids the browser to
//! attach credentials it holds itself (cached digest or Basic, cookies:
//! MDN "CORS, requests with credentials"); a page's script may still send an
//! `Authorization` header it built (a bearer token), which the preflight
//! allows explicitly since `*` does not cover `Authorization` in
//! `Access-Control-Allow-Headers`. So `*` gives no web page the rights of
//! the browser's user: it must know a password or token. Without users,
//! though, `*` would let any web page a LAN user visits talk into the
//! device through that user's browser; the default is therefore `*` with
//! credentials configured and same-origin (no CORS headers) without
//! ([`Config::new`]). A list of origins echoes the request's origin when
//! listed, with `Access-Control-Allow-Credentials: true` and `Vary: Origin`,
//! for pages that let the browser do the digest.
//!
//! Sessions are tracked from POST to DELETE, so that a DELETE of an unknown
//! or finished session is 404, the number of sessions is bounded, and the
//! glue can time out silent peers ([`Whip::expire`], fed by
//! [`Whip::touch`]): GStreamer 1.22 has no ICE consent freshness.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use crate::http::{Request, Response, REALM};
use crate::users::{Role, User};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-whip",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel WHIP endpoint"),
    )
});

/// The endpoint's path.
pub const ENDPOINT: &str = "/whip";
/// Largest offer taken: browsers' audio offers are 2-6 KiB, with video
/// and many candidates some 10-20 KiB.
pub const MAX_OFFER: usize = 64 * 1024;
/// Sessions at once, by default.
pub const DEFAULT_MAX_SESSIONS: usize = 8;

/// Which web pages of other origins may use the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// None: no CORS headers (pages served by the element itself need none).
    SameOrigin,
    /// Any origin, `Access-Control-Allow-Origin: *`, without browser-held
    /// credentials (see the module docs).
    Any,
    /// These origins (`scheme://host[:port]`, compared without case), with
    /// browser-held credentials.
    Origins(Vec<String>),
}

/// A bearer token (RFC 6750) and what it allows.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// For logs and talk events, as a user name would be.
    pub name: String,
    pub token: String,
    pub role: Role,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("token", &"<hidden>")
            .field("role", &self.role)
            .finish()
    }
}

/// How the endpoint behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// From `users-file`; empty: no user credentials.
    pub users: Vec<User>,
    /// Bearer tokens; empty: none accepted.
    pub tokens: Vec<Token>,
    pub max_sessions: usize,
    pub max_body: usize,
    pub cors: Cors,
    /// ICE server URLs (`stun:host:port`) for `Link` headers; empty by
    /// default, as a device on a LAN needs none and an unreachable STUN
    /// server holds gathering open.
    pub ice_servers: Vec<String>,
}

impl Config {
    /// Defaults for these users and tokens: CORS `*` if there are
    /// credentials to check, same-origin if not (see the module docs).
    pub fn new(users: Vec<User>, tokens: Vec<Token>) -> Config {
        let cors = if users.is_empty() && tokens.is_empty() {
            Cors::SameOrigin
        } else {
            Cors::Any
        };
        Config {
            users,
            tokens,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_body: MAX_OFFER,
            cors,
            ice_servers: Vec::new(),
        }
    }
}

/// What the glue must do with a request.
#[derive(Debug)]
pub enum Decision {
    /// Send this answer.
    Respond(Response),
    /// Answer this offer (webrtcbin), then call [`Whip::created`] or
    /// [`Whip::failed`] with `id`.
    CreateSession {
        id: String,
        offer: String,
        /// Who talks (`None` without credentials configured).
        user: Option<String>,
        address: Option<SocketAddr>,
    },
    /// Tear this session down, then call [`Whip::deleted`].
    DeleteSession { id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// POSTed, its answer not yet written.
    Pending,
    Active,
    /// DELETEd, being torn down.
    Deleting,
}

#[derive(Debug)]
struct Session {
    user: Option<String>,
    created: Instant,
    last_activity: Instant,
    state: State,
    /// The Origin of the request being answered, for CORS.
    origin: Option<String>,
    etag: String,
}

/// What a session looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub user: Option<String>,
    pub age: Duration,
    pub idle: Duration,
}

/// The WHIP endpoint and its resources.
#[derive(Debug)]
pub struct Whip {
    config: Config,
    sessions: HashMap<String, Session>,
}

/// Who a request is from.
enum Identity {
    Anonymous,
    Known { name: String, role: Role },
}

impl Whip {
    pub fn new(config: Config) -> Whip {
        Whip {
            config,
            sessions: HashMap::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decides what a request under `/whip` gets.
    pub fn handle(&mut self, req: &Request, now: Instant) -> Decision {
        let origin = req.header("origin").map(str::to_string);
        let target = match parse_path(&req.path) {
            Some(target) => target,
            None => {
                gst::debug!(CAT, "{} {}: no such path, 404", req.method, req.path);
                return self.respond(Response::text(404, "no such WHIP resource"), &origin);
            }
        };
        let method = req.method.to_ascii_uppercase();
        if method == "OPTIONS" {
            return Decision::Respond(self.options(req, &target, &origin));
        }
        match (&target, method.as_str()) {
            (Target::Endpoint, "POST") => self.post(req, now, origin),
            (Target::Endpoint, _) => {
                gst::debug!(CAT, "{} {}: 405", req.method, req.path);
                let mut r = Response::text(405, "the WHIP endpoint takes POST");
                r.headers.push(("Allow".into(), ENDPOINT_METHODS.into()));
                self.respond(r, &origin)
            }
            (Target::Resource(id), _) => self.resource(req, id, &method, now, origin),
        }
    }

    fn post(&mut self, req: &Request, now: Instant, origin: Option<String>) -> Decision {
        let user = match self.authenticate(req) {
            Ok(Identity::Anonymous) => None,
            Ok(Identity::Known { name, role }) => {
                if role != Role::Talker {
                    gst::debug!(
                        CAT,
                        "POST from {:?}: user '{name}' is a viewer, 403",
                        req.remote
                    );
                    return self.respond(Response::text(403, "not a talker"), &origin);
                }
                Some(name)
            }
            Err(response) => return self.respond(response, &origin),
        };
        let content_type = req.header("content-type").unwrap_or("");
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media_type != "application/sdp" {
            gst::debug!(
                CAT,
                "POST from {:?}: content type '{content_type}', 415",
                req.remote
            );
            let mut r = Response::text(415, "expected application/sdp");
            r.headers
                .push(("Accept-Post".into(), "application/sdp".into()));
            return self.respond(r, &origin);
        }
        if req.body.len() > self.config.max_body {
            gst::debug!(
                CAT,
                "POST from {:?}: offer of {} bytes, over {}, 413",
                req.remote,
                req.body.len(),
                self.config.max_body
            );
            return self.respond(Response::text(413, "offer too large"), &origin);
        }
        let offer = match std::str::from_utf8(&req.body) {
            Ok(offer) if offer.trim_start().starts_with("v=0") => offer.to_string(),
            _ => {
                gst::debug!(CAT, "POST from {:?}: body is no SDP, 400", req.remote);
                return self.respond(Response::text(400, "the body is not an SDP offer"), &origin);
            }
        };
        if self.sessions.len() >= self.config.max_sessions {
            gst::debug!(
                CAT,
                "POST from {:?}: {} sessions already, 503",
                req.remote,
                self.sessions.len()
            );
            let mut r = Response::text(503, "too many WHIP sessions");
            r.headers.push(("Retry-After".into(), "10".into()));
            return self.respond(r, &origin);
        }
        let id = loop {
            let id = hex(&random_bytes::<16>());
            if !self.sessions.contains_key(&id) {
                break id;
            }
        };
        gst::info!(
            CAT,
            "POST from {:?} (user {:?}): session {id}, {} bytes of offer",
            req.remote,
            user,
            offer.len()
        );
        self.sessions.insert(
            id.clone(),
            Session {
                user: user.clone(),
                created: now,
                last_activity: now,
                state: State::Pending,
                origin,
                etag: format!("\"{}\"", hex(&random_bytes::<8>())),
            },
        );
        Decision::CreateSession {
            id,
            offer,
            user,
            address: req.remote,
        }
    }

    fn resource(
        &mut self,
        req: &Request,
        id: &str,
        method: &str,
        now: Instant,
        origin: Option<String>,
    ) -> Decision {
        let identity = match self.authenticate(req) {
            Ok(identity) => identity,
            Err(response) => return self.respond(response, &origin),
        };
        let Some(session) = self
            .sessions
            .get_mut(id)
            .filter(|s| s.state == State::Active)
        else {
            gst::debug!(CAT, "{method} {}: no such session, 404", req.path);
            return self.respond(Response::text(404, "no such WHIP session"), &origin);
        };
        if let Identity::Known { name, .. } = &identity {
            if session.user.as_deref() != Some(name.as_str()) {
                gst::debug!(
                    CAT,
                    "{method} {}: user '{name}' is not the session's {:?}, 403",
                    req.path,
                    session.user
                );
                return self.respond(Response::text(403, "not your session"), &origin);
            }
        }
        match method {
            "DELETE" => {
                gst::info!(CAT, "DELETE of session {id} from {:?}", req.remote);
                session.state = State::Deleting;
                session.origin = origin;
                Decision::DeleteSession { id: id.to_string() }
            }
            "GET" | "HEAD" => {
                session.last_activity = now;
                let r = Response {
                    status: 200,
                    ..Default::default()
                };
                self.respond(r, &origin)
            }
            _ => {
                gst::debug!(
                    CAT,
                    "{method} {}: 405 (no trickle ICE, no ICE restart)",
                    req.path
                );
                let mut r = Response::text(
                    405,
                    "this WHIP resource supports neither trickle ICE nor ICE restarts",
                );
                r.headers.push(("Allow".into(), RESOURCE_METHODS.into()));
                self.respond(r, &origin)
            }
        }
    }

    /// The glue answered session `id`'s offer: 201 Created.
    pub fn created(&mut self, id: &str, answer: &str) -> Response {
        let Some(session) = self
            .sessions
            .get_mut(id)
            .filter(|s| s.state == State::Pending)
        else {
            // Expired or closed while webrtcbin was answering.
            gst::debug!(CAT, "answer for session {id}, which is gone: 404");
            return Response::text(404, "the WHIP session ended before its answer");
        };
        session.state = State::Active;
        let mut r = Response::new(201, "application/sdp", answer);
        r.headers
            .push(("Location".into(), format!("{ENDPOINT}/{id}")));
        r.headers.push(("ETag".into(), session.etag.clone()));
        let origin = session.origin.clone();
        for link in self.links() {
            r.headers.push(("Link".into(), link));
        }
        self.cors_headers(&mut r, &origin, false);
        r
    }

    /// The glue could not answer session `id`'s offer: `status` (4xx for a
    /// bad offer, 5xx for our failures) and `reason`.
    pub fn failed(&mut self, id: &str, status: u16, reason: &str) -> Response {
        let origin = self.sessions.remove(id).and_then(|s| s.origin);
        gst::debug!(CAT, "session {id} failed: {status} {reason}");
        let mut r = Response::text(status, reason);
        self.cors_headers(&mut r, &origin, false);
        r
    }

    /// The glue tore down session `id` after a DELETE: 200.
    pub fn deleted(&mut self, id: &str) -> Response {
        let origin = self.sessions.remove(id).and_then(|s| s.origin);
        let mut r = Response {
            status: 200,
            ..Default::default()
        };
        self.cors_headers(&mut r, &origin, false);
        r
    }

    /// The glue closed session `id` itself (peer gone, error): forget it.
    /// Whether it was known.
    pub fn closed(&mut self, id: &str) -> bool {
        self.sessions.remove(id).is_some()
    }

    /// Session `id` showed life (media, RTCP). Whether it is known.
    pub fn touch(&mut self, id: &str, now: Instant) -> bool {
        match self.sessions.get_mut(id) {
            Some(s) => {
                s.last_activity = s.last_activity.max(now);
                true
            }
            None => false,
        }
    }

    /// Forgets the answered sessions silent for `timeout` or more and
    /// returns their ids, for the glue to tear down. Sessions still being
    /// answered are left to the glue's own gathering timeout.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        let mut gone: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.state != State::Pending
                    && now.saturating_duration_since(s.last_activity) >= timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        gone.sort();
        for id in &gone {
            gst::info!(CAT, "session {id} silent for {timeout:?} or more: expired");
            self.sessions.remove(id);
        }
        gone
    }

    /// The sessions, in no particular order.
    pub fn sessions(&self, now: Instant) -> Vec<SessionInfo> {
        self.sessions
            .iter()
            .map(|(id, s)| SessionInfo {
                id: id.clone(),
                user: s.user.clone(),
                age: now.saturating_duration_since(s.created),
                idle: now.saturating_duration_since(s.last_activity),
            })
            .collect()
    }

    fn options(&self, req: &Request, target: &Target, origin: &Option<String>) -> Response {
        let allow = match target {
            Target::Endpoint => ENDPOINT_METHODS,
            Target::Resource(_) => RESOURCE_METHODS,
        };
        let preflight = req.header("access-control-request-method").is_some();
        let mut r = Response {
            status: if preflight { 204 } else { 200 },
            ..Default::default()
        };
        r.headers.push(("Allow".into(), allow.into()));
        if matches!(target, Target::Endpoint) {
            r.headers
                .push(("Accept-Post".into(), "application/sdp".into()));
            if !preflight {
                for link in self.links() {
                    r.headers.push(("Link".into(), link));
                }
            }
        }
        self.cors_headers(&mut r, origin, preflight);
        r
    }

    fn respond(&self, mut r: Response, origin: &Option<String>) -> Decision {
        self.cors_headers(&mut r, origin, false);
        Decision::Respond(r)
    }

    /// Adds the CORS headers the policy gives this origin.
    fn cors_headers(&self, r: &mut Response, origin: &Option<String>, preflight: bool) {
        let allowed = match (&self.config.cors, origin) {
            (Cors::SameOrigin, _) | (_, None) => return,
            (Cors::Any, Some(_)) => {
                r.headers
                    .push(("Access-Control-Allow-Origin".into(), "*".into()));
                true
            }
            (Cors::Origins(list), Some(origin)) => {
                r.headers.push(("Vary".into(), "Origin".into()));
                if !list.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
                    return;
                }
                r.headers
                    .push(("Access-Control-Allow-Origin".into(), origin.clone()));
                r.headers
                    .push(("Access-Control-Allow-Credentials".into(), "true".into()));
                true
            }
        };
        if !allowed {
            return;
        }
        if preflight {
            r.headers.push((
                "Access-Control-Allow-Methods".into(),
                "POST, GET, PATCH, DELETE, OPTIONS".into(),
            ));
            r.headers.push((
                "Access-Control-Allow-Headers".into(),
                "Content-Type, Authorization, If-Match".into(),
            ));
            r.headers
                .push(("Access-Control-Max-Age".into(), "600".into()));
        } else {
            r.headers.push((
                "Access-Control-Expose-Headers".into(),
                "Location, ETag, Link, Accept-Post, WWW-Authenticate, Retry-After".into(),
            ));
        }
    }

    fn links(&self) -> Vec<String> {
        self.config
            .ice_servers
            .iter()
            .map(|url| format!("<{url}>; rel=\"ice-server\""))
            .collect()
    }

    fn credentials_configured(&self) -> bool {
        !self.config.users.is_empty() || !self.config.tokens.is_empty()
    }

    /// Who sent the request, or the 401 to answer.
    fn authenticate(&self, req: &Request) -> Result<Identity, Response> {
        if !self.credentials_configured() {
            return Ok(Identity::Anonymous);
        }
        let authorization = req.header("authorization").unwrap_or("").trim();
        let (scheme, param) = authorization
            .split_once(' ')
            .map(|(s, p)| (s, p.trim()))
            .unwrap_or((authorization, ""));
        let refusal = if scheme.eq_ignore_ascii_case("bearer") {
            match self
                .config
                .tokens
                .iter()
                .find(|t| constant_time_eq(t.token.as_bytes(), param.as_bytes()))
            {
                Some(t) => {
                    return Ok(Identity::Known {
                        name: t.name.clone(),
                        role: t.role,
                    })
                }
                None => "unknown bearer token".to_string(),
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            if !req.https {
                "Basic credentials over http refused (https only)".to_string()
            } else {
                match basic_credentials(param) {
                    Some((name, password)) => match self.config.users.iter().find(|u| {
                        u.name == name
                            && constant_time_eq(u.password.as_bytes(), password.as_bytes())
                    }) {
                        Some(u) => {
                            return Ok(Identity::Known {
                                name: u.name.clone(),
                                role: u.role,
                            })
                        }
                        None => format!("Basic credentials of '{name}' refused"),
                    },
                    None => "malformed Basic credentials".to_string(),
                }
            }
        } else if let Some(name) = &req.digest_user {
            match self.config.users.iter().find(|u| &u.name == name) {
                Some(u) => {
                    return Ok(Identity::Known {
                        name: u.name.clone(),
                        role: u.role,
                    })
                }
                None => format!("digest user '{name}' not in users-file"),
            }
        } else if let Some(refusal) = &req.digest_refusal {
            format!("HTTP digest refused: {refusal}")
        } else {
            "no credentials".to_string()
        };
        gst::debug!(
            CAT,
            "{} {} from {:?}: {refusal}, 401",
            req.method,
            req.path,
            req.remote
        );
        let mut r = Response::text(401, "credentials required");
        r.challenge = !self.config.users.is_empty();
        if !self.config.tokens.is_empty() {
            let error = if scheme.eq_ignore_ascii_case("bearer") {
                ", error=\"invalid_token\""
            } else {
                ""
            };
            r.headers.push((
                "WWW-Authenticate".into(),
                format!("Bearer realm=\"{REALM}\"{error}"),
            ));
        }
        Err(r)
    }
}

const ENDPOINT_METHODS: &str = "POST, OPTIONS";
const RESOURCE_METHODS: &str = "DELETE, GET, HEAD, OPTIONS";

#[derive(Debug, PartialEq, Eq)]
enum Target {
    Endpoint,
    Resource(String),
}

/// `/whip`, `/whip/` or `/whip/<32 lower case hex digits>`; else `None`.
fn parse_path(path: &str) -> Option<Target> {
    if path == ENDPOINT || path == "/whip/" {
        return Some(Target::Endpoint);
    }
    let id = path.strip_prefix("/whip/")?;
    let valid = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| Target::Resource(id.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from the kernel's generator; GLib's (seeded from it too) if
/// /dev/urandom cannot be read.
fn random_bytes<const N: usize>() -> [u8; N] {
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `user:password` from a Basic credential (RFC 7617), strict base64.
fn basic_credentials(param: &str) -> Option<(String, String)> {
    let decoded = base64_decode(param)?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.is_empty() || s.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let chunks = s.len() / 4;
    for (i, chunk) in s.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

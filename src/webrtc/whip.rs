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

use crate::http::digest::hex;
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
            let id = new_session_id();
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
                etag: format!("\"{}\"", hex(&crate::http::digest::random_bytes::<8>())),
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
            match self.config.tokens.iter().find(|t| {
                crate::http::digest::constant_time_eq(t.token.as_bytes(), param.as_bytes())
            }) {
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
                            && crate::http::digest::constant_time_eq(
                                u.password.as_bytes(),
                                password.as_bytes(),
                            )
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

/// The `<id>` of a session resource's path (`/whip/<id>`), if it is one.
pub fn resource_id(path: &str) -> Option<String> {
    match parse_path(path)? {
        Target::Resource(id) => Some(id),
        Target::Endpoint => None,
    }
}

/// A new session id: 128 random bits as 32 lower case hex digits.
pub fn new_session_id() -> String {
    hex(&crate::http::digest::random_bytes::<16>())
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

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n\
        a=sendonly\r\n";

    fn user(name: &str, password: &str, role: Role) -> User {
        User {
            name: name.into(),
            password: password.into(),
            role,
        }
    }

    fn users() -> Vec<User> {
        vec![
            user("alice", "secret", Role::Talker),
            user("bob", "hunter2", Role::Viewer),
            user("carol", "pw", Role::Talker),
        ]
    }

    fn tokens() -> Vec<Token> {
        vec![
            Token {
                name: "door".into(),
                token: "t0k3n-talk".into(),
                role: Role::Talker,
            },
            Token {
                name: "wall".into(),
                token: "t0k3n-view".into(),
                role: Role::Viewer,
            },
        ]
    }

    fn open() -> Whip {
        Whip::new(Config::new(Vec::new(), Vec::new()))
    }

    fn secured() -> Whip {
        Whip::new(Config::new(users(), tokens()))
    }

    fn req(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            https: false,
            remote: Some("192.0.2.7:5000".parse().unwrap()),
            local: Some("192.0.2.1:8080".parse().unwrap()),
            digest_user: None,
            digest_refusal: None,
            digest_stale: false,
            has_authorization: false,
        }
    }

    fn with_header(mut r: Request, name: &str, value: &str) -> Request {
        r.has_authorization |= name.eq_ignore_ascii_case("authorization");
        r.headers.push((name.to_ascii_lowercase(), value.into()));
        r
    }

    fn post(body: &str) -> Request {
        let mut r = with_header(req("POST", "/whip"), "content-type", "application/sdp");
        r.body = body.as_bytes().to_vec();
        r
    }

    fn digest(mut r: Request, name: &str) -> Request {
        r = with_header(r, "authorization", "Digest username=\"x\"");
        r.digest_user = Some(name.into());
        r
    }

    fn bearer(r: Request, token: &str) -> Request {
        with_header(r, "authorization", &format!("Bearer {token}"))
    }

    fn basic(r: Request, name: &str, password: &str) -> Request {
        let plain = format!("{name}:{password}");
        with_header(
            r,
            "authorization",
            &format!("Basic {}", base64(plain.as_bytes())),
        )
    }

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let mut n = 0u32;
            for (i, b) in chunk.iter().enumerate() {
                n |= (*b as u32) << (16 - 8 * i);
            }
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers<'a>(r: &'a Response, name: &str) -> Vec<&'a str> {
        r.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn respond(d: Decision) -> Response {
        match d {
            Decision::Respond(r) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn status(d: Decision) -> u16 {
        respond(d).status
    }

    /// POSTs and answers; returns the session id and the 201.
    fn create(whip: &mut Whip, r: &Request, now: Instant) -> (String, Response) {
        match whip.handle(r, now) {
            Decision::CreateSession { id, offer, .. } => {
                assert_eq!(offer, String::from_utf8(r.body.clone()).unwrap());
                let response = whip.created(&id, "v=0\r\nanswer\r\n");
                (id, response)
            }
            other => panic!("expected a session, got {other:?}"),
        }
    }

    #[test]
    fn post_creates_a_session_with_201_location_etag_and_the_answer() {
        let mut whip = open();
        let now = Instant::now();
        let r = post(OFFER);
        let id = match whip.handle(&r, now) {
            Decision::CreateSession {
                id,
                offer,
                user,
                address,
            } => {
                assert_eq!(offer, OFFER);
                assert_eq!(user, None);
                assert_eq!(address, r.remote);
                id
            }
            other => panic!("{other:?}"),
        };
        let response = whip.created(&id, "v=0\r\nanswer\r\n");
        assert_eq!(response.status, 201);
        assert_eq!(response.content_type.as_deref(), Some("application/sdp"));
        assert_eq!(response.body, b"v=0\r\nanswer\r\n");
        assert_eq!(
            header(&response, "location"),
            Some(format!("/whip/{id}").as_str())
        );
        let etag = header(&response, "etag").unwrap();
        assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'));
        // No ICE servers by default: no Link; same-origin: no CORS.
        assert!(header(&response, "link").is_none());
        assert!(header(&response, "access-control-allow-origin").is_none());
        // The Location parses back to the resource.
        assert_eq!(
            parse_path(header(&response, "location").unwrap()),
            Some(Target::Resource(id.clone()))
        );
        // A second answer for the same id is refused.
        assert_eq!(whip.created(&id, "v=0\r\n").status, 404);
    }

    #[test]
    fn ids_are_128_bit_hex_and_unique() {
        let mut whip = open();
        whip.config.max_sessions = usize::MAX;
        let now = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let (id, _) = create(&mut whip, &post(OFFER), now);
            assert_eq!(id.len(), 32);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(seen.insert(id));
        }
        // Not a counter: every hex digit shows up in every position over
        // 2000 ids (probability of a miss ~16 * 32 * (15/16)^2000, nil).
        for pos in 0..32 {
            let digits: std::collections::HashSet<u8> =
                seen.iter().map(|id| id.as_bytes()[pos]).collect();
            assert_eq!(digits.len(), 16, "position {pos}");
        }
    }

    #[test]
    fn content_type_other_than_sdp_is_415() {
        let mut whip = open();
        let now = Instant::now();
        for ct in ["application/json", "text/plain", "application/sdpx", ""] {
            let mut r = post(OFFER);
            r.headers.retain(|(k, _)| k != "content-type");
            if !ct.is_empty() {
                r = with_header(r, "content-type", ct);
            }
            let response = respond(whip.handle(&r, now));
            assert_eq!(response.status, 415, "{ct}");
            assert_eq!(header(&response, "accept-post"), Some("application/sdp"));
        }
        // Parameters and case are fine.
        let mut r = post(OFFER);
        r.headers.retain(|(k, _)| k != "content-type");
        r = with_header(r, "content-type", "Application/SDP; charset=utf-8");
        assert!(matches!(
            whip.handle(&r, now),
            Decision::CreateSession { .. }
        ));
        assert!(whip.sessions(now).len() == 1);
    }

    #[test]
    fn bodies_over_the_limit_are_413_and_at_the_limit_taken() {
        let mut whip = open();
        let now = Instant::now();
        let mut big = OFFER.to_string();
        while big.len() < MAX_OFFER {
            big.push_str("a=x-padding\r\n");
        }
        big.truncate(MAX_OFFER);
        assert!(matches!(
            whip.handle(&post(&big), now),
            Decision::CreateSession { .. }
        ));
        big.push('x');
        assert_eq!(status(whip.handle(&post(&big), now)), 413);
        assert_eq!(whip.sessions(now).len(), 1);
    }

    #[test]
    fn bodies_that_are_no_sdp_are_400() {
        let mut whip = open();
        let now = Instant::now();
        for body in ["", "hello", "{\"sdp\":\"v=0\"}"] {
            assert_eq!(status(whip.handle(&post(body), now)), 400, "{body}");
        }
        let mut r = post(OFFER);
        r.body = vec![b'v', b'=', b'0', 0xff, 0xfe];
        assert_eq!(status(whip.handle(&r, now)), 400);
        assert!(whip.sessions(now).is_empty());
    }

    #[test]
    fn credentials_missing_or_refused_are_401_with_challenges() {
        let mut whip = secured();
        let now = Instant::now();
        let response = respond(whip.handle(&post(OFFER), now));
        assert_eq!(response.status, 401);
        assert!(response.challenge, "digest challenge asked for");
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Bearer realm=\"onvifbackchannel\"")
        );
        // Refused digest (the server's verdict) and unknown digest user.
        let mut r = with_header(post(OFFER), "authorization", "Digest username=\"alice\"");
        r.digest_refusal = Some("wrong response".into());
        assert_eq!(status(whip.handle(&r, now)), 401);
        assert_eq!(
            status(whip.handle(&digest(post(OFFER), "mallory"), now)),
            401
        );
        // Wrong bearer token: invalid_token.
        let response = respond(whip.handle(&bearer(post(OFFER), "t0k3n-tal"), now));
        assert_eq!(response.status, 401);
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Bearer realm=\"onvifbackchannel\", error=\"invalid_token\"")
        );
        assert_eq!(status(whip.handle(&bearer(post(OFFER), ""), now)), 401);
        // Wrong Basic password over https, malformed Basic.
        let mut r = basic(post(OFFER), "alice", "wrong");
        r.https = true;
        assert_eq!(status(whip.handle(&r, now)), 401);
        let mut r = with_header(post(OFFER), "authorization", "Basic !!!!");
        r.https = true;
        assert_eq!(status(whip.handle(&r, now)), 401);
        assert!(whip.sessions(now).is_empty());
    }

    #[test]
    fn without_tokens_no_bearer_challenge_and_without_users_no_digest() {
        let now = Instant::now();
        let mut whip = Whip::new(Config::new(users(), Vec::new()));
        let response = respond(whip.handle(&post(OFFER), now));
        assert_eq!(response.status, 401);
        assert!(response.challenge);
        assert!(header(&response, "www-authenticate").is_none());
        let mut whip = Whip::new(Config::new(Vec::new(), tokens()));
        let response = respond(whip.handle(&post(OFFER), now));
        assert_eq!(response.status, 401);
        assert!(!response.challenge);
        assert!(header(&response, "www-authenticate").is_some());
        // A digest user (there are no users) counts for nothing.
        assert_eq!(status(whip.handle(&digest(post(OFFER), "alice"), now)), 401);
    }

    #[test]
    fn talkers_may_post_by_digest_bearer_or_basic_over_https() {
        let mut whip = secured();
        let now = Instant::now();
        let check = |whip: &mut Whip, r: Request, who: &str| match whip.handle(&r, now) {
            Decision::CreateSession { user, .. } => assert_eq!(user.as_deref(), Some(who)),
            other => panic!("{who}: {other:?}"),
        };
        check(&mut whip, digest(post(OFFER), "alice"), "alice");
        check(&mut whip, bearer(post(OFFER), "t0k3n-talk"), "door");
        check(
            &mut whip,
            with_header(post(OFFER), "authorization", "bearer  t0k3n-talk"),
            "door",
        );
        let mut r = basic(post(OFFER), "carol", "pw");
        r.https = true;
        check(&mut whip, r, "carol");
    }

    #[test]
    fn basic_over_http_is_refused_even_with_the_right_password() {
        let mut whip = secured();
        let now = Instant::now();
        let r = basic(post(OFFER), "alice", "secret");
        let response = respond(whip.handle(&r, now));
        assert_eq!(response.status, 401);
        assert!(response.challenge);
        let mut r = r;
        r.https = true;
        assert!(matches!(
            whip.handle(&r, now),
            Decision::CreateSession { .. }
        ));
    }

    #[test]
    fn viewers_get_403() {
        let mut whip = secured();
        let now = Instant::now();
        assert_eq!(status(whip.handle(&digest(post(OFFER), "bob"), now)), 403);
        assert_eq!(
            status(whip.handle(&bearer(post(OFFER), "t0k3n-view"), now)),
            403
        );
        let mut r = basic(post(OFFER), "bob", "hunter2");
        r.https = true;
        assert_eq!(status(whip.handle(&r, now)), 403);
        assert!(whip.sessions(now).is_empty());
    }

    #[test]
    fn sessions_over_the_maximum_are_503_until_one_ends() {
        let mut whip = open();
        whip.config.max_sessions = 2;
        let now = Instant::now();
        let (a, _) = create(&mut whip, &post(OFFER), now);
        // A session still being answered counts too.
        let Decision::CreateSession { id: b, .. } = whip.handle(&post(OFFER), now) else {
            panic!()
        };
        let response = respond(whip.handle(&post(OFFER), now));
        assert_eq!(response.status, 503);
        assert!(header(&response, "retry-after").is_some());
        // A failed answer frees its slot.
        let failed = whip.failed(&b, 422, "no codec in common");
        assert_eq!(failed.status, 422);
        assert_eq!(failed.body, b"no codec in common\n");
        let (_c, _) = create(&mut whip, &post(OFFER), now);
        assert_eq!(status(whip.handle(&post(OFFER), now)), 503);
        // So does a DELETE.
        let Decision::DeleteSession { id } =
            whip.handle(&req("DELETE", &format!("/whip/{a}")), now)
        else {
            panic!()
        };
        assert_eq!(whip.deleted(&id).status, 200);
        assert!(matches!(
            whip.handle(&post(OFFER), now),
            Decision::CreateSession { .. }
        ));
    }

    #[test]
    fn delete_known_session_once_then_404() {
        let mut whip = open();
        let now = Instant::now();
        let (id, _) = create(&mut whip, &post(OFFER), now);
        let path = format!("/whip/{id}");
        match whip.handle(&req("DELETE", &path), now) {
            Decision::DeleteSession { id: d } => assert_eq!(d, id),
            other => panic!("{other:?}"),
        }
        // Being torn down: a second DELETE is 404 already.
        assert_eq!(status(whip.handle(&req("DELETE", &path), now)), 404);
        let response = whip.deleted(&id);
        assert_eq!(response.status, 200);
        assert!(response.body.is_empty());
        assert_eq!(status(whip.handle(&req("DELETE", &path), now)), 404);
        assert!(whip.sessions(now).is_empty());
    }

    #[test]
    fn delete_of_unknown_or_pending_sessions_is_404() {
        let mut whip = open();
        let now = Instant::now();
        let unknown = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            status(whip.handle(&req("DELETE", &format!("/whip/{unknown}")), now)),
            404
        );
        let Decision::CreateSession { id, .. } = whip.handle(&post(OFFER), now) else {
            panic!()
        };
        assert_eq!(
            status(whip.handle(&req("DELETE", &format!("/whip/{id}")), now)),
            404
        );
        assert_eq!(whip.created(&id, "v=0\r\n").status, 201);
    }

    #[test]
    fn delete_needs_the_creators_credentials() {
        let mut whip = secured();
        let now = Instant::now();
        let (id, _) = create(&mut whip, &digest(post(OFFER), "alice"), now);
        let path = format!("/whip/{id}");
        assert_eq!(status(whip.handle(&req("DELETE", &path), now)), 401);
        assert_eq!(
            status(whip.handle(&digest(req("DELETE", &path), "carol"), now)),
            403
        );
        assert_eq!(
            status(whip.handle(&bearer(req("DELETE", &path), "t0k3n-talk"), now)),
            403
        );
        assert!(matches!(
            whip.handle(&digest(req("DELETE", &path), "alice"), now),
            Decision::DeleteSession { .. }
        ));
        // A bearer-token session is deleted with the token.
        let (id, _) = create(&mut whip, &bearer(post(OFFER), "t0k3n-talk"), now);
        let path = format!("/whip/{id}");
        assert!(matches!(
            whip.handle(&bearer(req("DELETE", &path), "t0k3n-talk"), now),
            Decision::DeleteSession { .. }
        ));
    }

    #[test]
    fn get_on_a_resource_is_200_without_body_and_405_on_the_endpoint() {
        let mut whip = open();
        let now = Instant::now();
        let (id, _) = create(&mut whip, &post(OFFER), now);
        for method in ["GET", "HEAD"] {
            let response = respond(whip.handle(&req(method, &format!("/whip/{id}")), now));
            assert_eq!(response.status, 200, "{method}");
            assert!(response.body.is_empty());
        }
        let response = respond(whip.handle(&req("GET", "/whip"), now));
        assert_eq!(response.status, 405);
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
        for method in ["PUT", "DELETE", "PATCH"] {
            assert_eq!(
                status(whip.handle(&req(method, "/whip"), now)),
                405,
                "{method}"
            );
        }
        assert_eq!(
            status(whip.handle(&req("GET", "/whip/0123456789abcdef0123456789abcdef"), now)),
            404
        );
    }

    #[test]
    fn patch_is_405_with_allow() {
        let mut whip = open();
        let now = Instant::now();
        let (id, _) = create(&mut whip, &post(OFFER), now);
        let mut r = with_header(
            req("PATCH", &format!("/whip/{id}")),
            "content-type",
            "application/trickle-ice-sdpfrag",
        );
        r.body = b"a=ice-ufrag:x\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n".to_vec();
        let response = respond(whip.handle(&r, now));
        assert_eq!(response.status, 405);
        assert_eq!(
            header(&response, "allow"),
            Some("DELETE, GET, HEAD, OPTIONS")
        );
        assert!(header(&response, "allow").is_some_and(|a| !a.contains("PATCH")));
        // The session lives on.
        assert_eq!(whip.sessions(now).len(), 1);
        assert_eq!(
            status(whip.handle(&req("PUT", &format!("/whip/{id}")), now)),
            405
        );
    }

    #[test]
    fn odd_paths_are_404() {
        let mut whip = open();
        let now = Instant::now();
        let (id, _) = create(&mut whip, &post(OFFER), now);
        let upper = id.to_ascii_uppercase();
        let odd = [
            "/whip//".to_string(),
            "/whip/../x".to_string(),
            "/whip/..".to_string(),
            "/whipx".to_string(),
            "/whip/x/../../etc/passwd".to_string(),
            format!("/whip/{id}/"),
            format!("/whip/{id}/x"),
            format!("/whip//{id}"),
            format!("/whip/{upper}"),
            format!("/whip/{}", &id[..31]),
            format!("/whip/{id}0"),
            format!("/whip/%2e%2e/{id}"),
            "/".to_string(),
            String::new(),
        ];
        for path in &odd {
            for method in ["DELETE", "GET", "POST", "OPTIONS"] {
                let mut r = post(OFFER);
                r.method = method.into();
                r.path = path.clone();
                assert_eq!(status(whip.handle(&r, now)), 404, "{method} {path}");
            }
        }
        // Nothing was created or deleted on the way.
        assert_eq!(whip.sessions(now).len(), 1);
        // The endpoint with a trailing slash is the endpoint.
        let mut r = post(OFFER);
        r.path = "/whip/".into();
        assert!(matches!(
            whip.handle(&r, now),
            Decision::CreateSession { .. }
        ));
    }

    #[test]
    fn options_serves_accept_post_and_ice_servers_without_credentials() {
        let mut config = Config::new(users(), tokens());
        config.ice_servers = vec!["stun:stun.example.net:3478".into()];
        let mut whip = Whip::new(config);
        let now = Instant::now();
        let response = respond(whip.handle(&req("OPTIONS", "/whip"), now));
        assert_eq!(response.status, 200);
        assert!(!response.challenge);
        assert_eq!(header(&response, "accept-post"), Some("application/sdp"));
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
        assert_eq!(
            headers(&response, "link"),
            vec!["<stun:stun.example.net:3478>; rel=\"ice-server\""]
        );
        // The 201 carries them too.
        let (id, created) = create(&mut whip, &bearer(post(OFFER), "t0k3n-talk"), now);
        assert_eq!(headers(&created, "link").len(), 1);
        let response = respond(whip.handle(&req("OPTIONS", &format!("/whip/{id}")), now));
        assert_eq!(response.status, 200);
        assert_eq!(
            header(&response, "allow"),
            Some("DELETE, GET, HEAD, OPTIONS")
        );
        assert!(header(&response, "accept-post").is_none());
    }

    fn preflight(path: &str, origin: &str, method: &str) -> Request {
        let r = with_header(req("OPTIONS", path), "origin", origin);
        let r = with_header(r, "access-control-request-method", method);
        with_header(
            r,
            "access-control-request-headers",
            "authorization, content-type",
        )
    }

    #[test]
    fn preflight_allows_the_whip_methods_and_headers_without_credentials() {
        let mut config = Config::new(users(), tokens());
        config.ice_servers = vec!["stun:stun.example.net:3478".into()];
        let mut whip = Whip::new(config);
        assert_eq!(whip.config().cors, Cors::Any);
        let now = Instant::now();
        let (id, _) = create(&mut whip, &digest(post(OFFER), "alice"), now);
        for (path, method) in [
            ("/whip".to_string(), "POST"),
            (format!("/whip/{id}"), "DELETE"),
        ] {
            let response =
                respond(whip.handle(&preflight(&path, "https://dash.example", method), now));
            assert_eq!(response.status, 204, "{path}");
            assert!(!response.challenge);
            assert!(response.body.is_empty());
            assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
            let methods = header(&response, "access-control-allow-methods").unwrap();
            for m in ["POST", "PATCH", "DELETE"] {
                assert!(methods.contains(m), "{methods}");
            }
            let allowed = header(&response, "access-control-allow-headers").unwrap();
            for h in ["Content-Type", "Authorization", "If-Match"] {
                assert!(allowed.contains(h), "{allowed}");
            }
            // `*` and credentials do not mix.
            assert!(header(&response, "access-control-allow-credentials").is_none());
            // Link only on a plain OPTIONS (§4.6).
            assert!(header(&response, "link").is_none());
        }
    }

    #[test]
    fn cross_origin_answers_expose_location_etag_link() {
        let mut whip = secured();
        let now = Instant::now();
        let r = with_header(
            bearer(post(OFFER), "t0k3n-talk"),
            "origin",
            "https://dash.example",
        );
        let (id, created) = create(&mut whip, &r, now);
        assert_eq!(created.status, 201);
        assert_eq!(header(&created, "access-control-allow-origin"), Some("*"));
        let exposed = header(&created, "access-control-expose-headers").unwrap();
        for h in ["Location", "ETag", "Link"] {
            assert!(exposed.contains(h), "{exposed}");
        }
        // Errors carry CORS too, so that the page can read them.
        let r = with_header(post(OFFER), "origin", "https://dash.example");
        let response = respond(whip.handle(&r, now));
        assert_eq!(response.status, 401);
        assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
        // The DELETE's origin goes on the 200.
        let r = with_header(
            bearer(req("DELETE", &format!("/whip/{id}")), "t0k3n-talk"),
            "origin",
            "https://other.example",
        );
        assert!(matches!(
            whip.handle(&r, now),
            Decision::DeleteSession { .. }
        ));
        let deleted = whip.deleted(&id);
        assert_eq!(header(&deleted, "access-control-allow-origin"), Some("*"));
    }

    #[test]
    fn same_origin_by_default_without_credentials() {
        let mut whip = open();
        assert_eq!(whip.config().cors, Cors::SameOrigin);
        let now = Instant::now();
        let response =
            respond(whip.handle(&preflight("/whip", "https://evil.example", "POST"), now));
        assert!(header(&response, "access-control-allow-origin").is_none());
        assert!(header(&response, "access-control-allow-methods").is_none());
        let r = with_header(post(OFFER), "origin", "https://evil.example");
        let (_, created) = create(&mut whip, &r, now);
        assert!(created
            .headers
            .iter()
            .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control")));
    }

    #[test]
    fn listed_origins_are_echoed_with_credentials_others_get_nothing() {
        let mut config = Config::new(users(), Vec::new());
        config.cors = Cors::Origins(vec!["https://dash.example".into()]);
        let mut whip = Whip::new(config);
        let now = Instant::now();
        let response =
            respond(whip.handle(&preflight("/whip", "https://DASH.example", "POST"), now));
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some("https://DASH.example")
        );
        assert_eq!(
            header(&response, "access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(header(&response, "vary"), Some("Origin"));
        let response =
            respond(whip.handle(&preflight("/whip", "https://evil.example", "POST"), now));
        assert!(header(&response, "access-control-allow-origin").is_none());
        assert!(header(&response, "access-control-allow-methods").is_none());
        assert_eq!(header(&response, "vary"), Some("Origin"));
        let r = with_header(
            digest(post(OFFER), "alice"),
            "origin",
            "https://dash.example",
        );
        let (_, created) = create(&mut whip, &r, now);
        assert_eq!(
            header(&created, "access-control-allow-origin"),
            Some("https://dash.example")
        );
    }

    #[test]
    fn expire_forgets_silent_sessions_only() {
        let mut whip = open();
        let t0 = Instant::now();
        let timeout = Duration::from_secs(10);
        let (a, _) = create(&mut whip, &post(OFFER), t0);
        let (b, _) = create(&mut whip, &post(OFFER), t0);
        let Decision::CreateSession { id: pending, .. } = whip.handle(&post(OFFER), t0) else {
            panic!()
        };
        assert!(whip.expire(t0 + Duration::from_secs(9), timeout).is_empty());
        assert!(whip.touch(&b, t0 + Duration::from_secs(5)));
        // A touch from the past does not move activity back.
        assert!(whip.touch(&b, t0));
        assert_eq!(whip.expire(t0 + timeout, timeout), vec![a.clone()]);
        assert_eq!(whip.sessions(t0 + timeout).len(), 2);
        assert_eq!(
            whip.expire(t0 + Duration::from_secs(15), timeout),
            vec![b.clone()]
        );
        // The pending one waits for the glue's own timeout.
        assert!(whip
            .expire(t0 + Duration::from_secs(60), timeout)
            .is_empty());
        // Expired sessions are gone: DELETE 404, touch false.
        assert_eq!(
            status(whip.handle(&req("DELETE", &format!("/whip/{a}")), t0)),
            404
        );
        assert!(!whip.touch(&a, t0));
        // A GET counts as activity.
        let t1 = t0 + Duration::from_secs(100);
        assert_eq!(whip.created(&pending, "v=0\r\n").status, 201);
        let info = whip.sessions(t1);
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].age, Duration::from_secs(100));
        assert_eq!(
            status(whip.handle(&req("GET", &format!("/whip/{pending}")), t1)),
            200
        );
        assert!(whip.expire(t1 + Duration::from_secs(9), timeout).is_empty());
        assert_eq!(whip.expire(t1 + timeout, timeout), vec![pending]);
    }

    #[test]
    fn answers_for_expired_or_closed_sessions_are_404() {
        let mut whip = open();
        let now = Instant::now();
        let Decision::CreateSession { id, .. } = whip.handle(&post(OFFER), now) else {
            panic!()
        };
        assert!(whip.closed(&id));
        assert!(!whip.closed(&id));
        assert_eq!(whip.created(&id, "v=0\r\n").status, 404);
        // failed() of an unknown id still answers what it was told.
        assert_eq!(whip.failed(&id, 500, "webrtcbin failed").status, 500);
    }

    #[test]
    fn stale_digest_gets_401_with_a_challenge() {
        let mut whip = secured();
        let now = Instant::now();
        let mut r = with_header(post(OFFER), "authorization", "Digest username=\"alice\"");
        r.digest_refusal = Some("stale nonce".into());
        r.digest_stale = true;
        let response = respond(whip.handle(&r, now));
        assert_eq!(response.status, 401);
        assert!(response.challenge);
    }

    #[test]
    fn garbage_requests_never_panic_and_never_create_sessions_unauthenticated() {
        let mut whip = secured();
        let now = Instant::now();
        let methods = [
            "POST", "post", "DELETE", "GET", "PATCH", "OPTIONS", "", "\u{0}",
        ];
        let paths = [
            "/whip",
            "/whip/",
            "/whip/\u{e9}\u{e9}",
            "/whip/\u{0}",
            "//whip",
            "/whip/ ",
        ];
        let auths = [
            "",
            "Bearer",
            "Bearer ",
            "Basic",
            "Basic =",
            "Basic \u{e9}",
            "Digest",
            " ",
            "x y z",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5000 {
            let mut r = req(
                methods[next() as usize % methods.len()],
                paths[next() as usize % paths.len()],
            );
            r.https = next() % 2 == 0;
            r = with_header(r, "authorization", auths[next() as usize % auths.len()]);
            r = with_header(r, "content-type", "application/sdp");
            let len = next() as usize % 64;
            r.body = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 {
                r.body.splice(0..0, b"v=0\r\n".iter().copied());
            }
            match whip.handle(&r, now) {
                Decision::Respond(response) => {
                    assert!((200..600).contains(&response.status), "{}", response.status)
                }
                other => panic!("{r:?}: {other:?}"),
            }
        }
        assert!(whip.sessions(now).is_empty());
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("YWxpY2U6c2VjcmV0").unwrap(), b"alice:secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        for bad in ["", "YQ=", "Y===", "YQ==YQ==", "YW!j", "YWJj\n"] {
            assert!(base64_decode(bad).is_none(), "{bad:?}");
        }
        for s in ["", "a", "ab", "abc", "user:pa:ss", "é:ü"] {
            assert_eq!(
                base64_decode(&base64(s.as_bytes())).as_deref(),
                if s.is_empty() {
                    None
                } else {
                    Some(s.as_bytes())
                }
            );
        }
        assert_eq!(
            basic_credentials(&base64(b"user:pa:ss")),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials(&base64(b"nocolon")), None);
    }

    #[test]
    fn resource_ids_of_paths() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(resource_id(&format!("/whip/{id}")), Some(id.to_string()));
        assert_eq!(resource_id("/whip"), None);
        assert_eq!(resource_id("/whip/"), None);
        assert_eq!(resource_id("/whip/abc"), None);
        assert_eq!(resource_id(&format!("/whip/{id}/x")), None);
        assert_eq!(resource_id(&format!("/other/{id}")), None);
    }
}

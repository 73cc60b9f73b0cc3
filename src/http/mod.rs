//! The element's web server: one per `onvifbackchannelsrc`, on a thread and
//! GLib main context of its own, serving http:// or https:// (with the
//! element's `tls-certificate`). Paths are routed to handlers that see a
//! plain [`Request`] and return a plain [`Response`], so that the services
//! behind them (ONVIF today, WHIP later) never touch libsoup.
//!
//! Why libsoup 3 (through the `soup3` crate): it is GNOME's HTTP library,
//! runs on a GLib main context like the rest of GStreamer, speaks TLS through
//! the same GIO backend (glib-networking) that gst-rtsp-server uses for
//! rtsps://. It is on every system that has GStreamer's soup plugins, so it
//! adds no new stack. Its server-side HTTP digest is not used: it does not
//! remember the nonces it issues, so a captured `Authorization` header can
//! be replayed (see [`digest`]); ours does.
//!
//! What the layer guards, for every path:
//! - bodies larger than [`MAX_BODY`] get `413` before they are read (from
//!   `Content-Length`), or have their connection closed as soon as they pass
//!   the limit (chunked bodies). libsoup reads a body whatever status an
//!   early handler sets (unless the client sent `Expect: 100-continue`), so
//!   the 413 is written on the connection taken from libsoup, which is then
//!   closed after a short lingering drain;
//! - HTTP digest ([`digest`]: RFC 7616, SHA-256 and MD5, `qop=auth`, nonces
//!   remembered, replays refused) when users are given: a request with valid
//!   credentials carries their user name in [`Request::digest_user`], one
//!   with refused credentials the reason in [`Request::digest_refusal`]; a
//!   handler that wants credentials answers with [`Response::challenge`] and
//!   the layer adds the challenges (with `stale=true` when
//!   [`Request::digest_stale`]);
//! - a handler that panics answers `500` instead of taking the element down.

pub mod auth_params;
pub mod digest;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use digest::DigestAuth;

use gst::glib;
use soup::prelude::*;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-http",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel web server"),
    )
});

/// Largest request body taken. SOAP requests are a few kilobytes; WebRTC
/// offers a few tens.
pub const MAX_BODY: usize = 256 * 1024;

/// The realm of HTTP digest authentication.
pub const REALM: &str = "onvifbackchannel";

/// A request as handlers see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether it came over TLS.
    pub https: bool,
    /// The client's address.
    pub remote: Option<SocketAddr>,
    /// The address the client connected to.
    pub local: Option<SocketAddr>,
    /// The user whose HTTP digest credentials the request carries, if they
    /// are valid (the nonce ours, fresh, and its `nc` not seen before).
    pub digest_user: Option<String>,
    /// Why its HTTP credentials were refused (for logs; never a password).
    pub digest_refusal: Option<String>,
    /// Its credentials were right but their nonce stale (expired, forgotten
    /// or its `nc` already seen): a challenge says `stale=true`, so that the
    /// client retries with a fresh nonce without asking its user.
    pub digest_stale: bool,
    /// Whether it carries HTTP credentials at all (valid or not).
    pub has_authorization: bool,
}

impl Request {
    /// A header by name, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The host and port the client used: the Host header, else the local
    /// address it connected to. An IPv6 host comes without brackets.
    pub fn host_and_port(&self) -> (String, u16) {
        let default_port = self.local.map_or(0, |a| a.port());
        if let Some(host) = self.header("host").filter(|h| !h.is_empty()) {
            if let Some((host, port)) = split_host_port(host) {
                return (host, port.unwrap_or(default_port));
            }
        }
        match self.local {
            Some(addr) => (addr.ip().to_string(), addr.port()),
            None => ("localhost".into(), default_port),
        }
    }
}

/// Splits a Host header value into host (IPv6 without brackets) and port.
/// `None` if it is not a plausible host.
pub fn split_host_port(value: &str) -> Option<(String, Option<u16>)> {
    let value = value.trim();
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (host, port)
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse().ok()?)),
            None => (value, None),
        }
    };
    let valid = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '%'));
    valid.then(|| (host.to_string(), port))
}

/// What a handler answers.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Ask for HTTP digest credentials (adds the `WWW-Authenticate`
    /// challenges, `stale=true` if the request's nonce was; the status
    /// should be 401).
    pub challenge: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: Some(content_type.into()),
            body: body.into(),
            ..Default::default()
        }
    }

    /// A short plain text answer.
    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", format!("{text}\n"))
    }
}

/// A handler of the requests under one path.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A handler that may answer later, from any thread, through the
/// [`Responder`] it is given (a WHIP offer is answered once ICE gathering
/// is done, some 200 ms later): the web server's thread goes on serving
/// other requests meanwhile.
pub type DeferredHandler = Arc<dyn Fn(&Request, Responder) + Send + Sync>;

/// What answers the requests under one path.
#[derive(Clone)]
pub enum Route {
    Now(Handler),
    Later(DeferredHandler),
}

/// A request waiting for its [`Responder`]: the message, the request (for
/// the log and the digest challenge) and the digest state.
type Paused = (soup::ServerMessage, Request, Option<Digest>);

thread_local! {
    /// Requests paused until their [`Responder`] answers, on the web
    /// server's thread (soup objects are not `Send`).
    static PAUSED: RefCell<HashMap<u64, Paused>> = RefCell::new(HashMap::new());
}

/// Answers one paused request, once, from any thread. Dropped without
/// answering, it answers `500`, so that no request waits forever.
pub struct Responder {
    ctx: glib::MainContext,
    id: u64,
    answered: bool,
}

impl Responder {
    /// Sends `response`; nothing happens if the client has gone.
    pub fn respond(mut self, response: Response) {
        self.answered = true;
        self.send(response);
    }

    fn send(&self, response: Response) {
        let id = self.id;
        self.ctx.invoke(move || {
            let Some((msg, request, digest)) = PAUSED.with(|p| p.borrow_mut().remove(&id)) else {
                gst::debug!(CAT, "request {id} ended before its answer");
                return;
            };
            respond(&msg, &request, response, digest.as_ref());
            msg.unpause();
        });
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            gst::warning!(CAT, "request {} dropped without an answer: 500", self.id);
            self.send(Response::text(500, "internal error"));
        }
    }
}

/// How to run the server.
pub struct Config {
    /// Address to listen on (e.g. "0.0.0.0"), and port (0: any free one).
    pub address: String,
    pub port: u16,
    /// Serve https:// with the certificate and key of this PEM file.
    pub tls_pem: Option<String>,
    /// Users for HTTP digest, with their passwords.
    pub digest_users: HashMap<String, String>,
    /// Handlers by path prefix (libsoup's rule: the longest registered
    /// prefix wins).
    pub routes: Vec<(String, Route)>,
}

/// A running server; dropping it stops it and closes its connections.
pub struct HttpServer {
    port: u16,
    ctx: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

use soup::gio;

impl HttpServer {
    /// Starts listening; returns once it listens (or could not).
    pub fn start(config: Config) -> Result<HttpServer, String> {
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let (tx, rx) = std::sync::mpsc::channel::<Result<u16, String>>();
        let thread = {
            let ctx = ctx.clone();
            let main_loop = main_loop.clone();
            std::thread::Builder::new()
                .name("onvifbackchannel-http".into())
                .spawn(move || {
                    let _ = ctx.with_thread_default(|| {
                        // The server lives on this thread only (soup objects
                        // are not Send).
                        match serve(config) {
                            Ok((server, port)) => {
                                let _ = tx.send(Ok(port));
                                main_loop.run();
                                ServerExt::disconnect(&server);
                            }
                            Err(err) => {
                                let _ = tx.send(Err(err));
                            }
                        }
                    });
                })
                .map_err(|e| format!("cannot start the web server thread: {e}"))?
        };
        match rx.recv() {
            Ok(Ok(port)) => Ok(HttpServer {
                port,
                ctx,
                main_loop,
                thread: Some(thread),
            }),
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the web server thread ended".into())
            }
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The main context it runs on (its own thread's), for other sockets of
    /// the element's web side.
    pub fn context(&self) -> glib::MainContext {
        self.ctx.clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // Quit from inside the loop: a quit() before run() started is lost.
        let main_loop = self.main_loop.clone();
        self.ctx.invoke(move || main_loop.quit());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        gst::debug!(CAT, "web server on port {} stopped", self.port);
    }
}

/// Creates the server on the current thread's default main context.
fn serve(config: Config) -> Result<(soup::Server, u16), String> {
    let https = config.tls_pem.is_some();
    let mut builder = soup::Server::builder().server_header("onvifbackchannel");
    if let Some(path) = &config.tls_pem {
        let cert = gio::TlsCertificate::from_file(path)
            .map_err(|e| format!("cannot load the TLS certificate and key from {path}: {e}"))?;
        builder = builder.tls_certificate(&cert);
    }
    let server = builder.build();

    // The digest state lives on this thread, where every handler runs.
    let digest = (!config.digest_users.is_empty()).then(|| Digest {
        auth: Rc::new(RefCell::new(DigestAuth::new(REALM))),
        users: Rc::new(config.digest_users.clone()),
    });

    // Before the body is read: refuse what is too large. libsoup calls the
    // early handler of the path's own entry (the longest registered prefix),
    // so the guard is registered for every route as well as for the rest.
    server.add_early_handler(None, |_, msg, path, _| guard_body(msg, path));

    let next_id = Rc::new(std::cell::Cell::new(0u64));
    // libsoup takes "/" as the default handler (the same as no path): a
    // route at "/" answers everything no other route takes, 404s included.
    let has_root = config.routes.iter().any(|(path, _)| path == "/");
    for (path, route) in config.routes {
        server.add_early_handler(Some(&path), |_, msg, path, _| guard_body(msg, path));
        let digest = digest.clone();
        let next_id = next_id.clone();
        server.add_handler(Some(&path), move |_, msg, path, _| {
            let request = request_of(msg, path, https, digest.as_ref());
            let answer = |respond_with: &dyn Fn() -> Response| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(respond_with)).unwrap_or_else(
                    |_| {
                        gst::error!(CAT, "handler of {path} panicked");
                        Response::text(500, "internal error")
                    },
                )
            };
            match &route {
                Route::Now(handler) => {
                    let response = answer(&|| handler(&request));
                    respond(msg, &request, response, digest.as_ref());
                }
                Route::Later(handler) => {
                    let id = next_id.get();
                    next_id.set(id + 1);
                    msg.pause();
                    msg.connect_finished(move |_| {
                        PAUSED.with(|p| p.borrow_mut().remove(&id));
                    });
                    PAUSED.with(|p| {
                        p.borrow_mut()
                            .insert(id, (msg.clone(), request.clone(), digest.clone()))
                    });
                    let responder = Responder {
                        ctx: glib::MainContext::ref_thread_default(),
                        id,
                        answered: false,
                    };
                    let handler = handler.clone();
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        handler(&request, responder)
                    }))
                    .is_err()
                    {
                        // The responder was dropped while unwinding: it answers 500.
                        gst::error!(CAT, "handler of {path} panicked");
                    }
                }
            }
        });
    }
    // Everything else: 404.
    if !has_root {
        server.add_handler(None, |_, msg, path, _| {
            gst::debug!(CAT, "404 for {path}");
            msg.set_status(404, None);
            msg.set_response(
                Some("text/plain; charset=utf-8"),
                soup::MemoryUse::Copy,
                b"not found\n",
            );
        });
    }

    let address = gio::InetSocketAddress::from_string(&config.address, config.port.into())
        .ok_or_else(|| format!("'{}' is not an IP address", config.address))?;
    let options = if https {
        soup::ServerListenOptions::HTTPS
    } else {
        soup::ServerListenOptions::empty()
    };
    server
        .listen(&address, options)
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.address, config.port))?;
    let port = server
        .listeners()
        .first()
        .and_then(|s| s.local_address().ok())
        .and_then(|a| a.downcast::<gio::InetSocketAddress>().ok())
        .map(|a| a.port())
        .ok_or("the web server has no listening socket")?;
    gst::info!(
        CAT,
        "web server listening on {}://{}:{port}",
        if https { "https" } else { "http" },
        config.address
    );
    Ok((server, port))
}

/// HTTP digest: the nonces issued and the users.
#[derive(Clone)]
struct Digest {
    auth: Rc<RefCell<DigestAuth>>,
    users: Rc<HashMap<String, String>>,
}

/// Refuses a body over [`MAX_BODY`]: at once when its length is declared,
/// by closing the connection when a chunked body passes it.
fn guard_body(msg: &soup::ServerMessage, path: &str) {
    let Some(headers) = msg.request_headers() else {
        return;
    };
    let declared = headers.content_length();
    if headers.encoding() == soup::Encoding::ContentLength && declared > MAX_BODY as i64 {
        gst::info!(
            CAT,
            "{path}: body of {declared} bytes refused (over {MAX_BODY}), 413"
        );
        let socket = msg.socket();
        match msg.steal_connection() {
            Some(stream) => refuse_too_large(stream, socket),
            None => {
                msg.set_status(413, None);
                if let Some(h) = msg.response_headers() {
                    h.append("Connection", "close");
                }
            }
        }
        return;
    }
    let received = std::cell::Cell::new(0usize);
    let path = path.to_string();
    msg.connect_got_chunk(move |msg, chunk| {
        let total = received.get() + chunk.len();
        received.set(total);
        if total > MAX_BODY {
            gst::info!(
                CAT,
                "{path}: body passed {MAX_BODY} bytes without a declared length: connection closed"
            );
            if let Some(stream) = msg.steal_connection() {
                let _ = stream.close(gio::Cancellable::NONE);
            }
        }
    });
}

/// How long a refused connection is drained before it is closed.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Answers `413` on a connection taken from libsoup before the body was
/// read, then closes it. In between it reads and drops what the client still
/// sends, for at most [`LINGER`]: closing a socket with unread data resets
/// the connection, and a client still sending may then lose the answer.
fn refuse_too_large(stream: gio::IOStream, socket: Option<gio::Socket>) {
    const BODY: &str = "request body too large\n";
    let answer = format!(
        "HTTP/1.1 413 Payload Too Large\r\nServer: onvifbackchannel\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    // A few bytes into an empty send buffer: this does not block.
    if let Err(err) = stream
        .output_stream()
        .write_all(answer.as_bytes(), gio::Cancellable::NONE)
    {
        gst::debug!(CAT, "cannot send the 413: {err}");
    }
    let _ = stream.output_stream().flush(gio::Cancellable::NONE);
    if let Some(socket) = socket {
        // The answer is complete: the client sees its end.
        let _ = socket.shutdown(false, true);
    }
    let cancellable = gio::Cancellable::new();
    let timer = {
        let cancellable = cancellable.clone();
        glib::timeout_source_new(LINGER, None, glib::Priority::DEFAULT, move || {
            cancellable.cancel();
            glib::ControlFlow::Break
        })
    };
    timer.attach(Some(&glib::MainContext::ref_thread_default()));
    drain(stream, cancellable, timer);
}

/// Reads and drops input until the end, an error or the cancellation, then
/// closes `stream`.
fn drain(stream: gio::IOStream, cancellable: gio::Cancellable, timer: glib::Source) {
    let input = stream.input_stream();
    input.read_bytes_async(
        64 * 1024,
        glib::Priority::LOW,
        Some(&cancellable.clone()),
        move |read| match read {
            Ok(bytes) if !bytes.is_empty() => drain(stream, cancellable, timer),
            _ => {
                timer.destroy();
                let _ = stream.close(gio::Cancellable::NONE);
            }
        },
    );
}

fn request_of(
    msg: &soup::ServerMessage,
    path: &str,
    https: bool,
    digest: Option<&Digest>,
) -> Request {
    let mut headers = Vec::new();
    if let Some(h) = msg.request_headers() {
        h.foreach(|name, value| headers.push((name.to_ascii_lowercase(), value.to_string())));
    }
    let body = msg
        .request_body()
        .and_then(|b| b.flatten())
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let authorization = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    let method = msg.method().map(|m| m.to_string()).unwrap_or_default();
    let remote = msg.remote_address().and_then(socket_addr);
    let mut digest_user = None;
    let mut digest_refusal = None;
    let mut digest_stale = false;
    if let (Some(digest), Some(authorization)) = (digest, &authorization) {
        // The target as the client sent it (still percent-encoded, unlike
        // `path`): the `uri` its digest covers.
        let target = match msg.uri() {
            Some(uri) => match uri.query() {
                Some(query) => format!("{}?{query}", uri.path()),
                None => uri.path().to_string(),
            },
            None => path.to_string(),
        };
        let users = &digest.users;
        match digest.auth.borrow_mut().verify(
            &method,
            &target,
            authorization,
            |name| users.get(name).cloned(),
            Instant::now(),
        ) {
            Ok(user) => {
                gst::debug!(
                    CAT,
                    "{method} {target} from {remote:?}: HTTP digest of user '{user}'"
                );
                digest_user = Some(user);
            }
            Err(err) => {
                gst::debug!(
                    CAT,
                    "{method} {target} from {remote:?}: HTTP digest refused: {err}"
                );
                digest_stale = err.stale();
                digest_refusal = Some(err.to_string());
            }
        }
    }
    Request {
        method,
        path: path.to_string(),
        headers,
        body,
        https,
        remote,
        local: msg.local_address().and_then(socket_addr),
        digest_user,
        digest_refusal,
        digest_stale,
        has_authorization: authorization.is_some(),
    }
}

fn respond(
    msg: &soup::ServerMessage,
    request: &Request,
    response: Response,
    digest: Option<&Digest>,
) {
    gst::log!(
        CAT,
        "{} {} from {:?}: {} ({} bytes)",
        request.method,
        request.path,
        request.remote,
        response.status,
        response.body.len()
    );
    msg.set_status(response.status.into(), None);
    if let Some(h) = msg.response_headers() {
        for (name, value) in &response.headers {
            h.append(name, value);
        }
    }
    if response.challenge {
        if let (Some(digest), Some(h)) = (digest, msg.response_headers()) {
            for value in digest
                .auth
                .borrow_mut()
                .challenge(Instant::now(), request.digest_stale)
            {
                h.append("WWW-Authenticate", &value);
            }
        }
    }
    msg.set_response(
        response.content_type.as_deref(),
        soup::MemoryUse::Copy,
        &response.body,
    );
}

fn socket_addr(addr: gio::SocketAddress) -> Option<SocketAddr> {
    let inet = addr.downcast::<gio::InetSocketAddress>().ok()?;
    let ip: std::net::IpAddr = inet.address().to_string().parse().ok()?;
    Some(SocketAddr::new(ip, inet.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_forms() {
        assert_eq!(
            split_host_port("192.168.1.20:8080"),
            Some(("192.168.1.20".into(), Some(8080)))
        );
        assert_eq!(
            split_host_port("camera.local"),
            Some(("camera.local".into(), None))
        );
        assert_eq!(
            split_host_port("[fe80::1]:80"),
            Some(("fe80::1".into(), Some(80)))
        );
        assert_eq!(split_host_port("[fe80::1]"), Some(("fe80::1".into(), None)));
        assert_eq!(split_host_port("host:notaport"), None);
        assert_eq!(split_host_port("[fe80::1"), None);
        assert_eq!(split_host_port("evil/<x>"), None);
        assert_eq!(split_host_port(""), None);
    }
}

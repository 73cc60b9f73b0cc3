//! One back channel session with a camera, over a [`Connection`]: the
//! signalling (OPTIONS, DESCRIBE with the Require tag and its fallbacks,
//! SETUP over UDP or TCP, PLAY), then sending RTP, keepalives and TEARDOWN.
//! The decisions are the pure modules' ([`super::plan`], [`super::rtsp`]);
//! this file only does what they say, in order, and turns failures into
//! [`SinkError`]s that carry the camera's answer.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use super::connection::{Connection, Kind, Message, Method, RtspError};
use super::plan::{self, Choice, PlanError};
use super::rtsp::{self, Challenge, REQUIRE};
use crate::codecs::BackchannelCodec;
use crate::http::digest;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannelsink",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel sink (RTSP client)"),
    )
});

/// How long any answer but DESCRIBE-with-Require's may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TEARDOWN's answer is waited for.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// Which transport to SETUP the back channel with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportMode {
    /// UDP, then TCP interleaved if the camera refuses UDP.
    Auto,
    Udp,
    Tcp,
}

/// What the element's properties say.
#[derive(Clone)]
pub struct Config {
    /// The URL without credentials.
    pub url: String,
    pub credentials: Option<(String, String)>,
    pub prefs: Option<Vec<String>>,
    pub transport: TransportMode,
    pub ptime: u32,
    pub dscp: i32,
    pub setup_all_tracks: bool,
    /// Require on SETUP, PLAY and TEARDOWN too (not only on DESCRIBE).
    pub require_everywhere: bool,
    pub describe_timeout: Duration,
    pub tls_validation: u32,
    pub user_agent: String,
    /// Whether a codec can be sent (its encoder and payloader exist).
    pub can_send: Arc<dyn Fn(&BackchannelCodec) -> bool + Send + Sync>,
}

/// Why there is no back channel, with the camera's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// 551, an SDP without a sendonly track, or no answer.
    NoBackchannel(String),
    /// No codec in common (both lists named).
    NoCodec(String),
    /// 401 or 403.
    NotAuthorized(String),
    /// Another refusal (461 Unsupported Transport, 454, 404...).
    Refused(String),
    /// Unreachable, closed, timed out.
    Connection(String),
}

impl SinkError {
    pub fn message(&self) -> &str {
        match self {
            SinkError::NoBackchannel(m)
            | SinkError::NoCodec(m)
            | SinkError::NotAuthorized(m)
            | SinkError::Refused(m)
            | SinkError::Connection(m) => m,
        }
    }
}

impl From<PlanError> for SinkError {
    fn from(err: PlanError) -> SinkError {
        match err {
            PlanError::NoCommonCodec { .. } => SinkError::NoCodec(err.message()),
            _ => SinkError::NoBackchannel(err.message()),
        }
    }
}

fn connection_error(err: RtspError) -> SinkError {
    SinkError::Connection(err.to_string())
}

/// Where the back channel's RTP goes.
enum Sender {
    Tcp { channel: u8 },
    Udp { socket: UdpSocket, to: SocketAddr },
}

/// Digest state: the challenge answered and its count.
#[derive(Default)]
struct Auth {
    challenge: Option<Challenge>,
    nc: u32,
}

/// A playing back channel.
pub struct Session {
    conn: Connection,
    config: Config,
    /// The codec and payload type sent (set by [`Session::open`] before it
    /// returns).
    choice: Option<Choice>,
    sender: Sender,
    /// The session id and its timeout in seconds.
    session: (String, u32),
    /// The aggregate URL (PLAY, TEARDOWN, keepalives).
    base: String,
    keepalive_method: Method,
    auth: Mutex<Auth>,
    /// UDP sockets of the other tracks (setup-all-tracks), kept open.
    _other_sockets: Vec<UdpSocket>,
}

impl Session {
    /// Connects, negotiates and PLAYs. `codec`: the codec a reconnect must
    /// get again (the running encoder's).
    pub fn open(config: &Config, codec: Option<&str>) -> Result<Session, SinkError> {
        let conn = Connection::connect(
            &config.url,
            ANSWER_TIMEOUT,
            config.tls_validation,
            config.dscp,
        )
        .map_err(connection_error)?;
        gst::info!(CAT, "connected to {}", config.url);
        let mut session = Session {
            conn,
            config: config.clone(),
            choice: None,
            sender: Sender::Tcp { channel: 0 },
            session: (String::new(), 60),
            base: config.url.clone(),
            keepalive_method: Method::Options,
            auth: Mutex::default(),
            _other_sockets: Vec::new(),
        };
        let options = session.request(Method::Options, &config.url, &[], ANSWER_TIMEOUT)?;
        // GstRTSPConnection splits `Public` at its commas into headers.
        let public = Some(options.headers("Public").join(", "));
        gst::debug!(CAT, "OPTIONS answer: Public {public:?}");
        session.keepalive_method =
            Method::from_name(rtsp::keepalive_method(public.as_deref())).unwrap_or(Method::Options);

        let (describe, body, refused) = session.describe()?;
        session.base = plan::base_url(
            &config.url,
            describe.header("Content-Base").as_deref(),
            describe.header("Content-Location").as_deref(),
        );
        let base = Some(session.base.clone());
        let offered = plan::backchannel_formats(&body, &config.url, base.as_deref()).map_err(
            |err| match (SinkError::from(err), &refused) {
                // Say what DESCRIBE with the Require tag got, too.
                (SinkError::NoBackchannel(why), Some(first)) => SinkError::NoBackchannel(format!(
                    "{first}; then without the Require tag: {why}"
                )),
                (err, _) => err,
            },
        )?;
        let prefs: Option<Vec<&str>> = match codec {
            Some(name) => Some(vec![name]),
            None => config
                .prefs
                .as_ref()
                .map(|p| p.iter().map(String::as_str).collect()),
        };
        let can_send = config.can_send.clone();
        let choice = plan::choose(
            &offered,
            prefs.as_deref(),
            |c: &BackchannelCodec| can_send(c),
            config.ptime,
        )?;
        gst::info!(
            CAT,
            "back channel: {} as payload type {} at {} Hz, {} ms packets, control {}",
            choice.codec.name,
            choice.offered.pt,
            choice.offered.clock_rate,
            choice.ptime_ms,
            choice.offered.control
        );
        let control = choice.offered.control.clone();
        session.choice = Some(choice);

        let mut next_channel = 0u8;
        if config.setup_all_tracks {
            for control in plan::other_controls(&body, &config.url, base.as_deref()) {
                session.setup_other(&control, &mut next_channel)?;
            }
        }
        session.setup_backchannel(&control, next_channel)?;

        let require = session.require_header();
        let base = session.base.clone();
        session.request(Method::Play, &base, &require, ANSWER_TIMEOUT)?;
        gst::info!(
            CAT,
            "PLAY answered: sending {} over {}",
            session.choice().codec.name,
            session.transport_name()
        );
        Ok(session)
    }

    /// DESCRIBE with Require; after 551 or no answer, without it (and
    /// then what the first got).
    fn describe(&mut self) -> Result<(Message, Vec<u8>, Option<String>), SinkError> {
        let url = self.config.url.clone();
        let accept = [("Accept", "application/sdp".to_string())];
        let with_require = [accept[0].clone(), ("Require", REQUIRE.to_string())];
        let refused;
        match self.request(
            Method::Describe,
            &url,
            &with_require,
            self.config.describe_timeout,
        ) {
            Ok(answer) => {
                let body = answer.body();
                return Ok((answer, body, None));
            }
            Err(SinkError::NoBackchannel(why)) => {
                gst::info!(CAT, "DESCRIBE with Require refused ({why}); again without");
                refused = Some(why);
            }
            Err(SinkError::Connection(why))
                if why.contains("timed out") || why.contains("timeout") =>
            {
                refused = Some(why.clone());
                gst::info!(
                    CAT,
                    "no answer to DESCRIBE with Require in {:?}; again without, on a new connection",
                    self.config.describe_timeout
                );
                self.conn = Connection::connect(
                    &self.config.url,
                    ANSWER_TIMEOUT,
                    self.config.tls_validation,
                    self.config.dscp,
                )
                .map_err(connection_error)?;
            }
            Err(other) => return Err(other),
        }
        let answer = self.request(Method::Describe, &url, &accept, ANSWER_TIMEOUT)?;
        let body = answer.body();
        Ok((answer, body, refused))
    }

    fn require_header(&self) -> Vec<(&'static str, String)> {
        if self.config.require_everywhere {
            vec![("Require", REQUIRE.to_string())]
        } else {
            Vec::new()
        }
    }

    fn setup_backchannel(&mut self, control: &str, channel: u8) -> Result<(), SinkError> {
        let mut headers = self.require_header();
        if self.config.transport != TransportMode::Tcp {
            match self.setup_udp(control, &headers) {
                Ok(()) => return Ok(()),
                Err(err) if self.config.transport == TransportMode::Auto => {
                    gst::info!(CAT, "UDP refused ({}); TCP interleaved", err.message());
                }
                Err(err) => return Err(err),
            }
        }
        headers.push(("Transport", rtsp::tcp_transport(channel)));
        let answer = self.request(Method::Setup, control, &headers, ANSWER_TIMEOUT)?;
        self.take_session(&answer);
        let reply = rtsp::parse_transport(answer.header("Transport").as_deref());
        // The channel the camera answered, not the one asked for.
        let channel = reply.interleaved.map_or(channel, |(rtp, _)| rtp);
        self.sender = Sender::Tcp { channel };
        Ok(())
    }

    fn setup_udp(
        &mut self,
        control: &str,
        headers: &[(&'static str, String)],
    ) -> Result<(), SinkError> {
        let (socket, rtcp, port) = udp_pair().map_err(SinkError::Connection)?;
        let mut headers = headers.to_vec();
        headers.push(("Transport", rtsp::udp_transport(port)));
        let answer = self.request(Method::Setup, control, &headers, ANSWER_TIMEOUT)?;
        let reply = rtsp::parse_transport(answer.header("Transport").as_deref());
        let Some((server_rtp, _)) = reply.server_port else {
            return Err(SinkError::Refused(format!(
                "the UDP SETUP's answer has no server_port: {}",
                answer.header("Transport").unwrap_or_default()
            )));
        };
        self.take_session(&answer);
        let host = reply
            .source
            .clone()
            .or_else(|| self.conn.remote_ip())
            .unwrap_or_default();
        let to: SocketAddr = format!("{}:{server_rtp}", bracket(&host))
            .parse()
            .map_err(|_| SinkError::Connection(format!("bad camera address {host}")))?;
        set_dscp(&socket, self.config.dscp);
        // The RTCP socket stays open with the RTP one (the camera may send
        // receiver reports to it).
        self._other_sockets.push(rtcp);
        self.sender = Sender::Udp { socket, to };
        Ok(())
    }

    /// SETUP of a track we do not send on (setup-all-tracks): its data is
    /// read and dropped (TCP) or left to a socket nobody reads (UDP).
    fn setup_other(&mut self, control: &str, next_channel: &mut u8) -> Result<(), SinkError> {
        let transport = if self.config.transport == TransportMode::Tcp {
            let t = rtsp::tcp_transport(*next_channel);
            *next_channel += 2;
            t
        } else {
            let (rtp, rtcp, port) = udp_pair().map_err(SinkError::Connection)?;
            self._other_sockets.extend([rtp, rtcp]);
            rtsp::udp_transport(port)
        };
        let answer = self.request(
            Method::Setup,
            control,
            &[("Transport", transport)],
            ANSWER_TIMEOUT,
        )?;
        self.take_session(&answer);
        Ok(())
    }

    fn take_session(&mut self, answer: &Message) {
        if let Some(parsed) = answer
            .header("Session")
            .as_deref()
            .and_then(rtsp::parse_session)
        {
            self.session = parsed;
        }
    }

    /// Sends a request and waits for its answer; answers 401 once with
    /// the credentials. Non-2xx answers become errors.
    fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Message, SinkError> {
        let mut retried = false;
        loop {
            let msg = self.build(method, url, headers);
            self.conn
                .send(&msg, ANSWER_TIMEOUT)
                .map_err(connection_error)?;
            let answer = self.answer(timeout).map_err(|e| {
                if e.timed_out() {
                    SinkError::Connection(format!(
                        "no answer to {} within {} ms (timeout)",
                        method.name(),
                        timeout.as_millis()
                    ))
                } else {
                    connection_error(e)
                }
            })?;
            let (status, reason) = answer.status();
            gst::debug!(CAT, "{} {url}: {status} {reason}", method.name());
            let described = || {
                format!(
                    "{} {url}: {}",
                    method.name(),
                    rtsp::describe_answer(status, &reason, &answer.all_headers())
                )
            };
            match status {
                200..=299 => return Ok(answer),
                401 if !retried && self.config.credentials.is_some() => {
                    let values = answer.headers("WWW-Authenticate");
                    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                    let challenges = rtsp::parse_challenges(&refs);
                    let Some(best) = rtsp::best_challenge(&challenges) else {
                        return Err(SinkError::NotAuthorized(described()));
                    };
                    let mut auth = self.auth.lock().unwrap();
                    let stale_retry = matches!(best, Challenge::Digest { stale: true, .. });
                    auth.challenge = Some(best.clone());
                    auth.nc = 0;
                    drop(auth);
                    // A stale nonce does not count as a failed try.
                    retried = !stale_retry;
                }
                401 | 403 => return Err(SinkError::NotAuthorized(described())),
                551 => return Err(SinkError::NoBackchannel(described())),
                _ => return Err(SinkError::Refused(described())),
            }
        }
    }

    fn build(&self, method: Method, url: &str, headers: &[(&str, String)]) -> Message {
        let mut msg = Message::request(method, url);
        msg.add_header("User-Agent", &self.config.user_agent);
        for (name, value) in headers {
            msg.add_header(name, value);
        }
        if !self.session.0.is_empty() && method != Method::Describe && method != Method::Options {
            msg.add_header("Session", &self.session.0);
        }
        if let Some((user, password)) = &self.config.credentials {
            let mut auth = self.auth.lock().unwrap();
            if let Some(challenge) = auth.challenge.clone() {
                auth.nc += 1;
                let cnonce = digest::hex(&digest::random_bytes::<8>());
                msg.add_header(
                    "Authorization",
                    &rtsp::authorization(
                        &challenge,
                        method.name(),
                        url,
                        user,
                        password,
                        auth.nc,
                        &cnonce,
                    ),
                );
            }
        }
        msg
    }

    /// The next response, skipping interleaved data and server requests.
    fn answer(&self, timeout: Duration) -> Result<Message, RtspError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let msg = self.conn.receive(left.max(Duration::from_millis(1)))?;
            if msg.kind() == Kind::Response {
                return Ok(msg);
            }
        }
    }

    /// Sends one RTP packet (from the streaming thread).
    pub fn send_rtp(&self, packet: &[u8]) -> Result<(), String> {
        match &self.sender {
            Sender::Tcp { channel } => self
                .conn
                .send(&Message::data(*channel, packet), ANSWER_TIMEOUT)
                .map_err(|e| e.to_string()),
            Sender::Udp { socket, to } => socket
                .send_to(packet, to)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    /// Sends a keepalive without waiting for its answer (some cameras never
    /// answer; the receive loop reads it when it comes).
    pub fn keepalive(&self) -> Result<(), RtspError> {
        let msg = self.build(self.keepalive_method, &self.base, &[]);
        gst::debug!(
            CAT,
            "keepalive {} {}",
            self.keepalive_method.name(),
            self.base
        );
        self.conn.send(&msg, ANSWER_TIMEOUT)
    }

    /// When keepalives are due.
    pub fn keepalive_interval(&self) -> Duration {
        rtsp::keepalive_interval(self.session.1)
    }

    /// Whatever the camera sends (answers, RTCP, its own requests).
    pub fn receive(&self, timeout: Duration) -> Result<Message, RtspError> {
        self.conn.receive(timeout)
    }

    /// TEARDOWN, waiting a moment for its answer.
    pub fn teardown(&self) {
        let headers = self.require_header();
        let msg = self.build(Method::Teardown, &self.base, &headers);
        if self.conn.send(&msg, TEARDOWN_TIMEOUT).is_ok() {
            let answered = self.answer(TEARDOWN_TIMEOUT);
            gst::info!(
                CAT,
                "TEARDOWN sent, answer: {:?}",
                answered.map(|a| a.status())
            );
        }
    }

    /// Unblocks the receive loop.
    pub fn close(&self) {
        self.conn.flush();
    }

    pub fn transport_name(&self) -> &'static str {
        match self.sender {
            Sender::Tcp { .. } => "tcp",
            Sender::Udp { .. } => "udp",
        }
    }

    /// What is sent.
    pub fn choice(&self) -> &Choice {
        self.choice
            .as_ref()
            .expect("a session is open only once it chose")
    }

    pub fn session_id(&self) -> &str {
        &self.session.0
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A UDP socket on an even port and one on the next (RTP, RTCP).
fn udp_pair() -> Result<(UdpSocket, UdpSocket, u16), String> {
    for _ in 0..32 {
        let rtp = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
        let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("0.0.0.0", port + 1)) {
            return Ok((rtp, rtcp, port));
        }
    }
    Err("no free pair of UDP ports".into())
}

/// Marks a UDP socket's packets with a DiffServ code point.
fn set_dscp(socket: &UdpSocket, dscp: i32) {
    if dscp < 0 {
        return;
    }
    use std::os::fd::AsRawFd;
    let tos: libc::c_int = dscp << 2;
    // SAFETY: a valid socket and an int option value.
    let res = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_TOS,
            &tos as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if res != 0 {
        gst::warning!(CAT, "cannot set DSCP {dscp} on the UDP socket");
    }
}

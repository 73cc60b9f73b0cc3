//! Scripted fake cameras: a raw RTSP server over TCP on 127.0.0.1 (any free
//! port) that plays the quirks of real cameras (../shared/client-notes.md)
//! for tests of a back channel *client* (`onvifbackchannelsink`).
//!
//! A [`Camera`] answers OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER,
//! SET_PARAMETER and TEARDOWN on every connection it accepts, each
//! connection in a thread of its own (std only, no GStreamer), and records
//! every request (method, URL, headers, connection, time) and every RTP or
//! RTCP packet it receives (TCP interleaved or UDP) with its arrival time.
//! [`CameraConfig`] holds the script: the SDP, the tracks it accepts a SETUP
//! for, and the quirks (551 to Require, no answer to Require, Require only on
//! DESCRIBE, the video SETUP first, a short session timeout, dropped
//! connections, odd Transport replies, digest and Basic challenges, 461 for
//! UDP, a slow PLAY answer).
//!
//! Helpers decode what arrived: [`Rtp::parse`], [`ulaw_to_f32`],
//! [`alaw_to_f32`], [`decode_g711`] and [`decode_with_gstreamer`] (any codec,
//! through GStreamer's own depayloaders and decoders), so a test checks the
//! tone it sent with `audio::dominant_frequency` and `audio::loud_samples`.
//!
//! Nothing here can hang a test: sockets have read timeouts, every wait has
//! a deadline, and dropping the camera closes its listener, its connections
//! and its UDP sockets and joins its threads.

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The ONVIF back channel Require tag.
pub const REQUIRE_TAG: &str = "www.onvif.org/ver20/backchannel";

/// How often the camera's threads look at their clocks and stop flag.
const TICK: Duration = Duration::from_millis(20);

/// What the camera does with `Require: www.onvif.org/ver20/backchannel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequirePolicy {
    /// Takes it on every request (as a gst-rtsp-server device does).
    Everywhere,
    /// Answers 551 Option not supported (+ `Unsupported:`) to a DESCRIBE
    /// with it (Axis); a DESCRIBE without it gets `sdp_without_require`.
    Answer551,
    /// Never answers a DESCRIBE carrying it (go2rtc#830); the request is
    /// recorded and the connection stays open. Without it: `sdp_without_require`.
    NeverAnswer,
    /// Takes it on DESCRIBE only; any other request carrying it gets 551
    /// (cameras that reject it later).
    DescribeOnly,
}

/// What the Transport header of a SETUP answer looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportReply {
    /// The client's transport echoed (with `ssrc=` and `server_port=` where they apply).
    Echo,
    /// No Transport header at all (gortsplib#456).
    Missing,
    /// `RTP/AVP;unicast;interleaved=a-b`: a TCP answer without `/TCP`.
    WithoutTcp,
}

/// A track the camera accepts a SETUP for.
#[derive(Debug, Clone)]
pub struct Track {
    /// The exact URL a correct client SETUPs (after control resolution);
    /// `{base}` stands for `rtsp://127.0.0.1:<port>`.
    pub url: String,
    /// The back channel (sendonly) or a forward track.
    pub backchannel: bool,
}

/// Digest authentication (MD5, RFC 2617), optionally offering Basic too.
#[derive(Debug, Clone)]
pub struct Auth {
    pub user: String,
    pub password: String,
    pub realm: String,
    /// Also offer Basic, in a WWW-Authenticate header *before* the Digest
    /// one (Hikvision offers both, go2rtc#2232); a correct Basic answer is
    /// then accepted too, so the test decides what it expects.
    pub basic_too: bool,
    /// `qop="auth"` in the challenge (answers then need nc and cnonce).
    pub qop: bool,
}

/// The script of a camera. `{base}` in any string is replaced by
/// `rtsp://127.0.0.1:<port>` once the port is known.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    /// The URL path and query a client is given (`location`), e.g. `/stream`.
    pub path: String,
    /// SDP answered to a DESCRIBE with Require (`\n` or `\r\n` line ends; sent with `\r\n`).
    pub sdp: String,
    /// SDP answered to a DESCRIBE without Require; `None` = the same `sdp`.
    pub sdp_without_require: Option<String>,
    /// Content-Base header of DESCRIBE answers (`None`: no header).
    pub content_base: Option<String>,
    /// The tracks SETUP may name; another URL gets 404.
    pub tracks: Vec<Track>,
    pub require: RequirePolicy,
    /// `Public` of OPTIONS answers.
    pub public: String,
    /// Refuse (455 Method Not Valid in This State) a back channel SETUP
    /// before a forward track was SETUP on the session.
    pub video_setup_first: bool,
    /// `Session: id;timeout=N`; when set, a session that gets no request
    /// for N s is expired: the camera closes the connection (RTP does not
    /// count, as in the ONVIF spec).
    pub session_timeout: Option<u32>,
    /// Close the first `drop_connections` connections this long after
    /// their PLAY answer (a camera that drops a talker, go2rtc#1134).
    pub drop_after_play: Option<Duration>,
    pub drop_connections: usize,
    /// Added to the interleaved channels of a TCP SETUP answer (a camera
    /// that changes the channel, go2rtc client.go).
    pub channel_shift: u8,
    pub transport_reply: TransportReply,
    /// Answer a UDP SETUP with 461 Unsupported Transport.
    pub reject_udp: bool,
    pub auth: Option<Auth>,
    /// `ssrc=` in the SETUP answer's Transport (Dahua).
    pub ssrc: Option<u32>,
    /// How long the camera waits before answering PLAY (to catch a client
    /// sending audio before PLAY's 200 OK).
    pub play_delay: Duration,
    /// `Server` header of every answer.
    pub server: String,
}

/// `{base}/stream`: the default path and the forward video/back channel
/// controls of [`CameraConfig::pcmu`].
impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            path: "/stream".into(),
            sdp: String::new(),
            sdp_without_require: None,
            content_base: Some("{base}/stream/".into()),
            tracks: Vec::new(),
            require: RequirePolicy::Everywhere,
            public: "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER".into(),
            video_setup_first: false,
            session_timeout: None,
            drop_after_play: None,
            drop_connections: usize::MAX,
            channel_shift: 0,
            transport_reply: TransportReply::Echo,
            reject_udp: false,
            auth: None,
            ssrc: None,
            play_delay: Duration::ZERO,
            server: "fake-camera".into(),
        }
    }
}

/// The SDP head and a forward H.264 video section with control `video_control`.
fn sdp_head(video_control: &str) -> String {
    format!(
        "v=0\n\
         o=- 2251938202 2251938202 IN IP4 127.0.0.1\n\
         s=Media Server\n\
         c=IN IP4 0.0.0.0\n\
         t=0 0\n\
         a=control:*\n\
         a=range:npt=now-\n\
         m=video 0 RTP/AVP 96\n\
         a=rtpmap:96 H264/90000\n\
         a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\n\
         a=recvonly\n\
         a=control:{video_control}\n"
    )
}

/// One payload type of a back channel section: (pt, rtpmap or None for a
/// static PT left without one, fmtp).
pub type Format<'a> = (u8, Option<&'a str>, Option<&'a str>);

fn audio_section(formats: &[Format], control: &str, extra: &str) -> String {
    let pts: Vec<String> = formats.iter().map(|f| f.0.to_string()).collect();
    let mut s = format!("m=audio 0 RTP/AVP {}\n", pts.join(" "));
    s.push_str(&format!("a=control:{control}\n"));
    for (pt, rtpmap, fmtp) in formats {
        if let Some(r) = rtpmap {
            s.push_str(&format!("a=rtpmap:{pt} {r}\n"));
        }
        if let Some(f) = fmtp {
            s.push_str(&format!("a=fmtp:{pt} {f}\n"));
        }
    }
    s.push_str(extra);
    s.push_str("a=sendonly\n");
    s
}

/// The rtpmap (name/rate[/channels]) and static PT of the codecs the sink
/// can be asked for, by their names in `codecs`.
pub fn rtpmap_of(codec: &str) -> (Option<u8>, &'static str, Option<&'static str>) {
    match codec {
        "PCMU" => (Some(0), "PCMU/8000", None),
        "PCMA" => (Some(8), "PCMA/8000", None),
        "G722" => (Some(9), "G722/8000", None),
        "OPUS" => (None, "opus/48000/2", Some("sprop-stereo=0")),
        "L16-8000" => (None, "L16/8000/1", None),
        "L16-16000" => (None, "L16/16000/1", None),
        "L16-48000" => (None, "L16/48000/1", None),
        "G726-16" => (None, "G726-16/8000", None),
        "G726-24" => (None, "G726-24/8000", None),
        "G726-32" => (None, "G726-32/8000", None),
        "G726-40" => (None, "G726-40/8000", None),
        "AAC-8000" => (None, "MPEG4-GENERIC/8000/1", None),
        "AAC-16000" => (None, "MPEG4-GENERIC/16000/1", None),
        "AAC-32000" => (None, "MPEG4-GENERIC/32000/1", None),
        "AAC-44100" => (None, "MPEG4-GENERIC/44100/1", None),
        "AAC-48000" => (None, "MPEG4-GENERIC/48000/1", None),
        other => panic!("no rtpmap for {other}"),
    }
}

impl CameraConfig {
    /// A plain camera: H.264 forward track `{base}/stream/video`, one
    /// sendonly PCMU back channel `{base}/stream/backchannel`.
    pub fn pcmu() -> CameraConfig {
        Self::one_section(&["PCMU"])
    }

    /// The ONVIF form: one sendonly `m=audio` listing `codecs` (names as in
    /// the sink's `codecs`), in this order, control `backchannel`, dynamic
    /// PTs from 96 for codecs without a static one.
    pub fn one_section(codecs: &[&str]) -> CameraConfig {
        let mut next_pt = 96u8;
        let mut formats = Vec::new();
        for c in codecs {
            let (spt, map, fmtp) = rtpmap_of(c);
            let pt = spt.unwrap_or_else(|| {
                next_pt += 1;
                next_pt - 1
            });
            formats.push((pt, Some(map), fmtp));
        }
        let sdp = sdp_head("video") + &audio_section(&formats, "backchannel", "");
        CameraConfig {
            sdp,
            tracks: vec![
                Track {
                    url: "{base}/stream/video".into(),
                    backchannel: false,
                },
                Track {
                    url: "{base}/stream/backchannel".into(),
                    backchannel: true,
                },
            ],
            ..Default::default()
        }
    }

    /// gst-rtsp-server's form (Axis and other `a=tool:GStreamer` devices):
    /// one sendonly `m=audio` per codec, all with the control `stream=1`.
    pub fn per_codec(codecs: &[&str]) -> CameraConfig {
        let mut sdp = sdp_head("stream=0").replace(
            "s=Media Server",
            "s=Session streamed with GStreamer\na=tool:GStreamer",
        );
        let mut next_pt = 96u8;
        for c in codecs {
            let (spt, map, fmtp) = rtpmap_of(c);
            let pt = spt.unwrap_or_else(|| {
                next_pt += 1;
                next_pt - 1
            });
            sdp += &audio_section(&[(pt, Some(map), fmtp)], "stream=1", "");
        }
        CameraConfig {
            sdp,
            tracks: vec![
                Track {
                    url: "{base}/stream/stream=0".into(),
                    backchannel: false,
                },
                Track {
                    url: "{base}/stream/stream=1".into(),
                    backchannel: true,
                },
            ],
            ..Default::default()
        }
    }

    /// Dahua/Amcrest: the back channel only on the ONVIF URL, one `m=audio`
    /// with 20 payload types (MPEG4-GENERIC without config, G726-40, L16,
    /// PCMU/PCMA at several rates), `a=control:trackID=5` relative to a
    /// Content-Base that ends in '/' after the query (gortsplib#479), and
    /// `ssrc=` in SETUP answers. PCMU is PT 0, PCMA PT 8.
    pub fn dahua() -> CameraConfig {
        let path = "/cam/realmonitor?channel=1&subtype=0&unicast=true&proto=Onvif";
        let formats: Vec<Format> = vec![
            (97, Some("MPEG4-GENERIC/8000/1"), Some("streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3")),
            (98, Some("MPEG4-GENERIC/16000/1"), Some("streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3")),
            (99, Some("MPEG4-GENERIC/32000/1"), None),
            (100, Some("MPEG4-GENERIC/44100/1"), None),
            (101, Some("MPEG4-GENERIC/48000/1"), None),
            (102, Some("MPEG4-GENERIC/64000/1"), None),
            (103, Some("G726-40/8000"), None),
            (104, Some("L16/8000/1"), None),
            (105, Some("L16/16000/1"), None),
            (106, Some("L16/32000/1"), None),
            (107, Some("L16/44100/1"), None),
            (108, Some("L16/48000/1"), None),
            (0, Some("PCMU/8000"), None),
            (8, Some("PCMA/8000"), None),
            (110, Some("PCMU/16000"), None),
            (111, Some("PCMA/16000"), None),
            (112, Some("PCMU/48000"), None),
            (113, Some("PCMA/48000"), None),
            (114, Some("PCMU/44100"), None),
            (115, Some("PCMA/44100"), None),
        ];
        assert_eq!(formats.len(), 20);
        let sdp = sdp_head("trackID=0")
            .replace("s=Media Server", "s=Media Server\na=x-dimensions:1920,1080")
            + &audio_section(&formats, "trackID=5", "");
        CameraConfig {
            path: path.into(),
            sdp,
            content_base: Some(format!("{{base}}{path}/")),
            tracks: vec![
                Track {
                    url: format!("{{base}}{path}/trackID=0"),
                    backchannel: false,
                },
                Track {
                    url: format!("{{base}}{path}/trackID=5"),
                    backchannel: true,
                },
            ],
            ssrc: Some(0x1a2b3c4d),
            server: "Rtsp Server/3.0".into(),
            ..Default::default()
        }
    }

    /// Reolink (`BC Streaming Media`): one sendonly PCMA/8000 track, a
    /// Content-Base whose path differs from the request's, and the given
    /// `a=ptime` / `a=maxptime` (Reolink wants 128 ms packets, go2rtc#331).
    pub fn reolink(ptime: Option<u32>, maxptime: Option<u32>) -> CameraConfig {
        let mut extra = String::new();
        if let Some(p) = ptime {
            extra += &format!("a=ptime:{p}\n");
        }
        if let Some(m) = maxptime {
            extra += &format!("a=maxptime:{m}\n");
        }
        let sdp = sdp_head("trackID=1")
            + &audio_section(&[(8, Some("PCMA/8000"), None)], "trackID=3", &extra);
        CameraConfig {
            path: "/h264Preview_01_main".into(),
            sdp,
            content_base: Some("{base}/".into()),
            tracks: vec![
                Track {
                    url: "{base}/trackID=1".into(),
                    backchannel: false,
                },
                Track {
                    url: "{base}/trackID=3".into(),
                    backchannel: true,
                },
            ],
            server: "BC Streaming Media".into(),
            ..Default::default()
        }
    }

    /// Avigilon: `m=audio 0 RTP/AVP 0 97` with lower-case `pcmu/8000` and
    /// `opus/48000/2`, an invalid `c=SM SM spk0_trackID2` line and an
    /// absolute control with a query (gortsplib PR #501).
    pub fn avigilon() -> CameraConfig {
        let sdp = sdp_head("{base}/defaultPrimary?streamType=u&trackID=1")
            + "m=audio 0 RTP/AVP 0 97\n\
               c=SM SM spk0_trackID2\n\
               a=rtpmap:0 pcmu/8000\n\
               a=rtpmap:97 opus/48000/2\n\
               a=control:{base}/defaultPrimary?streamType=u&trackID=2\n\
               a=sendonly\n";
        CameraConfig {
            path: "/defaultPrimary?streamType=u".into(),
            sdp,
            content_base: Some("{base}/defaultPrimary?streamType=u/".into()),
            tracks: vec![
                Track {
                    url: "{base}/defaultPrimary?streamType=u&trackID=1".into(),
                    backchannel: false,
                },
                Track {
                    url: "{base}/defaultPrimary?streamType=u&trackID=2".into(),
                    backchannel: true,
                },
            ],
            ..Default::default()
        }
    }

    /// The same camera's SDP without any back channel (Hikvision, Tapo):
    /// only its forward video.
    pub fn video_only_sdp() -> String {
        sdp_head("video")
    }
}

/// A request as the camera received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which connection (0 = the first accepted).
    pub conn: usize,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status the camera answered (None: not answered).
    pub status: Option<u16>,
}

impl Request {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether it carried `Require: www.onvif.org/ver20/backchannel`.
    pub fn has_require(&self) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("require"))
            .any(|(_, v)| v.split(',').any(|t| t.trim() == REQUIRE_TAG))
    }
}

/// An RTP (or RTCP) packet as the camera received it.
#[derive(Debug, Clone)]
pub struct Packet {
    pub conn: usize,
    /// The interleaved channel; `None` for UDP.
    pub channel: Option<u8>,
    /// For UDP: where it came from.
    pub from: Option<SocketAddr>,
    /// On the RTCP channel or port (odd channel, RTCP socket).
    pub rtcp: bool,
    pub data: Vec<u8>,
    pub at: Instant,
    /// Whether PLAY had been answered 200 on its connection when it arrived.
    pub after_play: bool,
    /// For UDP: the TOS byte it came with (DSCP << 2).
    pub tos: Option<u8>,
}

/// Things the camera did or saw besides requests and packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Accepted(usize),
    /// The client closed connection n.
    ClosedByClient(usize),
    /// No request within the session timeout: the camera closed connection n.
    Expired(usize),
    /// `drop_after_play`: the camera closed connection n.
    Dropped(usize),
    /// A TCP message the camera could not parse (connection closed).
    Garbage(usize, String),
}

/// Everything a camera recorded.
#[derive(Debug, Default, Clone)]
pub struct Log {
    pub requests: Vec<Request>,
    pub packets: Vec<Packet>,
    pub events: Vec<Event>,
}

impl Log {
    /// Requests of `method`.
    pub fn of(&self, method: &str) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| r.method == method)
            .collect()
    }

    /// The methods in order, for messages.
    pub fn methods(&self) -> Vec<String> {
        self.requests
            .iter()
            .map(|r| {
                format!(
                    "{}#{}{}{}",
                    r.method,
                    r.conn,
                    if r.has_require() { "+R" } else { "" },
                    r.status.map(|s| format!("={s}")).unwrap_or_default()
                )
            })
            .collect()
    }

    /// RTP packets (not RTCP), in arrival order.
    pub fn rtp(&self) -> Vec<&Packet> {
        self.packets.iter().filter(|p| !p.rtcp).collect()
    }

    /// RTP packets parsed (malformed ones skipped).
    pub fn parsed_rtp(&self) -> Vec<Rtp> {
        self.rtp()
            .iter()
            .filter_map(|p| Rtp::parse(&p.data))
            .collect()
    }

    /// The first PLAY answered 200 on connection `conn`.
    pub fn play_answered(&self, conn: usize) -> bool {
        self.requests
            .iter()
            .any(|r| r.conn == conn && r.method == "PLAY" && r.status == Some(200))
    }

    /// Requests that keep a session alive after PLAY on `conn`: any but
    /// TEARDOWN (GET_PARAMETER, OPTIONS, SET_PARAMETER).
    pub fn keepalives(&self, conn: usize) -> Vec<&Request> {
        let Some(play) = self
            .requests
            .iter()
            .position(|r| r.conn == conn && r.method == "PLAY" && r.status == Some(200))
        else {
            return Vec::new();
        };
        self.requests[play + 1..]
            .iter()
            .filter(|r| {
                r.conn == conn
                    && matches!(
                        r.method.as_str(),
                        "GET_PARAMETER" | "OPTIONS" | "SET_PARAMETER"
                    )
            })
            .collect()
    }
}

struct Shared {
    log: Mutex<Log>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn record(&self, f: impl FnOnce(&mut Log)) {
        let mut log = self.log.lock().unwrap();
        f(&mut log);
        drop(log);
        self.changed.notify_all();
    }
}

/// A running fake camera; dropping it stops everything.
pub struct Camera {
    pub port: u16,
    pub config: CameraConfig,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
    conn_threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Camera {
    pub fn start(config: CameraConfig) -> Camera {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("rtsp://127.0.0.1:{port}");
        let config = config.with_base(&base);
        let shared = Arc::new(Shared {
            log: Mutex::new(Log::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let conn_threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept_thread = {
            let shared = shared.clone();
            let config = config.clone();
            let conn_threads = conn_threads.clone();
            std::thread::Builder::new()
                .name("camera-accept".into())
                .spawn(move || {
                    let mut n = 0;
                    for stream in listener.incoming() {
                        if shared.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let conn = n;
                        n += 1;
                        shared.record(|l| l.events.push(Event::Accepted(conn)));
                        let shared = shared.clone();
                        let config = config.clone();
                        let t = std::thread::Builder::new()
                            .name(format!("camera-conn{conn}"))
                            .spawn(move || Connection::new(conn, stream, config, shared).run())
                            .unwrap();
                        conn_threads.lock().unwrap().push(t);
                    }
                })
                .unwrap()
        };
        Camera {
            port,
            config,
            shared,
            accept_thread: Some(accept_thread),
            conn_threads,
        }
    }

    /// `rtsp://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("rtsp://127.0.0.1:{}", self.port)
    }

    /// The URL to give a client (`location`).
    pub fn url(&self) -> String {
        format!("{}{}", self.base(), self.config.path)
    }

    /// The URL with `user:password@` in it.
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!(
            "rtsp://{user}:{password}@127.0.0.1:{}{}",
            self.port, self.config.path
        )
    }

    /// The back channel track's URL.
    pub fn backchannel_url(&self) -> String {
        self.config
            .tracks
            .iter()
            .find(|t| t.backchannel)
            .map(|t| t.url.clone())
            .expect("a back channel track")
    }

    /// A forward track's URL.
    pub fn video_url(&self) -> String {
        self.config
            .tracks
            .iter()
            .find(|t| !t.backchannel)
            .map(|t| t.url.clone())
            .expect("a forward track")
    }

    /// A copy of everything recorded so far.
    pub fn log(&self) -> Log {
        self.shared.log.lock().unwrap().clone()
    }

    /// The live log, locked (keep it short).
    pub fn lock(&self) -> MutexGuard<'_, Log> {
        self.shared.log.lock().unwrap()
    }

    /// Waits until `cond` holds for the log or `timeout` passed; whether it holds.
    pub fn wait(&self, timeout: Duration, mut cond: impl FnMut(&Log) -> bool) -> bool {
        let guard = self.shared.log.lock().unwrap();
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, timeout, |l| !cond(l))
            .unwrap();
        cond(&guard)
    }

    /// Waits for `n` RTP packets in all.
    pub fn wait_rtp(&self, n: usize, timeout: Duration) -> bool {
        self.wait(timeout, |l| l.rtp().len() >= n)
    }

    /// Waits for a request of `method` (on any connection) and returns it.
    pub fn wait_request(&self, method: &str, timeout: Duration) -> Option<Request> {
        let mut found = None;
        self.wait(timeout, |l| {
            found = l.requests.iter().find(|r| r.method == method).cloned();
            found.is_some()
        });
        found
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        let threads = std::mem::take(&mut *self.conn_threads.lock().unwrap());
        for t in threads {
            let _ = t.join();
        }
    }
}

impl CameraConfig {
    fn with_base(mut self, base: &str) -> CameraConfig {
        let fill = |s: &str| s.replace("{base}", base);
        self.sdp = fill(&self.sdp);
        self.sdp_without_require = self.sdp_without_require.as_deref().map(fill);
        self.content_base = self.content_base.as_deref().map(fill);
        for t in &mut self.tracks {
            t.url = fill(&t.url);
        }
        self
    }
}

/// CRLF line ends, as RTSP wants.
fn crlf(sdp: &str) -> String {
    let mut out = String::new();
    for line in sdp.lines() {
        out.push_str(line.trim_end_matches('\r'));
        out.push_str("\r\n");
    }
    out
}

fn md5_hex(text: &str) -> String {
    glib::compute_checksum_for_string(glib::ChecksumType::Md5, text)
        .unwrap()
        .to_string()
}

/// Parameters of an `Authorization: Digest ...` header (quoted or not).
fn digest_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let val;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            val = r[..end].to_string();
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            val = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((name, val));
    }
    out
}

struct Udp {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// An even/odd UDP port pair on 127.0.0.1.
fn udp_pair() -> Udp {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 == 0 {
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
                return Udp { rtp, rtcp };
            }
        }
    }
}

struct Connection {
    conn: usize,
    stream: TcpStream,
    config: CameraConfig,
    shared: Arc<Shared>,
    buf: Vec<u8>,
    session: Option<String>,
    last_request: Instant,
    setups: HashSet<String>,
    played_at: Option<Instant>,
    /// The interleaved RTP channels answered for the back channel.
    nonce: String,
    udp_threads: Vec<JoinHandle<()>>,
    udp_stop: Arc<AtomicBool>,
    playing: Arc<AtomicBool>,
}

enum Message {
    Request(Request),
    Data(u8, Vec<u8>),
}

impl Connection {
    fn new(
        conn: usize,
        stream: TcpStream,
        config: CameraConfig,
        shared: Arc<Shared>,
    ) -> Connection {
        stream.set_read_timeout(Some(TICK)).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.set_nodelay(true);
        Connection {
            conn,
            stream,
            config,
            shared,
            buf: Vec::new(),
            session: None,
            last_request: Instant::now(),
            setups: HashSet::new(),
            played_at: None,
            nonce: format!("{:016x}", rand_u64()),
            udp_threads: Vec::new(),
            udp_stop: Arc::new(AtomicBool::new(false)),
            playing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn run(mut self) {
        let mut chunk = [0u8; 65536];
        'outer: loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                break;
            }
            // Timers: session expiry, dropping after PLAY.
            if let (Some(t), Some(_)) = (self.config.session_timeout, &self.session) {
                if self.last_request.elapsed() > Duration::from_secs(t as u64) {
                    let c = self.conn;
                    self.shared.record(|l| l.events.push(Event::Expired(c)));
                    break;
                }
            }
            if let (Some(d), Some(at)) = (self.config.drop_after_play, self.played_at) {
                if self.conn < self.config.drop_connections && at.elapsed() > d {
                    let c = self.conn;
                    self.shared.record(|l| l.events.push(Event::Dropped(c)));
                    break;
                }
            }
            loop {
                match self.parse_one() {
                    Ok(Some(Message::Request(req))) => {
                        self.last_request = Instant::now();
                        if !self.handle(req) {
                            break 'outer;
                        }
                    }
                    Ok(Some(Message::Data(channel, data))) => {
                        let p = Packet {
                            conn: self.conn,
                            channel: Some(channel),
                            from: None,
                            rtcp: channel % 2 == 1,
                            data,
                            at: Instant::now(),
                            after_play: self.played_at.is_some(),
                            tos: None,
                        };
                        self.shared.record(|l| l.packets.push(p));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let c = self.conn;
                        self.shared.record(|l| l.events.push(Event::Garbage(c, e)));
                        break 'outer;
                    }
                }
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    let c = self.conn;
                    self.shared
                        .record(|l| l.events.push(Event::ClosedByClient(c)));
                    break;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    let c = self.conn;
                    self.shared
                        .record(|l| l.events.push(Event::ClosedByClient(c)));
                    break;
                }
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        self.udp_stop.store(true, Ordering::SeqCst);
        for t in self.udp_threads.drain(..) {
            let _ = t.join();
        }
    }

    /// One message from the buffer, if complete.
    fn parse_one(&mut self) -> Result<Option<Message>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        if self.buf[0] == b'$' {
            if self.buf.len() < 4 {
                return Ok(None);
            }
            let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
            if self.buf.len() < 4 + len {
                return Ok(None);
            }
            let channel = self.buf[1];
            let data = self.buf[4..4 + len].to_vec();
            self.buf.drain(..4 + len);
            return Ok(Some(Message::Data(channel, data)));
        }
        let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buf.len() > 65536 {
                return Err("request head over 64 KiB".into());
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("");
        let mut parts = first.split_whitespace();
        let (Some(method), Some(url), Some(version)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("bad request line {first:?}"));
        };
        if !version.starts_with("RTSP/") {
            return Err(format!("bad request line {first:?}"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                return Err(format!("bad header line {line:?}"));
            };
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        if self.buf.len() < end + 4 + len {
            return Ok(None);
        }
        let body = self.buf[end + 4..end + 4 + len].to_vec();
        self.buf.drain(..end + 4 + len);
        Ok(Some(Message::Request(Request {
            conn: self.conn,
            method: method.to_string(),
            url: url.to_string(),
            headers,
            body,
            at: Instant::now(),
            status: None,
        })))
    }

    /// Answers `req`; false to close the connection.
    fn handle(&mut self, req: Request) -> bool {
        let index = {
            let mut log = self.shared.log.lock().unwrap();
            log.requests.push(req.clone());
            log.requests.len() - 1
        };
        self.shared.changed.notify_all();
        let cseq = req.header("cseq").unwrap_or("0").to_string();
        let answer = self.answer(&req);
        let Some((status, reason, headers, body)) = answer else {
            return true; // no answer at all
        };
        if req.method == "PLAY" && status == 200 && !self.config.play_delay.is_zero() {
            // Still reading (and recording) what arrives meanwhile.
            let end = Instant::now() + self.config.play_delay;
            let mut chunk = [0u8; 65536];
            while Instant::now() < end {
                match self.stream.read(&mut chunk) {
                    Ok(0) => return false,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return false,
                }
                while self.buf.first() == Some(&b'$') {
                    match self.parse_one() {
                        Ok(Some(Message::Data(channel, data))) => {
                            let p = Packet {
                                conn: self.conn,
                                channel: Some(channel),
                                from: None,
                                rtcp: channel % 2 == 1,
                                data,
                                at: Instant::now(),
                                after_play: false,
                                tos: None,
                            };
                            self.shared.record(|l| l.packets.push(p));
                        }
                        _ => break,
                    }
                }
            }
        }
        let mut text = format!(
            "RTSP/1.0 {status} {reason}\r\nCSeq: {cseq}\r\nServer: {}\r\n",
            self.config.server
        );
        for (k, v) in &headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            text.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        text.push_str("\r\n");
        text.push_str(&body);
        if req.method == "PLAY" && status == 200 {
            // Set before the answer leaves: the client may send at once.
            self.played_at = Some(Instant::now());
            self.playing.store(true, Ordering::SeqCst);
        }
        // Recorded before it leaves: a client that reads it may look at once.
        self.shared
            .record(|l| l.requests[index].status = Some(status));
        self.stream.write_all(text.as_bytes()).is_ok()
    }

    fn session_header(&self) -> Option<(String, String)> {
        let id = self.session.as_ref()?;
        Some((
            "Session".into(),
            match self.config.session_timeout {
                Some(t) => format!("{id};timeout={t}"),
                None => id.clone(),
            },
        ))
    }

    /// (status, reason, headers, body); None: no answer.
    #[allow(clippy::type_complexity)]
    fn answer(
        &mut self,
        req: &Request,
    ) -> Option<(u16, &'static str, Vec<(String, String)>, String)> {
        let mut headers: Vec<(String, String)> = Vec::new();
        let unsupported = || vec![("Unsupported".to_string(), REQUIRE_TAG.to_string())];
        if let Some(auth) = self.config.auth.clone() {
            if !self.authorized(req, &auth) {
                if auth.basic_too {
                    headers.push((
                        "WWW-Authenticate".into(),
                        format!("Basic realm=\"{}\"", auth.realm),
                    ));
                }
                let qop = if auth.qop { ", qop=\"auth\"" } else { "" };
                headers.push((
                    "WWW-Authenticate".into(),
                    format!(
                        "Digest realm=\"{}\", nonce=\"{}\"{qop}",
                        auth.realm, self.nonce
                    ),
                ));
                return Some((401, "Unauthorized", headers, String::new()));
            }
        }
        let require = req.has_require();
        if require && req.method != "DESCRIBE" && self.config.require == RequirePolicy::DescribeOnly
        {
            return Some((551, "Option not supported", unsupported(), String::new()));
        }
        // A session named must be ours.
        if let Some(s) = req.header("session") {
            let id = s.split(';').next().unwrap_or("").trim();
            if self.session.as_deref() != Some(id) {
                return Some((454, "Session Not Found", headers, String::new()));
            }
        }
        match req.method.as_str() {
            "OPTIONS" => {
                headers.push(("Public".into(), self.config.public.clone()));
                if let Some(s) = self.session_header() {
                    headers.push(s);
                }
                Some((200, "OK", headers, String::new()))
            }
            "DESCRIBE" => {
                let sdp = if require {
                    match self.config.require {
                        RequirePolicy::Answer551 => {
                            return Some((
                                551,
                                "Option not supported",
                                unsupported(),
                                String::new(),
                            ))
                        }
                        RequirePolicy::NeverAnswer => return None,
                        _ => self.config.sdp.clone(),
                    }
                } else {
                    self.config
                        .sdp_without_require
                        .clone()
                        .unwrap_or_else(|| self.config.sdp.clone())
                };
                headers.push(("Content-Type".into(), "application/sdp".into()));
                if let Some(b) = &self.config.content_base {
                    headers.push(("Content-Base".into(), b.clone()));
                }
                Some((200, "OK", headers, crlf(&sdp)))
            }
            "SETUP" => {
                let Some(track) = self
                    .config
                    .tracks
                    .iter()
                    .find(|t| t.url == req.url)
                    .cloned()
                else {
                    return Some((404, "Not Found", headers, String::new()));
                };
                if track.backchannel
                    && self.config.video_setup_first
                    && !self
                        .config
                        .tracks
                        .iter()
                        .any(|t| !t.backchannel && self.setups.contains(&t.url))
                {
                    return Some((
                        455,
                        "Method Not Valid in This State",
                        headers,
                        String::new(),
                    ));
                }
                let Some(transport) = req.header("transport").map(str::to_string) else {
                    return Some((400, "Bad Request", headers, String::new()));
                };
                // The first transport of a list that we take.
                let first = transport.split(',').next().unwrap_or("").trim().to_string();
                let params: Vec<&str> = first.split(';').collect();
                let tcp = params[0].to_ascii_uppercase().contains("/TCP");
                let mut reply;
                if tcp {
                    let (a, _b) = params
                        .iter()
                        .find_map(|p| p.strip_prefix("interleaved="))
                        .and_then(|r| {
                            let (a, b) = r.split_once('-').unwrap_or((r, r));
                            Some((a.parse::<u8>().ok()?, b.parse::<u8>().ok()?))
                        })
                        .unwrap_or((0, 1));
                    let a = a + self.config.channel_shift;
                    let proto = if self.config.transport_reply == TransportReply::WithoutTcp {
                        "RTP/AVP"
                    } else {
                        "RTP/AVP/TCP"
                    };
                    reply = format!("{proto};unicast;interleaved={}-{}", a, a + 1);
                } else {
                    if self.config.reject_udp {
                        return Some((461, "Unsupported Transport", headers, String::new()));
                    }
                    let Some((cp, cp1)) = params
                        .iter()
                        .find_map(|p| p.strip_prefix("client_port="))
                        .and_then(|r| {
                            let (a, b) = r.split_once('-').unwrap_or((r, r));
                            Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?))
                        })
                    else {
                        return Some((461, "Unsupported Transport", headers, String::new()));
                    };
                    let udp = udp_pair();
                    let sp = udp.rtp.local_addr().unwrap().port();
                    reply = format!(
                        "RTP/AVP;unicast;client_port={cp}-{cp1};server_port={sp}-{};source=127.0.0.1",
                        sp + 1
                    );
                    self.spawn_udp(udp);
                }
                if let Some(ssrc) = self.config.ssrc {
                    reply.push_str(&format!(";ssrc={ssrc:08X}"));
                }
                if self.session.is_none() {
                    self.session = Some(format!("{:08X}", rand_u64() as u32));
                }
                self.setups.insert(track.url.clone());
                if self.config.transport_reply != TransportReply::Missing {
                    headers.push(("Transport".into(), reply));
                }
                headers.push(self.session_header().unwrap());
                Some((200, "OK", headers, String::new()))
            }
            "PLAY" => {
                if self.session.is_none() || req.header("session").is_none() {
                    return Some((454, "Session Not Found", headers, String::new()));
                }
                headers.push(self.session_header().unwrap());
                headers.push(("Range".into(), "npt=0.000-".into()));
                Some((200, "OK", headers, String::new()))
            }
            "GET_PARAMETER" | "SET_PARAMETER" => {
                if !self.config.public.contains(req.method.as_str()) {
                    return Some((
                        405,
                        "Method Not Allowed",
                        vec![("Allow".into(), self.config.public.clone())],
                        String::new(),
                    ));
                }
                if let Some(s) = self.session_header() {
                    headers.push(s);
                }
                Some((200, "OK", headers, String::new()))
            }
            "TEARDOWN" => {
                headers.push(("Connection".into(), "close".into()));
                self.session = None;
                self.played_at = None;
                self.playing.store(false, Ordering::SeqCst);
                Some((200, "OK", headers, String::new()))
            }
            _ => Some((501, "Not Implemented", headers, String::new())),
        }
    }

    fn authorized(&self, req: &Request, auth: &Auth) -> bool {
        let Some(value) = req.header("authorization") else {
            return false;
        };
        if let Some(b) = value.strip_prefix("Basic ") {
            let expected =
                glib::base64_encode(format!("{}:{}", auth.user, auth.password).as_bytes());
            return auth.basic_too && b.trim() == expected.as_str();
        }
        let Some(d) = value.strip_prefix("Digest ") else {
            return false;
        };
        let p = digest_params(d);
        let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return false;
        };
        if user != auth.user || realm != auth.realm || nonce != self.nonce || uri.contains('@') {
            return false;
        }
        let ha1 = md5_hex(&format!("{}:{}:{}", auth.user, auth.realm, auth.password));
        let ha2 = md5_hex(&format!("{}:{uri}", req.method));
        let expected = match (get("qop"), get("nc"), get("cnonce")) {
            (Some(qop), Some(nc), Some(cnonce)) => {
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
            }
            _ if auth.qop => return false,
            _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        };
        response.eq_ignore_ascii_case(&expected)
    }

    fn spawn_udp(&mut self, udp: Udp) {
        for (socket, rtcp) in [(udp.rtp, false), (udp.rtcp, true)] {
            socket.set_read_timeout(Some(TICK)).unwrap();
            super::tos::report_tos(&socket);
            let shared = self.shared.clone();
            let stop = self.udp_stop.clone();
            let playing = self.playing.clone();
            let conn = self.conn;
            self.udp_threads.push(
                std::thread::Builder::new()
                    .name(format!("camera-udp{conn}"))
                    .spawn(move || {
                        let mut buf = [0u8; 65536];
                        while !stop.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
                            if let Ok((n, from, tos)) = super::tos::recv_with_tos(&socket, &mut buf)
                            {
                                let p = Packet {
                                    conn,
                                    channel: None,
                                    from: Some(from),
                                    rtcp,
                                    data: buf[..n].to_vec(),
                                    at: Instant::now(),
                                    after_play: playing.load(Ordering::SeqCst),
                                    tos,
                                };
                                shared.record(|l| l.packets.push(p));
                            }
                        }
                    })
                    .unwrap(),
            );
        }
    }
}

/// Random enough for nonces and session ids (std only).
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// A parsed RTP header and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtp {
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl Rtp {
    /// RFC 3550 §5.1: version 2, CSRCs, a header extension and padding handled.
    pub fn parse(data: &[u8]) -> Option<Rtp> {
        if data.len() < 12 || data[0] >> 6 != 2 {
            return None;
        }
        let cc = (data[0] & 0x0f) as usize;
        let mut start = 12 + 4 * cc;
        if data[0] & 0x10 != 0 {
            let ext = data.get(start..start + 4)?;
            start += 4 + 4 * u16::from_be_bytes([ext[2], ext[3]]) as usize;
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 {
            end = end.checked_sub(*data.last()? as usize)?;
        }
        if start > end {
            return None;
        }
        Some(Rtp {
            pt: data[1] & 0x7f,
            marker: data[1] & 0x80 != 0,
            seq: u16::from_be_bytes([data[2], data[3]]),
            ts: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: data[start..end].to_vec(),
        })
    }
}

/// G.711 µ-law (ITU-T G.711 table 2a) to a sample in [-1, 1).
pub fn ulaw_to_f32(byte: u8) -> f32 {
    let u = !byte;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let s = if u & 0x80 != 0 { -magnitude } else { magnitude };
    s as f32 / 32768.0
}

/// G.711 A-law (ITU-T G.711 table 1a) to a sample in [-1, 1).
pub fn alaw_to_f32(byte: u8) -> f32 {
    let a = byte ^ 0x55;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0f) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    let s = if a & 0x80 != 0 { magnitude } else { -magnitude };
    s as f32 / 32768.0
}

/// The payloads of `packets` (PCMU if `pt` is 0, PCMA if 8, else by
/// `alaw`), decoded at 8 kHz, in sequence order as they arrived.
pub fn decode_g711(packets: &[Rtp], alaw: bool) -> Vec<f32> {
    packets
        .iter()
        .flat_map(|p| p.payload.iter())
        .map(|&b| if alaw { alaw_to_f32(b) } else { ulaw_to_f32(b) })
        .collect()
}

/// Decodes RTP packets of any codec with GStreamer's own depayloader and
/// decoder (`decodebin`), to S16 mono at `rate`, as f32. `caps`: the RTP
/// caps, e.g. `application/x-rtp,media=audio,clock-rate=8000,encoding-name=G722,payload=9`.
pub fn decode_with_gstreamer(packets: &[Vec<u8>], caps: &str, rate: u32) -> Vec<f32> {
    use gst::prelude::*;
    use std::str::FromStr;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=in format=time caps=\"{caps}\" ! decodebin \
         ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,channels=1,rate={rate} \
         ! appsink name=out sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("in")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let out: Arc<Mutex<Vec<f32>>> = Arc::default();
    let o = out.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let map = sample.buffer().unwrap().map_readable().unwrap();
                o.lock().unwrap().extend(
                    map.chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0),
                );
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    // Buffer times from the RTP timestamps (the decoders want times; the
    // packets are in order, so no jitter buffer).
    let clock_rate = gst::Caps::from_str(caps)
        .ok()
        .and_then(|c| c.structure(0)?.get::<i32>("clock-rate").ok())
        .unwrap_or(8000) as u64;
    let first_ts = packets.iter().find_map(|p| Rtp::parse(p)).map(|r| r.ts);
    for p in packets {
        let mut b = gst::Buffer::from_slice(p.clone());
        if let (Some(r), Some(ts0)) = (Rtp::parse(p), first_ts) {
            let ticks = r.ts.wrapping_sub(ts0) as u64;
            b.get_mut().unwrap().set_pts(gst::ClockTime::from_nseconds(
                ticks * 1_000_000_000 / clock_rate,
            ));
        }
        if src.push_buffer(b).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
    let bus = pipeline.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(20),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    if let Some(m) = msg {
        if let gst::MessageView::Error(e) = m.view() {
            panic!("decoding {caps}: {} ({:?})", e.error(), e.debug());
        }
    }
    let v = out.lock().unwrap().clone();
    v
}

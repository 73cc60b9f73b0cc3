/**
 * SECTION:element-onvifbackchannelsink
 *
 * Talks into a camera's or intercom's ONVIF audio back channel: an RTSP
 * client that DESCRIBEs #GstOnvifBackchannelSink:location with
 * `Require: www.onvif.org/ver20/backchannel`, picks the best codec the
 * camera takes (#GstOnvifBackchannelSink:codecs), SETUPs the back channel
 * over UDP or TCP interleaved (#GstOnvifBackchannelSink:transport), PLAYs,
 * and sends what it is given as RTP, paced by the pipeline clock, with
 * keepalives until EOS or stop, then TEARDOWN.
 *
 * It takes raw audio in any format, rate and channel count and encodes it,
 * or audio already encoded as the camera's codec (µ-law, A-law, G.722,
 * Opus), which it sends as it is.
 *
 * Element messages named `onvifbackchannelsink` (field `event`): `connected`
 * (codec, payload-type, clock-rate, ptime, transport, session, url),
 * `disconnected` (reason) and, with #GstOnvifBackchannelSink:reconnect,
 * `reconnecting` (attempt, delay-ms, error).
 *
 * ## Example pipelines
 * |[
 * gst-launch-1.0 autoaudiosrc ! onvifbackchannelsink location=rtsp://user:pw@camera/stream
 * ]| Talk into a camera from the microphone.
 * |[
 * gst-launch-1.0 filesrc location=doorbell.wav ! decodebin ! onvifbackchannelsink location=rtsp://camera/stream
 * ]| Play a file through the camera's speaker; TEARDOWN at the end.
 */
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::encode::{self, SendCodec};
use super::rtsp;
use super::session::{Config, Session, SinkError, TransportMode, CAT};
use crate::codecs::BackchannelCodec;

const DEFAULT_TIMEOUT_MS: u32 = 5000;
/// How long the session stays after EOS before TEARDOWN, by default: the
/// camera plays from a jitter buffer (gst-rtsp-server's: 200 ms), and a
/// TEARDOWN at once would cut the last words.
const DEFAULT_LINGER_MS: u32 = 1000;
const DEFAULT_USER_AGENT: &str = "GStreamer onvifbackchannelsink";
/// How often the I/O thread wakes up to check for keepalives and stops.
const POLL: Duration = Duration::from_millis(100);

/// Values of the `transport` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstOnvifBackchannelSinkTransport")]
pub enum TransportValue {
    #[default]
    #[enum_value(
        name = "Auto: UDP, then TCP interleaved if the camera refuses UDP",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "UDP", nick = "udp")]
    Udp = 1,
    #[enum_value(name = "TCP interleaved in the RTSP connection", nick = "tcp")]
    Tcp = 2,
}

#[derive(Clone)]
struct Settings {
    location: Option<String>,
    user_id: Option<String>,
    user_pw: Option<String>,
    codecs: Option<String>,
    transport: TransportValue,
    ptime: u32,
    dscp: i32,
    reconnect: bool,
    setup_all_tracks: bool,
    require_on_describe_only: bool,
    timeout_ms: u32,
    linger_ms: u32,
    tls_validation: gio::TlsCertificateFlags,
    sync: bool,
    user_agent: String,
}

use soup::gio;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: None,
            user_id: None,
            user_pw: None,
            codecs: None,
            transport: TransportValue::Auto,
            ptime: 0,
            dscp: -1,
            reconnect: false,
            setup_all_tracks: false,
            require_on_describe_only: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            linger_ms: DEFAULT_LINGER_MS,
            tls_validation: gio::TlsCertificateFlags::VALIDATE_ALL,
            sync: true,
            user_agent: DEFAULT_USER_AGENT.into(),
        }
    }
}

enum Control {
    /// EOS: TEARDOWN, then wait for Stop.
    Teardown,
    Stop,
}

/// What exists between PAUSED and READY.
struct Running {
    /// The current session; `None` while reconnecting.
    session: Arc<Mutex<Option<Arc<Session>>>>,
    control: mpsc::Sender<Control>,
    io: Option<std::thread::JoinHandle<()>>,
    codec: &'static BackchannelCodec,
    pt: u8,
    ptime_ms: u32,
    /// The elements of the send chain, once built.
    chain: Vec<gst::Element>,
}

pub struct OnvifBackchannelSink {
    settings: Mutex<Settings>,
    running: Mutex<Option<Running>>,
    sinkpad: gst::GhostPad,
    /// Set when the element stops: ends a linger after EOS early.
    stopping: Arc<(Mutex<bool>, Condvar)>,
}

#[glib::object_subclass]
impl ObjectSubclass for OnvifBackchannelSink {
    const NAME: &'static str = "GstOnvifBackchannelSink";
    type Type = super::OnvifBackchannelSink;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").unwrap();
        let sinkpad = gst::GhostPad::builder_from_template(&templ)
            .name("sink")
            .event_function(|pad, parent, event| {
                OnvifBackchannelSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |sink| sink.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                OnvifBackchannelSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |sink| sink.sink_query(pad, query),
                )
            })
            .build();
        OnvifBackchannelSink {
            settings: Mutex::default(),
            running: Mutex::default(),
            sinkpad,
            stopping: Default::default(),
        }
    }
}

impl ObjectImpl for OnvifBackchannelSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("rtsp:// or rtsps:// URL of the camera's stream; user:password@ allowed")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-id")
                    .nick("User ID")
                    .blurb("User name (instead of the one in location)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-pw")
                    .nick("User password")
                    .blurb("Password (instead of the one in location)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("codecs")
                    .nick("Codecs")
                    .blurb(
                        "Comma-separated codecs to send, in preference order (names as the \
                         factory's codecs: PCMU, PCMA, G722, OPUS, AAC-16000, L16-16000, G726-32, \
                         ...). NULL: the camera's order among those that can be encoded",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("transport", TransportValue::Auto)
                    .nick("Transport")
                    .blurb("How the back channel's RTP goes to the camera")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("ptime")
                    .nick("Packet time")
                    .blurb(
                        "Milliseconds of audio per RTP packet; 0 = the camera's a=ptime, else 20 \
                         (always at most its a=maxptime)",
                    )
                    .maximum(1000)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("dscp")
                    .nick("DSCP")
                    .blurb(
                        "DiffServ code point (0-63) of the packets sent (UDP RTP, or the RTSP \
                         connection that carries interleaved RTP), e.g. 46 (EF); -1: unmarked",
                    )
                    .minimum(-1)
                    .maximum(63)
                    .default_value(-1)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("reconnect")
                    .nick("Reconnect")
                    .blurb(
                        "After the connection to the camera failed, connect again (after 1 s, \
                         doubling up to 30 s), posting a reconnecting message each time, instead of \
                         an error",
                    )
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("setup-all-tracks")
                    .nick("SETUP all tracks")
                    .blurb("SETUP the camera's other tracks too (their data is dropped), for cameras that want it")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("require-on-describe-only")
                    .nick("Require on DESCRIBE only")
                    .blurb(
                        "Send the back channel Require tag only on DESCRIBE (for cameras that \
                         refuse it later); by default also on SETUP, PLAY and TEARDOWN",
                    )
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("timeout")
                    .nick("DESCRIBE timeout")
                    .blurb(
                        "Milliseconds to wait for the answer to DESCRIBE with the Require tag \
                         (some cameras never answer it), then DESCRIBE without",
                    )
                    .minimum(100)
                    .maximum(60_000)
                    .default_value(DEFAULT_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("linger")
                    .nick("Linger")
                    .blurb(
                        "Milliseconds the session stays after EOS before TEARDOWN, so that the \
                         camera plays out what it has buffered (EOS is passed on then)",
                    )
                    .maximum(60_000)
                    .default_value(DEFAULT_LINGER_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFlags::builder::<gio::TlsCertificateFlags>("tls-validation-flags")
                    .nick("TLS validation flags")
                    .blurb("What to check of an rtsps:// camera's certificate")
                    .default_value(gio::TlsCertificateFlags::VALIDATE_ALL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("sync")
                    .nick("Sync")
                    .blurb("Send each packet when the pipeline clock says it is due")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-agent")
                    .nick("User agent")
                    .blurb("User-Agent header of the requests")
                    .default_value(Some(DEFAULT_USER_AGENT))
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location = value.get().unwrap(),
            "user-id" => s.user_id = value.get().unwrap(),
            "user-pw" => s.user_pw = value.get().unwrap(),
            "codecs" => s.codecs = value.get().unwrap(),
            "transport" => s.transport = value.get().unwrap(),
            "ptime" => s.ptime = value.get().unwrap(),
            "dscp" => s.dscp = value.get().unwrap(),
            "reconnect" => s.reconnect = value.get().unwrap(),
            "setup-all-tracks" => s.setup_all_tracks = value.get().unwrap(),
            "require-on-describe-only" => s.require_on_describe_only = value.get().unwrap(),
            "timeout" => s.timeout_ms = value.get().unwrap(),
            "linger" => s.linger_ms = value.get().unwrap(),
            "tls-validation-flags" => s.tls_validation = value.get().unwrap(),
            "sync" => s.sync = value.get().unwrap(),
            "user-agent" => {
                s.user_agent = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_USER_AGENT.into())
            }
            _ => unreachable!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location.to_value(),
            "user-id" => s.user_id.to_value(),
            "user-pw" => s.user_pw.to_value(),
            "codecs" => s.codecs.to_value(),
            "transport" => s.transport.to_value(),
            "ptime" => s.ptime.to_value(),
            "dscp" => s.dscp.to_value(),
            "reconnect" => s.reconnect.to_value(),
            "setup-all-tracks" => s.setup_all_tracks.to_value(),
            "require-on-describe-only" => s.require_on_describe_only.to_value(),
            "timeout" => s.timeout_ms.to_value(),
            "linger" => s.linger_ms.to_value(),
            "tls-validation-flags" => s.tls_validation.to_value(),
            "sync" => s.sync.to_value(),
            "user-agent" => s.user_agent.to_value(),
            _ => unreachable!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().add_pad(&self.sinkpad).unwrap();
        self.obj().set_element_flags(gst::ElementFlags::SINK);
    }
}

impl GstObjectImpl for OnvifBackchannelSink {}

impl ElementImpl for OnvifBackchannelSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONVIF back channel sink",
                "Sink/Audio/Network",
                "Talks into a camera's ONVIF audio back channel (RTSP client)",
                "gst-plugin-onvifbackchannel contributors",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::from_str(
                "audio/x-raw; audio/x-mulaw, rate=8000, channels=1; \
                 audio/x-alaw, rate=8000, channels=1; audio/x-opus; audio/G722",
            )
            .unwrap();
            vec![gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .unwrap()]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                *self.stopping.0.lock().unwrap() = false;
                self.start()?;
            }
            gst::StateChange::PausedToReady => {
                // A linger after EOS holds the streaming thread: end it.
                *self.stopping.0.lock().unwrap() = true;
                self.stopping.1.notify_all();
            }
            _ => {}
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady || result.is_err() {
            self.stop();
        }
        result
    }
}

impl BinImpl for OnvifBackchannelSink {}

use std::str::FromStr;

/// Whether a codec can be sent here: its encoder and payloader exist.
fn can_send(codec: &BackchannelCodec) -> bool {
    encode::elements(&encode::send_codec(codec))
        .iter()
        .all(|e| gst::ElementFactory::find(e).is_some())
}

impl OnvifBackchannelSink {
    fn config(&self) -> Result<(Config, bool), gst::StateChangeError> {
        let s = self.settings.lock().unwrap().clone();
        let Some(location) = s.location.clone() else {
            gst::element_imp_error!(
                self,
                gst::ResourceError::NotFound,
                ("No location set: the camera's rtsp:// URL")
            );
            return Err(gst::StateChangeError);
        };
        let (url, in_url) = rtsp::split_credentials(&location);
        let credentials = match (s.user_id.clone(), s.user_pw.clone(), in_url) {
            (Some(user), Some(pw), _) => Some((user, pw)),
            (Some(user), None, Some((_, pw))) => Some((user, pw)),
            (None, Some(pw), Some((user, _))) => Some((user, pw)),
            (Some(user), None, None) => Some((user, String::new())),
            (_, _, in_url) => in_url,
        };
        let prefs = s.codecs.as_ref().map(|list| {
            list.split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
        });
        Ok((
            Config {
                url,
                credentials,
                prefs,
                transport: match s.transport {
                    TransportValue::Auto => TransportMode::Auto,
                    TransportValue::Udp => TransportMode::Udp,
                    TransportValue::Tcp => TransportMode::Tcp,
                },
                ptime: s.ptime,
                dscp: s.dscp,
                setup_all_tracks: s.setup_all_tracks,
                require_everywhere: !s.require_on_describe_only,
                describe_timeout: Duration::from_millis(s.timeout_ms.into()),
                tls_validation: s.tls_validation.bits(),
                user_agent: s.user_agent.clone(),
                can_send: Arc::new(can_send),
            },
            s.reconnect,
        ))
    }

    fn post_error(&self, err: &SinkError) {
        let text = err.message().to_string();
        match err {
            SinkError::NoBackchannel(_) => gst::element_imp_error!(
                self,
                gst::ResourceError::NotFound,
                ("The camera has no ONVIF audio back channel"),
                ["{}", text]
            ),
            SinkError::NoCodec(_) => gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("No codec in common with the camera"),
                ["{}", text]
            ),
            SinkError::NotAuthorized(_) => gst::element_imp_error!(
                self,
                gst::ResourceError::NotAuthorized,
                ("The camera refused the credentials"),
                ["{}", text]
            ),
            SinkError::Refused(_) => gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                ("The camera refused the back channel"),
                ["{}", text]
            ),
            SinkError::Connection(_) => gst::element_imp_error!(
                self,
                gst::ResourceError::OpenWrite,
                ("Cannot talk to the camera"),
                ["{}", text]
            ),
        }
    }

    fn post_event(&self, structure: gst::Structure) {
        let _ = self.obj().post_message(
            gst::message::Element::builder(structure)
                .src(&*self.obj())
                .build(),
        );
    }

    fn connected_structure(session: &Session, url: &str) -> gst::Structure {
        gst::Structure::builder("onvifbackchannelsink")
            .field("event", "connected")
            .field("codec", session.choice().codec.name)
            .field("payload-type", u32::from(session.choice().offered.pt))
            .field("clock-rate", session.choice().offered.clock_rate)
            .field("ptime", session.choice().ptime_ms)
            .field("transport", session.transport_name())
            .field("session", session.session_id())
            .field("url", url)
            .build()
    }

    /// READY to PAUSED: the whole signalling, then the I/O thread.
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let (config, reconnect) = self.config()?;
        let session = match Session::open(&config, None) {
            Ok(session) => Arc::new(session),
            Err(err) => {
                gst::warning!(CAT, imp = self, "{}", err.message());
                self.post_error(&err);
                return Err(gst::StateChangeError);
            }
        };
        self.post_event(Self::connected_structure(&session, &config.url));
        let (codec, pt, ptime_ms) = (
            session.choice().codec,
            session.choice().offered.pt,
            session.choice().ptime_ms,
        );
        let current = Arc::new(Mutex::new(Some(session)));
        let (control, control_rx) = mpsc::channel();
        let io = {
            let current = current.clone();
            let element = self.obj().downgrade();
            std::thread::Builder::new()
                .name("onvifbcsink-io".into())
                .spawn(move || io_loop(element, config, reconnect, current, control_rx))
                .map_err(|_| gst::StateChangeError)?
        };
        *self.running.lock().unwrap() = Some(Running {
            session: current,
            control,
            io: Some(io),
            codec,
            pt,
            ptime_ms,
            chain: Vec::new(),
        });
        // The chain for raw audio, the common input, now: added during the
        // bin's own state change, it changes state with the bin, and its
        // appsink prerolls like any sink. (Added later from the streaming
        // thread, an appsink could miss the pipeline's change to PLAYING.)
        // Encoded input that the camera takes as it is bypasses the
        // converter and encoder at its caps.
        if let Err(err) = self.build_chain() {
            gst::element_imp_error!(
                self,
                gst::CoreError::MissingPlugin,
                ("Cannot build the send chain"),
                ["{}", err]
            );
            self.stop();
            return Err(gst::StateChangeError);
        }
        Ok(())
    }

    /// PAUSED to READY (or a failed start): TEARDOWN, the chain removed.
    fn stop(&self) {
        let Some(mut running) = self.running.lock().unwrap().take() else {
            return;
        };
        // The I/O thread sees it within its poll period and TEARDOWNs.
        let _ = running.control.send(Control::Stop);
        if let Some(io) = running.io.take() {
            let _ = io.join();
        }
        self.drop_chain(std::mem::take(&mut running.chain));
    }

    /// Caps: everything the pad template lists (raw audio, and encoded audio
    /// that may be passed through), not only what the raw chain built at
    /// start takes; the chain follows the input's caps.
    fn sink_query(&self, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let template = pad.pad_template_caps();
                let caps = match q.filter() {
                    Some(filter) => {
                        filter.intersect_with_mode(&template, gst::CapsIntersectMode::First)
                    }
                    None => template,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                let ok = q.caps().can_intersect(&pad.pad_template_caps());
                q.set_result(ok);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// CAPS of encoded input: pass it through (see `pass_through`). EOS
    /// without a chain (after a refused input): hang up here.
    fn sink_event(&self, pad: &gst::GhostPad, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            if self.sinkpad.target().is_none() {
                // No chain (and no appsink) to post EOS: hang up and post
                // it here.
                gst::info!(CAT, imp = self, "EOS without a send chain: TEARDOWN");
                if let Some(running) = self.running.lock().unwrap().as_ref() {
                    let _ = running.control.send(Control::Teardown);
                }
                let _ = self
                    .obj()
                    .post_message(gst::message::Eos::builder().src(&*self.obj()).build());
                return true;
            }
        }
        if let gst::EventView::Caps(caps) = event.view() {
            let input = caps
                .caps()
                .structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            if input != "audio/x-raw" {
                if let Err(err) = self.pass_through(&input) {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Negotiation,
                        ("Cannot send this input to the camera"),
                        ["{}", err]
                    );
                    return false;
                }
            }
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// Encoded input in the camera's codec: the converter and encoder in
    /// front of the payloader leave, and the sink pad points at the
    /// payloader. The payloader and the appsink stay, so the sink that
    /// prerolled is the one that plays.
    fn pass_through(&self, input: &str) -> Result<(), String> {
        let (front, payloader) = {
            let mut running = self.running.lock().unwrap();
            let running = running.as_mut().ok_or("not connected")?;
            let send = encode::send_codec(running.codec);
            if send.passthrough != Some(input) {
                return Err(format!(
                    "the input is {input}, the camera takes {}: give raw audio (audio/x-raw) or {}",
                    running.codec.name,
                    send.passthrough.unwrap_or("raw audio only")
                ));
            }
            // The payloader and the appsink are the chain's last two.
            let tail = running.chain.len().saturating_sub(2);
            if tail == 0 {
                return Ok(()); // Passed through already.
            }
            gst::info!(
                CAT,
                imp = self,
                "{input} sent as it is ({})",
                running.codec.name
            );
            let front: Vec<_> = running.chain.drain(..tail).collect();
            (front, running.chain[0].clone())
        };
        self.drop_chain(front);
        let pad = payloader
            .static_pad("sink")
            .ok_or("the payloader has no sink pad")?;
        self.sinkpad
            .set_target(Some(&pad))
            .map_err(|e| e.to_string())
    }

    /// `chain` unlinked from the sink pad, set to NULL and out of the bin.
    fn drop_chain(&self, chain: Vec<gst::Element>) {
        let _ = self.sinkpad.set_target(None::<&gst::Pad>);
        for element in chain {
            let _ = element.set_state(gst::State::Null);
            let _ = self.obj().remove(&element);
        }
    }

    /// Builds the send chain for raw audio (converter, resampler, the
    /// encoder of the camera's codec, payloader, appsink) and points the
    /// sink pad at it.
    fn build_chain(&self) -> Result<(), String> {
        let mut running = self.running.lock().unwrap();
        let running = running.as_mut().ok_or("not connected")?;
        let send = encode::send_codec(running.codec);
        let make = |name: &str| {
            gst::ElementFactory::make(name)
                .build()
                .map_err(|_| format!("element {name} is missing"))
        };
        let mut chain = vec![make("audioconvert")?, make("audioresample")?];
        let mut raw = gst::Caps::builder("audio/x-raw")
            .field("rate", send.raw_rate as i32)
            .field("channels", send.raw_channels as i32);
        if let Some(format) = send.raw_format {
            raw = raw.field("format", format);
        }
        chain.push(
            gst::ElementFactory::make("capsfilter")
                .property("caps", raw.build())
                .build()
                .map_err(|e| e.to_string())?,
        );
        if let Some(encoder) = send.encoder {
            let encoder = make(encoder)?;
            for (name, value) in &send.encoder_props {
                encoder.set_property_from_str(name, value);
            }
            if encoder.find_property("frame-size").is_some() {
                // Opus: the packet time is the frame size.
                encoder.set_property_from_str(
                    "frame-size",
                    &encode::opus_frame_ms(running.ptime_ms).to_string(),
                );
            }
            chain.push(encoder);
        }
        chain.push(self.payloader(&send, running.pt, running.ptime_ms)?);
        chain.push(self.appsink(running.session.clone(), running.control.clone()));
        let bin = self.obj();
        bin.add_many(&chain).map_err(|e| e.to_string())?;
        gst::Element::link_many(&chain).map_err(|e| e.to_string())?;
        let first = chain[0].static_pad("sink").unwrap();
        self.sinkpad
            .set_target(Some(&first))
            .map_err(|e| e.to_string())?;
        gst::info!(
            CAT,
            imp = self,
            "sending raw audio as {} (payload type {}, {} ms packets)",
            running.codec.name,
            running.pt,
            running.ptime_ms
        );
        running.chain = chain;
        Ok(())
    }

    fn payloader(&self, send: &SendCodec, pt: u8, ptime_ms: u32) -> Result<gst::Element, String> {
        let pay = gst::ElementFactory::make(send.payloader)
            .property("pt", u32::from(pt))
            .build()
            .map_err(|_| format!("element {} is missing", send.payloader))?;
        if send.ptime_on_payloader && pay.find_property("min-ptime").is_some() {
            let ns = i64::from(ptime_ms) * 1_000_000;
            pay.set_property("min-ptime", ns);
            pay.set_property("max-ptime", ns);
        }
        Ok(pay)
    }

    /// Hands each RTP packet, when due by the clock, to the current session.
    fn appsink(
        &self,
        session: Arc<Mutex<Option<Arc<Session>>>>,
        control: mpsc::Sender<Control>,
    ) -> gst::Element {
        let (sync, linger) = {
            let s = self.settings.lock().unwrap();
            (s.sync, Duration::from_millis(s.linger_ms.into()))
        };
        let stopping = self.stopping.clone();
        let control = Mutex::new(control);
        let dropped = AtomicBool::new(false);
        gst_app::AppSink::builder()
            .sync(sync)
            // Rendering is one socket write: basesink's default 20 ms
            // processing deadline, added to a live pipeline's latency,
            // would hold every packet 20 ms longer than it needs.
            .processing_deadline(gst::ClockTime::ZERO)
            .callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |appsink| {
                        let sample = appsink
                            .pull_sample()
                            .map_err(|_| gst::FlowError::Flushing)?;
                        let Some(buffer) = sample.buffer() else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let current = session.lock().unwrap().clone();
                        match current {
                            Some(session) => {
                                let map =
                                    buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                                if let Err(err) = session.send_rtp(&map) {
                                    gst::debug!(CAT, "packet not sent: {err}");
                                }
                                dropped.store(false, Ordering::Relaxed);
                            }
                            None => {
                                if !dropped.swap(true, Ordering::Relaxed) {
                                    gst::debug!(CAT, "not connected: packets dropped");
                                }
                            }
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .eos(move |_| {
                        // Everything, the encoder's last frames included,
                        // has been sent: give the camera time to play it
                        // out before TEARDOWN (EOS is posted after this).
                        gst::debug!(CAT, "EOS: {linger:?} before TEARDOWN");
                        let (lock, wake) = &*stopping;
                        let _ = wake
                            .wait_timeout_while(lock.lock().unwrap(), linger, |stopping| !*stopping)
                            .unwrap();
                        let _ = control.lock().unwrap().send(Control::Teardown);
                    })
                    .build(),
            )
            .build()
            .upcast()
    }
}

/// The I/O thread: reads what the camera sends, sends keepalives, notices
/// a lost connection (and reconnects if asked), and TEARDOWNs at the end.
fn io_loop(
    element: glib::WeakRef<super::OnvifBackchannelSink>,
    config: Config,
    reconnect: bool,
    current: Arc<Mutex<Option<Arc<Session>>>>,
    control: mpsc::Receiver<Control>,
) {
    let post = |s: gst::Structure| {
        if let Some(e) = element.upgrade() {
            e.imp().post_event(s);
        }
    };
    let mut next_keepalive = Instant::now()
        + current
            .lock()
            .unwrap()
            .as_ref()
            .map_or(Duration::from_secs(55), |s| s.keepalive_interval());
    let mut torn_down = false;
    loop {
        match control.try_recv() {
            Ok(Control::Stop) | Err(mpsc::TryRecvError::Disconnected) => break,
            Ok(Control::Teardown) => {
                if let Some(session) = current.lock().unwrap().take() {
                    session.teardown();
                }
                torn_down = true;
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
        let session = current.lock().unwrap().clone();
        let Some(session) = session else {
            // Torn down (EOS) or failed: wait for the end.
            if let Ok(Control::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) =
                control.recv_timeout(POLL)
            {
                break;
            }
            continue;
        };
        match session.receive(POLL) {
            Ok(msg) => {
                if msg.kind() == super::connection::Kind::Response {
                    gst::log!(CAT, "answer {:?}", msg.status());
                }
            }
            Err(err) if err.timed_out() => {}
            Err(err) => {
                current.lock().unwrap().take();
                let reason = format!("the connection to the camera ended ({err})");
                gst::warning!(CAT, "{reason}");
                post(
                    gst::Structure::builder("onvifbackchannelsink")
                        .field("event", "disconnected")
                        .field("reason", &reason)
                        .build(),
                );
                if !reconnect {
                    if let Some(e) = element.upgrade() {
                        e.imp().post_error(&SinkError::Connection(reason));
                    }
                    continue;
                }
                let codec = session.choice().codec.name;
                drop(session);
                match reconnect_loop(&element, &config, codec, &control) {
                    Some(new) => {
                        next_keepalive = Instant::now() + new.keepalive_interval();
                        post(OnvifBackchannelSink::connected_structure(&new, &config.url));
                        *current.lock().unwrap() = Some(Arc::new(new));
                    }
                    None => break,
                }
                continue;
            }
        }
        if Instant::now() >= next_keepalive {
            if let Err(err) = session.keepalive() {
                gst::debug!(CAT, "keepalive not sent: {err}");
            }
            next_keepalive = Instant::now() + session.keepalive_interval();
        }
    }
    if !torn_down {
        if let Some(session) = current.lock().unwrap().take() {
            session.teardown();
        }
    }
}

/// Connects again with backoff until it works (`Some`) or the element stops.
fn reconnect_loop(
    element: &glib::WeakRef<super::OnvifBackchannelSink>,
    config: &Config,
    codec: &str,
    control: &mpsc::Receiver<Control>,
) -> Option<Session> {
    let mut last_error = String::from("disconnected");
    for attempt in 1u32.. {
        let delay = rtsp::backoff(attempt - 1);
        if let Some(e) = element.upgrade() {
            e.imp().post_event(
                gst::Structure::builder("onvifbackchannelsink")
                    .field("event", "reconnecting")
                    .field("attempt", attempt)
                    .field("delay-ms", delay.as_millis() as u64)
                    .field("error", &last_error)
                    .build(),
            );
        }
        gst::info!(CAT, "reconnecting in {delay:?} (attempt {attempt})");
        match control.recv_timeout(delay) {
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        match Session::open(config, Some(codec)) {
            Ok(session) => return Some(session),
            Err(err) => {
                gst::info!(CAT, "reconnect attempt {attempt} failed: {}", err.message());
                last_error = err.message().to_string();
            }
        }
    }
    None
}

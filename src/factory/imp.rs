/**
 * SECTION:GstOnvifBackchannelMediaFactory
 *
 * A GstRTSPOnvifMediaFactory whose mounts get the ONVIF audio back channel.
 * Load the plugin, create it by type name and mount it on a
 * GstRTSPOnvifServer:
 *
 * |[<!-- language="C" -->
 * gst_plugin_load_by_name ("onvifbackchannel");
 * GstRTSPMediaFactory *factory =
 *     g_object_new (g_type_from_name ("GstOnvifBackchannelMediaFactory"),
 *         "launch", "( v4l2src ! videoconvert ! x264enc tune=zerolatency ! rtph264pay name=pay0 )",
 *         "output", "audioconvert ! audioresample ! alsasink device=hw:0",
 *         "talk-policy", 2, NULL);  // mix
 * gst_rtsp_mount_points_add_factory (mounts, "/stream", factory);
 * ]|
 *
 * `launch` runs once for every client. A client that sends
 * `Require: www.onvif.org/ver20/backchannel` gets one sendonly audio track
 * listing every codec of `codecs`; what it sends is decoded and played by
 * `output`, a pipeline that starts with the first back channel and keeps
 * running. With authentication on the server, only roles granted the
 * permission `onvifbackchannel.talk` in the factory's GstRTSPPermissions see
 * the back channel (others get 403 on its SETUP):
 *
 * |[<!-- language="C" -->
 * GstRTSPPermissions *perms = gst_rtsp_permissions_new ();
 * gst_rtsp_permissions_add_role (perms, "operator",
 *     GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
 *     GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE,
 *     "onvifbackchannel.talk", G_TYPE_BOOLEAN, TRUE, NULL);
 * gst_rtsp_media_factory_set_permissions (factory, perms);
 * ]|
 *
 * `codecs` names AAC by rate (`AAC-8000` ... `AAC-48000`; `AAC` alone: every
 * rate). `dscp` (the inherited `dscp-qos`) marks the RTP and RTCP sent over
 * UDP with a DiffServ code point, e.g. 46 (EF) for audio; -1, the default,
 * leaves them unmarked.
 * Who is heard when several clients talk: `talk-policy`. The floor follows
 * voice, not packets: a talk spurt starts with audio above `voice-threshold`
 * and ends after 1 s without any, so a client that streams silence holds
 * nothing.
 *
 * Signals: `talk-event::started|stopped|refused|left` (a GstStructure with
 * talker, address, session, codec, received, lost, dropped) and
 * `output-error`.
 */
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;

use super::TalkPolicyValue;
use crate::codecs::CodecList;
use crate::forward::SharedForward;
use crate::media::OnvifBackchannelMedia;
use crate::output::OutputPipeline;
use crate::receiver::{rtp_caps, BackchannelReceiver};
use crate::rtsp_headers;
use crate::talk::Talk;
use crate::webrtc::talker::{Offer, OnEnd, Outcome, Settings as WebRtcSettings, Talkers};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel media factory"),
    )
});

/// Receive latency (ms): how long a talker's first audio waits before it is
/// played, as a margin against network jitter, and the jitter buffer latency
/// of the codecs decoded by elements. gst-rtsp-server's default of 200 ms
/// would make every talker's first words 200 ms late.
pub const DEFAULT_LATENCY_MS: u32 = 20;

/// The permission, in the factory's GstRTSPPermissions, that lets a role
/// talk: grant it to a role with e.g. `gst_rtsp_permissions_add_role (perms,
/// "operator", "media.factory.access", G_TYPE_BOOLEAN, TRUE,
/// "media.factory.construct", G_TYPE_BOOLEAN, TRUE, "onvifbackchannel.talk",
/// G_TYPE_BOOLEAN, TRUE, NULL)`. Without authentication on the server,
/// everyone may talk.
pub const TALK_PERMISSION: &str = "onvifbackchannel.talk";

/// How long (ms) the forward pipeline runs on after its last client: long
/// enough for a client that reconnects at once (a VMS after a network blip),
/// short enough that an idle camera soon stops encoding.
pub const DEFAULT_FORWARD_LINGER_MS: u32 = 5000;

pub const DEFAULT_OUTPUT: &str = "audioconvert ! audioresample ! autoaudiosink";

fn element_exists(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

/// Every codec of the table whose elements are installed.
pub fn default_codecs() -> CodecList {
    CodecList::available(element_exists)
}

/// The properties about who may talk, shared with `onvifbackchannelsrc`
/// (which forwards them to its factory); `extra_flags` adds e.g.
/// `gst::PARAM_FLAG_MUTABLE_READY` there.
pub fn talk_properties(extra_flags: glib::ParamFlags) -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("codecs")
            .nick("Codecs")
            .blurb(
                "Comma-separated codecs the back channel accepts, in preference order: \
                         PCMU, PCMA, G722, OPUS, AAC-16000, AAC-48000, AAC-44100, AAC-32000, \
                         AAC-8000, L16-48000, L16-16000, L16-8000, G726-40, G726-32, G726-24, \
                         G726-16 (case-insensitive; AAC = every AAC rate not listed before it). \
                         Default: every one whose depayloader and decoder are installed. \
                         Empty: no back channel on this mount",
            )
            .default_value(Some(default_codecs().names().as_str()))
            .flags(glib::ParamFlags::READWRITE | extra_flags)
            .build(),
        glib::ParamSpecEnum::builder_with_default("talk-policy", TalkPolicyValue::default())
            .nick("Talk policy")
            .blurb("Who is heard when several clients send audio")
            .flags(glib::ParamFlags::READWRITE | extra_flags)
            .build(),
        glib::ParamSpecUInt::builder("forward-linger")
            .nick("Forward linger")
            .blurb(
                "Milliseconds the forward pipeline (launch) keeps running after the last \
                 client left, so that a client that reconnects at once does not restart \
                 the encoders; then it stops, releasing capture devices and encoders, \
                 and the next client starts it again (0 = stop at once)",
            )
            .maximum(3_600_000)
            .default_value(DEFAULT_FORWARD_LINGER_MS)
            .flags(glib::ParamFlags::READWRITE | extra_flags)
            .build(),
        glib::ParamSpecUInt::builder("max-talkers")
            .nick("Maximum talkers")
            .blurb(
                "Back channel SETUPs allowed at once; more get 453 Not Enough \
                         Bandwidth (0 = no limit; viewers without the back channel never count)",
            )
            .default_value(0)
            .flags(glib::ParamFlags::READWRITE | extra_flags)
            .build(),
        glib::ParamSpecUInt::builder("webrtc-timeout")
            .nick("WebRTC timeout")
            .blurb(
                "Seconds after which a WebRTC (WHIP) talker whose peer sends nothing (no \
                 RTP, no RTCP, no keepalive GET on its resource) is hung up and its seat \
                 freed: GStreamer 1.22 has no ICE consent freshness, so a browser that \
                 lost its network is noticed only this way",
            )
            .minimum(1)
            .maximum(3600)
            .default_value(crate::webrtc::talker::DEFAULT_TIMEOUT_S)
            .flags(glib::ParamFlags::READWRITE | extra_flags)
            .build(),
        glib::ParamSpecDouble::builder("voice-threshold")
            .nick("Voice threshold")
            .blurb(
                "Level (dBFS, RMS over 10 ms) above which a talker's audio is voice: \
                         a talk spurt starts with voice and ends after 1 s without it, so a \
                         client that streams silence does not hold the floor",
            )
            .minimum(-90.0)
            .maximum(0.0)
            .default_value(crate::vad::THRESHOLD_DBFS)
            .flags(glib::ParamFlags::READWRITE | extra_flags)
            .build(),
    ]
}

/// The `dscp` property, shared with `onvifbackchannelsrc` (which forwards it
/// to its factory); `extra_flags` as for [`talk_properties`].
pub fn dscp_property(extra_flags: glib::ParamFlags) -> glib::ParamSpec {
    glib::ParamSpecInt::builder("dscp")
        .nick("DSCP")
        .blurb(
            "DiffServ code point (0-63) of the RTP and RTCP packets the streams send \
             over UDP, e.g. 46 (EF) for audio, 34 (AF41) for video. -1: unmarked, the \
             system's default. On the factory, the same setting as the inherited \
             dscp-qos",
        )
        .minimum(-1)
        .maximum(63)
        .default_value(-1)
        .flags(glib::ParamFlags::READWRITE | extra_flags)
        .build()
}

struct Settings {
    max_talkers: u32,
    forward_linger: std::time::Duration,
    codecs: CodecList,
    /// Why the last `codecs` value was refused, until a valid one is set.
    codecs_error: Option<String>,
    output: String,
    talk_policy: TalkPolicyValue,
    voice_threshold: f64,
    webrtc_timeout: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_talkers: 0,
            forward_linger: std::time::Duration::from_millis(DEFAULT_FORWARD_LINGER_MS.into()),
            codecs: default_codecs(),
            codecs_error: None,
            output: DEFAULT_OUTPUT.into(),
            talk_policy: TalkPolicyValue::default(),
            voice_threshold: crate::vad::THRESHOLD_DBFS,
            webrtc_timeout: crate::webrtc::talker::DEFAULT_TIMEOUT_S,
        }
    }
}

/// Exists from the first back channel on, for the factory's whole life.
#[derive(Default)]
struct State {
    talk: Option<Arc<Talk>>,
    /// WebRTC (WHIP) talkers, from the first offer on.
    webrtc: Option<Arc<Talkers>>,
    output: Option<OutputPipeline>,
    forward: Option<Arc<SharedForward>>,
    /// The pipeline of the last forward, until it has stopped.
    last_forward_pipeline: Option<glib::WeakRef<gst::Pipeline>>,
}

#[derive(Default)]
pub struct OnvifBackchannelMediaFactory {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Clients whose SETUPs are checked against `max-talkers`.
    watched_clients: Mutex<Vec<glib::WeakRef<gst_rtsp_server::RTSPClient>>>,
}

#[glib::object_subclass]
impl ObjectSubclass for OnvifBackchannelMediaFactory {
    const NAME: &'static str = "GstOnvifBackchannelMediaFactory";
    type Type = super::OnvifBackchannelMediaFactory;
    type ParentType = gst_rtsp_server::RTSPOnvifMediaFactory;
}

impl ObjectImpl for OnvifBackchannelMediaFactory {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = talk_properties(glib::ParamFlags::empty());
            properties.push(dscp_property(glib::ParamFlags::empty()));
            properties.extend([
                glib::ParamSpecString::builder("output")
                    .nick("Output")
                    .blurb(
                        "Pipeline description that plays the received audio (F32 mono 48 kHz \
                         from an internal live source); built once, at the first back channel",
                    )
                    .default_value(Some(DEFAULT_OUTPUT))
                    .build(),
                glib::ParamSpecObject::builder::<gst::Pipeline>("forward-pipeline")
                    .nick("Forward pipeline")
                    .blurb(
                        "The pipeline running `launch` once for every client (NULL until \
                         the first client); stopped forward-linger after the last client \
                         left and started again by the next; after an error or the end of \
                         its stream, the next client starts a new one",
                    )
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("onvif-audio-output")
                    .nick("ONVIF audio output")
                    .blurb(
                        "What an application's own ONVIF server advertises for this mount's \
                         back channel: media1-decoder-options (XML of \
                         tt:AudioDecoderConfigurationOptions' children: AACDecOptions, \
                         G711DecOptions, G726DecOptions), media2-decoder-options (XML of tr2:Options \
                         elements, IANA encoding names), encodings (the SDP's encoding names, in \
                         order); follows codecs. The stream URL: the stream-uri action signal",
                    )
                    .read_only()
                    .build(),
                glib::ParamSpecObject::builder::<gst::Pipeline>("output-pipeline")
                    .nick("Output pipeline")
                    .blurb("The standing output pipeline (NULL until the first back channel); watch its bus")
                    .read_only()
                    .build(),
            ]);
            properties
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                // stream-uri (GstRTSPServer server, gchararray mount_point,
                // gchararray host) -> gchararray: the URL ONVIF GetStreamUri
                // answers for this mount when the client reached the device
                // at `host`: rtsps:// if the server's auth has a TLS
                // certificate, the server's bound port.
                glib::subclass::Signal::builder("stream-uri")
                    .param_types([
                        gst_rtsp_server::RTSPServer::static_type(),
                        String::static_type(),
                        String::static_type(),
                    ])
                    .return_type::<String>()
                    .action()
                    .class_handler(|args| {
                        let server = args[1].get::<gst_rtsp_server::RTSPServer>().ok()?;
                        let mount = args[2].get::<String>().ok()?;
                        let host = args[3].get::<String>().ok()?;
                        Some(stream_uri(&server, &mount, &host).to_value())
                    })
                    .build(),
                // webrtc-offer (gchararray offer, gchararray peer, gchararray
                // local_address) -> GstStructure: answers a WebRTC (WHIP)
                // offer with a talker on this mount's floor, for
                // applications that serve WHIP from their own web stack.
                // `peer` ("ip:port", may be NULL) names the talker in talk
                // events; `local_address` (may be NULL: every interface)
                // is where ICE candidates are gathered, e.g. the address
                // the browser reached the web server on. Blocks until the
                // answer is ready (ICE gathering, some 200 ms). The reply
                // `webrtc-answer` has `status` (guint: 201, or the HTTP
                // status to refuse with), `session` (the name to hang up
                // with) and `sdp` on success, `reason` otherwise.
                glib::subclass::Signal::builder("webrtc-offer")
                    .param_types([
                        String::static_type(),
                        String::static_type(),
                        String::static_type(),
                    ])
                    .return_type::<gst::Structure>()
                    .action()
                    .class_handler(|args| {
                        let factory = args[0].get::<super::OnvifBackchannelMediaFactory>().ok()?;
                        let offer = args[1]
                            .get::<Option<String>>()
                            .ok()
                            .flatten()
                            .unwrap_or_default();
                        let peer = args[2].get::<Option<String>>().ok().flatten();
                        let local = args[3].get::<Option<String>>().ok().flatten();
                        Some(
                            factory
                                .imp()
                                .webrtc_offer_signal(&offer, peer, local)
                                .to_value(),
                        )
                    })
                    .build(),
                // webrtc-hang-up (gchararray session) -> gboolean: ends a
                // WebRTC talker (FALSE: no such session).
                glib::subclass::Signal::builder("webrtc-hang-up")
                    .param_types([String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let factory = args[0].get::<super::OnvifBackchannelMediaFactory>().ok()?;
                        let session = args[1].get::<Option<String>>().ok().flatten()?;
                        Some(factory.webrtc_hang_up(&session).to_value())
                    })
                    .build(),
                // webrtc-session-ended (gchararray session, gchararray
                // reason): a WebRTC talker ended (hung up, failed, silent
                // for webrtc-timeout, stopped). From the session's thread.
                glib::subclass::Signal::builder("webrtc-session-ended")
                    .param_types([String::static_type(), String::static_type()])
                    .run_last()
                    .build(),
                glib::subclass::Signal::builder("output-error")
                    .param_types([String::static_type()])
                    .build(),
                // Detailed by the event: "talk-event::started", "::stopped",
                // "::refused", "::left"; the structure is the one posted as
                // element message by onvifbackchannelsrc.
                glib::subclass::Signal::builder("talk-event")
                    .param_types([gst::Structure::static_type()])
                    .flags(glib::SignalFlags::DETAILED | glib::SignalFlags::RUN_LAST)
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        // Lock order is state, then settings (see talk()): never take the
        // state lock while holding the settings lock.
        match pspec.name() {
            "codecs" => {
                let list = value.get::<Option<String>>().unwrap().unwrap_or_default();
                let mut settings = self.settings.lock().unwrap();
                match CodecList::parse(&list, element_exists) {
                    Ok(codecs) => {
                        gst::info!(CAT, imp = self, "back channel codecs: '{}'", codecs.names());
                        settings.codecs = codecs;
                        settings.codecs_error = None;
                    }
                    Err(err) => {
                        // A GObject setter cannot fail: keep the old list, say why loudly.
                        gst::error!(CAT, imp = self, "invalid codecs '{list}': {err}");
                        glib::g_critical!("onvifbackchannel", "invalid codecs '{}': {}", list, err);
                        settings.codecs_error = Some(format!("invalid codecs '{list}': {err}"));
                    }
                }
            }
            "output" => {
                let output = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_OUTPUT.into());
                if self.state.lock().unwrap().output.is_some() {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "output already running, '{output}' applies to new factories only"
                    );
                }
                self.settings.lock().unwrap().output = output;
            }
            "max-talkers" => self.settings.lock().unwrap().max_talkers = value.get().unwrap(),
            "webrtc-timeout" => self.settings.lock().unwrap().webrtc_timeout = value.get().unwrap(),
            "dscp" => {
                // gst-rtsp-server's own dscp-qos: its configure() hands it to
                // every stream of every media (their UDP sinks mark the
                // sockets), the back channel's included.
                let dscp: i32 = value.get().unwrap();
                gst::info!(CAT, imp = self, "DSCP of sent packets: {dscp}");
                self.obj().set_dscp_qos(dscp);
            }
            "forward-linger" => {
                let linger = std::time::Duration::from_millis(value.get::<u32>().unwrap().into());
                let state = self.state.lock().unwrap();
                self.settings.lock().unwrap().forward_linger = linger;
                if let Some(forward) = &state.forward {
                    forward.set_linger(linger);
                }
            }
            "talk-policy" => {
                let policy: TalkPolicyValue = value.get().unwrap();
                let state = self.state.lock().unwrap();
                self.settings.lock().unwrap().talk_policy = policy;
                if let Some(talk) = &state.talk {
                    talk.set_policy(policy.into());
                }
            }
            "voice-threshold" => {
                let dbfs: f64 = value.get().unwrap();
                let state = self.state.lock().unwrap();
                self.settings.lock().unwrap().voice_threshold = dbfs;
                if let Some(talk) = &state.talk {
                    talk.set_voice_threshold(dbfs);
                }
            }
            _ => unreachable!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "codecs" => self.settings.lock().unwrap().codecs.names().to_value(),
            "output" => self.settings.lock().unwrap().output.to_value(),
            "talk-policy" => self.settings.lock().unwrap().talk_policy.to_value(),
            "max-talkers" => self.settings.lock().unwrap().max_talkers.to_value(),
            "webrtc-timeout" => self.settings.lock().unwrap().webrtc_timeout.to_value(),
            "dscp" => self.obj().dscp_qos().to_value(),
            "voice-threshold" => self.settings.lock().unwrap().voice_threshold.to_value(),
            "forward-linger" => {
                (self.settings.lock().unwrap().forward_linger.as_millis() as u32).to_value()
            }
            "forward-pipeline" => self
                .state
                .lock()
                .unwrap()
                .forward
                .as_ref()
                .map(|f| f.pipeline().clone())
                .to_value(),
            "onvif-audio-output" => self.onvif_audio_output().to_value(),
            "output-pipeline" => self
                .state
                .lock()
                .unwrap()
                .output
                .as_ref()
                .map(|o| o.pipeline().clone())
                .to_value(),
            _ => unreachable!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_media_gtype(OnvifBackchannelMedia::static_type());
        obj.set_latency(DEFAULT_LATENCY_MS);
    }
}

impl OnvifBackchannelMediaFactory {
    /// The mount's WebRTC talkers, created on first use.
    pub(super) fn webrtc(&self) -> Arc<Talkers> {
        let talk = self.talk(false);
        let mut state = self.state.lock().unwrap();
        state
            .webrtc
            .get_or_insert_with(|| Arc::new(Talkers::new(talk)))
            .clone()
    }

    /// The WebRTC talkers if there are any (for stopping them).
    pub(super) fn webrtc_if_any(&self) -> Option<Arc<Talkers>> {
        self.state.lock().unwrap().webrtc.clone()
    }

    /// How WebRTC talkers are taken now: the mount's `codecs` in the order
    /// browsers do best with (Opus, G.722, PCMU, PCMA), its latency, seats
    /// and timeout.
    pub(super) fn webrtc_settings(&self) -> WebRtcSettings {
        let latency_ms = self.obj().latency();
        let settings = self.settings.lock().unwrap();
        WebRtcSettings {
            codecs: crate::webrtc::offer::WEBRTC_CODECS
                .iter()
                .copied()
                .filter(|name| settings.codecs.iter().any(|c| c.codec.name == *name))
                .collect(),
            latency_ms,
            max_talkers: settings.max_talkers,
            timeout: std::time::Duration::from_secs(settings.webrtc_timeout.into()),
        }
    }

    /// A session's end: the signal, then the caller's callback.
    pub(super) fn webrtc_on_end(&self, then: Option<OnEnd>) -> OnEnd {
        let factory = self.obj().downgrade();
        Box::new(move |session, reason| {
            if let Some(factory) = factory.upgrade() {
                factory.emit_by_name::<()>("webrtc-session-ended", &[&session, &reason]);
            }
            if let Some(then) = then {
                then(session, reason);
            }
        })
    }

    fn webrtc_offer_signal(
        &self,
        offer: &str,
        peer: Option<String>,
        local: Option<String>,
    ) -> gst::Structure {
        let session = crate::webrtc::whip::new_session_id();
        let offer = Offer {
            sdp: offer.to_string(),
            session: session.clone(),
            peer: peer.as_deref().and_then(|p| p.parse().ok()),
            local: local.as_deref().and_then(|a| a.parse().ok()),
        };
        let settings = self.webrtc_settings();
        match self
            .webrtc()
            .offer_blocking(offer, &settings, self.webrtc_on_end(None))
        {
            Outcome::Answer(sdp) => gst::Structure::builder("webrtc-answer")
                .field("status", 201u32)
                .field("session", session)
                .field("sdp", sdp)
                .build(),
            Outcome::Refused { status, reason } => gst::Structure::builder("webrtc-answer")
                .field("status", u32::from(status))
                .field("reason", reason)
                .build(),
        }
    }

    /// The talk state, created (with the output pipeline unless
    /// `external_output`) on first use.
    pub(super) fn talk(&self, external_output: bool) -> Arc<Talk> {
        // The factory's latency is both the jitter buffer's (codecs decoded
        // by elements) and the output's start delay (every talker).
        let start_delay = gst::ClockTime::from_mseconds(self.obj().latency().into());
        let mut state = self.state.lock().unwrap();
        if let Some(talk) = &state.talk {
            talk.set_start_delay(start_delay);
            return talk.clone();
        }
        let (policy, output, voice_threshold) = {
            let s = self.settings.lock().unwrap();
            (s.talk_policy, s.output.clone(), s.voice_threshold)
        };
        let talk = Talk::new(policy.into());
        talk.set_start_delay(start_delay);
        talk.set_voice_threshold(voice_threshold);
        self.preload_decoders();
        let weak = self.obj().downgrade();
        talk.add_event_handler(move |event| {
            if let Some(obj) = weak.upgrade() {
                let detail = glib::Quark::from_str(event.kind);
                obj.emit_by_name_with_details::<()>(
                    "talk-event",
                    detail,
                    &[&crate::talk::event_structure(event)],
                );
            }
        });
        state.talk = Some(talk.clone());
        if !external_output {
            let weak = self.obj().downgrade();
            let on_error = move |text: &str| {
                if let Some(obj) = weak.upgrade() {
                    obj.emit_by_name::<()>("output-error", &[&text]);
                }
            };
            match OutputPipeline::start(&output, talk.clone(), on_error) {
                Ok(pipeline) => state.output = Some(pipeline),
                Err(err) => {
                    gst::error!(
                        CAT,
                        imp = self,
                        "{err}; RTSP keeps serving, received audio is discarded"
                    );
                    drop(state);
                    self.obj().emit_by_name::<()>("output-error", &[&err]);
                }
            }
        }
        talk
    }

    /// Loads, on a thread of its own, the plugins of the codecs that are
    /// decoded by elements, so that the first packet of such a codec does
    /// not wait for it. Their decode chain is built when that packet
    /// arrives; loading gst-libav (avdec_g722, avdec_aac, avdec_g726) the
    /// first time took 60 to 250 ms here, audio that then came out as a
    /// burst and was partly trimmed (rtspsrc_talk tcp::g722 lost 300 to
    /// 600 ms of 1000 in 3 of 35 runs).
    fn preload_decoders(&self) {
        let names: Vec<&'static str> = {
            let settings = self.settings.lock().unwrap();
            settings
                .codecs
                .iter()
                .flat_map(|c| c.codec.decode_elements())
                .collect()
        };
        let spawned = std::thread::Builder::new()
            .name("onvifbc-preload".into())
            .spawn(move || {
                for name in names {
                    let loaded = gst::ElementFactory::find(name).and_then(|f| f.load().ok());
                    gst::debug!(CAT, "preloaded {name}: {}", loaded.is_some());
                }
            });
        if let Err(err) = spawned {
            gst::warning!(CAT, imp = self, "cannot preload the decoders: {err}");
        }
    }

    /// The `onvif-audio-output` structure.
    fn onvif_audio_output(&self) -> gst::Structure {
        let list = self.codec_list();
        let codecs: Vec<_> = list.iter().map(|c| c.codec).collect();
        gst::Structure::builder("onvif-audio-output")
            .field(
                "media1-decoder-options",
                crate::onvif::decoder_options_media1(&codecs),
            )
            .field(
                "media2-decoder-options",
                crate::onvif::decoder_options_media2(&codecs),
            )
            .field(
                "encodings",
                codecs.iter().map(|c| c.name).collect::<Vec<_>>().join(","),
            )
            .build()
    }

    /// The back channel's codecs, in `codecs` order.
    pub(super) fn codec_list(&self) -> CodecList {
        self.settings.lock().unwrap().codecs.clone()
    }

    /// Why the last `codecs` value was refused, if it was.
    pub(super) fn codecs_error(&self) -> Option<String> {
        self.settings.lock().unwrap().codecs_error.clone()
    }

    /// What the forward streams of `launch` carry, starting the forward
    /// pipeline for as long as it takes to know (see SharedForward::describe).
    pub(super) fn forward_streams(&self) -> Result<Vec<crate::forward::StreamDescription>, String> {
        self.forward()?.describe()
    }

    /// See `OnvifBackchannelMediaFactory::stop_forward`.
    pub(super) fn stop_forward(&self) {
        let (forward, last) = {
            let mut state = self.state.lock().unwrap();
            (state.forward.take(), state.last_forward_pipeline.take())
        };
        if let Some(forward) = forward {
            forward.stop_now();
        }
        if let Some(last) = last.and_then(|p| p.upgrade()) {
            let _ = last.set_state(gst::State::Null);
        }
    }

    /// The mount's forward pipeline: the running one, or a new one when
    /// there is none yet or the last one failed or ended.
    fn forward(&self) -> Result<Arc<SharedForward>, String> {
        let mut state = self.state.lock().unwrap();
        if let Some(forward) = &state.forward {
            if forward.is_running() {
                return Ok(forward.clone());
            }
            gst::info!(
                CAT,
                imp = self,
                "forward pipeline ended or failed: starting a new one"
            );
        }
        // Clients still attached keep the old one (stopped) until they go.
        state.forward = None;
        // It is stopped on a thread of its own; wait until it has released
        // its devices (a camera opens once) before opening them again.
        if let Some(old) = state.last_forward_pipeline.take().and_then(|p| p.upgrade()) {
            let _ = old.set_state(gst::State::Null);
        }
        let launch = self.obj().launch().ok_or("no launch line set")?;
        let linger = self.settings.lock().unwrap().forward_linger;
        let forward = Arc::new(SharedForward::start(&launch, linger)?);
        state.forward = Some(forward.clone());
        state.last_forward_pipeline = Some(forward.pipeline().downgrade());
        Ok(forward)
    }

    /// Checks the SETUPs of the current request's client (`max-talkers`,
    /// Transport, permission) and tells its receiver when one succeeded.
    fn watch_client(&self) {
        let Some(client) =
            gst_rtsp_server::RTSPContext::with_current_context(|ctx| ctx.client().cloned())
                .flatten()
        else {
            return;
        };
        let mut watched = self.watched_clients.lock().unwrap();
        watched.retain(|w| w.upgrade().is_some());
        if watched
            .iter()
            .any(|w| w.upgrade().as_ref() == Some(&client))
        {
            return;
        }
        watched.push(client.downgrade());
        let weak = self.obj().downgrade();
        client.connect_pre_setup_request(move |_, ctx| match weak.upgrade() {
            Some(factory) => factory.imp().admit_setup(ctx),
            None => gst_rtsp::RTSPStatusCode::Ok,
        });
        // Emitted only once the SETUP was answered with 200 OK.
        let weak = self.obj().downgrade();
        client.connect_setup_request(move |_, ctx| {
            if let Some((_, receiver, _)) = weak.upgrade().and_then(|f| f.imp().setup_target(ctx)) {
                receiver.set_up();
            }
        });
        let weak = self.obj().downgrade();
        client.connect_setup_request(move |_, ctx| {
            if let Some(factory) = weak.upgrade() {
                factory.imp().setup_done(ctx);
            }
        });
    }

    /// A SETUP was answered: a back channel interleaved in the client's
    /// RTSP connection gets that connection's socket, to acknowledge each
    /// packet at once (see [`crate::tcp_ack`]).
    fn setup_done(&self, ctx: &gst_rtsp_server::RTSPContext) {
        use glib::translate::{from_glib_none, ToGlibPtr};
        // SAFETY: the context and everything it points to are valid while
        // the request is handled; the bindings expose neither its media,
        // stream, transport nor connection. The read socket is owned by the
        // connection and only referenced here.
        let (media, stream, socket): (
            Option<gst_rtsp_server::RTSPMedia>,
            Option<gst_rtsp_server::RTSPStream>,
            Option<gst_rtsp_server::gio::Socket>,
        ) = unsafe {
            let raw: *mut gst_rtsp_server::ffi::GstRTSPContext = ctx.to_glib_none().0;
            let interleaved = !(*raw).trans.is_null() && {
                let transport =
                    gst_rtsp_server::ffi::gst_rtsp_stream_transport_get_transport((*raw).trans);
                !transport.is_null()
                    && (*transport).lower_transport & gst_rtsp::ffi::GST_RTSP_LOWER_TRANS_TCP != 0
            };
            let socket = if interleaved && !(*raw).conn.is_null() {
                from_glib_none(gst_rtsp::ffi::gst_rtsp_connection_get_read_socket(
                    (*raw).conn,
                ))
            } else {
                None
            };
            (
                from_glib_none((*raw).media),
                from_glib_none((*raw).stream),
                socket,
            )
        };
        if stream.is_none_or(|s| s.sinkpad().is_none()) {
            return;
        }
        let Some(receiver) = media
            .and_then(|m| m.downcast::<OnvifBackchannelMedia>().ok())
            .and_then(|m| m.receiver())
        else {
            return;
        };
        receiver.set_ack_socket(socket.as_ref().map(crate::tcp_ack::AckSocket::new));
    }

    /// The back channel of one of this factory's mounts that the request's
    /// SETUP is about: its stream, its receiver and the mount's talk.
    fn setup_target(
        &self,
        ctx: &gst_rtsp_server::RTSPContext,
    ) -> Option<(gst_rtsp_server::RTSPStream, BackchannelReceiver, Arc<Talk>)> {
        use glib::translate::{from_glib_none, ToGlibPtr};
        // SAFETY: the context is valid for the duration of the request; the
        // bindings expose neither its media nor its stream.
        let (media, stream): (
            Option<gst_rtsp_server::RTSPMedia>,
            Option<gst_rtsp_server::RTSPStream>,
        ) = unsafe {
            let raw: *mut gst_rtsp_server::ffi::GstRTSPContext = ctx.to_glib_none().0;
            (from_glib_none((*raw).media), from_glib_none((*raw).stream))
        };
        let stream = stream.filter(|s| s.sinkpad().is_some())?;
        let receiver = media?
            .downcast::<OnvifBackchannelMedia>()
            .ok()?
            .receiver()?;
        let talk = self.state.lock().unwrap().talk.clone()?;
        // The client may also use other mounts: only our own back channels count.
        receiver.talks_to(&talk).then_some((stream, receiver, talk))
    }

    /// A back channel SETUP takes a seat, or gets 453 when none is left.
    fn admit_setup(&self, ctx: &gst_rtsp_server::RTSPContext) -> gst_rtsp::RTSPStatusCode {
        let Some((stream, receiver, talk)) = self.setup_target(ctx) else {
            return gst_rtsp::RTSPStatusCode::Ok;
        };
        if let Err(reason) = backchannel_transport(ctx, &stream) {
            gst::info!(
                CAT,
                imp = self,
                "talker {}: refused with 461: {reason}",
                receiver.talker()
            );
            return gst_rtsp::RTSPStatusCode::UnsupportedTransport;
        }
        // Decided when the client's media was made (its DESCRIBE, or its first
        // SETUP), when the request was authenticated; a later SETUP is only
        // authenticated when something asks, so its token may be missing.
        let may_talk = receiver.talk_allowed() && (ctx.token().is_none() || self.may_talk(ctx));
        if !may_talk {
            gst::info!(
                CAT,
                imp = self,
                "talker {}: refused with 403, the client's role lacks {TALK_PERMISSION}",
                receiver.talker()
            );
            return gst_rtsp::RTSPStatusCode::Forbidden;
        }
        let max = self.settings.lock().unwrap().max_talkers;
        if talk.take_seat(receiver.talker(), max) {
            gst::debug!(
                CAT,
                imp = self,
                "talker {}: back channel set up",
                receiver.talker()
            );
            gst_rtsp::RTSPStatusCode::Ok
        } else {
            gst::info!(
                CAT,
                imp = self,
                "talker {}: refused, all {max} back channels are taken",
                receiver.talker()
            );
            gst_rtsp::RTSPStatusCode::NotEnoughBandwidth
        }
    }

    /// Whether the request's client may talk: always without authentication
    /// on the server; else when its token grants `onvifbackchannel.talk`, or
    /// the factory's permissions grant it to the token's role.
    fn may_talk(&self, ctx: &gst_rtsp_server::RTSPContext) -> bool {
        use glib::translate::ToGlibPtr;
        // SAFETY: the context is valid during the request; its auth field is
        // not bound in gstreamer-rs and only compared with NULL.
        let has_auth = unsafe {
            let raw: *mut gst_rtsp_server::ffi::GstRTSPContext = ctx.to_glib_none().0;
            !(*raw).auth.is_null()
        };
        if !has_auth {
            return true;
        }
        let Some(token) = ctx.token() else {
            return false;
        };
        if token.is_allowed(TALK_PERMISSION) {
            return true;
        }
        let Some(role) = token.string("media.factory.role") else {
            return false;
        };
        let factory = self.obj();
        let factory = factory.upcast_ref::<gst_rtsp_server::RTSPMediaFactory>();
        // SAFETY: get_permissions returns a new reference (or NULL), released
        // here; the strings live across the call.
        unsafe {
            let perms = gst_rtsp_server::ffi::gst_rtsp_media_factory_get_permissions(
                factory.to_glib_none().0,
            );
            if perms.is_null() {
                return false;
            }
            let allowed = gst_rtsp_server::ffi::gst_rtsp_permissions_is_allowed(
                perms,
                role.to_glib_none().0,
                TALK_PERMISSION.to_glib_none().0,
            );
            gst::ffi::gst_mini_object_unref(perms as *mut gst::ffi::GstMiniObject);
            allowed != glib::ffi::GFALSE
        }
    }

    fn client_wants_backchannel(&self) -> bool {
        let obj = self.obj();
        gst_rtsp_server::RTSPContext::with_current_context(|ctx| obj.requires_backchannel(ctx))
            .unwrap_or(false)
    }
}

/// Checks the Transport header of a back channel SETUP: the spec that
/// gst-rtsp-server will use, found as it finds it, must be able to carry the
/// back channel (see [`rtsp_headers`]).
fn backchannel_transport(
    ctx: &gst_rtsp_server::RTSPContext,
    stream: &gst_rtsp_server::RTSPStream,
) -> Result<(), rtsp_headers::Refusal> {
    use glib::translate::{FromGlibPtrNone, ToGlibPtr};
    let Some(request) = ctx.request() else {
        return Ok(());
    };
    // SAFETY: the request lives for the whole request; the header value is
    // owned by it and copied before it returns.
    let value: Option<String> = unsafe {
        let mut value: *mut std::ffi::c_char = std::ptr::null_mut();
        let res = gst_rtsp::ffi::gst_rtsp_message_get_header(
            request.to_glib_none().0,
            gst_rtsp::ffi::GST_RTSP_HDR_TRANSPORT,
            &mut value,
            0,
        );
        (res == gst_rtsp::ffi::GST_RTSP_OK && !value.is_null())
            .then(|| String::from_glib_none(value as *const std::ffi::c_char))
    };
    // No Transport at all: gst-rtsp-server answers that itself.
    let Some(value) = value else {
        return Ok(());
    };
    let chosen = rtsp_headers::choose(&value, Transport::parse, |t| t.supported_by(stream));
    if let Some(t) = &chosen {
        gst::debug!(CAT, "back channel transport '{}'", t.text);
    }
    rtsp_headers::check(chosen.map(|t| t.lower()))
}

/// One transport spec as `gst_rtsp_transport_parse` reads it (GstRTSPTransport
/// is not bound in gstreamer-rs).
struct Transport {
    raw: std::ptr::NonNull<gst_rtsp::ffi::GstRTSPTransport>,
    text: String,
}

impl Transport {
    fn parse(spec: &str) -> Option<Transport> {
        // A header value from a GstRTSPMessage holds no NUL.
        let c_spec = std::ffi::CString::new(spec).ok()?;
        // SAFETY: gst_rtsp_transport_new allocates an initialised transport,
        // owned by the returned value (freed in drop) or freed here.
        unsafe {
            let mut raw = std::ptr::null_mut();
            if gst_rtsp::ffi::gst_rtsp_transport_new(&mut raw) != gst_rtsp::ffi::GST_RTSP_OK {
                return None;
            }
            let raw = std::ptr::NonNull::new(raw)?;
            if gst_rtsp::ffi::gst_rtsp_transport_parse(c_spec.as_ptr(), raw.as_ptr())
                != gst_rtsp::ffi::GST_RTSP_OK
            {
                gst_rtsp::ffi::gst_rtsp_transport_free(raw.as_ptr());
                return None;
            }
            Some(Transport {
                raw,
                text: spec.to_owned(),
            })
        }
    }

    /// `gst_rtsp_stream_is_transport_supported`, gst-rtsp-server's own test
    /// (profile and lower transport against the stream's).
    fn supported_by(&self, stream: &gst_rtsp_server::RTSPStream) -> bool {
        use glib::translate::ToGlibPtr;
        // SAFETY: both are valid for the call, which only reads them.
        unsafe {
            gst_rtsp_server::ffi::gst_rtsp_stream_is_transport_supported(
                stream.to_glib_none().0,
                self.raw.as_ptr(),
            ) != glib::ffi::GFALSE
        }
    }

    fn lower(&self) -> rtsp_headers::Lower {
        // SAFETY: the transport is valid while self lives.
        match unsafe { self.raw.as_ref() }.lower_transport {
            gst_rtsp::ffi::GST_RTSP_LOWER_TRANS_UDP => rtsp_headers::Lower::Udp,
            gst_rtsp::ffi::GST_RTSP_LOWER_TRANS_UDP_MCAST => rtsp_headers::Lower::UdpMulticast,
            gst_rtsp::ffi::GST_RTSP_LOWER_TRANS_TCP => rtsp_headers::Lower::Tcp,
            _ => rtsp_headers::Lower::Other,
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        // SAFETY: owned since parse().
        unsafe {
            gst_rtsp::ffi::gst_rtsp_transport_free(self.raw.as_ptr());
        }
    }
}

impl RTSPMediaFactoryImpl for OnvifBackchannelMediaFactory {
    fn create_element(&self, _url: &gst_rtsp::RTSPUrl) -> Option<gst::Element> {
        let forward = match self.forward() {
            Ok(forward) => forward,
            Err(err) => {
                gst::error!(CAT, imp = self, "{err}");
                return None;
            }
        };
        let bin = match forward.client_bin() {
            Ok(bin) => bin,
            Err(err) => {
                gst::error!(CAT, imp = self, "{err}");
                return None;
            }
        };
        if !self.client_wants_backchannel() {
            gst::debug!(CAT, imp = self, "client did not ask for the back channel");
            return Some(bin.upcast());
        }
        let codecs = self.settings.lock().unwrap().codecs.clone();
        if codecs.is_empty() {
            return Some(bin.upcast());
        }
        let receiver = BackchannelReceiver::new(codecs, self.talk(false));
        let may_talk = gst_rtsp_server::RTSPContext::with_current_context(|ctx| self.may_talk(ctx))
            .unwrap_or(true);
        receiver.set_talk_allowed(may_talk);
        self.watch_client();
        bin.add(&receiver).ok()?;
        gst::debug!(CAT, imp = self, "media with back channel created");
        Some(bin.upcast())
    }

    fn configure(&self, media: &gst_rtsp_server::RTSPMedia) {
        // Among others, hands `dscp` (dscp-qos) to every stream.
        self.parent_configure(media);
        // The factory's value, not the media's: gst_rtsp_media_get_dscp_qos()
        // of gst-rtsp-server 1.22 unlocks a mutex it never locked, and GLib
        // aborts the process.
        let dscp = self.obj().dscp_qos();
        if dscp >= 0 {
            gst::debug!(
                CAT,
                imp = self,
                "{} streams send over UDP with DSCP {dscp}",
                media.n_streams()
            );
        }
        // The pt-map is otherwise only filled by DESCRIBE; clients that SETUP
        // without it must still get every payload type decoded.
        let codecs = self.settings.lock().unwrap().codecs.clone();
        for i in 0..media.n_streams() {
            let Some(stream) = media.stream(i) else {
                continue;
            };
            if stream.sinkpad().is_some() {
                // The media is live (its forward streams come from the shared
                // forward pipeline) and must say so: gst-rtsp-server then
                // neither seeks it on a PLAY with a Range header (which used to
                // fail on the receive branch with 503, when forward sources
                // were inside the media) nor pauses it for one client (PAUSE
                // gets 400; tests/forward.rs). Not a bug workaround: needed on
                // every version. This clock mode is the documented way to mark
                // a media unseekable; a receive-only stream publishes no clock
                // anyway (the SDP shaping drops its clock attributes).
                stream
                    .set_publish_clock_mode(gst_rtsp_server::RTSPPublishClockMode::ClockAndOffset);
                for c in codecs.iter() {
                    stream.set_pt_map(c.pt as u32, &rtp_caps(c));
                }
            }
        }
    }
}

impl RTSPOnvifMediaFactoryImpl for OnvifBackchannelMediaFactory {
    fn has_backchannel_support(&self) -> bool {
        !self.settings.lock().unwrap().codecs.is_empty()
    }
}

/// The URL of `mount` on `server` as reached at `host`.
pub fn stream_uri(server: &gst_rtsp_server::RTSPServer, mount: &str, host: &str) -> String {
    use gst_rtsp_server::prelude::*;
    let tls = server
        .auth()
        .and_then(|auth| auth.tls_certificate())
        .is_some();
    let host = crate::onvif::model::bracket_ipv6(host);
    let mount = if mount.starts_with('/') {
        mount.to_string()
    } else {
        format!("/{mount}")
    };
    format!(
        "{}://{host}:{}{mount}",
        if tls { "rtsps" } else { "rtsp" },
        server.bound_port()
    )
}

/**
 * element-onvifbackchannelsrc:
 *
 * A live audio source that serves RTSP with the ONVIF audio back channel and
 * outputs the audio that clients send. It runs its own GstRTSPOnvifServer
 * (or mounts on the one given in #GstOnvifBackchannelSrc:server); the
 * forward streams come from #GstOnvifBackchannelSrc:launch and run once,
 * however many clients watch.
 *
 * Clients ask for the back channel with `Require: www.onvif.org/ver20/backchannel`;
 * the sendonly audio track of the SDP lists every codec of
 * #GstOnvifBackchannelSrc:codecs. While nobody talks the element outputs silence,
 * so a sound card never underruns. #GstOnvifBackchannelSrc:talk-policy says who
 * is heard when several clients talk; a client holds the floor while it says
 * something (its audio above #GstOnvifBackchannelSrc:voice-threshold, then 1 s
 * of hangover), not while it merely sends packets. Talk events are posted as element
 * messages named `onvifbackchannel-talk` (fields: event = started, stopped,
 * refused or left; talker, address, session, codec, received, lost, dropped).
 *
 * #GstOnvifBackchannelSrc:codecs names AAC by rate (`AAC-8000` ... `AAC-48000`;
 * `AAC` alone: every rate). #GstOnvifBackchannelSrc:dscp marks the RTP and RTCP
 * sent over UDP with a DiffServ code point, e.g. 46 (EF) for audio.
 *
 * With #GstOnvifBackchannelSrc:users-file, clients authenticate and only users
 * with the role `talker` see and may set up the back channel; with
 * #GstOnvifBackchannelSrc:tls-certificate the server speaks rtsps://.
 *
 * With #GstOnvifBackchannelSrc:http-port the element is also an ONVIF device:
 * it serves the Device, Media, Media2 and DeviceIO web services under
 * `/onvif/` (https with #GstOnvifBackchannelSrc:tls-certificate; the users of
 * #GstOnvifBackchannelSrc:users-file authenticate with WS-UsernameToken or
 * HTTP digest), its profile is the mount with its real forward streams and
 * an audio output, and it answers WS-Discovery probes
 * (#GstOnvifBackchannelSrc:discovery). ONVIF clients then find it and offer
 * talk. The default #GstOnvifBackchannelSrc:launch is an H.264 test pattern
 * (x264enc; VP8 without it) and a PCMU tone.
 *
 * On the same web server (#GstOnvifBackchannelSrc:whip, on by default),
 * browsers talk over WebRTC: `/whip` takes WHIP (RFC 9725) offers and `/` is
 * a push-to-talk page that uses it. WebRTC talkers share the floor with the
 * RTSP ones (`talk-policy`, `max-talkers`, talk events with the WHIP
 * resource as session); with `users-file` or
 * #GstOnvifBackchannelSrc:whip-tokens-file they need a talker's
 * credentials (digest, Basic over https, or a bearer token). One whose peer
 * sends nothing for #GstOnvifBackchannelSrc:webrtc-timeout seconds is hung
 * up. Browsers allow the microphone only on https (`tls-certificate`) or on
 * localhost.
 *
 * At most #GstOnvifBackchannelSrc:max-clients connections are served at once
 * (20 by default, as cameras do); the requests of one more get `503 Service
 * Unavailable`, it is closed, and an element message named
 * `onvifbackchannel-client-refused` (fields: address, max-clients) is posted.
 *
 * ## Example pipelines
 * |[
 * gst-launch-1.0 onvifbackchannelsrc port=8554 mount-point=/stream ! audioconvert ! audioresample ! autoaudiosink
 * ]| Plays what clients say. Talk to it with rtspsrc backchannel=onvif, ONVIF
 * Device Manager or a VMS at rtsp://<host>:8554/stream.
 * |[
 * gst-launch-1.0 -e onvifbackchannelsrc codecs=PCMA,PCMU talk-policy=mix \
 *     launch="( v4l2src ! videoconvert ! vp8enc deadline=1 ! rtpvp8pay name=pay0 )" \
 *   ! audioconvert ! wavenc ! filesink location=talk.wav
 * ]| A camera's video, G.711 only, every talker mixed, recorded to a file.
 * |[
 * gst-launch-1.0 onvifbackchannelsrc users-file=/etc/camera/rtsp-users \
 *     tls-certificate=/etc/camera/server.pem session-timeout=30 \
 *   ! audioconvert ! audioresample ! alsasink device=hw:0
 * ]| rtsps:// with users `name:password:viewer|talker`, one per line
 * (chmod 600 the file).
 * |[
 * gst-launch-1.0 onvifbackchannelsrc http-port=8080 device-name="Front door" \
 *   ! audioconvert ! audioresample ! autoaudiosink
 * ]| An ONVIF device: clients discover it and find its device service at
 * http://<host>:8080/onvif/device_service.
 * |[
 * gst-launch-1.0 onvifbackchannelsrc http-port=8443 users-file=/etc/camera/users \
 *     tls-certificate=/etc/camera/server.pem ! audioconvert ! audioresample ! autoaudiosink
 * ]| An intercom: open https://<host>:8443/ on a phone, log in as a talker and
 * hold the button to talk.
 */
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtsp_server::prelude::*;

use crate::client_limit::ClientSlots;
use crate::factory::OnvifBackchannelMediaFactory;
use crate::outputsrc::TalkOutputSrc;
use crate::talk;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannelsrc",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel source element"),
    )
});

const DEFAULT_ADDRESS: &str = "0.0.0.0";
const DEFAULT_PORT: u32 = 8554;
const DEFAULT_MOUNT_POINT: &str = "/stream";
/// The default forward streams: an H.264 test pattern (Home Assistant takes
/// only H.264 profiles) and a 440 Hz PCMU tone.
const H264_LAUNCH: &str =
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 \
    ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=256 \
    ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 \
    audiotestsrc is-live=true wave=sine freq=440 volume=0.1 ! audio/x-raw,rate=8000,channels=1 \
    ! mulawenc ! rtppcmupay name=pay1 pt=0 )";
/// Without x264enc (gstreamer1.0-plugins-ugly): a VP8 test pattern.
const VP8_LAUNCH: &str =
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 \
    ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! rtpvp8pay name=pay0 pt=96 \
    audiotestsrc is-live=true wave=sine freq=440 volume=0.1 ! audio/x-raw,rate=8000,channels=1 \
    ! mulawenc ! rtppcmupay name=pay1 pt=0 )";
static DEFAULT_LAUNCH: LazyLock<&'static str> = LazyLock::new(|| {
    if gst::ElementFactory::find("x264enc").is_some() {
        H264_LAUNCH
    } else {
        VP8_LAUNCH
    }
});
const DEFAULT_LATENCY: u32 = crate::factory::DEFAULT_LATENCY_MS;

const DEFAULT_SESSION_TIMEOUT: u32 = 60;
/// The web server (ONVIF services): off.
const DEFAULT_HTTP_PORT: i32 = 0;
const DEFAULT_DISCOVERY: bool = true;
/// WHIP and the push-to-talk page, with `http-port`: on.
const DEFAULT_WHIP: bool = true;
const DEFAULT_DEVICE_NAME: &str = "GStreamer ONVIF back channel";
const DEFAULT_DEVICE_HARDWARE: &str = "onvifbackchannelsrc";
/// Connections at once. Cameras allow 10 to 20 viewers; each client that
/// has set up a stream costs about 5 threads and 4 file descriptors here.
const DEFAULT_MAX_CLIENTS: u32 = 20;

struct Settings {
    address: String,
    port: u32,
    mount_point: String,
    server: Option<gst_rtsp_server::RTSPServer>,
    users_file: Option<String>,
    tls_certificate: Option<String>,
    session_timeout: u32,
    http_port: i32,
    discovery: bool,
    whip: bool,
    whip_tokens_file: Option<String>,
    device_name: String,
    device_hardware: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            address: DEFAULT_ADDRESS.into(),
            port: DEFAULT_PORT,
            mount_point: DEFAULT_MOUNT_POINT.into(),
            server: None,
            users_file: None,
            tls_certificate: None,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            http_port: DEFAULT_HTTP_PORT,
            discovery: DEFAULT_DISCOVERY,
            whip: DEFAULT_WHIP,
            whip_tokens_file: None,
            device_name: DEFAULT_DEVICE_NAME.into(),
            device_hardware: DEFAULT_DEVICE_HARDWARE.into(),
        }
    }
}

/// What exists between READY and NULL.
struct State {
    server: gst_rtsp_server::RTSPServer,
    mount_point: String,
    bound_port: u32,
    /// Our own server's main loop; `None` when mounted on the application's.
    serving: Option<(
        glib::MainContext,
        glib::SourceId,
        glib::MainLoop,
        std::thread::JoinHandle<()>,
    )>,
    /// The ONVIF web services and WS-Discovery, with `http-port`.
    web: Option<crate::onvif::glue::Web>,
}

pub struct OnvifBackchannelSrc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    factory: OnvifBackchannelMediaFactory,
    output: TalkOutputSrc,
    /// `max-clients`, read at every new connection of our own server.
    max_clients: Arc<AtomicU32>,
}

#[glib::object_subclass]
impl ObjectSubclass for OnvifBackchannelSrc {
    const NAME: &'static str = "GstOnvifBackchannelSrc";
    type Type = super::OnvifBackchannelSrc;
    type ParentType = gst::Bin;

    fn new() -> Self {
        let factory = OnvifBackchannelMediaFactory::default();
        factory.set_launch(&DEFAULT_LAUNCH);
        factory.set_shared(false);
        OnvifBackchannelSrc {
            settings: Mutex::default(),
            state: Mutex::default(),
            factory,
            output: TalkOutputSrc::new(None),
            max_clients: Arc::new(AtomicU32::new(DEFAULT_MAX_CLIENTS)),
        }
    }
}

impl ObjectImpl for OnvifBackchannelSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = crate::factory::talk_properties(gst::PARAM_FLAG_MUTABLE_READY);
            properties.push(crate::factory::dscp_property(gst::PARAM_FLAG_MUTABLE_READY));
            properties.extend([
                glib::ParamSpecString::builder("address")
                    .nick("Address")
                    .blurb("Address the RTSP server listens on")
                    .default_value(Some(DEFAULT_ADDRESS))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("port")
                    .nick("Port")
                    .blurb("TCP port the RTSP server listens on (0 = any free port, see bound-port)")
                    .maximum(65535)
                    .default_value(DEFAULT_PORT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("bound-port")
                    .nick("Bound port")
                    .blurb("Port the server really listens on once started (-1 before)")
                    .minimum(-1)
                    .maximum(65535)
                    .default_value(-1)
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("mount-point")
                    .nick("Mount point")
                    .blurb("Path of the stream, e.g. /stream for rtsp://host:port/stream")
                    .default_value(Some(DEFAULT_MOUNT_POINT))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("launch")
                    .nick("Launch")
                    .blurb("gst-launch description of the forward streams (payloaders named pay0, pay1...)")
                    .default_value(Some(*DEFAULT_LAUNCH))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("latency")
                    .nick("Latency")
                    .blurb("Milliseconds a talker's audio waits before it is played when the talker starts, as a margin against network jitter; also the jitter buffer latency of G.722, Opus, AAC and G.726")
                    .maximum(10_000)
                    .default_value(DEFAULT_LATENCY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("users-file")
                    .nick("Users file")
                    .blurb(
                        "File of lines user:password:role (role viewer: may watch; talker: may \
                         watch and talk); clients must then authenticate (digest; basic too over \
                         TLS). Keep it readable by its owner only. NULL: no authentication",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("tls-certificate")
                    .nick("TLS certificate")
                    .blurb(
                        "PEM file holding the server certificate and its private key: clients \
                         must then connect with rtsps://. NULL: plain RTSP",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("session-timeout")
                    .nick("Session timeout")
                    .blurb(
                        "Seconds after which a client that sends nothing (no request, no RTCP, \
                         no audio) is dropped and its talk floor released",
                    )
                    .minimum(1)
                    .maximum(3600)
                    .default_value(DEFAULT_SESSION_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-clients")
                    .nick("Maximum clients")
                    .blurb(
                        "RTSP connections the server takes at once; the requests of more get \
                         503 Service Unavailable, and they are closed (0 = no limit). Not \
                         applied to an application's server",
                    )
                    .default_value(DEFAULT_MAX_CLIENTS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt::builder("http-port")
                    .nick("HTTP port")
                    .blurb(
                        "TCP port of the ONVIF web services (device, media, media2, deviceIO at \
                         /onvif/...; https with tls-certificate): 0 = off, -1 = any free port \
                         (see bound-http-port)",
                    )
                    .minimum(-1)
                    .maximum(65535)
                    .default_value(DEFAULT_HTTP_PORT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("bound-http-port")
                    .nick("Bound HTTP port")
                    .blurb("Port the ONVIF web services really listen on once started (-1 before, or when off)")
                    .minimum(-1)
                    .maximum(65535)
                    .default_value(-1)
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("discovery")
                    .nick("Discovery")
                    .blurb(
                        "With http-port: answer WS-Discovery probes (UDP multicast \
                         239.255.255.250:3702) and send Hello at start and Bye at stop",
                    )
                    .default_value(DEFAULT_DISCOVERY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("whip")
                    .nick("WHIP")
                    .blurb(
                        "With http-port: take WebRTC talkers (browsers) at /whip (RFC 9725 \
                         WHIP) and serve a push-to-talk page at / (browsers allow the \
                         microphone on https, i.e. with tls-certificate, or on localhost)",
                    )
                    .default_value(DEFAULT_WHIP)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("whip-tokens-file")
                    .nick("WHIP tokens file")
                    .blurb(
                        "File of bearer tokens for /whip (RFC 6750, as WHIP clients send \
                         them), one `name:token:viewer|talker` per line like users-file; \
                         with either file set, a WHIP POST needs a talker's credentials",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device-name")
                    .nick("Device name")
                    .blurb("Name ONVIF clients show (discovery scope onvif://www.onvif.org/name/...)")
                    .default_value(Some(DEFAULT_DEVICE_NAME))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device-hardware")
                    .nick("Device hardware")
                    .blurb("Hardware model ONVIF clients show (scope onvif://www.onvif.org/hardware/..., GetDeviceInformation)")
                    .default_value(Some(DEFAULT_DEVICE_HARDWARE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecObject::builder::<gst_rtsp_server::RTSPServer>("server")
                    .nick("Server")
                    .blurb(
                        "An existing GstRTSPOnvifServer to mount on instead of running one \
                         (address and port are then ignored)",
                    )
                    .mutable_ready()
                    .build(),
            ]);
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "address" => {
                settings.address = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_ADDRESS.into())
            }
            "port" => settings.port = value.get().unwrap(),
            "mount-point" => {
                settings.mount_point = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_MOUNT_POINT.into())
            }
            "launch" => self.factory.set_property_from_value("launch", value),
            "codecs" | "talk-policy" | "max-talkers" | "dscp" | "voice-threshold"
            | "forward-linger" | "webrtc-timeout" => {
                self.factory.set_property_from_value(pspec.name(), value)
            }
            "latency" => self.factory.set_latency(value.get().unwrap()),
            "server" => settings.server = value.get().unwrap(),
            "users-file" => settings.users_file = value.get().unwrap(),
            "tls-certificate" => settings.tls_certificate = value.get().unwrap(),
            "session-timeout" => settings.session_timeout = value.get().unwrap(),
            "http-port" => settings.http_port = value.get().unwrap(),
            "discovery" => settings.discovery = value.get().unwrap(),
            "whip" => settings.whip = value.get().unwrap(),
            "whip-tokens-file" => settings.whip_tokens_file = value.get().unwrap(),
            "device-name" => {
                settings.device_name = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_DEVICE_NAME.into())
            }
            "device-hardware" => {
                settings.device_hardware = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_DEVICE_HARDWARE.into())
            }
            "max-clients" => self
                .max_clients
                .store(value.get().unwrap(), Ordering::SeqCst),
            _ => unreachable!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "address" => settings.address.to_value(),
            "port" => settings.port.to_value(),
            "bound-port" => self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .map_or(-1, |s| s.bound_port as i32)
                .to_value(),
            "mount-point" => settings.mount_point.to_value(),
            "launch" | "codecs" | "talk-policy" | "max-talkers" | "dscp" | "voice-threshold"
            | "forward-linger" | "webrtc-timeout" => self.factory.property_value(pspec.name()),
            "latency" => self.factory.latency().to_value(),
            "server" => settings.server.to_value(),
            "users-file" => settings.users_file.to_value(),
            "tls-certificate" => settings.tls_certificate.to_value(),
            "session-timeout" => settings.session_timeout.to_value(),
            "http-port" => settings.http_port.to_value(),
            "bound-http-port" => self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .and_then(|s| s.web.as_ref())
                .map_or(-1, |w| i32::from(w.port()))
                .to_value(),
            "discovery" => settings.discovery.to_value(),
            "whip" => settings.whip.to_value(),
            "whip-tokens-file" => settings.whip_tokens_file.to_value(),
            "device-name" => settings.device_name.to_value(),
            "device-hardware" => settings.device_hardware.to_value(),
            "max-clients" => self.max_clients.load(Ordering::SeqCst).to_value(),
            _ => unreachable!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        let convert = gst::ElementFactory::make("audioconvert").build().unwrap();
        let resample = gst::ElementFactory::make("audioresample").build().unwrap();
        obj.add_many([self.output.upcast_ref(), &convert, &resample])
            .unwrap();
        gst::Element::link_many([self.output.upcast_ref(), &convert, &resample]).unwrap();
        let src = gst::GhostPad::builder_with_target(&resample.static_pad("src").unwrap())
            .unwrap()
            .name("src")
            .build();
        obj.add_pad(&src).unwrap();
        obj.set_element_flags(gst::ElementFlags::SOURCE);

        // The element plays the mount's talk itself and tells the bus about it.
        let talk = self.factory.talk(true);
        let weak = obj.downgrade();
        talk.add_event_handler(move |event| {
            if let Some(obj) = weak.upgrade() {
                let _ = obj.post_message(
                    gst::message::Element::builder(talk::event_structure(event))
                        .src(&obj)
                        .build(),
                );
            }
        });
        self.output.set_talk(Some(talk));
    }
}

impl GstObjectImpl for OnvifBackchannelSrc {}

impl ElementImpl for OnvifBackchannelSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONVIF back channel source",
                "Source/Audio/Network",
                "Serves RTSP with the ONVIF audio back channel and outputs the audio clients send",
                "gst-plugin-onvifbackchannel developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &gst_audio::AudioCapsBuilder::new_interleaved().build(),
            )
            .unwrap()]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady {
            self.start()?;
        }
        let ret = self.parent_change_state(transition);
        if transition == gst::StateChange::ReadyToNull
            || (ret.is_err() && transition == gst::StateChange::NullToReady)
        {
            self.stop();
        }
        ret
    }
}

impl BinImpl for OnvifBackchannelSrc {}

impl OnvifBackchannelSrc {
    fn start(&self) -> Result<(), gst::StateChangeError> {
        if let Some(err) = self.factory.codecs_error() {
            gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", err));
            return Err(gst::StateChangeError);
        }
        let settings = self.settings.lock().unwrap();
        if self.factory.launch().as_deref() == Some(VP8_LAUNCH) {
            gst::element_imp_warning!(
                self,
                gst::CoreError::MissingPlugin,
                ("x264enc is missing (gstreamer1.0-plugins-ugly): the default forward video is \
                  VP8, which Home Assistant and Media1 ONVIF clients do not take")
            );
        }
        let users = match &settings.users_file {
            Some(path) => self.read_users(path)?,
            None => Vec::new(),
        };

        let (server, serving) = match &settings.server {
            Some(server) => {
                if settings.users_file.is_some() || settings.tls_certificate.is_some() {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "users-file and tls-certificate are ignored on an application's server: \
                         give the server its own GstRTSPAuth"
                    );
                }
                if self.max_clients.load(Ordering::SeqCst) != DEFAULT_MAX_CLIENTS {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "max-clients is not applied to an application's server"
                    );
                }
                if !server.is::<gst_rtsp_server::RTSPOnvifServer>() {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "the server is not a GstRTSPOnvifServer: its clients will answer 551 to the back channel"
                    );
                }
                (server.clone(), None)
            }
            None => {
                let server =
                    gst_rtsp_server::RTSPOnvifServer::new().upcast::<gst_rtsp_server::RTSPServer>();
                server.set_address(&settings.address);
                server.set_service(&settings.port.to_string());
                if let Some(auth) = self.auth(&settings, &users)? {
                    server.set_auth(Some(&auth));
                }
                let timeout = settings.session_timeout;
                let max_clients = self.max_clients.clone();
                let slots = Arc::new(ClientSlots::default());
                let weak = self.obj().downgrade();
                server.connect_client_connected(move |_, client| {
                    client.connect_new_session(move |_, session| session.set_timeout(timeout));
                    let max = max_clients.load(Ordering::SeqCst);
                    match slots.try_take(max) {
                        Ok(taken) => {
                            gst::debug!(CAT, "client {} connected ({taken} now)", peer(client));
                            let slots = slots.clone();
                            client.connect_closed(move |_| slots.release());
                        }
                        Err(taken) => {
                            if let Some(obj) = weak.upgrade() {
                                obj.imp().refuse(client, taken, max);
                            }
                        }
                    }
                });
                let ctx = glib::MainContext::new();
                let source = server.attach(Some(&ctx)).map_err(|err| {
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::OpenRead,
                        (
                            "Cannot listen on {}:{}: {}",
                            settings.address,
                            settings.port,
                            err
                        )
                    );
                    gst::StateChangeError
                })?;
                // Sessions of clients that went silent are removed, which
                // releases their talk floor. gst-rtsp-server leaves this to
                // the application that owns the server (its session pool
                // documentation; upstream's examples call cleanup every 2 s):
                // not a bug workaround.
                if let Some(pool) = server.session_pool() {
                    glib::timeout_source_new_seconds(
                        1,
                        Some("onvifbackchannel-session-cleanup"),
                        glib::Priority::DEFAULT,
                        move || {
                            let removed = pool.cleanup();
                            if removed > 0 {
                                gst::info!(CAT, "{removed} timed out sessions removed");
                            }
                            glib::ControlFlow::Continue
                        },
                    )
                    .attach(Some(&ctx));
                }
                let main_loop = glib::MainLoop::new(Some(&ctx), false);
                let thread = {
                    let ctx = ctx.clone();
                    let main_loop = main_loop.clone();
                    std::thread::Builder::new()
                        .name("onvifbackchannel-rtsp".into())
                        .spawn(move || {
                            let _ = ctx.with_thread_default(|| main_loop.run());
                        })
                        .map_err(|_| gst::StateChangeError)?
                };
                (server, Some((ctx, source, main_loop, thread)))
            }
        };
        let Some(mounts) = server.mount_points() else {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                ("The server has no mount points")
            );
            return Err(gst::StateChangeError);
        };
        mounts.add_factory(&settings.mount_point, self.factory.clone());
        let bound_port = server.bound_port().max(0) as u32;
        gst::info!(
            CAT,
            imp = self,
            "serving rtsp://{}:{}{} with the ONVIF back channel",
            settings.address,
            bound_port,
            settings.mount_point
        );
        let whip_tokens = match (
            &settings.whip_tokens_file,
            settings.whip && settings.http_port != 0,
        ) {
            (Some(path), true) => self.read_users(path)?,
            _ => Vec::new(),
        };
        let web = if settings.http_port != 0 {
            let tls = match &settings.server {
                Some(server) => server.auth().and_then(|a| a.tls_certificate()).is_some(),
                None => settings.tls_certificate.is_some(),
            };
            let config = crate::onvif::glue::WebConfig {
                address: settings.address.clone(),
                port: settings.http_port.max(0) as u16,
                tls_pem: settings.tls_certificate.clone(),
                users: users.clone(),
                discovery: settings.discovery,
                device_name: settings.device_name.clone(),
                device_hardware: settings.device_hardware.clone(),
                rtsp_scheme: if tls { "rtsps" } else { "rtsp" }.into(),
                rtsp_port: bound_port as u16,
                rtsp_path: settings.mount_point.clone(),
                codecs: self.factory.codec_list(),
                routes: Vec::new(),
            };
            let mut config = config;
            if settings.whip {
                let tokens = whip_tokens
                    .iter()
                    .map(|u| crate::webrtc::whip::Token {
                        name: u.name.clone(),
                        token: u.password.clone(),
                        role: u.role,
                    })
                    .collect();
                let endpoint = crate::webrtc::endpoint::Endpoint::new(
                    crate::webrtc::whip::Config::new(users.clone(), tokens),
                    &self.factory,
                );
                config.routes = endpoint.routes();
            }
            let factory = self.factory.clone();
            let fetch = Box::new(move || {
                factory
                    .forward_streams()
                    .map(|d| crate::onvif::server::streams_of(&d))
            });
            match crate::onvif::glue::Web::start(config, fetch) {
                Ok(web) => Some(web),
                Err(err) => {
                    gst::element_imp_error!(self, gst::ResourceError::OpenRead, ("{}", err));
                    let state = State {
                        server,
                        mount_point: settings.mount_point.clone(),
                        bound_port,
                        serving,
                        web: None,
                    };
                    drop(settings);
                    self.stop_rtsp(state);
                    return Err(gst::StateChangeError);
                }
            }
        } else {
            None
        };
        *self.state.lock().unwrap() = Some(State {
            server,
            mount_point: settings.mount_point.clone(),
            bound_port,
            serving,
            web,
        });
        drop(settings);
        self.obj().notify("bound-port");
        self.obj().notify("bound-http-port");
        Ok(())
    }

    /// A connection beyond `max-clients`: every request it sends but OPTIONS
    /// is answered `503 Service Unavailable`, and the connection is then
    /// closed.
    fn refuse(&self, client: &gst_rtsp_server::RTSPClient, taken: u32, max: u32) {
        let address = peer(client);
        gst::info!(
            CAT,
            imp = self,
            "refusing client {address}: {taken} clients connected, max-clients is {max}; \
             its requests get 503 Service Unavailable (OPTIONS excepted)"
        );
        let _ = self.obj().post_message(
            gst::message::Element::builder(
                gst::Structure::builder("onvifbackchannel-client-refused")
                    .field("address", &address)
                    .field("max-clients", max)
                    .build(),
            )
            .src(&*self.obj())
            .build(),
        );
        fn unavailable(
            client: &gst_rtsp_server::RTSPClient,
            _ctx: &gst_rtsp_server::RTSPContext,
        ) -> gst_rtsp::RTSPStatusCode {
            // The request is handled from the client's watch: close from its
            // main context once the answer is out.
            if let Some(ctx) = glib::main_current_source().and_then(|s| s.context()) {
                let client = client.clone();
                glib::idle_source_new(
                    Some("onvifbackchannel-refused-close"),
                    glib::Priority::DEFAULT,
                    move || {
                        client.close();
                        glib::ControlFlow::Break
                    },
                )
                .attach(Some(&ctx));
            }
            gst_rtsp::RTSPStatusCode::ServiceUnavailable
        }
        // OPTIONS is answered as usual: it costs nothing, and gst-rtsp-server
        // (1.22, and its main branch as of 2026) frees the stack-allocated
        // response when a pre-options-request handler fails, which aborts the
        // process (handle_options_request, sig_failed).
        client.connect_pre_describe_request(unavailable);
        client.connect_pre_setup_request(unavailable);
        client.connect_pre_play_request(unavailable);
        client.connect_pre_pause_request(unavailable);
        client.connect_pre_teardown_request(unavailable);
        client.connect_pre_get_parameter_request(unavailable);
        client.connect_pre_set_parameter_request(unavailable);
        client.connect_pre_announce_request(unavailable);
        client.connect_pre_record_request(unavailable);
    }

    /// The server's authentication, from `users-file` and `tls-certificate`.
    fn auth(
        &self,
        settings: &Settings,
        users: &[crate::users::User],
    ) -> Result<Option<gst_rtsp_server::RTSPAuth>, gst::StateChangeError> {
        use gst_rtsp_server::prelude::*;
        if settings.users_file.is_none() && settings.tls_certificate.is_none() {
            return Ok(None);
        }
        let auth = gst_rtsp_server::RTSPAuth::new();
        let tls = settings.tls_certificate.is_some();
        if let Some(path) = &settings.tls_certificate {
            let cert = gst_rtsp_server::gio::TlsCertificate::from_file(path).map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenRead,
                    (
                        "Cannot load the TLS certificate and key from {}: {}",
                        path,
                        err
                    )
                );
                gst::StateChangeError
            })?;
            auth.set_tls_certificate(Some(&cert));
        }
        let token = |role: &str| {
            gst_rtsp_server::RTSPToken::builder()
                .field("media.factory.role", role)
                .build()
        };
        for user in users {
            auth.add_digest(&user.name, &user.password, &token(user.role.name()));
            if tls {
                let basic = gst_rtsp_server::RTSPAuth::make_basic(&user.name, &user.password);
                auth.add_basic(&basic, &token(user.role.name()));
            }
        }
        if settings.users_file.is_none() {
            // TLS only: everyone who connects may watch and talk.
            auth.set_default_token(Some(&mut token(crate::users::Role::Talker.name())));
        }
        // Basic sends the password in the clear: only inside TLS.
        // The C API takes the methods as a bit mask of an enum the bindings
        // cannot OR.
        let methods = if tls {
            gst_rtsp::ffi::GST_RTSP_AUTH_DIGEST | gst_rtsp::ffi::GST_RTSP_AUTH_BASIC
        } else {
            gst_rtsp::ffi::GST_RTSP_AUTH_DIGEST
        };
        // SAFETY: a valid auth object and a valid mask of methods.
        unsafe {
            use glib::translate::ToGlibPtr;
            gst_rtsp_server::ffi::gst_rtsp_auth_set_supported_methods(
                auth.to_glib_none().0,
                methods,
            );
        }
        let role = |name: &str, talk: bool| {
            gst::Structure::builder(name)
                .field("media.factory.access", true)
                .field("media.factory.construct", true)
                .field(crate::factory::TALK_PERMISSION, talk)
                .build()
        };
        self.factory
            .add_role_from_structure(&role(crate::users::Role::Viewer.name(), false));
        self.factory
            .add_role_from_structure(&role(crate::users::Role::Talker.name(), true));
        gst::info!(
            CAT,
            imp = self,
            "authentication on: {} users{}",
            users.len(),
            if tls { ", TLS" } else { "" }
        );
        Ok(Some(auth))
    }

    fn read_users(&self, path: &str) -> Result<Vec<crate::users::User>, gst::StateChangeError> {
        use std::os::unix::fs::PermissionsExt;
        let fail = |msg: String| {
            gst::element_imp_error!(self, gst::ResourceError::OpenRead, ("{}", msg));
            gst::StateChangeError
        };
        let metadata =
            std::fs::metadata(path).map_err(|e| fail(format!("Cannot read {path}: {e}")))?;
        if crate::users::readable_by_others(metadata.permissions().mode()) {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Settings,
                (
                    "{} may be read by others than its owner: its passwords are exposed (chmod 600 it)",
                    path
                )
            );
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("Cannot read {path}: {e}")))?;
        let users = crate::users::parse(&text).map_err(|e| fail(format!("{path}: {e}")))?;
        if users.is_empty() {
            return Err(fail(format!("{path} lists no users")));
        }
        Ok(users)
    }

    fn stop(&self) {
        let Some(mut state) = self.state.lock().unwrap().take() else {
            return;
        };
        // Bye first, while the services still answer.
        drop(state.web.take());
        // Browsers' sessions end with the web server that made them.
        self.factory.webrtc_stop();
        self.stop_rtsp(state);
        // Its streaming threads (an encoder may take a while to close) end
        // before the element is in NULL, not after on a thread of their own.
        self.factory.stop_forward();
        self.obj().notify("bound-port");
        self.obj().notify("bound-http-port");
    }

    fn stop_rtsp(&self, state: State) {
        if let Some(mounts) = state.server.mount_points() {
            mounts.remove_factory(&state.mount_point);
        }
        if let Some((ctx, source, main_loop, thread)) = state.serving {
            if let Some(source) = ctx.find_source_by_id(&source) {
                source.destroy();
            }
            state
                .server
                .client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
            // Quit from inside the loop: a quit() before run() started is lost.
            ctx.invoke(move || main_loop.quit());
            let _ = thread.join();
        }
        gst::info!(CAT, imp = self, "stopped serving {}", state.mount_point);
    }
}

/// The client's address, for logs and messages.
fn peer(client: &gst_rtsp_server::RTSPClient) -> String {
    use glib::translate::{from_glib_none, ToGlibPtr};
    // SAFETY: the connection lives as long as the client, and the address
    // string as long as the connection; it is copied here.
    unsafe {
        let conn = gst_rtsp_server::ffi::gst_rtsp_client_get_connection(client.to_glib_none().0);
        if conn.is_null() {
            return String::new();
        }
        let ip: Option<String> = from_glib_none(gst_rtsp::ffi::gst_rtsp_connection_get_ip(conn));
        ip.unwrap_or_default()
    }
}

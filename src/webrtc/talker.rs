//! WebRTC talkers: the GStreamer glue that turns a WHIP offer into a
//! webrtcbin that decodes a browser's audio into the mount's talk floor.
//!
//! One pipeline per session (`webrtcbin`, and per received stream a
//! `depayloader ! decoder ! audioconvert ! audioresample ! appsink`), run by
//! a thread of its own that answers the offer, watches the session and tears
//! it down. Sessions meet the RTSP back channels only in the shared
//! [`Talk`]: the same seat count (`max-talkers`), talk policy, voice-based
//! spurts and talk events, so a browser and an ONVIF client talking at once
//! behave as two RTSP talkers would.
//!
//! The offer is decided by [`super::offer`] before webrtcbin sees it (a 4xx
//! with the reason for what we cannot take). webrtcbin (1.22 and 1.26) then
//! answers only ONE codec, the first of the OFFER's order that its
//! transceiver accepts (docs/webrtc-spike.md), so the recvonly transceiver
//! made before `set-remote-description` prefers exactly the codec our plan
//! chose: the first of the mount's preference the offer has.
//!
//! A session ends on DELETE ([`Talkers::hang_up`]), on webrtcbin's
//! `connection-state` `failed`/`closed` (ICE consent freshness, 1.24+),
//! when the peer sent nothing (RTP or RTCP, nor a [`Talkers::touch`]) for
//! the timeout (1.22 has no consent freshness: a browser that lost its
//! network would otherwise hold its seat for ever), or when the talkers are
//! stopped. Then the talker leaves the floor and the pipeline is set to NULL
//! from the session's own thread, never from one of its streaming threads.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_webrtc::{WebRTCICEGatheringState, WebRTCPeerConnectionState, WebRTCSDPType};

use super::offer::{self, AnswerCodec, AnswerPlan};
use crate::rtp;
use crate::talk::{self, Talk};
use crate::talk_floor::TalkerId;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-webrtc",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel WebRTC talkers"),
    )
});

/// How long an answer may take: ICE gathering on host candidates takes some
/// 200 ms; libnice gives up on a silent STUN server after ~2 s.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a session checks whether its peer went silent.
const WATCH_PERIOD: Duration = Duration::from_millis(100);
/// Default of the inactivity timeout (`webrtc-timeout`), in seconds: longer
/// than a browser's RTCP interval (up to 7.5 s for audio) and the push-to-
/// talk page's 5 s keepalive, short enough that a vanished phone frees its
/// seat soon.
pub const DEFAULT_TIMEOUT_S: u32 = 15;

/// How the mount takes WebRTC talkers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Codec names in answer preference order (of [`offer::WEBRTC_CODECS`]).
    pub codecs: Vec<&'static str>,
    /// webrtcbin's jitter buffer, ms (the factory's `latency`).
    pub latency_ms: u32,
    /// Seats of the floor (`max-talkers`, 0: no limit).
    pub max_talkers: u32,
    /// A session whose peer sends nothing this long ends.
    pub timeout: Duration,
}

/// An offer to answer.
#[derive(Debug, Clone)]
pub struct Offer {
    pub sdp: String,
    /// The session's name (the WHIP resource id), unique among sessions.
    pub session: String,
    /// The peer, for talk events.
    pub peer: Option<SocketAddr>,
    /// Gather candidates on this address only (the one the peer reached
    /// the web server on, which it can reach); `None`: every interface.
    pub local: Option<IpAddr>,
}

/// What became of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The answer SDP; the session runs.
    Answer(String),
    /// Refused with an HTTP status and a reason for the client.
    Refused { status: u16, reason: String },
}

enum Control {
    HangUp,
    Failed(String),
}

struct Handle {
    control: mpsc::Sender<Control>,
    last_seen: Arc<AtomicU64>,
    base: Instant,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The WebRTC talkers of one mount.
pub struct Talkers {
    talk: Arc<Talk>,
    sessions: Arc<Mutex<HashMap<String, Handle>>>,
}

/// Called once when a session ends, with its name and why.
pub type OnEnd = Box<dyn FnOnce(&str, &str) + Send>;

impl Talkers {
    pub fn new(talk: Arc<Talk>) -> Talkers {
        Talkers {
            talk,
            sessions: Arc::default(),
        }
    }

    /// Answers `offer` in the background: `on_answer` gets the outcome
    /// (within [`ANSWER_TIMEOUT`]), `on_end` the end of an answered session.
    pub fn offer(
        &self,
        offer: Offer,
        settings: &Settings,
        on_answer: Box<dyn FnOnce(Outcome) + Send>,
        on_end: OnEnd,
    ) {
        let plan = match offer::decide_offer(offer.sdp.as_bytes(), &settings.codecs) {
            Ok(plan) => plan,
            Err(err) => {
                gst::info!(
                    CAT,
                    "session {}: offer refused, {}: {}",
                    offer.session,
                    err.status(),
                    err.reason()
                );
                on_answer(Outcome::Refused {
                    status: err.status(),
                    reason: err.reason().to_string(),
                });
                return;
            }
        };
        let talker = talk::new_talker_id();
        if !self.talk.take_seat(talker, settings.max_talkers) {
            let reason = format!("all {} talk seats are taken", settings.max_talkers);
            gst::info!(CAT, "session {}: refused, {reason}", offer.session);
            on_answer(Outcome::Refused {
                status: 503,
                reason,
            });
            return;
        }
        self.talk.identify(
            talker,
            offer.peer.map(|a| a.ip().to_string()),
            Some(offer.session.clone()),
        );
        let (control, rx) = mpsc::channel();
        let base = Instant::now();
        let last_seen = Arc::new(AtomicU64::new(0));
        let session = Session {
            name: offer.session.clone(),
            talk: self.talk.clone(),
            talker,
            plan,
            offer: offer.sdp.clone(),
            settings: settings.clone(),
            local: offer.local,
            base,
            last_seen: last_seen.clone(),
            control: control.clone(),
        };
        let mut sessions = self.sessions.lock().unwrap();
        let registry = self.sessions.clone();
        let name = offer.session.clone();
        let thread = std::thread::Builder::new()
            .name("onvifbc-webrtc".into())
            .spawn(move || {
                let reason = session.run(rx, on_answer);
                gst::info!(CAT, "session {}: ended, {reason}", session.name);
                // Gone for DELETE and touch first, then for its owner
                // (the WHIP resource is 404 from now on), and only then
                // off the floor: whoever sees the `left` event finds the
                // session gone everywhere.
                let handle = registry.lock().unwrap().remove(&session.name);
                drop(handle);
                on_end(&session.name, &reason);
                session.talk.leave(session.talker);
            });
        match thread {
            Ok(thread) => {
                sessions.insert(
                    name,
                    Handle {
                        control,
                        last_seen,
                        base,
                        thread: Some(thread),
                    },
                );
            }
            Err(err) => {
                // on_answer went with the closure: the responder answers 500.
                gst::error!(CAT, "cannot start a session thread: {err}");
                self.talk.leave(talker);
            }
        }
    }

    /// Answers `offer` and waits for the outcome (for the factory's action
    /// signal, whose caller has no main loop to wait on).
    pub fn offer_blocking(&self, offer: Offer, settings: &Settings, on_end: OnEnd) -> Outcome {
        let (tx, rx) = mpsc::channel();
        self.offer(
            offer,
            settings,
            Box::new(move |outcome| {
                let _ = tx.send(outcome);
            }),
            on_end,
        );
        rx.recv_timeout(ANSWER_TIMEOUT + Duration::from_secs(1))
            .unwrap_or(Outcome::Refused {
                status: 500,
                reason: "the session could not be set up".into(),
            })
    }

    /// Ends a session; false if there is none by that name.
    pub fn hang_up(&self, session: &str) -> bool {
        match self.sessions.lock().unwrap().get(session) {
            Some(handle) => {
                let _ = handle.control.send(Control::HangUp);
                true
            }
            None => false,
        }
    }

    /// Counts as a sign of life from the peer (a WHIP client's GET on its
    /// resource); false if there is no such session.
    pub fn touch(&self, session: &str) -> bool {
        match self.sessions.lock().unwrap().get(session) {
            Some(handle) => {
                handle
                    .last_seen
                    .store(ms_since(handle.base), Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// The sessions running.
    pub fn sessions(&self) -> Vec<String> {
        self.sessions.lock().unwrap().keys().cloned().collect()
    }

    /// Ends every session and waits for them to be torn down.
    pub fn stop(&self) {
        let threads: Vec<_> = self
            .sessions
            .lock()
            .unwrap()
            .values_mut()
            .filter_map(|h| {
                let _ = h.control.send(Control::HangUp);
                h.thread.take()
            })
            .collect();
        for thread in threads {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Talkers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ms_since(base: Instant) -> u64 {
    base.elapsed().as_millis() as u64
}

/// One session, on its own thread.
struct Session {
    name: String,
    talk: Arc<Talk>,
    talker: TalkerId,
    plan: AnswerPlan,
    /// The offer as webrtcbin gets it.
    offer: String,
    settings: Settings,
    local: Option<IpAddr>,
    base: Instant,
    /// Milliseconds since `base` when the peer last sent something.
    last_seen: Arc<AtomicU64>,
    control: mpsc::Sender<Control>,
}

impl Session {
    /// Answers, then watches the session until it ends; returns why it did,
    /// its pipeline stopped (the caller makes the talker leave).
    fn run(
        &self,
        control: mpsc::Receiver<Control>,
        on_answer: Box<dyn FnOnce(Outcome) + Send>,
    ) -> String {
        let pipeline = gst::Pipeline::with_name(&format!("webrtc-talker-{}", self.talker));
        let answered = self.answer(&pipeline);
        let reason = match answered {
            Ok(answer) => {
                gst::info!(
                    CAT,
                    "session {}: talker {} answered with {}",
                    self.name,
                    self.talker,
                    self.plan.codecs[0].codec.name
                );
                on_answer(Outcome::Answer(answer));
                self.talk.set_up(self.talker);
                self.last_seen.store(ms_since(self.base), Ordering::SeqCst);
                self.watch(&control)
            }
            Err((status, reason)) => {
                gst::warning!(CAT, "session {}: cannot answer: {reason}", self.name);
                on_answer(Outcome::Refused {
                    status,
                    reason: reason.clone(),
                });
                reason
            }
        };
        let _ = pipeline.set_state(gst::State::Null);
        reason
    }

    /// Waits for the end: a control message or silence.
    fn watch(&self, control: &mpsc::Receiver<Control>) -> String {
        loop {
            match control.recv_timeout(WATCH_PERIOD) {
                Ok(Control::HangUp) => return "hung up".into(),
                Ok(Control::Failed(reason)) => return reason,
                Err(mpsc::RecvTimeoutError::Disconnected) => return "stopped".into(),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let idle =
                        ms_since(self.base).saturating_sub(self.last_seen.load(Ordering::SeqCst));
                    if idle >= self.settings.timeout.as_millis() as u64 {
                        return format!(
                            "the peer sent nothing (no RTP, RTCP or keepalive) for {} ms",
                            idle
                        );
                    }
                }
            }
        }
    }

    /// Builds the pipeline, answers the offer and waits for ICE gathering.
    fn answer(&self, pipeline: &gst::Pipeline) -> Result<String, (u16, String)> {
        let internal = |what: &str| (500, format!("{what} failed"));
        let webrtc = gst::ElementFactory::make("webrtcbin")
            .name("webrtc")
            .property_from_str("bundle-policy", "max-bundle")
            .property("latency", self.settings.latency_ms)
            .build()
            .map_err(|_| {
                (
                    503,
                    "webrtcbin is not available (gstreamer1.0-plugins-bad and gstreamer1.0-nice)"
                        .to_string(),
                )
            })?;
        pipeline
            .add(&webrtc)
            .map_err(|_| internal("adding webrtcbin"))?;
        self.watch_peer(pipeline, &webrtc);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| internal("starting webrtcbin"))?;
        let agent = webrtc.property::<gst_webrtc::WebRTCICE>("ice-agent");
        no_upnp(&agent);
        if let Some(local) = self.local {
            let address = local.to_string();
            if agent.emit_by_name::<bool>("add-local-ip-address", &[&address]) {
                gst::debug!(CAT, "session {}: candidates on {address} only", self.name);
            } else {
                gst::warning!(
                    CAT,
                    "session {}: cannot restrict candidates to {address}",
                    self.name
                );
            }
        }

        // The transceiver webrtcbin answers with, preferring our codec only
        // (without `payload`, so that the offered payload type is kept).
        let chosen = &self.plan.codecs[0];
        let prefs = gst::Caps::from_str(&format!(
            "application/x-rtp,media=audio,encoding-name={},clock-rate={}",
            chosen.codec.encoding_name, chosen.codec.clock_rate
        ))
        .map_err(|_| internal("codec preferences"))?;
        webrtc.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
            "add-transceiver",
            &[&gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly, &prefs],
        );

        let offer = gst_sdp::SDPMessage::parse_buffer(self.offer.as_bytes()).map_err(|_| {
            (
                400,
                "the offer is not SDP that GStreamer can read".to_string(),
            )
        })?;
        let offer = gst_webrtc::WebRTCSessionDescription::new(WebRTCSDPType::Offer, offer);
        let reply = promise(|p| webrtc.emit_by_name::<()>("set-remote-description", &[&offer, &p]));
        if let Some(Err(err)) = reply.as_ref().map(error_of) {
            return Err((422, format!("webrtcbin refused the offer: {err}")));
        }
        let reply =
            promise(|p| webrtc.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &p]))
                .ok_or_else(|| internal("create-answer"))?;
        error_of(&reply).map_err(|err| (422, format!("webrtcbin cannot answer: {err}")))?;
        let answer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("answer")
            .map_err(|_| internal("create-answer"))?;

        let (gathered_tx, gathered_rx) = mpsc::channel::<()>();
        let gathered_tx = Mutex::new(gathered_tx);
        let gathering = webrtc.connect_notify(Some("ice-gathering-state"), move |w, _| {
            if w.property::<WebRTCICEGatheringState>("ice-gathering-state")
                == WebRTCICEGatheringState::Complete
            {
                let _ = gathered_tx.lock().unwrap().send(());
            }
        });
        let reply = promise(|p| webrtc.emit_by_name::<()>("set-local-description", &[&answer, &p]));
        if let Some(Err(err)) = reply.as_ref().map(error_of) {
            webrtc.disconnect(gathering);
            return Err((500, format!("webrtcbin refused its own answer: {err}")));
        }
        let started = Instant::now();
        let complete = webrtc.property::<WebRTCICEGatheringState>("ice-gathering-state")
            == WebRTCICEGatheringState::Complete
            || gathered_rx.recv_timeout(ANSWER_TIMEOUT).is_ok();
        webrtc.disconnect(gathering);
        if !complete {
            return Err((504, "ICE gathering did not complete".into()));
        }
        let local = webrtc
            .property::<gst_webrtc::WebRTCSessionDescription>("local-description")
            .sdp()
            .as_text()
            .map_err(|_| internal("reading the answer"))?;
        gst::debug!(
            CAT,
            "session {}: gathered in {} ms, webrtcbin's answer:\n{local}",
            self.name,
            started.elapsed().as_millis()
        );
        offer::munge_answer(&local, &self.plan).map_err(|err| {
            (
                500,
                format!("webrtcbin's answer is unusable: {}", err.reason()),
            )
        })
    }

    /// Connects what tells the session about its peer: decoded streams,
    /// packets (RTP and RTCP: signs of life) and connection failures. The
    /// closures hold no strong reference to the pipeline (that would be a
    /// cycle: pipeline, webrtcbin, closure, pipeline).
    fn watch_peer(&self, pipeline: &gst::Pipeline, webrtc: &gst::Element) {
        // Every packet from the peer (DTLS, SRTP and SRTCP) passes a nicesrc
        // inside webrtcbin; it is made later, at set-remote-description.
        let last_seen = self.last_seen.clone();
        let base = self.base;
        pipeline.connect_deep_element_added(move |_, _, element| {
            if element.factory().is_some_and(|f| f.name() == "nicesrc") {
                if let Some(pad) = element.static_pad("src") {
                    let last_seen = last_seen.clone();
                    pad.add_probe(
                        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                        move |_, _| {
                            last_seen.store(ms_since(base), Ordering::SeqCst);
                            gst::PadProbeReturn::Ok
                        },
                    );
                }
            }
        });

        let control = Mutex::new(self.control.clone());
        let name = self.name.clone();
        webrtc.connect_notify(Some("connection-state"), move |w, _| {
            let state = w.property::<WebRTCPeerConnectionState>("connection-state");
            gst::debug!(CAT, "session {name}: connection {state:?}");
            if matches!(
                state,
                WebRTCPeerConnectionState::Failed | WebRTCPeerConnectionState::Closed
            ) {
                let _ = control.lock().unwrap().send(Control::Failed(
                    format!("the connection is {state:?}").to_lowercase(),
                ));
            }
        });

        let plan = self.plan.codecs.clone();
        let talk = self.talk.clone();
        let talker = self.talker;
        let name = self.name.clone();
        webrtc.connect_pad_added(move |webrtc, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            let pt = pad
                .current_caps()
                .and_then(|c| c.structure(0).and_then(|s| s.get::<i32>("payload").ok()));
            let codec = pt.and_then(|pt| plan.iter().find(|c| i32::from(c.pt) == pt));
            let Some(bin) = webrtc.parent().and_downcast::<gst::Bin>() else {
                return;
            };
            let result = match codec {
                Some(codec) => {
                    gst::info!(
                        CAT,
                        "session {name}: talker {talker} sends {} (pt {}), decoding",
                        codec.codec.name,
                        codec.pt
                    );
                    decode_chain(&bin, pad, codec, talk.clone(), talker)
                }
                None => {
                    // telephone-event, CN: an unlinked pad would stop the
                    // stream (not-linked).
                    gst::debug!(
                        CAT,
                        "session {name}: stream {} of payload type {pt:?} not decoded",
                        pad.name()
                    );
                    discard(&bin, pad)
                }
            };
            if let Err(err) = result {
                gst::error!(CAT, "session {name}: cannot decode {}: {err}", pad.name());
            }
        });
    }
}

/// Turns off libnice's UPnP IGD port mapping: it multicasts SSDP searches
/// (239.255.255.250:1900) on every interface at each gathering, asks home
/// routers to open ports to the device, and holds a port of its own. A
/// talker on the LAN needs none of it. The NiceAgent is webrtcbin's ICE
/// object's `agent` property (GstWebRTCNice, 1.22 and later).
pub fn no_upnp(ice: &gst_webrtc::WebRTCICE) {
    if ice.find_property("agent").is_none() {
        return;
    }
    let agent = ice.property::<glib::Object>("agent");
    if agent.find_property("upnp").is_some() {
        agent.set_property("upnp", false);
    }
}

/// depayloader ! decoder ! audioconvert ! audioresample ! appsink, linked to
/// `pad`; counts the packets and their losses for the talk events.
fn decode_chain(
    bin: &gst::Bin,
    pad: &gst::Pad,
    codec: &AnswerCodec,
    talk: Arc<Talk>,
    talker: TalkerId,
) -> Result<(), glib::BoolError> {
    let elements = talk::decode_elements(codec.codec, talk.clone(), talker)?;
    if let Some(decoder) = codec.codec.decoder.and(elements.get(1)) {
        if decoder.find_property("use-inband-fec").is_some() {
            // We answered useinbandfec=1: the browser adds FEC, opusdec uses it.
            decoder.set_property("use-inband-fec", true);
        }
    }
    bin.add_many(&elements)?;
    gst::Element::link_many(&elements)?;
    let name = codec.codec.name;
    let losses = Mutex::new(rtp::LossCounter::default());
    let sink = elements[0].static_pad("sink").unwrap();
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            if let Ok(map) = buffer.map_readable() {
                if let Ok(header) = rtp::parse_header(&map) {
                    let lost = losses.lock().unwrap().packet(header.ssrc, header.sequence);
                    talk.packet(talker, name, lost);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
    for element in &elements {
        element.sync_state_with_parent()?;
    }
    pad.link(&sink)
        .map_err(|e| glib::bool_error!("linking: {e:?}"))?;
    Ok(())
}

/// A fakesink for a stream we do not decode.
fn discard(bin: &gst::Bin, pad: &gst::Pad) -> Result<(), glib::BoolError> {
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()?;
    bin.add(&sink)?;
    sink.sync_state_with_parent()?;
    pad.link(&sink.static_pad("sink").unwrap())
        .map_err(|e| glib::bool_error!("linking: {e:?}"))?;
    Ok(())
}

/// Emits an action with a promise and waits for its reply.
fn promise(emit: impl FnOnce(gst::Promise)) -> Option<gst::Structure> {
    let (tx, rx) = mpsc::channel();
    let p = gst::Promise::with_change_func(move |reply| {
        let _ = tx.send(reply.ok().flatten().map(|s| s.to_owned()));
    });
    emit(p);
    rx.recv_timeout(ANSWER_TIMEOUT).ok().flatten()
}

/// The error a promise reply carries, if any.
fn error_of(reply: &gst::Structure) -> Result<(), String> {
    match reply.get::<glib::Error>("error") {
        Ok(err) => Err(err.to_string()),
        Err(_) => Ok(()),
    }
}

use gst::glib;

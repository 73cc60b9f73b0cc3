//! The talk state of one mount, shared by every back channel receiver (which
//! offers packets and pushes decoded audio) and the output (which pulls
//! blocks on its clock). Glue around the plain [`TalkFloor`] and [`TalkMixer`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use crate::talk_floor::{FloorEvent, TalkFloor, TalkPolicy, TalkerId, TalkerStats, Verdict};
use crate::talk_mixer::TalkMixer;
use crate::vad::{self, Voice, VoiceDetector};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-talk",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel talker arbitration"),
    )
});

/// Rate of the decoded audio between receivers and the output.
pub const RATE: u32 = 48_000;
/// Caps of the decoded audio between receivers and the output.
pub fn raw_caps() -> gst::Caps {
    gst_audio::AudioCapsBuilder::new_interleaved()
        .format(gst_audio::AUDIO_FORMAT_F32)
        .rate(RATE as i32)
        .channels(1)
        .build()
}

/// How long the floor holder may be without voice before another talker may
/// take it: the voice detector's hangover, and the same time by the clock
/// for a talker that stops sending.
pub const RELEASE_AFTER: gst::ClockTime = gst::ClockTime::from_mseconds(vad::HANGOVER_MS as u64);
/// Most audio a talker may have waiting for the output (older samples are dropped).
const MAX_QUEUED: gst::ClockTime = gst::ClockTime::from_mseconds(400);
/// Standing backlog kept as a jitter margin; more than that is trimmed.
const KEEP_QUEUED: gst::ClockTime = gst::ClockTime::from_mseconds(10);

fn samples(t: gst::ClockTime) -> usize {
    (t.nseconds() * RATE as u64 / gst::ClockTime::SECOND.nseconds()) as usize
}

/// A talker's decoding chain for `codec`, unlinked: depayloader, decoder
/// (if the codec has one), audioconvert, audioresample and [`appsink`].
/// Shared by the RTSP back channels and the WebRTC talkers.
pub fn decode_elements(
    codec: &crate::codecs::BackchannelCodec,
    talk: Arc<Talk>,
    talker: TalkerId,
) -> Result<Vec<gst::Element>, glib::BoolError> {
    let mut elements = vec![gst::ElementFactory::make(codec.depayloader).build()?];
    if let Some(decoder) = codec.decoder {
        elements.push(gst::ElementFactory::make(decoder).build()?);
    }
    elements.push(gst::ElementFactory::make("audioconvert").build()?);
    elements.push(gst::ElementFactory::make("audioresample").build()?);
    elements.push(appsink(talk, talker));
    Ok(elements)
}

/// The end of a talker's decoding chain: an appsink taking [`raw_caps`]
/// that hands the floor everything decoded; the floor decides, by its
/// voice, whether it is heard ([`Talk::judge`], then [`Talk::push`]).
/// Shared by the RTSP back channels and the WebRTC talkers.
pub fn appsink(talk: Arc<Talk>, talker: TalkerId) -> gst::Element {
    gst_app::AppSink::builder()
        .caps(&raw_caps())
        .sync(false)
        .async_(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink
                        .pull_sample()
                        .map_err(|_| gst::FlowError::Flushing)?;
                    if let Some(buffer) = sample.buffer() {
                        if let Ok(map) = buffer.map_readable() {
                            let samples: Vec<f32> = map
                                .chunks_exact(4)
                                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                                .collect();
                            if talk.judge(talker, &samples, RATE) == Verdict::Play {
                                talk.push(talker, &samples);
                            }
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build()
        .into()
}

/// Who a talker is, for applications.
#[derive(Debug, Clone, Default)]
pub struct TalkerInfo {
    /// Client address (`ip:port` of its RTSP connection).
    pub address: Option<String>,
    /// RTSP session id.
    pub session: Option<String>,
    /// Codec of its latest packet.
    pub codec: Option<&'static str>,
    /// Packets missing from its RTP sequence numbers.
    pub lost: u64,
}

/// A talk event with the talker's identity and counters, for applications.
#[derive(Debug, Clone)]
pub struct TalkEvent {
    /// `started`, `stopped`, `refused` or `left`.
    pub kind: &'static str,
    pub talker: TalkerId,
    pub info: TalkerInfo,
    pub stats: TalkerStats,
}

type EventHandler = Box<dyn Fn(&TalkEvent) + Send + Sync>;

struct State {
    floor: TalkFloor,
    mixer: TalkMixer,
    info: HashMap<TalkerId, TalkerInfo>,
    /// Voice detector of every talker that sent audio, and when it last did.
    voices: HashMap<TalkerId, (VoiceDetector, u64)>,
    /// Level above which a frame is voice, in dBFS.
    voice_threshold: f64,
    /// Back channels admitted by the factory (counted against `max-talkers`).
    seats: std::collections::HashSet<TalkerId>,
    /// Back channels whose SETUP was answered with 200 OK: the only talkers
    /// applications hear about. A client that asked for the back channel in
    /// its DESCRIBE but never set it up has a receiver, and leaves, too.
    set_up: std::collections::HashSet<TalkerId>,
}

impl State {
    /// Applies floor changes to the mixer (a talker that lost the floor has
    /// nothing left to play) and describes them for applications.
    fn settle(&mut self, events: &[FloorEvent]) -> Vec<TalkEvent> {
        for e in events {
            if let FloorEvent::Stopped(t) = e {
                self.mixer.remove(*t);
            }
        }
        events
            .iter()
            .map(|e| {
                let (kind, talker) = match *e {
                    FloorEvent::Started(t) => ("started", t),
                    FloorEvent::Stopped(t) => ("stopped", t),
                    FloorEvent::Refused(t) => ("refused", t),
                };
                self.event(kind, talker)
            })
            .collect()
    }

    fn event(&self, kind: &'static str, talker: TalkerId) -> TalkEvent {
        TalkEvent {
            kind,
            talker,
            info: self.info.get(&talker).cloned().unwrap_or_default(),
            stats: self.floor.stats(talker),
        }
    }
}

pub struct Talk {
    state: Mutex<State>,
    epoch: Instant,
    handlers: Mutex<Vec<EventHandler>>,
}

static NEXT_TALKER: AtomicU64 = AtomicU64::new(1);

/// A new identity for a back channel.
pub fn new_talker_id() -> TalkerId {
    NEXT_TALKER.fetch_add(1, Ordering::Relaxed)
}

impl Talk {
    pub fn new(policy: TalkPolicy) -> Arc<Talk> {
        Arc::new(Talk {
            state: Mutex::new(State {
                floor: TalkFloor::new(policy, RELEASE_AFTER.nseconds()),
                mixer: TalkMixer::new(samples(MAX_QUEUED), samples(KEEP_QUEUED)),
                info: HashMap::new(),
                voices: HashMap::new(),
                voice_threshold: vad::THRESHOLD_DBFS,
                seats: Default::default(),
                set_up: Default::default(),
            }),
            epoch: Instant::now(),
            handlers: Mutex::new(Vec::new()),
        })
    }

    /// Counts `talker`'s back channel against `max` (0: no limit); false when
    /// all seats are taken. A talker that has a seat keeps it until it leaves.
    pub fn take_seat(&self, talker: TalkerId, max: u32) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.seats.contains(&talker) || max == 0 || state.seats.len() < max as usize {
            state.seats.insert(talker);
            return true;
        }
        false
    }

    /// The SETUP of `talker`'s back channel succeeded: its events are
    /// emitted from now on, `left` included.
    pub fn set_up(&self, talker: TalkerId) {
        self.state.lock().unwrap().set_up.insert(talker);
    }

    /// How long a talker's audio waits before it is played when it starts
    /// (or after it ran dry): the margin against network jitter.
    pub fn set_start_delay(&self, delay: gst::ClockTime) {
        self.state
            .lock()
            .unwrap()
            .mixer
            .set_start_delay(samples(delay));
    }

    /// Changes who is heard, from the next packet on.
    pub fn set_policy(&self, policy: TalkPolicy) {
        self.state.lock().unwrap().floor.set_policy(policy);
    }

    /// Also calls `handler` for every talk event (from streaming threads).
    pub fn add_event_handler(&self, handler: impl Fn(&TalkEvent) + Send + Sync + 'static) {
        self.handlers.lock().unwrap().push(Box::new(handler));
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// A time from [`now_ns`](Self::now_ns) as the mixer's sample position.
    fn position(ns: u64) -> u64 {
        (ns as u128 * RATE as u128 / gst::ClockTime::SECOND.nseconds() as u128) as u64
    }

    /// Who the talker is: its client's address and RTSP session.
    pub fn identify(&self, talker: TalkerId, address: Option<String>, session: Option<String>) {
        let mut state = self.state.lock().unwrap();
        let info = state.info.entry(talker).or_default();
        info.address = address;
        info.session = session;
    }

    /// Changes the level above which a talker's audio is voice, for every
    /// talker, from its next frame on.
    pub fn set_voice_threshold(&self, dbfs: f64) {
        let mut state = self.state.lock().unwrap();
        state.voice_threshold = dbfs;
        for (detector, _) in state.voices.values_mut() {
            detector.set_threshold(dbfs);
        }
    }

    /// A packet of `talker` in `codec` arrived, `lost` packets after the
    /// previous one (counted; its audio is judged once decoded).
    pub fn packet(&self, talker: TalkerId, codec: &'static str, lost: u64) {
        let mut state = self.state.lock().unwrap();
        let info = state.info.entry(talker).or_default();
        info.codec = Some(codec);
        info.lost += lost;
        state.floor.received(talker);
    }

    /// The next decoded `samples` of `talker` (mono, at `rate`): measures
    /// its voice and says whether to play them (then [`push`](Self::push)
    /// them, at [`RATE`]).
    pub fn judge(&self, talker: TalkerId, samples: &[f32], rate: u32) -> Verdict {
        let now = self.now_ns();
        let (verdict, voice, was_active, events) = {
            let mut state = self.state.lock().unwrap();
            if !state.info.contains_key(&talker) {
                // Audio still coming out of a decode chain after the talker
                // left: it must not bring the talker back.
                gst::log!(CAT, "talker {talker}: audio after it left, not played");
                return Verdict::Idle;
            }
            let threshold = state.voice_threshold;
            let (detector, last_ns) = state
                .voices
                .entry(talker)
                .or_insert_with(|| (VoiceDetector::new(threshold), now));
            if now.saturating_sub(*last_ns) >= RELEASE_AFTER.nseconds() && detector.active() {
                // It stopped sending while it talked; the floor has ended
                // its spurt by the clock. Its next audio is judged afresh.
                gst::debug!(
                    CAT,
                    "talker {talker}: voice stops (no audio for {} ms)",
                    (now - *last_ns) / 1_000_000
                );
                detector.reset();
            }
            *last_ns = now;
            let was_active = detector.active();
            let voice = detector.process(samples, rate);
            let (verdict, events) = state.floor.offer(talker, now, voice);
            (verdict, voice, was_active, state.settle(&events))
        };
        match voice {
            Voice::Speech if !was_active => {
                gst::debug!(CAT, "talker {talker}: voice starts");
            }
            Voice::Silence if was_active => gst::debug!(
                CAT,
                "talker {talker}: voice stops ({} ms without voice)",
                vad::HANGOVER_MS
            ),
            _ => {}
        }
        self.emit_all(&events);
        match verdict {
            Verdict::Drop => gst::log!(CAT, "talker {talker}: audio dropped, not on the floor"),
            Verdict::Idle => gst::log!(CAT, "talker {talker}: silence, not played"),
            Verdict::Play => {}
        }
        verdict
    }

    /// Decoded audio of `talker`, at [`RATE`], mono.
    pub fn push(&self, talker: TalkerId, samples: &[f32]) {
        let now = Self::position(self.now_ns());
        let dropped = self.state.lock().unwrap().mixer.push(talker, samples, now);
        if dropped > 0 {
            gst::debug!(
                CAT,
                "talker {talker}: {dropped} samples dropped, sending faster than the output plays"
            );
        }
    }

    /// Fills `out` with the next block to play; returns the talker samples in
    /// it. `late`: how long ago the block was due (its last sample), on the
    /// output's clock.
    pub fn pull(&self, out: &mut [f32], late: gst::ClockTime) -> usize {
        let now = self.now_ns();
        let due = Self::position(now.saturating_sub(late.nseconds()));
        let (heard, events) = {
            let mut state = self.state.lock().unwrap();
            let events = state.floor.expire(now);
            let events = state.settle(&events);
            (state.mixer.pull(out, due), events)
        };
        self.emit_all(&events);
        heard
    }

    /// The back channel of `talker` is gone. Only one that was set up gets
    /// a `left` event.
    pub fn leave(&self, talker: TalkerId) {
        let now = self.now_ns();
        let events = {
            let mut state = self.state.lock().unwrap();
            state.mixer.remove(talker);
            let (stats, floor_events) = state.floor.leave(talker, now);
            let mut events = state.settle(&floor_events);
            // The floor has forgotten the leaving talker; use its last counts.
            for e in events.iter_mut().filter(|e| e.talker == talker) {
                e.stats = stats;
            }
            if state.set_up.remove(&talker) {
                let mut left = state.event("left", talker);
                left.stats = stats;
                events.push(left);
            } else {
                gst::debug!(CAT, "talker {talker}: gone without having been set up");
            }
            state.info.remove(&talker);
            state.voices.remove(&talker);
            state.seats.remove(&talker);
            events
        };
        self.emit_all(&events);
    }

    /// Who is heard now.
    pub fn heard(&self) -> Vec<TalkerId> {
        self.state.lock().unwrap().floor.heard()
    }

    fn emit_all(&self, events: &[TalkEvent]) {
        for event in events {
            gst::info!(
                CAT,
                "talker {} ({}, session {}): {} (codec {}, packets received {}, lost {}, dropped {})",
                event.talker,
                event.info.address.as_deref().unwrap_or("?"),
                event.info.session.as_deref().unwrap_or("?"),
                event.kind,
                event.info.codec.unwrap_or("-"),
                event.stats.received,
                event.info.lost,
                event.stats.dropped
            );
            for handler in self.handlers.lock().unwrap().iter() {
                handler(event);
            }
        }
    }
}

/// Element message posted for talk events (structure name).
pub const TALK_MESSAGE: &str = "onvifbackchannel-talk";

/// The element message structure of a talk event.
pub fn event_structure(event: &TalkEvent) -> gst::Structure {
    gst::Structure::builder(TALK_MESSAGE)
        .field("event", event.kind)
        .field("talker", event.talker)
        .field("address", event.info.address.as_deref().unwrap_or(""))
        .field("session", event.info.session.as_deref().unwrap_or(""))
        .field("codec", event.info.codec.unwrap_or(""))
        .field("received", event.stats.received)
        .field("lost", event.info.lost)
        .field("dropped", event.stats.dropped)
        .build()
}

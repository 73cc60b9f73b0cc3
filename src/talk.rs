//! The talk state of one mount, shared by every back channel receiver (which
//! offers packets and pushes decoded audio) and the output (which pulls
//! blocks on its clock). Glue around the plain [`TalkFloor`] and [`TalkMixer`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use crate::talk_floor::{FloorEvent, TalkFloor, TalkPolicy, TalkerId, TalkerStats, Verdict};
use crate::talk_mixer::TalkMixer;

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

/// How long the floor holder may be silent before another talker may take it.
pub const RELEASE_AFTER: gst::ClockTime = gst::ClockTime::from_mseconds(1000);
/// Most audio a talker may have waiting for the output (older samples are dropped).
const MAX_QUEUED: gst::ClockTime = gst::ClockTime::from_mseconds(400);
/// Standing backlog kept as a jitter margin; more than that is trimmed.
const KEEP_QUEUED: gst::ClockTime = gst::ClockTime::from_mseconds(10);

fn samples(t: gst::ClockTime) -> usize {
    (t.nseconds() * RATE as u64 / gst::ClockTime::SECOND.nseconds()) as usize
}

/// A talk event with the talker's counters, for applications.
#[derive(Debug, Clone)]
pub struct TalkEvent {
    pub kind: &'static str,
    pub talker: TalkerId,
    pub stats: TalkerStats,
}

type EventHandler = Box<dyn Fn(&TalkEvent) + Send + Sync>;

struct State {
    floor: TalkFloor,
    mixer: TalkMixer,
}

impl State {
    /// Applies floor changes to the mixer (a talker that lost the floor has
    /// nothing left to play) and returns each event's talker counters.
    fn settle(&mut self, events: &[FloorEvent]) -> Vec<TalkerStats> {
        for e in events {
            if let FloorEvent::Stopped(t) = e {
                self.mixer.remove(*t);
            }
        }
        events
            .iter()
            .map(|e| self.floor.stats(event_talker(e)))
            .collect()
    }
}

pub struct Talk {
    state: Mutex<State>,
    epoch: Instant,
    on_event: Mutex<Option<EventHandler>>,
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
            }),
            epoch: Instant::now(),
            on_event: Mutex::new(None),
        })
    }

    /// Calls `handler` for every talk event (from streaming threads).
    pub fn set_event_handler(&self, handler: impl Fn(&TalkEvent) + Send + Sync + 'static) {
        *self.on_event.lock().unwrap() = Some(Box::new(handler));
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// A packet of `talker` arrived: play it or drop it.
    pub fn offer(&self, talker: TalkerId) -> Verdict {
        let now = self.now_ns();
        let (verdict, events, stats) = {
            let mut state = self.state.lock().unwrap();
            let (verdict, events) = state.floor.offer(talker, now);
            let stats = state.settle(&events);
            (verdict, events, stats)
        };
        self.report(&events, &stats);
        if verdict == Verdict::Drop {
            gst::log!(
                CAT,
                "talker {talker}: packet dropped, another talker holds the floor"
            );
        }
        verdict
    }

    /// Decoded audio of `talker`, at [`RATE`], mono.
    pub fn push(&self, talker: TalkerId, samples: &[f32]) {
        let dropped = self.state.lock().unwrap().mixer.push(talker, samples);
        if dropped > 0 {
            gst::debug!(
                CAT,
                "talker {talker}: {dropped} samples dropped, sending faster than the output plays"
            );
        }
    }

    /// Fills `out` with the next block to play; returns the talker samples in it.
    pub fn pull(&self, out: &mut [f32]) -> usize {
        let now = self.now_ns();
        let (heard, events, stats) = {
            let mut state = self.state.lock().unwrap();
            let events = state.floor.expire(now);
            let stats = state.settle(&events);
            (state.mixer.pull(out), events, stats)
        };
        self.report(&events, &stats);
        heard
    }

    /// The back channel of `talker` is gone.
    pub fn leave(&self, talker: TalkerId) {
        let now = self.now_ns();
        let (stats, events, all_stats) = {
            let mut state = self.state.lock().unwrap();
            state.mixer.remove(talker);
            let (stats, events) = state.floor.leave(talker, now);
            let mut all_stats = state.settle(&events);
            // The floor has forgotten the leaving talker; use its last counts.
            for (event, s) in events.iter().zip(all_stats.iter_mut()) {
                if event_talker(event) == talker {
                    *s = stats;
                }
            }
            (stats, events, all_stats)
        };
        self.report(&events, &all_stats);
        self.emit(TalkEvent {
            kind: "left",
            talker,
            stats,
        });
    }

    /// Who is heard now.
    pub fn heard(&self) -> Vec<TalkerId> {
        self.state.lock().unwrap().floor.heard()
    }

    fn report(&self, events: &[FloorEvent], stats: &[TalkerStats]) {
        for (event, stats) in events.iter().zip(stats) {
            let kind = match event {
                FloorEvent::Started(_) => "started",
                FloorEvent::Stopped(_) => "stopped",
                FloorEvent::Refused(_) => "refused",
            };
            self.emit(TalkEvent {
                kind,
                talker: event_talker(event),
                stats: *stats,
            });
        }
    }

    fn emit(&self, event: TalkEvent) {
        gst::info!(
            CAT,
            "talker {}: {} (packets received {}, dropped {})",
            event.talker,
            event.kind,
            event.stats.received,
            event.stats.dropped
        );
        if let Some(handler) = self.on_event.lock().unwrap().as_ref() {
            handler(&event);
        }
    }
}

fn event_talker(event: &FloorEvent) -> TalkerId {
    match *event {
        FloorEvent::Started(t) | FloorEvent::Stopped(t) | FloorEvent::Refused(t) => t,
    }
}

/// Element message posted for talk events (structure name).
pub const TALK_MESSAGE: &str = "onvifbackchannel-talk";

/// The element message structure of a talk event.
pub fn event_structure(event: &TalkEvent) -> gst::Structure {
    gst::Structure::builder(TALK_MESSAGE)
        .field("event", event.kind)
        .field("talker", event.talker)
        .field("received", event.stats.received)
        .field("dropped", event.stats.dropped)
        .build()
}

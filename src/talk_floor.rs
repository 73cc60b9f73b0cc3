//! Who is heard when several clients send audio: talker arbitration.
//!
//! Plain Rust: the receive path measures each block of a talker's decoded
//! audio with its [`VoiceDetector`](crate::vad::VoiceDetector), calls
//! [`TalkFloor::offer`] with the current time and what the detector found,
//! and plays or drops the block by the answer. [`TalkFloor::received`]
//! counts packets as they arrive.
//!
//! Every talker has *talk spurts*, which follow its voice, not its packets:
//! a spurt starts with a block that holds voice, and ends when the talker
//! has had no voice for the release time: the detector's hangover runs out
//! (the talker streams silence), or no voice came for the release time by
//! the clock (it stopped sending). A talker is *active* while its spurt
//! lasts. The policies only differ in which active talkers are heard:
//! - `exclusive`: the one whose spurt started first (it keeps the floor until
//!   it is silent for the release time or leaves);
//! - `latest`: the one whose spurt started last (a new talker takes the floor);
//! - `mix`: all of them.
//!
//! A talker on the floor has all its audio played, the pauses in its
//! speech included. A talker that is not on the floor has the blocks of
//! its spurts dropped and counted; its silence outside spurts is neither
//! played nor counted as dropped.

use std::collections::BTreeMap;

use crate::vad::Voice;

/// Identifies one back channel (one client's session on a mount).
pub type TalkerId = u64;

/// How the floor is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TalkPolicy {
    /// The first talker holds the floor until it is silent for the release
    /// time or leaves; the others are dropped and counted.
    #[default]
    Exclusive,
    /// A talker that starts talking takes the floor from the current one.
    Latest,
    /// Every talker is heard.
    Mix,
}

/// What to do with a block of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The talker is heard.
    Play,
    /// The talker is talking but not heard: dropped, and counted.
    Drop,
    /// The talker is not talking (no voice for the release time) and not
    /// heard: its silence is not played.
    Idle,
}

/// A change an application may care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorEvent {
    /// The talker is heard from now on.
    Started(TalkerId),
    /// The talker is no longer heard (silent for the release time, taken
    /// over by a newer talker, or left).
    Stopped(TalkerId),
    /// The talker talks but is not heard (first dropped block of a talk
    /// spurt only).
    Refused(TalkerId),
}

/// Counts of one talker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TalkerStats {
    /// Packets received.
    pub received: u64,
    /// Blocks of audio (one per packet, as clients send them) dropped
    /// during the talker's spurts because it was not heard.
    pub dropped: u64,
}

#[derive(Debug)]
struct Talker {
    /// When its last block with voice was offered; `None` once its spurt
    /// ended (or before it ever talked).
    last_voice_ns: Option<u64>,
    spurt_start_ns: u64,
    on_floor: bool,
    refusal_reported: bool,
    stats: TalkerStats,
}

impl Talker {
    /// Whether its spurt lasts at `now_ns`.
    fn active(&self, now_ns: u64, release_ns: u64) -> bool {
        self.last_voice_ns
            .is_some_and(|t| now_ns.saturating_sub(t) < release_ns)
    }
}

/// The floor of one mount.
#[derive(Debug)]
pub struct TalkFloor {
    policy: TalkPolicy,
    release_after_ns: u64,
    /// Ordered by id so that events come out in a stable order.
    talkers: BTreeMap<TalkerId, Talker>,
}

impl TalkFloor {
    pub fn new(policy: TalkPolicy, release_after_ns: u64) -> Self {
        TalkFloor {
            policy,
            release_after_ns,
            talkers: BTreeMap::new(),
        }
    }

    pub fn policy(&self) -> TalkPolicy {
        self.policy
    }

    /// Changes the policy; it applies from the next packet or expiry on.
    pub fn set_policy(&mut self, policy: TalkPolicy) {
        self.policy = policy;
    }

    fn talker(&mut self, talker: TalkerId) -> &mut Talker {
        self.talkers.entry(talker).or_insert(Talker {
            last_voice_ns: None,
            spurt_start_ns: 0,
            on_floor: false,
            refusal_reported: false,
            stats: TalkerStats::default(),
        })
    }

    /// A packet of `talker` arrived (counted only; its audio is offered
    /// once decoded).
    pub fn received(&mut self, talker: TalkerId) {
        self.talker(talker).stats.received += 1;
    }

    /// A block of `talker`'s decoded audio, in which its voice detector
    /// found `voice`, is due at `now_ns` (any monotonic clock). Returns
    /// whether to play it and the floor changes it caused, in order.
    pub fn offer(
        &mut self,
        talker: TalkerId,
        now_ns: u64,
        voice: Voice,
    ) -> (Verdict, Vec<FloorEvent>) {
        let release = self.release_after_ns;
        let t = self.talker(talker);
        let was_active = t.active(now_ns, release);
        let mut new_spurt = false;
        match voice {
            Voice::Speech => {
                if !was_active {
                    new_spurt = true;
                    t.spurt_start_ns = now_ns;
                    t.refusal_reported = false;
                }
                t.last_voice_ns = Some(now_ns);
            }
            Voice::Hangover => {}
            // The detector heard no voice for its hangover: the spurt ends
            // here, even when the clock says it has some time left (audio
            // that came in a burst).
            Voice::Silence => t.last_voice_ns = None,
        }
        let active = t.active(now_ns, release);
        // The floor only moves when a spurt starts or ends (ends without
        // audio are found by `expire`), so a talker on the floor that goes
        // on talking, and a silent one off the floor, change nobody's place.
        // That is the path of almost every block: it skips the rearranging.
        if !new_spurt && active && t.on_floor {
            return (Verdict::Play, Vec::new());
        }
        if !new_spurt && !active && !t.on_floor {
            return (Verdict::Idle, Vec::new());
        }

        let mut events = self.rearrange(now_ns);
        let t = self.talkers.get_mut(&talker).expect("talker just inserted");
        if t.on_floor {
            return (Verdict::Play, events);
        }
        if !active {
            return (Verdict::Idle, events);
        }
        t.stats.dropped += 1;
        if !t.refusal_reported {
            t.refusal_reported = true;
            events.push(FloorEvent::Refused(talker));
        }
        (Verdict::Drop, events)
    }

    /// Applies the passing of time: talkers silent for the release time lose
    /// the floor, and whoever is next gets it.
    pub fn expire(&mut self, now_ns: u64) -> Vec<FloorEvent> {
        self.rearrange(now_ns)
    }

    /// The talker left (teardown, disconnect): forget it, free the floor.
    pub fn leave(&mut self, talker: TalkerId, now_ns: u64) -> (TalkerStats, Vec<FloorEvent>) {
        let Some(t) = self.talkers.remove(&talker) else {
            return (TalkerStats::default(), Vec::new());
        };
        let mut events = Vec::new();
        if t.on_floor {
            events.push(FloorEvent::Stopped(talker));
        }
        events.extend(self.rearrange(now_ns));
        (t.stats, events)
    }

    /// Who is heard now.
    pub fn heard(&self) -> Vec<TalkerId> {
        self.talkers
            .iter()
            .filter(|(_, t)| t.on_floor)
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn stats(&self, talker: TalkerId) -> TalkerStats {
        self.talkers
            .get(&talker)
            .map(|t| t.stats)
            .unwrap_or_default()
    }

    /// Puts on the floor exactly the talkers the policy chooses among the
    /// active ones; returns the changes, departures first.
    fn rearrange(&mut self, now_ns: u64) -> Vec<FloorEvent> {
        let release = self.release_after_ns;
        let active = self
            .talkers
            .iter()
            .filter(|(_, t)| t.active(now_ns, release))
            .map(|(id, t)| (t.spurt_start_ns, *id));
        // Under exclusive and latest, the one talker with the earliest or
        // latest spurt start; under mix, every active talker.
        let single = match self.policy {
            TalkPolicy::Exclusive => Some(active.min().map(|(_, id)| id)),
            TalkPolicy::Latest => Some(active.max().map(|(_, id)| id)),
            TalkPolicy::Mix => None,
        };
        let mut stopped = Vec::new();
        let mut started = Vec::new();
        for (id, t) in self.talkers.iter_mut() {
            let chosen = match single {
                Some(one) => one == Some(*id),
                None => t.active(now_ns, release),
            };
            if t.on_floor && !chosen {
                t.on_floor = false;
                stopped.push(FloorEvent::Stopped(*id));
            } else if !t.on_floor && chosen {
                t.on_floor = true;
                t.refusal_reported = false;
                started.push(FloorEvent::Started(*id));
            }
        }
        stopped.extend(started);
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn floor(policy: TalkPolicy) -> TalkFloor {
        TalkFloor::new(policy, 500 * MS)
    }

    /// A packet of `talker` with `voice` in it, at `now`.
    fn packet(
        f: &mut TalkFloor,
        talker: TalkerId,
        now: u64,
        voice: Voice,
    ) -> (Verdict, Vec<FloorEvent>) {
        f.received(talker);
        f.offer(talker, now, voice)
    }

    /// A packet of `talker` with voice in it.
    fn say(f: &mut TalkFloor, talker: TalkerId, now: u64) -> (Verdict, Vec<FloorEvent>) {
        packet(f, talker, now, Voice::Speech)
    }

    #[test]
    fn exclusive_first_talker_holds_the_floor() {
        let mut f = floor(TalkPolicy::Exclusive);
        assert_eq!(
            say(&mut f, 1, 0),
            (Verdict::Play, vec![FloorEvent::Started(1)])
        );
        assert_eq!(
            say(&mut f, 2, 10 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(2)])
        );
        assert_eq!(say(&mut f, 2, 30 * MS), (Verdict::Drop, vec![]));
        assert_eq!(say(&mut f, 1, 20 * MS).0, Verdict::Play);
        assert_eq!(f.heard(), vec![1]);
        assert_eq!(
            f.stats(2),
            TalkerStats {
                received: 2,
                dropped: 2
            }
        );
        assert_eq!(
            f.stats(1),
            TalkerStats {
                received: 2,
                dropped: 0
            }
        );
    }

    #[test]
    fn exclusive_silence_releases_the_floor_to_the_next_talker() {
        let mut f = floor(TalkPolicy::Exclusive);
        say(&mut f, 1, 0);
        say(&mut f, 2, 100 * MS);
        // Talker 1 stays silent; 499 ms after it was last heard it still holds.
        assert_eq!(say(&mut f, 2, 499 * MS).0, Verdict::Drop);
        let (verdict, events) = say(&mut f, 2, 500 * MS);
        assert_eq!(verdict, Verdict::Play);
        assert_eq!(events, vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]);
        // Talker 1 comes back: refused again, and told once.
        assert_eq!(
            say(&mut f, 1, 600 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(1)])
        );
        assert_eq!(say(&mut f, 1, 620 * MS), (Verdict::Drop, vec![]));
    }

    #[test]
    fn leaving_frees_the_floor_at_once() {
        let mut f = floor(TalkPolicy::Exclusive);
        say(&mut f, 1, 0);
        say(&mut f, 2, 10 * MS);
        say(&mut f, 1, 20 * MS);
        let (stats, events) = f.leave(1, 25 * MS);
        assert_eq!(stats.received, 2);
        // Talker 2 is still talking: it gets the floor right away.
        assert_eq!(events, vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]);
        assert_eq!(say(&mut f, 2, 30 * MS), (Verdict::Play, vec![]));
        // A viewer that never talked leaves without an event.
        assert_eq!(f.leave(3, 40 * MS).1, vec![]);
    }

    #[test]
    fn expire_without_packets() {
        let mut f = floor(TalkPolicy::Exclusive);
        say(&mut f, 1, 0);
        assert!(f.expire(100 * MS).is_empty());
        assert_eq!(f.expire(600 * MS), vec![FloorEvent::Stopped(1)]);
        assert!(f.heard().is_empty());
    }

    #[test]
    fn latest_newcomer_takes_the_floor_and_gives_it_back() {
        let mut f = floor(TalkPolicy::Latest);
        assert_eq!(
            say(&mut f, 1, 0),
            (Verdict::Play, vec![FloorEvent::Started(1)])
        );
        assert_eq!(
            say(&mut f, 2, 100 * MS),
            (
                Verdict::Play,
                vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]
            )
        );
        // Talker 1 keeps talking: it is dropped while the newer talker talks.
        assert_eq!(
            say(&mut f, 1, 120 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(1)])
        );
        assert_eq!(say(&mut f, 2, 140 * MS).0, Verdict::Play);
        for ms in (160..640).step_by(20) {
            assert_eq!(say(&mut f, 1, ms * MS).0, Verdict::Drop, "at {ms} ms");
        }
        // Talker 2 went quiet at 140 ms: from 640 ms talker 1 is heard again.
        assert_eq!(
            say(&mut f, 1, 640 * MS),
            (
                Verdict::Play,
                vec![FloorEvent::Stopped(2), FloorEvent::Started(1)]
            )
        );
    }

    #[test]
    fn mix_hears_everyone() {
        let mut f = floor(TalkPolicy::Mix);
        assert_eq!(
            say(&mut f, 1, 0),
            (Verdict::Play, vec![FloorEvent::Started(1)])
        );
        assert_eq!(
            say(&mut f, 2, 10 * MS),
            (Verdict::Play, vec![FloorEvent::Started(2)])
        );
        assert_eq!(say(&mut f, 1, 20 * MS), (Verdict::Play, vec![]));
        assert_eq!(f.heard(), vec![1, 2]);
        assert_eq!(f.expire(515 * MS), vec![FloorEvent::Stopped(2)]);
        assert_eq!(f.stats(2).dropped, 0);
    }

    #[test]
    fn exclusive_a_talker_streaming_silence_never_holds_the_floor() {
        let mut f = floor(TalkPolicy::Exclusive);
        // Talker 1 streams silence from the start; talker 2 talks later.
        for ms in (0..200).step_by(20) {
            assert_eq!(
                packet(&mut f, 1, ms * MS, Voice::Silence),
                (Verdict::Idle, vec![])
            );
        }
        assert_eq!(
            say(&mut f, 2, 200 * MS),
            (Verdict::Play, vec![FloorEvent::Started(2)])
        );
        assert_eq!(packet(&mut f, 1, 205 * MS, Voice::Silence).0, Verdict::Idle);
        // Talker 2 pauses between words: hangover, still heard.
        assert_eq!(
            packet(&mut f, 2, 220 * MS, Voice::Hangover),
            (Verdict::Play, vec![])
        );
        // Silence is neither played nor dropped.
        assert_eq!(
            f.stats(1),
            TalkerStats {
                received: 11,
                dropped: 0
            }
        );
        assert!(
            f.expire(600 * MS).is_empty(),
            "nobody is waiting for the floor"
        );
    }

    #[test]
    fn latest_a_newcomer_streaming_silence_does_not_take_the_floor() {
        let mut f = floor(TalkPolicy::Latest);
        assert_eq!(
            say(&mut f, 1, 0),
            (Verdict::Play, vec![FloorEvent::Started(1)])
        );
        for ms in (10..1000).step_by(20) {
            assert_eq!(
                packet(&mut f, 2, ms * MS, Voice::Silence),
                (Verdict::Idle, vec![]),
                "{ms}"
            );
            assert_eq!(
                say(&mut f, 1, (ms + 5) * MS),
                (Verdict::Play, vec![]),
                "{ms}"
            );
        }
        assert_eq!(f.heard(), vec![1]);
        // It says something: now it takes the floor.
        assert_eq!(
            say(&mut f, 2, 1010 * MS),
            (
                Verdict::Play,
                vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]
            )
        );
    }

    #[test]
    fn release_counts_from_the_last_voice_not_the_last_packet() {
        let mut f = floor(TalkPolicy::Exclusive);
        say(&mut f, 1, 0);
        // Talker 1 goes on sending, but only its detector's hangover.
        for ms in (20..500).step_by(20) {
            assert_eq!(packet(&mut f, 1, ms * MS, Voice::Hangover).0, Verdict::Play);
            assert_eq!(say(&mut f, 2, (ms + 5) * MS).0, Verdict::Drop, "{ms}");
        }
        // 500 ms after its last voice the clock ends its spurt, though its
        // packets still come.
        assert_eq!(
            say(&mut f, 2, 505 * MS),
            (
                Verdict::Play,
                vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]
            )
        );
        assert_eq!(
            packet(&mut f, 1, 520 * MS, Voice::Hangover),
            (Verdict::Idle, vec![])
        );
        assert_eq!(f.stats(1).dropped, 0);
        assert_eq!(f.stats(2).dropped, 24);
    }

    #[test]
    fn the_detector_ends_a_spurt_before_the_clock() {
        // Audio that came in a burst: the detector has seen its hangover of
        // silence before the clock has.
        let mut f = floor(TalkPolicy::Exclusive);
        say(&mut f, 1, 0);
        assert_eq!(
            say(&mut f, 2, 10 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(2)])
        );
        assert_eq!(
            packet(&mut f, 1, 20 * MS, Voice::Silence),
            (
                Verdict::Idle,
                vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]
            )
        );
        // A spurt that the clock ended starts again only with voice.
        let mut f = floor(TalkPolicy::Exclusive);
        say(&mut f, 1, 0);
        assert_eq!(f.expire(600 * MS), vec![FloorEvent::Stopped(1)]);
        assert_eq!(
            packet(&mut f, 1, 620 * MS, Voice::Hangover),
            (Verdict::Idle, vec![])
        );
        assert_eq!(
            say(&mut f, 1, 640 * MS),
            (Verdict::Play, vec![FloorEvent::Started(1)])
        );
    }
}

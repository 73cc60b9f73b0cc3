//! Who is heard when several clients send audio: talker arbitration.
//!
//! Plain Rust: the receive path calls [`TalkFloor::offer`] for every packet
//! with the current time and plays or drops it by the answer.
//!
//! Every talker has a *talk spurt*: it starts with the first packet after at
//! least the release time of silence, and lasts while packets keep coming.
//! A talker is *active* while its spurt lasts. The policies only differ in
//! which active talkers are heard:
//! - `exclusive`: the one whose spurt started first (it keeps the floor until
//!   it is silent for the release time or leaves);
//! - `latest`: the one whose spurt started last (a new talker takes the floor);
//! - `mix`: all of them.

use std::collections::BTreeMap;

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

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Play,
    Drop,
}

/// A change an application may care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorEvent {
    /// The talker is heard from now on.
    Started(TalkerId),
    /// The talker is no longer heard (silent for the release time, taken
    /// over by a newer talker, or left).
    Stopped(TalkerId),
    /// The talker sent audio that is not heard (first dropped packet of a
    /// talk spurt only).
    Refused(TalkerId),
}

/// Packet counts of one talker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TalkerStats {
    pub received: u64,
    pub dropped: u64,
}

#[derive(Debug)]
struct Talker {
    last_heard_ns: u64,
    spurt_start_ns: u64,
    on_floor: bool,
    refusal_reported: bool,
    stats: TalkerStats,
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

    /// A packet from `talker` arrived at `now_ns` (any monotonic clock).
    /// Returns whether to play it and the floor changes it caused, in order.
    pub fn offer(&mut self, talker: TalkerId, now_ns: u64) -> (Verdict, Vec<FloorEvent>) {
        let release = self.release_after_ns;
        let t = self.talkers.entry(talker).or_insert(Talker {
            last_heard_ns: now_ns,
            spurt_start_ns: now_ns,
            on_floor: false,
            refusal_reported: false,
            stats: TalkerStats::default(),
        });
        let new_spurt = now_ns.saturating_sub(t.last_heard_ns) >= release;
        if new_spurt {
            t.spurt_start_ns = now_ns;
            t.refusal_reported = false;
        }
        t.last_heard_ns = now_ns;
        t.stats.received += 1;
        // A talker on the floor that goes on talking changes nobody's place:
        // under every policy the floor only moves when a spurt starts or
        // ends (ends are found by `expire`). This is the path of almost
        // every packet, so it skips the rearranging.
        if t.on_floor && !new_spurt {
            return (Verdict::Play, Vec::new());
        }

        let mut events = self.rearrange(now_ns);
        let t = self.talkers.get_mut(&talker).expect("talker just inserted");
        if t.on_floor {
            return (Verdict::Play, events);
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
            .filter(|(_, t)| now_ns.saturating_sub(t.last_heard_ns) < release)
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
                None => now_ns.saturating_sub(t.last_heard_ns) < release,
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

    #[test]
    fn exclusive_first_talker_holds_the_floor() {
        let mut f = floor(TalkPolicy::Exclusive);
        assert_eq!(f.offer(1, 0), (Verdict::Play, vec![FloorEvent::Started(1)]));
        assert_eq!(
            f.offer(2, 10 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(2)])
        );
        assert_eq!(f.offer(2, 30 * MS), (Verdict::Drop, vec![]));
        assert_eq!(f.offer(1, 20 * MS).0, Verdict::Play);
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
        f.offer(1, 0);
        f.offer(2, 100 * MS);
        // Talker 1 stays silent; 499 ms after it was last heard it still holds.
        assert_eq!(f.offer(2, 499 * MS).0, Verdict::Drop);
        let (verdict, events) = f.offer(2, 500 * MS);
        assert_eq!(verdict, Verdict::Play);
        assert_eq!(events, vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]);
        // Talker 1 comes back: refused again, and told once.
        assert_eq!(
            f.offer(1, 600 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(1)])
        );
        assert_eq!(f.offer(1, 620 * MS), (Verdict::Drop, vec![]));
    }

    #[test]
    fn leaving_frees_the_floor_at_once() {
        let mut f = floor(TalkPolicy::Exclusive);
        f.offer(1, 0);
        f.offer(2, 10 * MS);
        f.offer(1, 20 * MS);
        let (stats, events) = f.leave(1, 25 * MS);
        assert_eq!(stats.received, 2);
        // Talker 2 is still talking: it gets the floor right away.
        assert_eq!(events, vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]);
        assert_eq!(f.offer(2, 30 * MS), (Verdict::Play, vec![]));
        // A viewer that never talked leaves without an event.
        assert_eq!(f.leave(3, 40 * MS).1, vec![]);
    }

    #[test]
    fn expire_without_packets() {
        let mut f = floor(TalkPolicy::Exclusive);
        f.offer(1, 0);
        assert!(f.expire(100 * MS).is_empty());
        assert_eq!(f.expire(600 * MS), vec![FloorEvent::Stopped(1)]);
        assert!(f.heard().is_empty());
    }

    #[test]
    fn latest_newcomer_takes_the_floor_and_gives_it_back() {
        let mut f = floor(TalkPolicy::Latest);
        assert_eq!(f.offer(1, 0), (Verdict::Play, vec![FloorEvent::Started(1)]));
        assert_eq!(
            f.offer(2, 100 * MS),
            (
                Verdict::Play,
                vec![FloorEvent::Stopped(1), FloorEvent::Started(2)]
            )
        );
        // Talker 1 keeps talking: it is dropped while the newer talker talks.
        assert_eq!(
            f.offer(1, 120 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(1)])
        );
        assert_eq!(f.offer(2, 140 * MS).0, Verdict::Play);
        for ms in (160..640).step_by(20) {
            assert_eq!(f.offer(1, ms * MS).0, Verdict::Drop, "at {ms} ms");
        }
        // Talker 2 went quiet at 140 ms: from 640 ms talker 1 is heard again.
        assert_eq!(
            f.offer(1, 640 * MS),
            (
                Verdict::Play,
                vec![FloorEvent::Stopped(2), FloorEvent::Started(1)]
            )
        );
    }

    #[test]
    fn mix_hears_everyone() {
        let mut f = floor(TalkPolicy::Mix);
        assert_eq!(f.offer(1, 0), (Verdict::Play, vec![FloorEvent::Started(1)]));
        assert_eq!(
            f.offer(2, 10 * MS),
            (Verdict::Play, vec![FloorEvent::Started(2)])
        );
        assert_eq!(f.offer(1, 20 * MS), (Verdict::Play, vec![]));
        assert_eq!(f.heard(), vec![1, 2]);
        assert_eq!(f.expire(515 * MS), vec![FloorEvent::Stopped(2)]);
        assert_eq!(f.stats(2).dropped, 0);
    }
}

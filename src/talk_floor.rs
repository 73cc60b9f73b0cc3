//! Who is heard when several clients send audio: talker arbitration.
//!
//! Plain Rust: the receive path calls [`TalkFloor::offer`] for every packet
//! with the current time and plays or drops it by the answer.

use std::collections::HashMap;

/// Identifies one back channel (one client's session on a mount).
pub type TalkerId = u64;

/// How the floor is shared. `latest` and `mix` come later; each policy is one
/// arm of the `match` in [`TalkFloor::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TalkPolicy {
    /// The first talker holds the floor until it is silent for the release
    /// time or leaves; the others are dropped and counted.
    #[default]
    Exclusive,
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
    /// The talker got the floor.
    Started(TalkerId),
    /// The talker lost the floor (silent for the release time, or left).
    Stopped(TalkerId),
    /// The talker sent audio while another held the floor (first dropped packet only).
    Refused(TalkerId),
}

/// Packet counts of one talker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TalkerStats {
    pub received: u64,
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Holder {
    talker: TalkerId,
    last_heard_ns: u64,
}

/// The floor of one mount.
#[derive(Debug)]
pub struct TalkFloor {
    policy: TalkPolicy,
    release_after_ns: u64,
    holder: Option<Holder>,
    stats: HashMap<TalkerId, TalkerStats>,
    refused: Vec<TalkerId>,
}

impl TalkFloor {
    pub fn new(policy: TalkPolicy, release_after_ns: u64) -> Self {
        TalkFloor {
            policy,
            release_after_ns,
            holder: None,
            stats: HashMap::new(),
            refused: Vec::new(),
        }
    }

    pub fn policy(&self) -> TalkPolicy {
        self.policy
    }

    /// A packet from `talker` arrived at `now_ns` (any monotonic clock).
    /// Returns whether to play it and the floor changes it caused, in order.
    pub fn offer(&mut self, talker: TalkerId, now_ns: u64) -> (Verdict, Vec<FloorEvent>) {
        let mut events = self.expire(now_ns);
        let verdict = match self.policy {
            TalkPolicy::Exclusive => match self.holder {
                Some(ref mut h) if h.talker == talker => {
                    h.last_heard_ns = now_ns;
                    Verdict::Play
                }
                Some(_) => Verdict::Drop,
                None => {
                    self.holder = Some(Holder {
                        talker,
                        last_heard_ns: now_ns,
                    });
                    self.refused.retain(|t| *t != talker);
                    events.push(FloorEvent::Started(talker));
                    Verdict::Play
                }
            },
        };
        let stats = self.stats.entry(talker).or_default();
        stats.received += 1;
        if verdict == Verdict::Drop {
            stats.dropped += 1;
            if !self.refused.contains(&talker) {
                self.refused.push(talker);
                events.push(FloorEvent::Refused(talker));
            }
        }
        (verdict, events)
    }

    /// Releases the floor if its holder has been silent for the release time.
    pub fn expire(&mut self, now_ns: u64) -> Vec<FloorEvent> {
        match self.holder {
            Some(h) if now_ns.saturating_sub(h.last_heard_ns) >= self.release_after_ns => {
                self.holder = None;
                vec![FloorEvent::Stopped(h.talker)]
            }
            _ => Vec::new(),
        }
    }

    /// The talker left (teardown, disconnect): forget it, free the floor.
    pub fn leave(&mut self, talker: TalkerId) -> (TalkerStats, Vec<FloorEvent>) {
        self.refused.retain(|t| *t != talker);
        let stats = self.stats.remove(&talker).unwrap_or_default();
        match self.holder {
            Some(h) if h.talker == talker => {
                self.holder = None;
                (stats, vec![FloorEvent::Stopped(talker)])
            }
            _ => (stats, Vec::new()),
        }
    }

    /// Who holds the floor now.
    pub fn holder(&self) -> Option<TalkerId> {
        self.holder.map(|h| h.talker)
    }

    pub fn stats(&self, talker: TalkerId) -> TalkerStats {
        self.stats.get(&talker).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn floor() -> TalkFloor {
        TalkFloor::new(TalkPolicy::Exclusive, 500 * MS)
    }

    #[test]
    fn first_talker_holds_the_floor() {
        let mut f = floor();
        assert_eq!(f.offer(1, 0), (Verdict::Play, vec![FloorEvent::Started(1)]));
        assert_eq!(
            f.offer(2, 10 * MS),
            (Verdict::Drop, vec![FloorEvent::Refused(2)])
        );
        assert_eq!(f.offer(2, 30 * MS), (Verdict::Drop, vec![]));
        assert_eq!(f.offer(1, 20 * MS).0, Verdict::Play);
        assert_eq!(f.holder(), Some(1));
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
    fn silence_releases_the_floor_to_the_next_talker() {
        let mut f = floor();
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
    }

    #[test]
    fn leaving_frees_the_floor_at_once() {
        let mut f = floor();
        f.offer(1, 0);
        f.offer(1, 20 * MS);
        let (stats, events) = f.leave(1);
        assert_eq!(stats.received, 2);
        assert_eq!(events, vec![FloorEvent::Stopped(1)]);
        assert_eq!(
            f.offer(2, 30 * MS),
            (Verdict::Play, vec![FloorEvent::Started(2)])
        );
        // A viewer that never talked leaves without an event.
        assert_eq!(f.leave(3).1, vec![]);
    }

    #[test]
    fn expire_without_packets() {
        let mut f = floor();
        f.offer(1, 0);
        assert!(f.expire(100 * MS).is_empty());
        assert_eq!(f.expire(600 * MS), vec![FloorEvent::Stopped(1)]);
        assert_eq!(f.holder(), None);
    }
}

//! Puts one RTP stream's packets back in sequence order without a timer.
//! Plain Rust, no GStreamer.
//!
//! A packet that comes in order passes at once. After a gap, later packets
//! wait for the missing one until [`WINDOW`] of them are waiting; then the
//! missing one is given up and the waiting ones pass. A packet older than
//! the last one passed (late or duplicate) is dropped. So over TCP, where
//! nothing is reordered, no packet ever waits, and over UDP only a loss or a
//! reordering costs [`WINDOW`] packets of delay, once.

use std::collections::BTreeMap;

/// Packets held back waiting for a missing one, at most.
pub const WINDOW: usize = 3;
/// A jump of more than this many sequence numbers, either way, is the
/// sender starting over (new stream state), not reordering or loss.
pub const RESTART_GAP: u16 = 1000;

#[derive(Debug, Default)]
pub struct Reorder {
    /// Sequence number the next packet to pass should have.
    next: Option<u16>,
    /// Waiting packets by distance from `next`; `None` for a sequence number
    /// that plays nothing (see [`Reorder::pass_over`]).
    held: BTreeMap<u16, Option<Vec<u8>>>,
}

/// What [`Reorder::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Passed (with any waiting packets it unblocked).
    Passed,
    /// Waiting for a missing earlier packet.
    Held,
    /// Older than what has passed already.
    Late,
}

impl Reorder {
    /// Takes packet `seq`; hands every packet that may pass now, in order,
    /// to `emit`.
    pub fn push(&mut self, seq: u16, payload: &[u8], mut emit: impl FnMut(&[u8])) -> Placed {
        self.place(seq, Some(payload), &mut emit)
    }

    /// Notes packet `seq` of the stream that is not to be played (another
    /// payload type sharing the sequence numbers, such as telephone-event,
    /// or one dropped on purpose), so that nothing waits for it. Packets it
    /// unblocks go to `emit`.
    pub fn pass_over(&mut self, seq: u16, mut emit: impl FnMut(&[u8])) -> Placed {
        self.place(seq, None, &mut emit)
    }

    fn place(&mut self, seq: u16, payload: Option<&[u8]>, emit: &mut impl FnMut(&[u8])) -> Placed {
        let mut emit_one = |p: Option<&[u8]>| {
            if let Some(p) = p {
                emit(p)
            }
        };
        let Some(next) = self.next else {
            self.next = Some(seq.wrapping_add(1));
            emit_one(payload);
            return Placed::Passed;
        };
        let ahead = seq.wrapping_sub(next);
        if ahead > u16::MAX - RESTART_GAP {
            // Behind what has passed, by a little.
            return Placed::Late;
        }
        if ahead > RESTART_GAP {
            self.flush(&mut emit_one);
            self.next = Some(seq.wrapping_add(1));
            emit_one(payload);
            return Placed::Passed;
        }
        if ahead == 0 {
            emit_one(payload);
            self.rebase(1);
            self.release(&mut emit_one);
            return Placed::Passed;
        }
        if self.held.contains_key(&ahead) {
            return Placed::Late;
        }
        self.held.insert(ahead, payload.map(<[u8]>::to_vec));
        if self.held.len() <= WINDOW {
            return Placed::Held;
        }
        // Give up on what is missing before the first waiting packet.
        let (&skip, _) = self.held.first_key_value().unwrap();
        self.rebase(skip);
        self.release(&mut emit_one);
        Placed::Passed
    }

    /// Passes every waiting packet, gaps or not (the stream restarted).
    fn flush(&mut self, emit: &mut impl FnMut(Option<&[u8]>)) {
        for payload in std::mem::take(&mut self.held).into_values() {
            emit(payload.as_deref());
        }
    }

    /// Moves `next` forward by `by`, renumbering the waiting packets.
    fn rebase(&mut self, by: u16) {
        self.next = self.next.map(|n| n.wrapping_add(by));
        self.held = std::mem::take(&mut self.held)
            .into_iter()
            .map(|(k, v)| (k - by, v))
            .collect();
    }

    /// Passes the waiting packets that follow `next` without a gap.
    fn release(&mut self, emit: &mut impl FnMut(Option<&[u8]>)) {
        let mut passed = 0;
        while let Some(payload) = self.held.remove(&passed) {
            emit(payload.as_deref());
            passed += 1;
        }
        if passed > 0 {
            self.rebase(passed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u16]) -> (Vec<u16>, Vec<Placed>) {
        let mut r = Reorder::default();
        let mut out = Vec::new();
        let mut placed = Vec::new();
        for &s in seqs {
            placed.push(r.push(s, &s.to_be_bytes(), |p| {
                out.push(u16::from_be_bytes([p[0], p[1]]))
            }));
        }
        (out, placed)
    }

    #[test]
    fn in_order_packets_pass_at_once() {
        let (out, placed) = run(&[65534, 65535, 0, 1]);
        assert_eq!(out, vec![65534, 65535, 0, 1]);
        assert!(placed.iter().all(|p| *p == Placed::Passed));
    }

    #[test]
    fn a_swapped_pair_is_put_back_in_order() {
        let (out, placed) = run(&[10, 12, 11, 13]);
        assert_eq!(out, vec![10, 11, 12, 13]);
        assert_eq!(placed[1], Placed::Held);
    }

    #[test]
    fn a_lost_packet_is_given_up_after_the_window() {
        let (out, _) = run(&[1, 3, 4, 5, 6, 7]);
        assert_eq!(out, vec![1, 3, 4, 5, 6, 7]);
        // It arrives after all: too late.
        let mut r = Reorder::default();
        for s in [1, 3, 4, 5, 6] {
            r.push(s, &[], |_| {});
        }
        assert_eq!(
            r.push(2, &[], |_| panic!("late packet passed")),
            Placed::Late
        );
    }

    #[test]
    fn late_and_duplicate_packets_are_dropped() {
        let (out, placed) = run(&[5, 6, 6, 4, 7, 9, 9, 8]);
        assert_eq!(out, vec![5, 6, 7, 8, 9]);
        assert_eq!(placed[2], Placed::Late);
        assert_eq!(placed[3], Placed::Late);
        assert_eq!(placed[6], Placed::Late);
    }

    #[test]
    fn packets_passed_over_leave_no_gap_to_wait_for() {
        // 3 and 5 are telephone-event packets: audio 4 and 6 pass at once,
        // whether the events come before or after them.
        let mut r = Reorder::default();
        let mut out = Vec::new();
        let mut placed = Vec::new();
        for (seq, audio) in [
            (1, true),
            (2, true),
            (3, false),
            (4, true),
            (6, true),
            (5, false),
        ] {
            let mut emit = |p: &[u8]| out.push(p[0]);
            placed.push(if audio {
                r.push(seq, &[seq as u8], &mut emit)
            } else {
                r.pass_over(seq, &mut emit)
            });
        }
        assert_eq!(out, vec![1, 2, 4, 6]);
        assert_eq!(placed[4], Placed::Held);
        assert_eq!(placed[5], Placed::Passed);
        assert!(r.held.is_empty());
    }

    #[test]
    fn a_jump_either_way_is_a_restart() {
        let (out, _) = run(&[100, 102, 30000, 30001, 5, 6]);
        assert_eq!(out, vec![100, 102, 30000, 30001, 5, 6]);
    }

    #[test]
    fn nothing_waits_longer_than_the_window() {
        // Every other packet lost: each gap costs one give-up, never more
        // than WINDOW packets wait.
        let mut r = Reorder::default();
        let mut passed = 0;
        for s in (0..200u16).step_by(2) {
            r.push(s, &[], |_| passed += 1);
            assert!(r.held.len() <= WINDOW);
        }
        assert!(passed >= 100 - WINDOW, "{passed}");
    }
}

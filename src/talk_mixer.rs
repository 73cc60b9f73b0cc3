//! Audio waiting to be played: one queue of decoded samples per talker, read
//! in fixed blocks by the output's clock. Plain Rust, no GStreamer.

use std::collections::{HashMap, VecDeque};

use crate::talk_floor::TalkerId;

/// Per-talker sample queues, all at the output's rate and channel count.
#[derive(Debug)]
pub struct TalkMixer {
    queues: HashMap<TalkerId, VecDeque<f32>>,
    max_queued: usize,
}

impl TalkMixer {
    /// `max_queued`: samples a talker may have waiting; older ones are dropped
    /// beyond it, so a sender that runs fast cannot build up delay or memory.
    pub fn new(max_queued: usize) -> Self {
        TalkMixer {
            queues: HashMap::new(),
            max_queued,
        }
    }

    /// Queues decoded samples of a talker. Returns how many old samples were dropped.
    pub fn push(&mut self, talker: TalkerId, samples: &[f32]) -> usize {
        let queue = self.queues.entry(talker).or_default();
        queue.extend(samples.iter().copied());
        let excess = queue.len().saturating_sub(self.max_queued);
        queue.drain(..excess);
        excess
    }

    /// Fills `out` with the sum of what every talker has queued, silence where
    /// nothing is; the sum is clamped to [-1, 1]. Returns the number of
    /// samples that came from talkers (0: pure silence).
    pub fn pull(&mut self, out: &mut [f32]) -> usize {
        out.fill(0.0);
        let mut heard = 0;
        for queue in self.queues.values_mut() {
            let n = queue.len().min(out.len());
            for (o, s) in out.iter_mut().zip(queue.drain(..n)) {
                *o += s;
            }
            heard = heard.max(n);
        }
        for o in out.iter_mut() {
            *o = o.clamp(-1.0, 1.0);
        }
        self.queues.retain(|_, q| !q.is_empty());
        heard
    }

    /// Forgets a talker's queued audio (it left, or lost the floor).
    pub fn remove(&mut self, talker: TalkerId) {
        self.queues.remove(&talker);
    }

    /// Samples queued for a talker.
    pub fn queued(&self, talker: TalkerId) -> usize {
        self.queues.get(&talker).map_or(0, VecDeque::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_when_nobody_talks() {
        let mut m = TalkMixer::new(100);
        let mut out = [1.0f32; 8];
        assert_eq!(m.pull(&mut out), 0);
        assert_eq!(out, [0.0; 8]);
    }

    #[test]
    fn blocks_come_out_in_order_and_underrun_pads_with_silence() {
        let mut m = TalkMixer::new(100);
        m.push(1, &[0.1, 0.2, 0.3]);
        m.push(1, &[0.4, 0.5]);
        let mut out = [0.0f32; 4];
        assert_eq!(m.pull(&mut out), 4);
        assert_eq!(out, [0.1, 0.2, 0.3, 0.4]);
        assert_eq!(m.pull(&mut out), 1);
        assert_eq!(out, [0.5, 0.0, 0.0, 0.0]);
        assert_eq!(m.queued(1), 0);
    }

    #[test]
    fn a_fast_sender_is_trimmed_to_the_newest_samples() {
        let mut m = TalkMixer::new(3);
        assert_eq!(m.push(1, &[0.1, 0.2, 0.3, 0.4, 0.5]), 2);
        let mut out = [0.0f32; 3];
        m.pull(&mut out);
        assert_eq!(out, [0.3, 0.4, 0.5]);
    }

    #[test]
    fn talkers_are_summed_and_clamped() {
        let mut m = TalkMixer::new(10);
        m.push(1, &[0.5, 0.75]);
        m.push(2, &[0.25, 0.75]);
        let mut out = [0.0f32; 2];
        m.pull(&mut out);
        assert_eq!(out, [0.75, 1.0]);
        m.push(2, &[0.5]);
        m.remove(2);
        assert_eq!(m.pull(&mut out), 0);
    }
}

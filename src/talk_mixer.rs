//! Audio waiting to be played: one queue of decoded samples per talker, read
//! in fixed blocks by the output's clock. Plain Rust, no GStreamer.
//!
//! Times are sample positions at the output's rate on one timeline that the
//! caller keeps: when samples arrived, and when a block is due (its last
//! sample).

use std::collections::{HashMap, VecDeque};

use crate::talk_floor::TalkerId;

/// Per-talker sample queues, all at the output's rate and channel count.
#[derive(Debug, Default)]
struct Queue {
    samples: VecDeque<f32>,
    /// Whether the talker is being played; a new queue first waits out the
    /// start delay.
    playing: bool,
    /// When its first sample arrived, while it is not playing.
    arrived: Option<u64>,
    /// Lowest fill level seen since the last trim check.
    low_water: Option<usize>,
    pulls: u32,
}

/// Per-talker sample queues.
///
/// A queue that never runs below some level holds a standing backlog (audio
/// that arrived before the output was ready, a burst): pure added latency.
/// Every [`TRIM_EVERY`] pulls the quiet part of the backlog above `keep`
/// samples (or the start delay, if larger) is dropped.
///
/// A talker whose queue was empty (it starts talking, or it ran dry) is
/// played only once the start delay has gone by: packets that come with
/// jitter then find audio still queued, instead of a gap at every late one.
#[derive(Debug)]
pub struct TalkMixer {
    queues: HashMap<TalkerId, Queue>,
    max_queued: usize,
    keep: usize,
    start_delay: usize,
    /// Limiter gain applied to the sum (1.0: untouched).
    gain: f32,
}

/// Peak level the limiter keeps the sum under.
pub const CEILING: f32 = 0.95;
/// How fast the limiter gain recovers, per block.
const GAIN_RECOVERY: f32 = 0.02;

/// Pulls between two backlog checks (50 blocks of 10 ms: half a second).
pub const TRIM_EVERY: u32 = 50;
/// Samples below this magnitude (about -40 dBFS) count as silence.
pub const QUIET: f32 = 0.01;

impl TalkMixer {
    /// `max_queued`: samples a talker may have waiting; older ones are dropped
    /// beyond it, so a sender that runs fast cannot build up delay or memory.
    /// `keep`: standing backlog left in place when trimming (jitter margin).
    pub fn new(max_queued: usize, keep: usize) -> Self {
        TalkMixer {
            queues: HashMap::new(),
            max_queued,
            keep,
            start_delay: 0,
            gain: 1.0,
        }
    }

    /// Output samples a talker waits, from its first queued sample, before it
    /// is played (0: at once).
    pub fn set_start_delay(&mut self, samples: usize) {
        self.start_delay = samples;
    }

    /// Queues decoded samples of a talker that arrived at `now`. Returns how
    /// many old samples were dropped.
    pub fn push(&mut self, talker: TalkerId, samples: &[f32], now: u64) -> usize {
        let entry = self.queues.entry(talker).or_default();
        if !entry.playing && entry.arrived.is_none() {
            entry.arrived = Some(now);
        }
        let queue = &mut entry.samples;
        queue.extend(samples.iter().copied());
        let excess = queue.len().saturating_sub(self.max_queued);
        queue.drain(..excess);
        excess
    }

    /// Fills `out`, the block due at `due`, with the sum of what every talker
    /// has queued, silence where nothing is; the sum is clamped to [-1, 1].
    /// Returns the number of samples that came from talkers (0: pure
    /// silence).
    pub fn pull(&mut self, out: &mut [f32], due: u64) -> usize {
        out.fill(0.0);
        let mut heard = 0;
        let keep = self.keep.max(self.start_delay);
        let block = out.len() as u64;
        for queue in self.queues.values_mut() {
            if !queue.playing {
                // Due once its start delay ends within this block: it
                // waits between `start_delay` less one block and
                // `start_delay` after its first sample arrived. Counted
                // from the block's due time, not in blocks pulled: an
                // output that runs late pulls blocks that were due before
                // the talker's audio arrived, and they must not count.
                let arrived = queue.arrived.unwrap_or(due);
                if due + block < arrived + self.start_delay as u64 {
                    continue;
                }
                queue.playing = true;
                queue.arrived = None;
            }
            let n = queue.samples.len().min(out.len());
            for (o, s) in out.iter_mut().zip(queue.samples.drain(..n)) {
                *o += s;
            }
            heard = heard.max(n);
            if n < out.len() {
                // Ran dry: what comes next is a new start, and waits again.
                queue.playing = false;
            }
            let level = queue.samples.len();
            queue.low_water = Some(queue.low_water.map_or(level, |l| l.min(level)));
            queue.pulls += 1;
            if queue.pulls >= TRIM_EVERY {
                // Only quiet samples are dropped, so no speech is lost; a
                // backlog built during speech goes at the next pause.
                let backlog = queue.low_water.unwrap_or(0).saturating_sub(keep);
                let quiet = queue
                    .samples
                    .iter()
                    .take(backlog)
                    .take_while(|s| s.abs() < QUIET)
                    .count();
                queue.samples.drain(..quiet);
                queue.low_water = None;
                queue.pulls = 0;
            }
        }
        self.limit(out);
        // A queue that was emptied by a full block is still playing: its
        // next packet may be just in time.
        self.queues
            .retain(|_, q| !q.samples.is_empty() || q.playing);
        heard
    }

    /// Keeps the sum of several talkers under [`CEILING`] without clipping
    /// it: the gain drops at once to what the block needs and recovers
    /// slowly, ramped across each block so that it never clicks.
    fn limit(&mut self, out: &mut [f32]) {
        let peak = out.iter().fold(0f32, |p, s| p.max(s.abs()));
        let needed = if peak > CEILING { CEILING / peak } else { 1.0 };
        let target = needed.min(self.gain + GAIN_RECOVERY).min(1.0);
        if target < self.gain {
            // Attack: the whole block at the lower gain.
            self.gain = target;
            out.iter_mut().for_each(|s| *s *= target);
        } else {
            // Release: ramp from the old gain up to the new one.
            let (from, n) = (self.gain, out.len().max(1) as f32);
            for (i, s) in out.iter_mut().enumerate() {
                *s *= from + (target - from) * (i + 1) as f32 / n;
            }
            self.gain = target;
        }
    }

    /// Forgets a talker's queued audio (it left, or lost the floor).
    pub fn remove(&mut self, talker: TalkerId) {
        self.queues.remove(&talker);
    }

    /// Samples queued for a talker.
    pub fn queued(&self, talker: TalkerId) -> usize {
        self.queues.get(&talker).map_or(0, |q| q.samples.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_loud_tones_mix_without_clipping() {
        let mut m = TalkMixer::new(100_000, 100_000);
        let tone = |f: f32| {
            (0..48_000).map(move |i| 0.8 * (i as f32 * f * std::f32::consts::TAU / 48_000.0).sin())
        };
        m.push(1, &tone(440.0).collect::<Vec<_>>(), 0);
        m.push(2, &tone(1000.0).collect::<Vec<_>>(), 0);
        let mut out = vec![0f32; 480];
        for _ in 0..100 {
            m.pull(&mut out, 0);
            assert!(out.iter().all(|s| s.abs() <= CEILING + 1e-6));
        }
    }

    #[test]
    fn the_gain_recovers_when_the_sum_is_quiet_again() {
        let mut m = TalkMixer::new(100_000, 100_000);
        m.push(1, &[1.0; 480], 0);
        m.push(2, &[1.0; 480], 0);
        let mut out = vec![0f32; 480];
        m.pull(&mut out, 0);
        for _ in 0..100 {
            m.push(1, &[0.5; 480], 0);
            m.pull(&mut out, 0);
        }
        assert!((out[479] - 0.5).abs() < 1e-6, "{}", out[479]);
    }

    #[test]
    fn silence_when_nobody_talks() {
        let mut m = TalkMixer::new(100, 100);
        let mut out = [1.0f32; 8];
        assert_eq!(m.pull(&mut out, 0), 0);
        assert_eq!(out, [0.0; 8]);
    }

    #[test]
    fn blocks_come_out_in_order_and_underrun_pads_with_silence() {
        let mut m = TalkMixer::new(100, 100);
        m.push(1, &[0.1, 0.2, 0.3], 0);
        m.push(1, &[0.4, 0.5], 0);
        let mut out = [0.0f32; 4];
        assert_eq!(m.pull(&mut out, 0), 4);
        assert_eq!(out, [0.1, 0.2, 0.3, 0.4]);
        assert_eq!(m.pull(&mut out, 0), 1);
        assert_eq!(out, [0.5, 0.0, 0.0, 0.0]);
        assert_eq!(m.queued(1), 0);
    }

    #[test]
    fn a_new_talker_waits_out_the_start_delay_then_plays_from_its_first_sample() {
        let mut m = TalkMixer::new(100, 100);
        m.set_start_delay(6);
        let mut out = [0.0f32; 4];
        // Blocks of 4 are due at 4, 8, 12...; the first audio arrives at 3.
        m.push(1, &[0.1, 0.2], 3);
        // 4 + 4 < 3 + 6: not yet.
        assert_eq!(m.pull(&mut out, 4), 0);
        assert_eq!(out, [0.0; 4]);
        m.push(1, &[0.3, 0.4, 0.5], 7);
        // 8 + 4 >= 3 + 6: due within this block.
        assert_eq!(m.pull(&mut out, 8), 4);
        assert_eq!(out, [0.1, 0.2, 0.3, 0.4]);
        // It runs dry: the next spurt waits again.
        assert_eq!(m.pull(&mut out, 12), 1);
        m.push(1, &[0.6], 15);
        assert_eq!(m.pull(&mut out, 16), 0);
        assert_eq!(m.pull(&mut out, 20), 1);
        assert_eq!(out[0], 0.6);
    }

    #[test]
    fn blocks_pulled_late_that_were_due_before_the_audio_arrived_do_not_count_as_waiting() {
        let mut m = TalkMixer::new(100, 100);
        m.set_start_delay(8);
        let mut out = [0.0f32; 4];
        // The output fell behind: audio arrives at 10, then the blocks due
        // at 4, 8 and 12 are pulled in a row to catch up. Counted in
        // blocks, the talker would start in the block due at 8, before its
        // audio even arrived, and run dry at the first late packet.
        m.push(1, &[0.5; 12], 10);
        for due in [4, 8, 12] {
            assert_eq!(m.pull(&mut out, due), 0, "block due at {due}");
        }
        // 16 + 4 >= 10 + 8: it waited 6, between 8 less a block and 8.
        assert_eq!(m.pull(&mut out, 16), 4);
    }

    #[test]
    fn a_queue_emptied_on_a_block_boundary_keeps_playing() {
        let mut m = TalkMixer::new(100, 100);
        m.set_start_delay(4);
        m.push(1, &[0.1; 8], 0);
        let mut out = [0.0f32; 4];
        assert_eq!(m.pull(&mut out, 4), 4);
        assert_eq!(m.pull(&mut out, 8), 4);
        // Empty now, but it did not run dry: the next packet plays at once.
        m.push(1, &[0.2; 4], 9);
        assert_eq!(m.pull(&mut out, 12), 4);
        assert_eq!(out, [0.2; 4]);
        // Now it runs dry, and is forgotten.
        assert_eq!(m.pull(&mut out, 16), 0);
        assert_eq!(m.queues.len(), 0);
    }

    #[test]
    fn a_fast_sender_is_trimmed_to_the_newest_samples() {
        let mut m = TalkMixer::new(3, 3);
        assert_eq!(m.push(1, &[0.1, 0.2, 0.3, 0.4, 0.5], 0), 2);
        let mut out = [0.0f32; 3];
        m.pull(&mut out, 0);
        assert_eq!(out, [0.3, 0.4, 0.5]);
    }

    #[test]
    fn a_standing_backlog_is_trimmed_but_bursts_are_not() {
        let mut m = TalkMixer::new(10_000, 2);
        // 30 samples of backlog, then input and output at the same rate.
        m.push(1, &[0.5; 30], 0);
        let mut out = [0.0f32; 4];
        for _ in 0..TRIM_EVERY {
            m.push(1, &[0.5; 4], 0);
            m.pull(&mut out, 0);
        }
        // Speech is never dropped...
        assert_eq!(m.queued(1), 30);
        // ...but once the backlog is silence, all but `keep` of it goes.
        for _ in 0..TRIM_EVERY {
            m.push(1, &[0.0; 4], 0);
            m.pull(&mut out, 0);
        }
        assert_eq!(m.queued(1), 2);
        // A talker whose queue runs dry between bursts keeps its samples.
        for _ in 0..TRIM_EVERY {
            m.pull(&mut out, 0);
            m.push(1, &[0.5; 8], 0);
            m.pull(&mut out, 0);
        }
        assert!(m.queued(1) <= 8);
    }

    #[test]
    fn talkers_are_summed_under_the_ceiling_without_clipping() {
        let mut m = TalkMixer::new(10, 10);
        m.push(1, &[0.5, 0.75], 0);
        m.push(2, &[0.25, 0.75], 0);
        let mut out = [0.0f32; 2];
        m.pull(&mut out, 0);
        // 0.75 and 1.5 scaled alike: the shape is kept, the peak is the ceiling.
        assert!((out[1] - CEILING).abs() < 1e-6, "{out:?}");
        assert!((out[0] / out[1] - 0.5).abs() < 1e-6, "{out:?}");
        m.push(2, &[0.5], 0);
        m.remove(2);
        assert_eq!(m.pull(&mut out, 0), 0);
    }
}

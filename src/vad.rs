//! Voice activity detection: whether a talker says something, from the level
//! of its decoded audio. Plain Rust, no GStreamer.
//!
//! The audio is cut into [`FRAME_MS`] frames; a frame whose mean level
//! (RMS) is above the threshold ([`THRESHOLD_DBFS`] by default) is *voice*.
//! Voice starts at the first such frame, with no confirmation delay, so the
//! packet that carries the first words is the one that starts the talk
//! spurt. It stops once [`HANGOVER_MS`] of audio went by without a voice
//! frame, so the pauses between words and sentences do not end it.
//!
//! This is an energy detector, not a speech classifier: it tells a muted
//! microphone, digital silence or a quiet room from someone talking, and a
//! tone counts as voice. Steady background noise above the threshold
//! counts as voice too (raise the threshold for such inputs).

/// Length of the frames whose level is measured.
pub const FRAME_MS: u32 = 10;
/// Default level above which a frame is voice, in dB relative to full
/// scale (RMS of a frame). Conversation into a headset or a handheld
/// microphone is about -30 to -15 dBFS; a quiet room through a typical
/// microphone -70 to -55 dBFS; a muted one, or a client that sends
/// digital silence, far less (μ-law silence decodes to 0, A-law's to
/// -72 dBFS).
pub const THRESHOLD_DBFS: f64 = -45.0;
/// How much audio without voice ends a talk spurt.
pub const HANGOVER_MS: u32 = 1000;

/// What one block of audio holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// At least one frame of the block is voice.
    Speech,
    /// No voice in the block, but there was some less than the hangover ago.
    Hangover,
    /// No voice for at least the hangover (or never).
    Silence,
}

/// The voice activity detector of one talker.
#[derive(Debug, Clone)]
pub struct VoiceDetector {
    /// Mean square level above which a frame is voice.
    threshold: f64,
    /// Rate of the samples of the frame being measured.
    rate: u32,
    /// Sum of squares and count of the samples of the frame so far.
    energy: f64,
    filled: usize,
    /// Frames since the last voice frame; `None`: no voice within the hangover.
    since_voice: Option<u32>,
}

impl Default for VoiceDetector {
    fn default() -> Self {
        Self::new(THRESHOLD_DBFS)
    }
}

/// Sum of squares. In f32, over eight lanes: up to 480 squares of values
/// within [-1, 1] lose nothing that matters for a threshold in dB, and the
/// lanes let the compiler use vector instructions (a plain sum must keep
/// the order of its additions).
fn energy(samples: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = samples.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (l, s) in lanes.iter_mut().zip(chunk) {
            *l += s * s;
        }
    }
    lanes.iter().sum::<f32>() + tail.iter().map(|s| s * s).sum::<f32>()
}

/// Mean square level of a full-scale-relative level in dB.
fn mean_square(dbfs: f64) -> f64 {
    10f64.powf(dbfs / 10.0)
}

impl VoiceDetector {
    /// A detector whose frames are voice above `threshold_dbfs`.
    pub fn new(threshold_dbfs: f64) -> Self {
        VoiceDetector {
            threshold: mean_square(threshold_dbfs),
            rate: 0,
            energy: 0.0,
            filled: 0,
            since_voice: None,
        }
    }

    /// Changes the threshold from the next frame on.
    pub fn set_threshold(&mut self, threshold_dbfs: f64) {
        self.threshold = mean_square(threshold_dbfs);
    }

    /// Whether voice was heard within the hangover.
    pub fn active(&self) -> bool {
        self.since_voice.is_some()
    }

    /// Forgets everything heard: the next block starts from silence.
    pub fn reset(&mut self) {
        self.energy = 0.0;
        self.filled = 0;
        self.since_voice = None;
    }

    /// Measures the next `samples` (mono, in [-1, 1]) of the talker, at
    /// `rate` Hz. A frame that a block leaves unfinished is completed by
    /// the next block at the same rate (a rate change starts a new frame).
    pub fn process(&mut self, samples: &[f32], rate: u32) -> Voice {
        if rate != self.rate {
            self.rate = rate;
            self.energy = 0.0;
            self.filled = 0;
        }
        let frame = (rate * FRAME_MS / 1000).max(1) as usize;
        let hangover_frames = HANGOVER_MS / FRAME_MS;
        let mut speech = false;
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (frame - self.filled).min(rest.len());
            let (part, tail) = rest.split_at(take);
            rest = tail;
            self.energy += energy(part) as f64;
            self.filled += take;
            if self.filled < frame {
                break;
            }
            let voice = self.energy > self.threshold * frame as f64;
            self.energy = 0.0;
            self.filled = 0;
            self.since_voice = if voice {
                speech = true;
                Some(0)
            } else {
                self.since_voice
                    .map(|n| n + 1)
                    .filter(|n| *n < hangover_frames)
            };
        }
        if speech {
            Voice::Speech
        } else if self.active() {
            Voice::Hangover
        } else {
            Voice::Silence
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    const RATE: u32 = 8000;
    /// One 20 ms packet at 8 kHz.
    const PACKET: usize = 160;

    fn tone(freq: f32, amplitude: f32, n: usize, start: usize) -> Vec<f32> {
        (start..start + n)
            .map(|i| amplitude * (2.0 * PI * freq * i as f32 / RATE as f32).sin())
            .collect()
    }

    /// White noise with the given RMS level (a small LCG, reproducible).
    fn noise(dbfs: f64, n: usize, seed: &mut u32) -> Vec<f32> {
        // Uniform in [-a, a] has an RMS of a / sqrt(3).
        let a = (10f64.powf(dbfs / 20.0) * 3f64.sqrt()) as f32;
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                a * ((*seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    /// Something like speech: a 120 Hz voice with harmonics (vowels) in
    /// syllables of 150 ms, 4 per word, words 250 ms apart, at about
    /// -25 dBFS, over room noise at -65 dBFS.
    fn speech(words: usize) -> Vec<f32> {
        let mut seed = 7;
        let syllable = RATE as usize * 150 / 1000;
        let pause = RATE as usize * 250 / 1000;
        let mut out = Vec::new();
        for w in 0..words {
            for s in 0..4 {
                let formant = [700.0, 1200.0, 400.0, 2300.0][(w + s) % 4];
                for i in 0..syllable {
                    let t = i as f32 / RATE as f32;
                    // Rises and falls within the syllable.
                    let envelope = (PI * i as f32 / syllable as f32).sin();
                    let voiced: f32 = (1..=20)
                        .map(|h| {
                            let f = 120.0 * h as f32;
                            let weight = 1.0 / (1.0 + ((f - formant) / 300.0).powi(2));
                            weight * (2.0 * PI * f * t).sin()
                        })
                        .sum();
                    out.push(0.05 * envelope * voiced);
                }
            }
            out.extend(std::iter::repeat_n(0.0, pause));
        }
        let n = out.len();
        for (o, z) in out.iter_mut().zip(noise(-65.0, n, &mut seed)) {
            *o += z;
        }
        out
    }

    /// Voice of every 20 ms packet of `samples`.
    fn packets(d: &mut VoiceDetector, samples: &[f32]) -> Vec<Voice> {
        samples.chunks(PACKET).map(|p| d.process(p, RATE)).collect()
    }

    #[test]
    fn silence_is_not_voice() {
        let mut d = VoiceDetector::default();
        let v = packets(&mut d, &vec![0.0; RATE as usize * 3]);
        assert!(v.iter().all(|v| *v == Voice::Silence));
        // A-law's silence code decodes to 8 / 32768.
        let v = packets(&mut d, &vec![8.0 / 32768.0; RATE as usize]);
        assert!(v.iter().all(|v| *v == Voice::Silence));
    }

    #[test]
    fn low_noise_is_not_voice_and_loud_noise_is() {
        let mut seed = 1;
        let mut d = VoiceDetector::default();
        let quiet = noise(-55.0, RATE as usize * 5, &mut seed);
        assert!(packets(&mut d, &quiet).iter().all(|v| *v == Voice::Silence));
        // An energy detector: a noise above the threshold is voice.
        let loud = noise(-35.0, PACKET, &mut seed);
        assert_eq!(d.process(&loud, RATE), Voice::Speech);
        // The same noise is silence for a detector set above it.
        let mut d = VoiceDetector::new(-30.0);
        let loud = noise(-35.0, RATE as usize, &mut seed);
        assert!(packets(&mut d, &loud).iter().all(|v| *v == Voice::Silence));
    }

    #[test]
    fn a_tone_is_voice_throughout() {
        let mut d = VoiceDetector::default();
        let v = packets(&mut d, &tone(440.0, 0.5, RATE as usize * 2, 0));
        assert!(v.iter().all(|v| *v == Voice::Speech));
        // Down to just above the threshold: -44 dBFS RMS.
        let a = (10f64.powf(-44.0 / 20.0) * 2f64.sqrt()) as f32;
        let mut d = VoiceDetector::default();
        assert!(packets(&mut d, &tone(440.0, a, RATE as usize, 0))
            .iter()
            .all(|v| *v == Voice::Speech));
        let a = (10f64.powf(-46.0 / 20.0) * 2f64.sqrt()) as f32;
        let mut d = VoiceDetector::default();
        assert!(packets(&mut d, &tone(440.0, a, RATE as usize, 0))
            .iter()
            .all(|v| *v == Voice::Silence));
    }

    #[test]
    fn speech_is_one_spurt_through_its_pauses() {
        let mut d = VoiceDetector::default();
        let words = speech(6);
        let v = packets(&mut d, &words);
        assert_eq!(v[0], Voice::Speech, "the first syllable starts at once");
        // From the first packet to the last of the speech, the detector
        // never says silence: pauses between words are hangover.
        assert!(v.iter().all(|v| *v != Voice::Silence), "{v:?}");
        assert!(v.contains(&Voice::Hangover));
        // The last word's pause is hangover too; then it ends.
        let v = packets(&mut d, &vec![0.0; RATE as usize]);
        let hangover_left = v.iter().take_while(|v| **v == Voice::Hangover).count();
        // About 250 ms of the hangover went by in the last word's pause
        // (the syllable fades out over its last frames).
        let left_ms = hangover_left * 20;
        assert!((650..=760).contains(&left_ms), "{left_ms} ms");
        assert!(v[hangover_left..].iter().all(|v| *v == Voice::Silence));
    }

    #[test]
    fn the_hangover_ends_voice_after_a_second_without_it() {
        let mut d = VoiceDetector::default();
        assert_eq!(d.process(&tone(440.0, 0.5, PACKET, 0), RATE), Voice::Speech);
        assert!(d.active());
        let silence = vec![0.0; PACKET];
        // 1000 ms of silence: 49 packets of hangover, then silence.
        for i in 0..HANGOVER_MS as usize / 20 - 1 {
            assert_eq!(d.process(&silence, RATE), Voice::Hangover, "packet {i}");
        }
        assert_eq!(d.process(&silence, RATE), Voice::Silence);
        assert!(!d.active());
        // Voice within the hangover starts it over.
        d.process(&tone(440.0, 0.5, PACKET, 0), RATE);
        for _ in 0..30 {
            d.process(&silence, RATE);
        }
        assert_eq!(d.process(&tone(440.0, 0.5, PACKET, 0), RATE), Voice::Speech);
        for _ in 0..HANGOVER_MS as usize / 20 - 1 {
            assert_eq!(d.process(&silence, RATE), Voice::Hangover);
        }
        assert_eq!(d.process(&silence, RATE), Voice::Silence);
    }

    #[test]
    fn onset_is_found_in_the_packet_it_starts_in() {
        let mut d = VoiceDetector::default();
        for _ in 0..20 {
            assert_eq!(d.process(&[0.0; PACKET], RATE), Voice::Silence);
        }
        // The tone starts 15 ms into a packet: only its last 5 ms are loud,
        // and that packet is voice already.
        let mut p = vec![0.0; PACKET];
        p[120..].copy_from_slice(&tone(440.0, 0.5, 40, 0));
        assert_eq!(d.process(&p, RATE), Voice::Speech);
        // A frame split across two blocks is measured whole: 5 ms of tone
        // at the end of one block and 5 ms of silence in the next.
        let mut d = VoiceDetector::default();
        let mut p = vec![0.0; 120];
        p[80..].copy_from_slice(&tone(440.0, 0.5, 40, 0));
        assert_eq!(d.process(&p, RATE), Voice::Silence, "frame unfinished");
        assert_eq!(d.process(&[0.0; 40], RATE), Voice::Speech);
    }

    #[test]
    fn works_at_every_rate() {
        for rate in [8000, 16000, 48000] {
            let mut d = VoiceDetector::default();
            let n = rate as usize / 50;
            let t: Vec<f32> = (0..n)
                .map(|i| 0.3 * (2.0 * PI * 440.0 * i as f32 / rate as f32).sin())
                .collect();
            assert_eq!(d.process(&t, rate), Voice::Speech, "{rate} Hz");
            assert_eq!(d.process(&vec![0.0; n], rate), Voice::Hangover);
        }
    }
}

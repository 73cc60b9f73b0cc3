//! Integer-ratio upsampling (8 or 16 kHz to the output's 48 kHz) with a
//! polyphase windowed-sinc filter. Plain Rust, no GStreamer.
//!
//! Each input sample becomes `factor` output samples; output sample `p` of
//! the group is the dot product of the last [`TAPS`] inputs with phase `p`
//! of the filter. The filter keeps the input's band (flat to about 0.8 of its
//! Nyquist frequency) and removes the images above it (Blackman window,
//! about -58 dB in the stop band).

/// Input samples each output sample is computed from.
pub const TAPS: usize = 24;

#[derive(Debug, Clone)]
pub struct Upsampler {
    factor: usize,
    /// `factor` phases of [`TAPS`] coefficients each, oldest input first.
    phases: Vec<[f32; TAPS]>,
    /// The last inputs, twice over so that the newest [`TAPS`] of them are
    /// always contiguous: `history[pos..pos + TAPS]`.
    history: [f32; 2 * TAPS],
    pos: usize,
}

impl Upsampler {
    /// An upsampler by `factor` (1 copies its input through).
    pub fn new(factor: usize) -> Self {
        assert!(factor >= 1);
        let n = factor * TAPS;
        let centre = (n - 1) as f64 / 2.0;
        // Cut-off at the input's Nyquist frequency, in cycles per output sample.
        let cutoff = 0.5 / factor as f64;
        let prototype: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 - centre;
                let x = 2.0 * cutoff * t;
                let sinc = if x == 0.0 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let w = 2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64;
                let blackman = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
                sinc * blackman
            })
            .collect();
        let phases = (0..factor)
            .map(|p| {
                // Tap j weighs the input j samples back; stored oldest first.
                let taps: Vec<f64> = (0..TAPS).map(|j| prototype[p + j * factor]).collect();
                // Every phase passes DC unchanged: no ripple at the factor's period.
                let sum: f64 = taps.iter().sum();
                let mut phase = [0f32; TAPS];
                for (j, c) in taps.iter().enumerate() {
                    phase[TAPS - 1 - j] = (c / sum) as f32;
                }
                phase
            })
            .collect();
        Upsampler {
            factor,
            phases,
            history: [0.0; 2 * TAPS],
            pos: 0,
        }
    }

    pub fn factor(&self) -> usize {
        self.factor
    }

    /// The most the output can exceed the input's peak by: the largest sum
    /// of absolute coefficients of a phase (a filter rings on full-scale
    /// input that alternates at the band edge). The mixer's limiter keeps
    /// such peaks out of the output.
    pub fn peak_gain(&self) -> f32 {
        if self.factor == 1 {
            return 1.0;
        }
        self.phases
            .iter()
            .map(|p| p.iter().map(|c| c.abs()).sum::<f32>())
            .fold(0.0, f32::max)
    }

    /// Forgets the inputs seen so far: what comes next starts from silence.
    pub fn reset(&mut self) {
        self.history = [0.0; 2 * TAPS];
        self.pos = 0;
    }

    /// Appends `input.len() * factor` samples to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.factor == 1 {
            out.extend_from_slice(input);
            return;
        }
        out.reserve(input.len() * self.factor);
        for &x in input {
            // Newest sample at the end of the window, in both copies.
            self.history[self.pos] = x;
            self.history[self.pos + TAPS] = x;
            self.pos = (self.pos + 1) % TAPS;
            let window: &[f32; TAPS] = self.history[self.pos..self.pos + TAPS].try_into().unwrap();
            for phase in &self.phases {
                out.push(window.iter().zip(phase).map(|(a, b)| a * b).sum());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amplitude of the `freq` component of `x` sampled at `rate`.
    fn amplitude(x: &[f32], freq: f64, rate: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, s) in x.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * freq * i as f64 / rate;
            re += *s as f64 * w.cos();
            im += *s as f64 * w.sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    fn tone(freq: f64, rate: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as f32)
            .collect()
    }

    #[test]
    fn a_tone_keeps_its_frequency_and_level_and_loses_its_images() {
        for (rate, factor) in [(8000.0, 6), (16000.0, 3)] {
            let mut up = Upsampler::new(factor);
            let mut out = Vec::new();
            // In uneven pieces, as packets come.
            let input = tone(440.0, rate, rate as usize);
            for piece in input.chunks(97) {
                up.process(piece, &mut out);
            }
            assert_eq!(out.len(), 48000);
            let steady = &out[4800..];
            let wanted = amplitude(steady, 440.0, 48000.0);
            assert!((wanted - 0.5).abs() < 0.01, "{rate}: level {wanted}");
            // The first image of 440 Hz sits at rate - 440.
            let image = amplitude(steady, rate - 440.0, 48000.0);
            assert!(image < 0.5 * 1e-2, "{rate}: image {image}");
        }
    }

    #[test]
    fn speech_band_passes_and_the_band_edge_is_cut() {
        let mut up = Upsampler::new(6);
        let mut out = Vec::new();
        up.process(&tone(3000.0, 8000.0, 8000), &mut out);
        let level = amplitude(&out[4800..], 3000.0, 48000.0);
        assert!(level > 0.4, "3 kHz level {level}");
        let image = amplitude(&out[4800..], 5000.0, 48000.0);
        assert!(image < 0.05, "3 kHz image at 5 kHz: {image}");
    }

    #[test]
    fn dc_passes_unchanged_in_every_phase() {
        let mut up = Upsampler::new(6);
        let mut out = Vec::new();
        up.process(&[0.25; 100], &mut out);
        for s in &out[6 * TAPS..] {
            assert!((s - 0.25).abs() < 1e-6, "{s}");
        }
    }

    #[test]
    fn the_worst_input_peaks_at_the_peak_gain() {
        for factor in [1, 3, 6] {
            let mut up = Upsampler::new(factor);
            // Full scale, signs chosen to match the first phase's taps.
            let worst: Vec<f32> = up.phases[0].iter().map(|c| c.signum()).collect();
            let mut out = Vec::new();
            up.process(&worst, &mut out);
            let peak = out.iter().fold(0f32, |p, s| p.max(s.abs()));
            assert!(peak <= up.peak_gain() + 1e-4, "{factor}: {peak}");
            assert!(peak >= 0.99, "{factor}: {peak}");
            assert!(up.peak_gain() < 2.5, "{factor}: {}", up.peak_gain());
        }
    }

    #[test]
    fn factor_one_is_a_copy() {
        let mut up = Upsampler::new(1);
        let mut out = vec![9.0];
        up.process(&[0.1, 0.2], &mut out);
        assert_eq!(out, vec![9.0, 0.1, 0.2]);
    }
}

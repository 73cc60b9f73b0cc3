//! Audio analysis for the tests: how much of the output is loud, and at
//! which frequency.

/// Samples in 10 ms windows whose RMS is above `threshold`.
pub fn loud_samples(samples: &[f32], rate: u32, threshold: f32) -> usize {
    let window = (rate / 100) as usize;
    samples
        .chunks_exact(window)
        .filter(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt() > threshold)
        .count()
        * window
}

/// Only the loud windows, concatenated.
pub fn loud_part(samples: &[f32], rate: u32, threshold: f32) -> Vec<f32> {
    let window = (rate / 100) as usize;
    samples
        .chunks_exact(window)
        .filter(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt() > threshold)
        .flatten()
        .copied()
        .collect()
}

fn goertzel_power(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f64, 0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Relative power of `freq` in `samples` (Goertzel), for comparing tones.
pub fn power_at(samples: &[f32], rate: u32, freq: f64) -> f64 {
    goertzel_power(samples, rate, freq) / samples.len().max(1) as f64
}

/// The strongest frequency between 50 Hz and 4 kHz, to 1 Hz.
pub fn dominant_frequency(samples: &[f32], rate: u32) -> f64 {
    // At most one second is enough for 1 Hz resolution.
    let samples = &samples[..samples.len().min(rate as usize)];
    let best = |lo: i32, hi: i32, step: i32| {
        (lo..=hi)
            .step_by(step as usize)
            .map(|f| (f, goertzel_power(samples, rate, f as f64)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(f, _)| f)
            .unwrap()
    };
    let coarse = best(50, 4000, 10);
    best(coarse - 10, coarse + 10, 1) as f64
}

/// How much of 16 kHz `out` is loud (over 0.02), in ms, and the dominant
/// frequency of the loud part (0 if none).
pub fn heard(out: &[f32]) -> (usize, f64) {
    let loud = loud_samples(out, 16000, 0.02);
    let f = if loud > 0 {
        dominant_frequency(&loud_part(out, 16000, 0.02), 16000)
    } else {
        0.0
    };
    (loud / 16, f)
}

/// A sine tone, for tests that send raw RTP themselves.
pub fn tone(freq: f64, rate: u32, amplitude: f32, n: usize, phase_start: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            amplitude
                * ((2.0 * std::f64::consts::PI * freq * (i + phase_start) as f64 / rate as f64)
                    .sin() as f32)
        })
        .collect()
}

/// G.711 mu-law encoding of one sample (for raw RTP senders).
pub fn mulaw(sample: f32) -> u8 {
    const BIAS: i32 = 0x84;
    let mut pcm = (sample.clamp(-1.0, 1.0) * 32635.0) as i32;
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm += BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && pcm & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (pcm >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

#[test]
fn analysis_finds_a_tone() {
    let t = tone(440.0, 16000, 0.5, 16000, 0);
    assert_eq!(dominant_frequency(&t, 16000), 440.0);
    let mut s = vec![0.0; 8000];
    s.extend(&t);
    assert_eq!(loud_samples(&s, 16000, 0.1), 16000);
}

//! What voice activity detection costs per 20 ms packet, next to what the
//! direct decoding of a PCMU packet costs. Prints nanoseconds per packet
//! (best and median of 7 runs); no assertion.
//!
//! ```sh
//! cargo bench --bench vad
//! ```

use std::hint::black_box;
use std::time::Instant;

use gstonvifbackchannel::direct::DirectDecoder;
use gstonvifbackchannel::pcm::PcmFormat;
use gstonvifbackchannel::vad::{Voice, VoiceDetector};

const PACKETS: usize = 50_000;
const RUNS: usize = 7;

/// Runs `f` for [`PACKETS`] packets, [`RUNS`] times; best and median ns per packet.
fn measure(mut f: impl FnMut(usize)) -> (f64, f64) {
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..PACKETS {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / PACKETS as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    (runs[0], runs[RUNS / 2])
}

fn tone(rate: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin())
        .collect()
}

fn report(what: &str, (best, median): (f64, f64)) {
    println!("{what:<62} {best:>8.0} ns best {median:>8.0} ns median");
}

fn main() {
    println!("per 20 ms packet, {PACKETS} packets x {RUNS} runs");
    for (rate, label) in [
        (8000, "voice detector, 160 samples at 8 kHz (PCMU, PCMA)"),
        (
            48000,
            "voice detector, 960 samples at 48 kHz (decode chains)",
        ),
    ] {
        let packet = tone(rate, rate as usize / 50);
        let mut d = VoiceDetector::default();
        let mut speech = 0usize;
        report(
            label,
            measure(|_| {
                if d.process(black_box(&packet), rate) == Voice::Speech {
                    speech += 1;
                }
            }),
        );
        black_box(speech);
    }
    // The direct path of one PCMU packet: decoded, measured and upsampled
    // (a talker that is heard), or decoded and measured only (one that is
    // not).
    let payload: Vec<u8> = (0..160u32).map(|i| (i * 37 % 256) as u8).collect();
    for (played, label) in [
        (true, "PCMU packet decoded, measured, upsampled (heard)"),
        (false, "PCMU packet decoded and measured only (not heard)"),
    ] {
        let mut decoder = DirectDecoder::new(48000);
        let mut d = VoiceDetector::default();
        let mut out = 0usize;
        report(
            label,
            measure(|i| {
                decoder.packet(
                    1,
                    i as u16,
                    (PcmFormat::Mulaw, 8000),
                    black_box(&payload),
                    |samples, rate| {
                        d.process(samples, rate);
                        played
                    },
                    |samples| out += samples.len(),
                );
            }),
        );
        black_box(out);
    }
}

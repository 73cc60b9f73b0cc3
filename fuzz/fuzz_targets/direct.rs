//! src/direct.rs (with reorder, pcm and upsample) on arbitrary packets: the
//! input is read as packets of (SSRC, sequence number, format, length,
//! payload), some of them passed over (another payload type). Each decoded
//! packet is measured by src/vad.rs, and played or left out by it (and by a
//! bit of the input), so that the upsampler also restarts after gaps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::direct::{DirectDecoder, MAX_STREAMS};
use onvifbackchannel_pure::pcm::PcmFormat;
use onvifbackchannel_pure::upsample::Upsampler;
use onvifbackchannel_pure::vad::{Voice, VoiceDetector};

fuzz_target!(|data: &[u8]| {
    let mut decoder = DirectDecoder::new(48000);
    let mut detector = VoiceDetector::default();
    let mut rest = data;
    let (mut samples_in, mut samples_out) = (0usize, 0usize);
    while rest.len() >= 5 {
        let (head, tail) = rest.split_at(5);
        // Few SSRCs and sequence numbers close together, so that streams
        // interleave, reorder and repeat.
        let ssrc = (head[0] & 7) as u32;
        let force = head[0] & 16 != 0;
        let mut judge = |samples: &[f32], rate: u32| {
            assert!(samples.iter().all(|s| s.is_finite()));
            detector.process(samples, rate) != Voice::Silence || force
        };
        let sequence = u16::from_be_bytes([head[1], head[2]]) >> (head[0] >> 5);
        if head[3] % 7 == 6 {
            // A packet of another payload type taking this sequence number.
            decoder.pass_over(ssrc, sequence, &mut judge, |samples| {
                assert!(samples.iter().all(|s| s.is_finite()));
                samples_out += samples.len();
            });
            rest = tail;
            continue;
        }
        let (format, rate) = match head[3] % 5 {
            0 => (PcmFormat::Mulaw, 8000),
            1 => (PcmFormat::Alaw, 8000),
            2 => (PcmFormat::L16, 8000),
            3 => (PcmFormat::L16, 16000),
            _ => (PcmFormat::L16, 48000),
        };
        let len = (head[4] as usize).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        samples_in += payload.len() / format.bytes_per_sample() * (48000 / rate as usize);
        let factor = 48000 / rate as usize;
        decoder.packet(
            ssrc,
            sequence,
            (format, rate),
            payload,
            &mut judge,
            |samples| {
                // Whole input samples only, all finite and within what the
                // filter's ringing allows on full-scale input.
                assert_eq!(samples.len() % factor, 0);
                let bound = Upsampler::new(factor).peak_gain() + 1e-4;
                assert!(samples.iter().all(|s| s.is_finite() && s.abs() <= bound));
                samples_out += samples.len();
            },
        );
        assert!(decoder.streams() <= MAX_STREAMS);
    }
    // Nothing comes out that did not go in (held packets may stay in).
    assert!(
        samples_out <= samples_in,
        "{samples_out} out of {samples_in}"
    );
});

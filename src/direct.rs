//! Direct decoding of the sample codecs (PCMU, PCMA, L16) for one back
//! channel: per SSRC, packets are put back in order ([`Reorder`]), decoded
//! ([`PcmFormat`]), judged at the codec's rate (voice and floor: the
//! caller's `judge`) and, when they are to be played, upsampled to the
//! output rate ([`Upsampler`]). Plain Rust, no GStreamer.
//!
//! Judging before upsampling keeps the cost of a talker that is not heard
//! (or says nothing) to the decoding and the level of its codec-rate
//! samples.
//!
//! The receiver runs this on the thread that hands it the packet, so these
//! codecs skip rtpbin's jitter buffer (a thread and a wake-up per packet)
//! and the depayloader, decoder, converter and resampler elements. The other
//! codecs keep the GStreamer path.

use std::collections::HashMap;

use crate::pcm::PcmFormat;
use crate::reorder::{Placed, Reorder};
use crate::upsample::Upsampler;

/// Streams (SSRCs) one back channel keeps state for; the least recently
/// heard one is forgotten to make room.
pub const MAX_STREAMS: usize = 4;

struct Stream {
    format: PcmFormat,
    clock_rate: u32,
    reorder: Reorder,
    upsampler: Upsampler,
    /// Whether packets were left out since the upsampler last ran: its
    /// history is stale.
    skipped: bool,
    last_used: u64,
}

/// Direct decoders of one back channel, by SSRC.
pub struct DirectDecoder {
    output_rate: u32,
    streams: HashMap<u32, Stream>,
    packets: u64,
    /// Buffers reused from packet to packet: samples at the codec's rate,
    /// and at the output rate.
    decoded: Vec<f32>,
    upsampled: Vec<f32>,
}

/// What happened to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It (and any packets it unblocked) was decoded.
    Decoded,
    /// It waits for an earlier, missing packet.
    Held,
    /// It came after later packets had been played: dropped.
    Late,
    /// A new SSRC, or a known one changing format: its state starts afresh.
    /// The packet was decoded.
    NewStream,
}

impl DirectDecoder {
    pub fn new(output_rate: u32) -> Self {
        DirectDecoder {
            output_rate,
            streams: HashMap::new(),
            packets: 0,
            decoded: Vec::new(),
            upsampled: Vec::new(),
        }
    }

    /// Whether a codec at `clock_rate` can be decoded here.
    pub fn supports(&self, clock_rate: u32) -> bool {
        clock_rate > 0 && clock_rate <= self.output_rate && self.output_rate % clock_rate == 0
    }

    /// Takes one packet's payload. Every packet it lets through (possibly
    /// several, or none) is decoded and handed to `judge` with its rate;
    /// the samples of those judged worth playing are upsampled and handed,
    /// at the output rate, to `emit`, together. `codec`: the payload's
    /// format and clock rate.
    pub fn packet(
        &mut self,
        ssrc: u32,
        sequence: u16,
        (format, clock_rate): (PcmFormat, u32),
        payload: &[u8],
        judge: impl FnMut(&[f32], u32) -> bool,
        emit: impl FnOnce(&[f32]),
    ) -> Outcome {
        assert!(self.supports(clock_rate));
        self.packets += 1;
        let factor = (self.output_rate / clock_rate) as usize;
        let fresh = match self.streams.get(&ssrc) {
            Some(s) => s.format != format || s.clock_rate != clock_rate,
            None => true,
        };
        if fresh {
            if !self.streams.contains_key(&ssrc) && self.streams.len() >= MAX_STREAMS {
                let oldest = self
                    .streams
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(k, _)| *k)
                    .unwrap();
                self.streams.remove(&oldest);
            }
            self.streams.insert(
                ssrc,
                Stream {
                    format,
                    clock_rate,
                    reorder: Reorder::default(),
                    upsampler: Upsampler::new(factor),
                    skipped: false,
                    last_used: 0,
                },
            );
        }
        let placed = self.run(ssrc, judge, emit, |reorder, decode| {
            reorder.push(sequence, payload, decode)
        });
        match (placed, fresh) {
            (_, true) => Outcome::NewStream,
            (Placed::Passed, false) => Outcome::Decoded,
            (Placed::Held, false) => Outcome::Held,
            (Placed::Late, false) => Outcome::Late,
        }
    }

    /// A packet of `ssrc` that is not decoded here (another payload type,
    /// such as telephone-event, or one dropped on purpose) took sequence
    /// number `sequence`: nothing waits for it. Packets it unblocks are
    /// decoded, judged and handed on as by [`packet`](Self::packet).
    pub fn pass_over(
        &mut self,
        ssrc: u32,
        sequence: u16,
        judge: impl FnMut(&[f32], u32) -> bool,
        emit: impl FnOnce(&[f32]),
    ) {
        if self.streams.contains_key(&ssrc) {
            self.run(ssrc, judge, emit, |reorder, decode| {
                reorder.pass_over(sequence, decode)
            });
        }
    }

    /// Runs `place` on the stream's reorder window with a decoder for what
    /// it lets pass, and hands the samples to `emit`.
    fn run(
        &mut self,
        ssrc: u32,
        mut judge: impl FnMut(&[f32], u32) -> bool,
        emit: impl FnOnce(&[f32]),
        place: impl FnOnce(&mut Reorder, &mut dyn FnMut(&[u8])) -> Placed,
    ) -> Placed {
        let stream = self.streams.get_mut(&ssrc).unwrap();
        stream.last_used = self.packets;
        let mut samples = std::mem::take(&mut self.decoded);
        let mut out = std::mem::take(&mut self.upsampled);
        out.clear();
        let Stream {
            reorder,
            upsampler,
            format,
            clock_rate,
            skipped,
            ..
        } = stream;
        let placed = place(reorder, &mut |p: &[u8]| {
            samples.clear();
            format.decode(p, &mut samples);
            if !judge(&samples, *clock_rate) {
                *skipped = true;
                return;
            }
            if std::mem::take(skipped) {
                // Its history ends before the gap: start from silence.
                upsampler.reset();
            }
            upsampler.process(&samples, &mut out);
        });
        if !out.is_empty() {
            emit(&out);
        }
        self.decoded = samples;
        self.upsampled = out;
        placed
    }

    /// SSRCs with state.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// μ-law encoding by search (the inverse of the decoder): good enough to
    /// make test packets.
    fn mulaw(sample: f32) -> u8 {
        let target = (sample * 32768.0) as i32;
        (0..=255u8)
            .min_by_key(|c| (crate::pcm::mulaw_to_linear(*c) as i32 - target).abs())
            .unwrap()
    }

    /// A judge that plays everything.
    fn play(_: &[f32], _: u32) -> bool {
        true
    }

    fn crossings(x: &[f32]) -> usize {
        x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count()
    }

    #[test]
    fn reordered_mulaw_packets_come_out_as_the_tone_sent() {
        let mut d = DirectDecoder::new(48000);
        let tone: Vec<u8> = (0..8000)
            .map(|i| mulaw(0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()))
            .collect();
        let packets: Vec<(u16, &[u8])> = tone
            .chunks(160)
            .enumerate()
            .map(|(i, p)| (i as u16, p))
            .collect();
        // Swap every 10th pair in transit.
        let mut order: Vec<usize> = (0..packets.len()).collect();
        for i in (0..order.len() - 1).step_by(10) {
            order.swap(i + 3, i + 4);
        }
        let mut out = Vec::new();
        let mut outcomes = Vec::new();
        for i in order {
            let (seq, p) = packets[i];
            outcomes.push(d.packet(7, seq, (PcmFormat::Mulaw, 8000), p, play, |s| {
                out.extend_from_slice(s)
            }));
        }
        assert_eq!(out.len(), 48000, "every packet decoded once");
        // 0.9 s after the filter's start-up: 396 cycles of 440 Hz. A packet
        // played out of order would add crossings.
        assert_eq!(crossings(&out[4800..]), 396);
        assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Held).count(), 5);
        assert_eq!(outcomes[0], Outcome::NewStream);
    }

    #[test]
    fn streams_are_kept_apart_and_bounded() {
        let mut d = DirectDecoder::new(48000);
        let mut n = 0;
        for ssrc in 0..10u32 {
            d.packet(ssrc, 1, (PcmFormat::L16, 16000), &[0, 1, 0, 2], play, |s| {
                n += s.len()
            });
            assert!(d.streams() <= MAX_STREAMS);
        }
        assert_eq!(n, 10 * 2 * 3);
        // A format change on a known SSRC starts it afresh.
        let o = d.packet(9, 2, (PcmFormat::Mulaw, 8000), &[0xff], play, |_| {});
        assert_eq!(o, Outcome::NewStream);
        let o = d.packet(9, 3, (PcmFormat::Mulaw, 8000), &[0xff], play, |_| {});
        assert_eq!(o, Outcome::Decoded);
    }

    #[test]
    fn interleaved_events_do_not_hold_the_audio_back() {
        let mut d = DirectDecoder::new(48000);
        let mut n = 0;
        // Audio 1, 2, an event on 3, audio 4 and on.
        d.packet(5, 1, (PcmFormat::Mulaw, 8000), &[0xff; 160], play, |s| {
            n += s.len()
        });
        d.packet(5, 2, (PcmFormat::Mulaw, 8000), &[0xff; 160], play, |s| {
            n += s.len()
        });
        d.pass_over(5, 3, play, |_| panic!("an event has no audio"));
        let o = d.packet(5, 4, (PcmFormat::Mulaw, 8000), &[0xff; 160], play, |s| {
            n += s.len()
        });
        assert_eq!(o, Outcome::Decoded);
        assert_eq!(n, 3 * 960);
        // An SSRC never decoded here is left alone.
        d.pass_over(6, 1, play, |_| panic!("no stream"));
        assert_eq!(d.streams(), 1);
    }

    #[test]
    fn only_rates_that_divide_the_output_rate_are_supported() {
        let d = DirectDecoder::new(48000);
        assert!(d.supports(8000) && d.supports(16000) && d.supports(48000));
        assert!(!d.supports(44100) && !d.supports(0) && !d.supports(96000));
    }

    #[test]
    fn only_packets_judged_worth_playing_are_upsampled() {
        let mut d = DirectDecoder::new(48000);
        let loud = [0x80u8; 160]; // μ-law full scale
        let mut judged = Vec::new();
        let mut out = Vec::new();
        for seq in 0..6u16 {
            d.packet(
                3,
                seq,
                (PcmFormat::Mulaw, 8000),
                &loud,
                |s, rate| {
                    judged.push((s.len(), rate));
                    seq % 3 == 0
                },
                |s| out.push(s.len()),
            );
        }
        // Every packet judged at the codec's rate; two of six played.
        assert_eq!(judged, vec![(160, 8000); 6]);
        assert_eq!(out, vec![960, 960]);
    }
}

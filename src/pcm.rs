//! The sample codecs of the back channel, decoded in plain Rust: G.711
//! μ-law (PCMU) and A-law (PCMA) as ITU-T G.711 defines them, and L16
//! (RFC 3551: signed 16-bit big-endian).
//!
//! They need no decoder element: one table lookup per sample. The receiver
//! decodes them on the thread the packet arrives on instead of sending them
//! through rtpbin's jitter buffer and a chain of elements (see `direct.rs`).

/// A codec whose payload is plain samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcmFormat {
    /// G.711 μ-law, one byte per sample.
    Mulaw,
    /// G.711 A-law, one byte per sample.
    Alaw,
    /// Signed 16-bit big-endian, two bytes per sample (mono).
    L16,
}

/// G.711 μ-law code to a linear sample (14-bit range scaled to 16 bits,
/// ±32124 at the extremes).
pub const fn mulaw_to_linear(code: u8) -> i16 {
    // Codes are sent complemented.
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0f) as i32;
    // 0x84 is the bias that makes segment boundaries powers of two.
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// G.711 A-law code to a linear sample (13-bit range scaled to 16 bits,
/// ±32256 at the extremes).
pub const fn alaw_to_linear(code: u8) -> i16 {
    // Even bits are sent inverted.
    let a = code ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = (a & 0x0f) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    // In A-law the sign bit set means positive.
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn table(alaw: bool) -> [f32; 256] {
    let mut t = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        let linear = if alaw {
            alaw_to_linear(i as u8)
        } else {
            mulaw_to_linear(i as u8)
        };
        t[i] = linear as f32 / 32768.0;
        i += 1;
    }
    t
}

static MULAW: [f32; 256] = table(false);
static ALAW: [f32; 256] = table(true);

impl PcmFormat {
    /// Bytes per (mono) sample.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            PcmFormat::Mulaw | PcmFormat::Alaw => 1,
            PcmFormat::L16 => 2,
        }
    }

    /// Appends the samples of `payload` to `out`, as floats in [-1, 1).
    /// A trailing odd byte of L16 is ignored.
    pub fn decode(self, payload: &[u8], out: &mut Vec<f32>) {
        match self {
            PcmFormat::Mulaw => out.extend(payload.iter().map(|&b| MULAW[b as usize])),
            PcmFormat::Alaw => out.extend(payload.iter().map(|&b| ALAW[b as usize])),
            PcmFormat::L16 => out.extend(
                payload
                    .chunks_exact(2)
                    .map(|s| i16::from_be_bytes([s[0], s[1]]) as f32 / 32768.0),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_reference_points() {
        // G.711 table 2a: 0xff and 0x7f are the two zeros, 0x80 and 0x00
        // the extremes.
        assert_eq!(mulaw_to_linear(0xff), 0);
        assert_eq!(mulaw_to_linear(0x7f), 0);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(mulaw_to_linear(0xfe), 8);
        assert_eq!(mulaw_to_linear(0xef), 132);
        assert_eq!(mulaw_to_linear(0xdf), 396);
    }

    #[test]
    fn alaw_reference_points() {
        // G.711 table 1a: 0xd5/0x55 are the smallest steps, 0xaa/0x2a the extremes.
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(alaw_to_linear(0x2a), -32256);
    }

    #[test]
    fn both_laws_are_odd_and_monotonic_within_a_sign() {
        for (decode, sign_bit) in [
            (mulaw_to_linear as fn(u8) -> i16, 0x80u8),
            (alaw_to_linear, 0x80),
        ] {
            for code in 0..=255u8 {
                assert_eq!(decode(code), -decode(code ^ sign_bit), "code {code:#x}");
            }
            let mut positives: Vec<i16> = (0..=255u8).map(decode).filter(|v| *v > 0).collect();
            positives.sort();
            positives.dedup();
            // 127 distinct positive levels (μ-law has two zeros, A-law none).
            assert!(positives.len() >= 127, "{}", positives.len());
        }
    }

    #[test]
    fn payloads_decode_to_floats() {
        let mut out = Vec::new();
        PcmFormat::Mulaw.decode(&[0xff, 0x80], &mut out);
        PcmFormat::Alaw.decode(&[0xaa], &mut out);
        PcmFormat::L16.decode(&[0x40, 0x00, 0x80, 0x00, 0x7f], &mut out);
        assert_eq!(
            out,
            vec![0.0, 32124.0 / 32768.0, 32256.0 / 32768.0, 0.5, -1.0]
        );
    }
}

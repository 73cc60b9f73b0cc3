//! Checks on RTP packets arriving on the back channel, before GStreamer's
//! session manager sees them: a packet that lies about its own layout or
//! carries a payload type we never advertised is dropped here.

use std::fmt;

/// The fields of a valid RTP header the receive path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Where the payload starts (after header, CSRCs and extension).
    pub payload_offset: usize,
    /// Number of payload bytes (without padding).
    pub payload_len: usize,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    TooShort(usize),
    BadVersion(u8),
    CsrcOverrun,
    ExtensionOverrun,
    BadPadding,
    /// RTCP sent on the RTP channel (payload types 72-76 with the marker set).
    LooksLikeRtcp(u8),
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::TooShort(n) => write!(f, "{n} bytes is too short for an RTP header"),
            RtpError::BadVersion(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::CsrcOverrun => write!(f, "CSRC list runs past the end of the packet"),
            RtpError::ExtensionOverrun => {
                write!(f, "header extension runs past the end of the packet")
            }
            RtpError::BadPadding => write!(f, "padding length is larger than the payload"),
            RtpError::LooksLikeRtcp(pt) => write!(
                f,
                "RTCP packet type {} on the RTP channel",
                128 + *pt as u16
            ),
        }
    }
}

/// Parses and validates an RTP header (RFC 3550, section 5.1).
pub fn parse_header(packet: &[u8]) -> Result<RtpHeader, RtpError> {
    if packet.len() < 12 {
        return Err(RtpError::TooShort(packet.len()));
    }
    let version = packet[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let padding = packet[0] & 0x20 != 0;
    let extension = packet[0] & 0x10 != 0;
    let csrc_count = (packet[0] & 0x0f) as usize;
    let marker = packet[1] & 0x80 != 0;
    let payload_type = packet[1] & 0x7f;
    if marker && (72..=76).contains(&payload_type) {
        return Err(RtpError::LooksLikeRtcp(payload_type));
    }
    let mut offset = 12 + 4 * csrc_count;
    if packet.len() < offset {
        return Err(RtpError::CsrcOverrun);
    }
    if extension {
        if packet.len() < offset + 4 {
            return Err(RtpError::ExtensionOverrun);
        }
        let words = u16::from_be_bytes([packet[offset + 2], packet[offset + 3]]) as usize;
        offset += 4 + 4 * words;
        if packet.len() < offset {
            return Err(RtpError::ExtensionOverrun);
        }
    }
    let mut end = packet.len();
    if padding {
        let pad = packet[packet.len() - 1] as usize;
        if pad == 0 || pad > end - offset {
            return Err(RtpError::BadPadding);
        }
        end -= pad;
    }
    Ok(RtpHeader {
        payload_type,
        marker,
        sequence: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        payload_offset: offset,
        payload_len: end - offset,
    })
}

/// Counts packets missing from each SSRC's sequence numbers.
#[derive(Debug, Default)]
pub struct LossCounter {
    last: std::collections::HashMap<u32, u16>,
}

/// A jump larger than this is a restart (new stream state), not loss.
pub const MAX_GAP: u16 = 1000;

impl LossCounter {
    /// Notes a packet; returns how many packets before it went missing.
    /// Reordered and duplicate packets count nothing.
    pub fn packet(&mut self, ssrc: u32, sequence: u16) -> u64 {
        let previous = self.last.insert(ssrc, sequence);
        let Some(previous) = previous else {
            return 0;
        };
        let step = sequence.wrapping_sub(previous);
        if step == 0 || step > MAX_GAP {
            // Duplicate, reordered (a step "backwards") or a restart.
            if step > u16::MAX - MAX_GAP {
                self.last.insert(ssrc, previous);
            }
            return 0;
        }
        (step - 1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, second: u8, tail: &[u8]) -> Vec<u8> {
        let mut p = vec![
            first, second, 0x12, 0x34, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef,
        ];
        p.extend_from_slice(tail);
        p
    }

    #[test]
    fn plain_packet() {
        let h = parse_header(&packet(0x80, 0x80, &[0xff; 160])).unwrap();
        assert_eq!(
            h,
            RtpHeader {
                payload_type: 0,
                marker: true,
                sequence: 0x1234,
                timestamp: 160,
                ssrc: 0xdeadbeef,
                payload_offset: 12,
                payload_len: 160
            }
        );
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        let mut tail = vec![0, 0, 0, 1, 0, 0, 0, 2]; // two CSRCs
        tail.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        tail.extend_from_slice(&[9; 10]);
        tail.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let h = parse_header(&packet(0x80 | 0x20 | 0x10 | 2, 8, &tail)).unwrap();
        assert_eq!(h.payload_type, 8);
        assert_eq!(h.payload_offset, 12 + 8 + 8);
        assert_eq!(h.payload_len, 10);
    }

    #[test]
    fn loss_is_counted_per_ssrc_across_wraparound() {
        let mut l = LossCounter::default();
        assert_eq!(l.packet(1, 65534), 0);
        assert_eq!(l.packet(1, 65535), 0);
        assert_eq!(l.packet(1, 2), 2); // 0 and 1 missing
        assert_eq!(l.packet(2, 10), 0); // another SSRC
        assert_eq!(l.packet(2, 11), 0);
        assert_eq!(l.packet(1, 1), 0); // late, reordered: not loss, not a reset
        assert_eq!(l.packet(1, 3), 0);
        assert_eq!(l.packet(1, 3), 0); // duplicate
        assert_eq!(l.packet(1, 30000), 0); // restart
        assert_eq!(l.packet(1, 30002), 1);
    }

    #[test]
    fn lies_are_refused() {
        assert_eq!(parse_header(&[0x80; 5]), Err(RtpError::TooShort(5)));
        assert_eq!(
            parse_header(&packet(0x40, 0, &[1])),
            Err(RtpError::BadVersion(1))
        );
        assert_eq!(
            parse_header(&packet(0x8f, 0, &[0; 8])),
            Err(RtpError::CsrcOverrun)
        );
        assert_eq!(
            parse_header(&packet(0x90, 0, &[0, 0])),
            Err(RtpError::ExtensionOverrun)
        );
        assert_eq!(
            parse_header(&packet(0x90, 0, &[0, 0, 0, 9, 1])),
            Err(RtpError::ExtensionOverrun)
        );
        assert_eq!(
            parse_header(&packet(0xa0, 0, &[1, 2, 200])),
            Err(RtpError::BadPadding)
        );
        assert_eq!(
            parse_header(&packet(0xa0, 0, &[1, 2, 0])),
            Err(RtpError::BadPadding)
        );
        assert_eq!(
            parse_header(&packet(0x80, 0x80 | 72, &[0; 8])),
            Err(RtpError::LooksLikeRtcp(72))
        );
    }
}

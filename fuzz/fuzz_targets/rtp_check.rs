//! src/rtp.rs on arbitrary bytes: `parse_header` on the whole input, then the
//! input read as (SSRC, sequence number) triples for `LossCounter`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::rtp::{parse_header, LossCounter, RtpError, MAX_GAP};

fuzz_target!(|data: &[u8]| {
    check_header(data);
    check_loss(data);
});

fn check_header(data: &[u8]) {
    match parse_header(data) {
        Ok(h) => {
            // Recompute the layout from the bytes: the payload must lie inside
            // the packet, between the header (with CSRCs and extension) and
            // the padding.
            assert!(data.len() >= 12);
            assert_eq!(data[0] >> 6, 2);
            let mut offset = 12 + 4 * (data[0] & 0x0f) as usize;
            assert!(offset <= data.len());
            if data[0] & 0x10 != 0 {
                assert!(offset + 4 <= data.len());
                let words = u16::from_be_bytes([data[offset + 2], data[offset + 3]]) as usize;
                offset += 4 + 4 * words;
                assert!(offset <= data.len());
            }
            let padding = if data[0] & 0x20 != 0 {
                let pad = data[data.len() - 1] as usize;
                assert!(pad > 0);
                pad
            } else {
                0
            };
            assert_eq!(h.payload_offset, offset);
            assert_eq!(offset + h.payload_len + padding, data.len());
            let _payload = &data[offset..offset + h.payload_len];
            assert_eq!(h.marker, data[1] & 0x80 != 0);
            assert_eq!(h.payload_type, data[1] & 0x7f);
            assert!(!(h.marker && (72..=76).contains(&h.payload_type)));
            assert_eq!(h.sequence, u16::from_be_bytes([data[2], data[3]]));
            assert_eq!(
                h.ssrc,
                u32::from_be_bytes([data[8], data[9], data[10], data[11]])
            );
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            match e {
                RtpError::TooShort(n) => assert!(n == data.len() && n < 12),
                _ => assert!(data.len() >= 12, "{e:?} for {} bytes", data.len()),
            }
            match e {
                RtpError::BadVersion(v) => assert!(v != 2 && v == data[0] >> 6),
                RtpError::LooksLikeRtcp(pt) => {
                    assert!(data[1] & 0x80 != 0 && data[1] & 0x7f == pt && (72..=76).contains(&pt))
                }
                RtpError::BadPadding => assert!(data[0] & 0x20 != 0),
                RtpError::ExtensionOverrun => assert!(data[0] & 0x10 != 0),
                _ => {}
            }
        }
    }
}

fn check_loss(data: &[u8]) {
    let mut counter = LossCounter::default();
    for chunk in data.chunks_exact(3) {
        // Few SSRCs, so that streams interleave.
        let ssrc = (chunk[0] & 3) as u32;
        let sequence = u16::from_be_bytes([chunk[1], chunk[2]]);
        let lost = counter.packet(ssrc, sequence);
        assert!(lost < MAX_GAP as u64, "{lost} lost in one step");
        // The same packet again is a duplicate: nothing lost.
        assert_eq!(counter.packet(ssrc, sequence), 0);
        // The next one in order loses nothing either.
        if chunk[0] & 0x80 != 0 {
            assert_eq!(counter.packet(ssrc, sequence.wrapping_add(1)), 0);
        }
    }
}

//! How the sink sends each codec of the table (src/codecs.rs): which
//! encoder and payloader, what raw audio the encoder takes, and which
//! already-encoded input goes to the payloader as it is. Plain data; the
//! glue builds elements from it.

use crate::codecs::BackchannelCodec;

/// How to send one codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCodec {
    /// Encoder element (`None`: the payloader takes raw audio, L16).
    pub encoder: Option<&'static str>,
    /// Encoder properties (name, value as gst-launch writes it).
    pub encoder_props: Vec<(&'static str, String)>,
    pub payloader: &'static str,
    /// Raw audio the encoder (or payloader) takes: format (`None`: any the
    /// encoder accepts), rate and channels.
    pub raw_format: Option<&'static str>,
    pub raw_rate: u32,
    pub raw_channels: u32,
    /// Encoded input passed to the payloader as it is, if the codec has one
    /// (a media type, e.g. `audio/x-mulaw`).
    pub passthrough: Option<&'static str>,
    /// Whether the payloader takes `min-ptime`/`max-ptime` (the raw audio
    /// payloaders); the others get the packet duration from the encoder.
    pub ptime_on_payloader: bool,
}

/// How to send `codec`.
pub fn send_codec(codec: &BackchannelCodec) -> SendCodec {
    let base = SendCodec {
        encoder: None,
        encoder_props: Vec::new(),
        payloader: "",
        raw_format: None,
        raw_rate: codec.clock_rate,
        raw_channels: 1,
        passthrough: None,
        ptime_on_payloader: true,
    };
    match codec.encoding_name {
        "PCMU" => SendCodec {
            encoder: Some("mulawenc"),
            payloader: "rtppcmupay",
            passthrough: Some("audio/x-mulaw"),
            ..base
        },
        "PCMA" => SendCodec {
            encoder: Some("alawenc"),
            payloader: "rtppcmapay",
            passthrough: Some("audio/x-alaw"),
            ..base
        },
        // G.722 is 16 kHz audio on an 8000 Hz RTP clock (RFC 3551 §4.5.2).
        "G722" => SendCodec {
            encoder: Some("avenc_g722"),
            payloader: "rtpg722pay",
            raw_rate: 16000,
            passthrough: Some("audio/G722"),
            ..base
        },
        // Opus: 48000 on the RTP clock whatever is coded; 20 ms frames
        // unless ptime says otherwise (set on the encoder).
        "OPUS" => SendCodec {
            encoder: Some("opusenc"),
            payloader: "rtpopuspay",
            raw_rate: 48000,
            passthrough: Some("audio/x-opus"),
            ptime_on_payloader: false,
            ..base
        },
        "MPEG4-GENERIC" => SendCodec {
            encoder: Some("avenc_aac"),
            payloader: "rtpmp4gpay",
            ptime_on_payloader: false,
            ..base
        },
        "L16" => SendCodec {
            payloader: "rtpL16pay",
            raw_format: Some("S16BE"),
            ..base
        },
        // G726-16 ... G726-40: the bit rate in kbit/s is in the name.
        name if name.starts_with("G726-") => SendCodec {
            encoder: Some("avenc_g726"),
            encoder_props: vec![(
                "bitrate",
                (name[5..].parse::<u32>().unwrap_or(32) * 1000).to_string(),
            )],
            payloader: "rtpg726pay",
            ptime_on_payloader: true,
            ..base
        },
        _ => base,
    }
}

/// The elements `send` needs (to know whether it can be sent).
pub fn elements(send: &SendCodec) -> Vec<&'static str> {
    send.encoder
        .into_iter()
        .chain(std::iter::once(send.payloader))
        .filter(|e| !e.is_empty())
        .collect()
}

/// Opus frame sizes opusenc takes, in ms: the largest not over `ptime`.
pub fn opus_frame_ms(ptime: u32) -> u32 {
    [60, 40, 20, 10, 5]
        .into_iter()
        .find(|&f| f <= ptime.max(5))
        .unwrap_or(20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::ALL_CODECS;

    #[test]
    fn every_codec_of_the_table_can_be_sent() {
        for codec in ALL_CODECS {
            let send = send_codec(codec);
            assert!(!send.payloader.is_empty(), "{}", codec.name);
            assert!(send.raw_rate >= 8000, "{}", codec.name);
        }
    }

    #[test]
    fn clocks_and_rates() {
        let g722 = send_codec(BackchannelCodec::by_name("G722").unwrap());
        assert_eq!(g722.raw_rate, 16000);
        let opus = send_codec(BackchannelCodec::by_name("OPUS").unwrap());
        assert_eq!(opus.raw_rate, 48000);
        let g726 = send_codec(BackchannelCodec::by_name("G726-24").unwrap());
        assert_eq!(g726.encoder_props, vec![("bitrate", "24000".to_string())]);
        let l16 = send_codec(BackchannelCodec::by_name("L16-16000").unwrap());
        assert_eq!(
            (l16.raw_format, l16.raw_rate, l16.encoder),
            (Some("S16BE"), 16000, None)
        );
        assert_eq!(elements(&l16), vec!["rtpL16pay"]);
        let aac = send_codec(BackchannelCodec::by_name("AAC-8000").unwrap());
        assert_eq!(aac.raw_rate, 8000);
    }

    #[test]
    fn opus_frames() {
        assert_eq!(opus_frame_ms(20), 20);
        assert_eq!(opus_frame_ms(128), 60);
        assert_eq!(opus_frame_ms(30), 20);
        assert_eq!(opus_frame_ms(0), 5);
    }
}

//! The back channel's codec table: every format the device can play, what the
//! SDP says about it, and which GStreamer elements take it apart.
//!
//! Plain Rust, no GStreamer objects: the glue asks this module for names and
//! numbers and builds caps and elements from them.

use std::fmt;

/// One audio format the back channel can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackchannelCodec {
    /// Name used in the `codecs` property (matched case-insensitively).
    pub name: &'static str,
    /// `encoding-name` in RTP caps (upper case, as GStreamer depayloaders expect).
    pub encoding_name: &'static str,
    /// Name written in `a=rtpmap` (RFC spelling, e.g. `opus`).
    pub sdp_name: &'static str,
    /// RTP clock rate written in `a=rtpmap` (8000 for G.722, see RFC 3551).
    pub clock_rate: u32,
    /// Channels written in `a=rtpmap` (`None`: omitted).
    pub channels: Option<u32>,
    /// Static payload type, `None` for dynamic ones.
    pub static_pt: Option<u8>,
    /// `a=fmtp` parameters, `None` when the format needs none.
    pub fmtp: Option<&'static str>,
    /// Depayloader element factory.
    pub depayloader: &'static str,
    /// Decoder element factory, `None` when the depayloader already gives raw audio.
    pub decoder: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)] // one row of the table, named by the struct fields
const fn codec(
    name: &'static str,
    encoding_name: &'static str,
    sdp_name: &'static str,
    clock_rate: u32,
    channels: Option<u32>,
    static_pt: Option<u8>,
    fmtp: Option<&'static str>,
    depayloader: &'static str,
    decoder: Option<&'static str>,
) -> BackchannelCodec {
    BackchannelCodec {
        name,
        encoding_name,
        sdp_name,
        clock_rate,
        channels,
        static_pt,
        fmtp,
        depayloader,
        decoder,
    }
}

/// Every codec we know, in default preference order.
///
/// AAC is advertised as AAC-LC, 16 kHz mono (`config=1408`), the rate camera
/// intercoms use most; the config is in the fmtp so clients that omit it work.
pub const ALL_CODECS: &[BackchannelCodec] = &[
    codec("PCMU", "PCMU", "PCMU", 8000, None, Some(0), None, "rtppcmudepay", Some("mulawdec")),
    codec("PCMA", "PCMA", "PCMA", 8000, None, Some(8), None, "rtppcmadepay", Some("alawdec")),
    codec("G722", "G722", "G722", 8000, None, Some(9), None, "rtpg722depay", Some("avdec_g722")),
    codec("OPUS", "OPUS", "opus", 48000, Some(2), None, Some("minptime=10;useinbandfec=1"), "rtpopusdepay", Some("opusdec")),
    codec(
        "AAC",
        "MPEG4-GENERIC",
        "MPEG4-GENERIC",
        16000,
        Some(1),
        None,
        Some("streamtype=5;profile-level-id=1;mode=AAC-hbr;config=1408;sizelength=13;indexlength=3;indexdeltalength=3"),
        "rtpmp4gdepay",
        Some("avdec_aac"),
    ),
    codec("L16-48000", "L16", "L16", 48000, Some(1), None, None, "rtpL16depay", None),
    codec("L16-16000", "L16", "L16", 16000, Some(1), None, None, "rtpL16depay", None),
    codec("L16-8000", "L16", "L16", 8000, Some(1), None, None, "rtpL16depay", None),
    codec("G726-40", "G726-40", "G726-40", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
    codec("G726-32", "G726-32", "G726-32", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
    codec("G726-24", "G726-24", "G726-24", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
    codec("G726-16", "G726-16", "G726-16", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
];

/// First payload type handed to dynamic codecs.
const FIRST_DYNAMIC_PT: u8 = 96;

impl BackchannelCodec {
    /// Looks a codec up by its property name, ignoring case and surrounding blanks.
    pub fn by_name(name: &str) -> Option<&'static BackchannelCodec> {
        let name = name.trim();
        ALL_CODECS
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The `a=rtpmap` value without the payload type, e.g. `opus/48000/2`.
    pub fn rtpmap(&self) -> String {
        match self.channels {
            Some(ch) => format!("{}/{}/{}", self.sdp_name, self.clock_rate, ch),
            None => format!("{}/{}", self.sdp_name, self.clock_rate),
        }
    }

    /// The sample format when the payload is plain samples (G.711, L16),
    /// which the receiver decodes itself, without a decoder element.
    pub fn pcm_format(&self) -> Option<crate::pcm::PcmFormat> {
        match self.encoding_name {
            "PCMU" => Some(crate::pcm::PcmFormat::Mulaw),
            "PCMA" => Some(crate::pcm::PcmFormat::Alaw),
            "L16" if self.channels.unwrap_or(1) == 1 => Some(crate::pcm::PcmFormat::L16),
            _ => None,
        }
    }

    /// `(key, value)` pairs of the fmtp line, for the RTP caps.
    pub fn fmtp_params(&self) -> Vec<(&'static str, &'static str)> {
        self.fmtp
            .map(|f| {
                f.split(';')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A codec with the payload type this mount gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignedCodec {
    pub pt: u8,
    pub codec: &'static BackchannelCodec,
}

/// Why a `codecs` property value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecListError {
    Unknown(String),
    Unavailable { name: String, missing: String },
    Duplicate(String),
}

impl fmt::Display for CodecListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecListError::Unknown(n) => write!(
                f,
                "unknown codec '{n}' (known: {})",
                ALL_CODECS
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            CodecListError::Unavailable { name, missing } => write!(
                f,
                "codec '{name}' is not available on this machine: element '{missing}' is missing"
            ),
            CodecListError::Duplicate(n) => write!(f, "codec '{n}' is listed twice"),
        }
    }
}

impl std::error::Error for CodecListError {}

/// The ordered codec list of one mount, with payload types assigned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodecList {
    codecs: Vec<AssignedCodec>,
}

impl CodecList {
    /// Parses a comma-separated list. `element_exists` tells whether an element
    /// factory is installed; a codec whose depayloader or decoder is missing is
    /// an error. An empty string gives an empty list (no back channel).
    pub fn parse(
        list: &str,
        element_exists: impl Fn(&str) -> bool,
    ) -> Result<CodecList, CodecListError> {
        let mut chosen: Vec<&'static BackchannelCodec> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let codec = BackchannelCodec::by_name(name)
                .ok_or_else(|| CodecListError::Unknown(name.into()))?;
            if let Some(missing) = missing_element(codec, &element_exists) {
                return Err(CodecListError::Unavailable {
                    name: codec.name.into(),
                    missing: missing.into(),
                });
            }
            if chosen.contains(&codec) {
                return Err(CodecListError::Duplicate(codec.name.into()));
            }
            chosen.push(codec);
        }
        Ok(Self::assign(chosen))
    }

    /// Every known codec whose elements exist, in default order.
    pub fn available(element_exists: impl Fn(&str) -> bool) -> CodecList {
        Self::assign(
            ALL_CODECS
                .iter()
                .filter(|c| missing_element(c, &element_exists).is_none())
                .collect(),
        )
    }

    fn assign(codecs: Vec<&'static BackchannelCodec>) -> CodecList {
        let mut next_dynamic = FIRST_DYNAMIC_PT;
        let codecs = codecs
            .into_iter()
            .map(|codec| {
                let pt = codec.static_pt.unwrap_or_else(|| {
                    next_dynamic += 1;
                    next_dynamic - 1
                });
                AssignedCodec { pt, codec }
            })
            .collect();
        CodecList { codecs }
    }

    pub fn is_empty(&self) -> bool {
        self.codecs.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &AssignedCodec> {
        self.codecs.iter()
    }

    /// The codec advertised with payload type `pt`, if any.
    pub fn by_pt(&self, pt: u8) -> Option<&AssignedCodec> {
        self.codecs.iter().find(|c| c.pt == pt)
    }

    /// The list as the `codecs` property shows it.
    pub fn names(&self) -> String {
        self.codecs
            .iter()
            .map(|c| c.codec.name)
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn missing_element(
    codec: &BackchannelCodec,
    element_exists: &impl Fn(&str) -> bool,
) -> Option<&'static str> {
    if codec.pcm_format().is_some() {
        // Decoded by the receiver itself.
        return None;
    }
    std::iter::once(codec.depayloader)
        .chain(codec.decoder)
        .find(|e| !element_exists(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn default_list_has_every_codec_and_unique_pts() {
        let list = CodecList::available(all);
        assert_eq!(list.iter().count(), ALL_CODECS.len());
        let mut pts: Vec<u8> = list.iter().map(|c| c.pt).collect();
        pts.sort();
        pts.dedup();
        assert_eq!(pts.len(), ALL_CODECS.len());
        assert_eq!(list.by_pt(0).unwrap().codec.name, "PCMU");
        assert_eq!(list.by_pt(8).unwrap().codec.name, "PCMA");
        assert_eq!(list.by_pt(9).unwrap().codec.name, "G722");
        assert!(list
            .iter()
            .filter(|c| c.codec.static_pt.is_none())
            .all(|c| c.pt >= 96));
    }

    #[test]
    fn parse_keeps_order_and_assigns_dynamic_pts_in_order() {
        let list = CodecList::parse(" opus, pcma ,G726-32,l16-16000", all).unwrap();
        let got: Vec<(u8, &str)> = list.iter().map(|c| (c.pt, c.codec.name)).collect();
        assert_eq!(
            got,
            vec![
                (96, "OPUS"),
                (8, "PCMA"),
                (97, "G726-32"),
                (98, "L16-16000")
            ]
        );
        assert_eq!(list.names(), "OPUS,PCMA,G726-32,L16-16000");
    }

    #[test]
    fn parse_errors_are_clear() {
        let e = CodecList::parse("PCMU,MP3", all).unwrap_err();
        assert_eq!(e, CodecListError::Unknown("MP3".into()));
        assert!(e.to_string().contains("known: PCMU"));
        let e = CodecList::parse("PCMU,pcmu", all).unwrap_err();
        assert_eq!(e, CodecListError::Duplicate("PCMU".into()));
        let e = CodecList::parse("G722", |e| e != "avdec_g722").unwrap_err();
        assert_eq!(
            e.to_string(),
            "codec 'G722' is not available on this machine: element 'avdec_g722' is missing"
        );
    }

    #[test]
    fn empty_means_no_back_channel() {
        assert!(CodecList::parse("", all).unwrap().is_empty());
        assert!(CodecList::parse(" , ", all).unwrap().is_empty());
    }

    #[test]
    fn unavailable_codecs_are_left_out_of_the_default() {
        let list = CodecList::available(|e| e != "opusdec");
        assert!(list.iter().all(|c| c.codec.name != "OPUS"));
        assert_eq!(list.iter().count(), ALL_CODECS.len() - 1);
    }

    #[test]
    fn sample_codecs_need_no_elements() {
        use crate::pcm::PcmFormat;
        let f = |n| BackchannelCodec::by_name(n).unwrap().pcm_format();
        assert_eq!(f("PCMU"), Some(PcmFormat::Mulaw));
        assert_eq!(f("PCMA"), Some(PcmFormat::Alaw));
        assert_eq!(f("L16-8000"), Some(PcmFormat::L16));
        assert_eq!(f("G722"), None);
        assert_eq!(f("OPUS"), None);
        // The receiver decodes them to 48 kHz by an integer factor.
        let direct = crate::direct::DirectDecoder::new(48_000);
        for c in ALL_CODECS.iter().filter(|c| c.pcm_format().is_some()) {
            assert!(direct.supports(c.clock_rate), "{}", c.name);
        }
        let list = CodecList::available(|e| !e.contains("pcm") && !e.contains("law"));
        assert!(list.iter().any(|c| c.codec.name == "PCMU"));
        assert!(list.iter().any(|c| c.codec.name == "PCMA"));
    }

    #[test]
    fn rtpmap_follows_rfc_spelling() {
        let r = |n| BackchannelCodec::by_name(n).unwrap().rtpmap();
        assert_eq!(r("opus"), "opus/48000/2");
        assert_eq!(r("G722"), "G722/8000");
        assert_eq!(r("L16-16000"), "L16/16000/1");
        assert_eq!(r("AAC"), "MPEG4-GENERIC/16000/1");
        assert_eq!(r("g726-24"), "G726-24/8000");
    }

    #[test]
    fn fmtp_params_split() {
        let aac = BackchannelCodec::by_name("AAC").unwrap();
        let p = aac.fmtp_params();
        assert!(p.contains(&("config", "1408")));
        assert!(p.contains(&("sizelength", "13")));
        assert!(p.contains(&("indexlength", "3")));
        assert!(p.contains(&("indexdeltalength", "3")));
        assert!(BackchannelCodec::by_name("PCMU")
            .unwrap()
            .fmtp_params()
            .is_empty());
    }
}

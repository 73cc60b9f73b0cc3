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

/// The `a=fmtp` of AAC at one rate: AAC-LC in RFC 3640's AAC-hbr mode (a
/// 13-bit AU size and a 3-bit index in each AU header), with the
/// AudioSpecificConfig (`config`, hex) that [`aac_config`] gives for that rate
/// and mono. `profile-level-id=1` is what most senders write (FFmpeg does);
/// receivers, ours included, go by `config`.
macro_rules! aac_fmtp {
    ($config:literal) => {
        concat!(
            "streamtype=5;profile-level-id=1;mode=AAC-hbr;config=",
            $config,
            ";sizelength=13;indexlength=3;indexdeltalength=3"
        )
    };
}

/// AAC-LC, mono, at `rate`: one row of the table.
const fn aac(name: &'static str, rate: u32, fmtp: &'static str) -> BackchannelCodec {
    codec(
        name,
        "MPEG4-GENERIC",
        "MPEG4-GENERIC",
        rate,
        Some(1),
        None,
        Some(fmtp),
        "rtpmp4gdepay",
        Some("avdec_aac"),
    )
}

/// Every codec we know, in default preference order.
///
/// AAC is advertised as AAC-LC mono at five rates, one payload type each
/// (clients pick the rate by the payload type they send): 16 kHz first,
/// wideband speech at a low bit rate and what this list offered alone
/// before, then the full-band rates, highest first, and narrowband 8 kHz
/// last. The config is in each fmtp, so clients that omit it work.
#[rustfmt::skip] // one row per line, a table
pub const ALL_CODECS: &[BackchannelCodec] = &[
    codec("PCMU", "PCMU", "PCMU", 8000, None, Some(0), None, "rtppcmudepay", Some("mulawdec")),
    codec("PCMA", "PCMA", "PCMA", 8000, None, Some(8), None, "rtppcmadepay", Some("alawdec")),
    codec("G722", "G722", "G722", 8000, None, Some(9), None, "rtpg722depay", Some("avdec_g722")),
    codec("OPUS", "OPUS", "opus", 48000, Some(2), None, Some("minptime=10;useinbandfec=1"), "rtpopusdepay", Some("opusdec")),
    aac("AAC-16000", 16000, aac_fmtp!("1408")),
    aac("AAC-48000", 48000, aac_fmtp!("1188")),
    aac("AAC-44100", 44100, aac_fmtp!("1208")),
    aac("AAC-32000", 32000, aac_fmtp!("1288")),
    aac("AAC-8000", 8000, aac_fmtp!("1588")),
    codec("L16-48000", "L16", "L16", 48000, Some(1), None, None, "rtpL16depay", None),
    codec("L16-16000", "L16", "L16", 16000, Some(1), None, None, "rtpL16depay", None),
    codec("L16-8000", "L16", "L16", 8000, Some(1), None, None, "rtpL16depay", None),
    codec("G726-40", "G726-40", "G726-40", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
    codec("G726-32", "G726-32", "G726-32", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
    codec("G726-24", "G726-24", "G726-24", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
    codec("G726-16", "G726-16", "G726-16", 8000, None, None, None, "rtpg726depay", Some("avdec_g726")),
];

/// Names in the `codecs` property that stand for every codec of the table
/// with one encoding, in table order: `AAC` is AAC at every rate (before the
/// rates had names of their own, it meant 16 kHz, which still comes first).
pub const ALIASES: &[(&str, &str)] = &[("AAC", "MPEG4-GENERIC")];

/// The MPEG-4 AudioSpecificConfig of AAC-LC at `rate` with `channels`
/// (ISO/IEC 14496-3 1.6.2.1: 5 bits of object type, 2 for AAC-LC; 4 bits of
/// sampling frequency index; 4 bits of channel configuration; then the
/// GASpecificConfig's three zero flags: 1024-sample frames, no core coder,
/// no extension). `None` for a rate without an index.
pub fn aac_config(rate: u32, channels: u8) -> Option<u16> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let index = RATES.iter().position(|r| *r == rate)? as u16;
    if channels == 0 || channels > 7 {
        return None;
    }
    Some((2 << 11) | (index << 7) | ((channels as u16) << 3))
}

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

    /// What a name of the `codecs` property stands for: one codec, or every
    /// codec of an alias ([`ALIASES`]), in table order.
    pub fn resolve(name: &str) -> Option<Vec<&'static BackchannelCodec>> {
        if let Some(codec) = Self::by_name(name) {
            return Some(vec![codec]);
        }
        let name = name.trim();
        let (_, encoding) = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))?;
        Some(
            ALL_CODECS
                .iter()
                .filter(|c| c.encoding_name == *encoding)
                .collect(),
        )
    }

    /// The `a=rtpmap` value without the payload type, e.g. `opus/48000/2`.
    pub fn rtpmap(&self) -> String {
        match self.channels {
            Some(ch) => format!("{}/{}/{}", self.sdp_name, self.clock_rate, ch),
            None => format!("{}/{}", self.sdp_name, self.clock_rate),
        }
    }

    /// The elements that decode it (depayloader, then decoder); none for
    /// the codecs the receiver decodes itself.
    pub fn decode_elements(&self) -> impl Iterator<Item = &'static str> {
        let by_elements = self.pcm_format().is_none();
        std::iter::once(self.depayloader)
            .chain(self.decoder)
            .filter(move |_| by_elements)
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
                    .chain(ALIASES.iter().map(|(alias, _)| *alias))
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
            let codecs = BackchannelCodec::resolve(name)
                .ok_or_else(|| CodecListError::Unknown(name.into()))?;
            // An alias adds the codecs not named before it (`AAC-8000,AAC`
            // prefers 8 kHz); a name that adds nothing is listed twice.
            let new: Vec<_> = codecs.into_iter().filter(|c| !chosen.contains(c)).collect();
            if new.is_empty() {
                return Err(CodecListError::Duplicate(canonical_name(name)));
            }
            if let Some(missing) = new.iter().find_map(|c| missing_element(c, &element_exists)) {
                return Err(CodecListError::Unavailable {
                    name: canonical_name(name),
                    missing: missing.into(),
                });
            }
            chosen.extend(new);
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

/// A name of the `codecs` property as the table spells it (`aac-8000` is
/// `AAC-8000`); the name itself if it is unknown.
fn canonical_name(name: &str) -> String {
    let name = name.trim();
    BackchannelCodec::by_name(name)
        .map(|c| c.name)
        .or_else(|| {
            ALIASES
                .iter()
                .map(|(alias, _)| *alias)
                .find(|alias| alias.eq_ignore_ascii_case(name))
        })
        .unwrap_or(name)
        .to_string()
}

fn missing_element(
    codec: &BackchannelCodec,
    element_exists: &impl Fn(&str) -> bool,
) -> Option<&'static str> {
    codec.decode_elements().find(|e| !element_exists(e))
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
        assert_eq!(r("AAC-16000"), "MPEG4-GENERIC/16000/1");
        assert_eq!(r("aac-44100"), "MPEG4-GENERIC/44100/1");
        assert_eq!(r("g726-24"), "G726-24/8000");
    }

    #[test]
    fn fmtp_params_split() {
        let aac = BackchannelCodec::by_name("AAC-16000").unwrap();
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

    #[test]
    fn every_table_row_is_its_own_format() {
        // Names are unique, and no two rows describe the same RTP format
        // (two payload types for one format would be a wasted number).
        for (i, a) in ALL_CODECS.iter().enumerate() {
            for b in &ALL_CODECS[i + 1..] {
                assert!(!a.name.eq_ignore_ascii_case(b.name), "{}", a.name);
                assert!(
                    (a.rtpmap(), a.fmtp) != (b.rtpmap(), b.fmtp),
                    "{} and {}",
                    a.name,
                    b.name
                );
            }
        }
        for (alias, _) in ALIASES {
            assert!(BackchannelCodec::by_name(alias).is_none(), "{alias}");
        }
        // Every dynamic codec of the full list gets a dynamic number.
        let dynamic = ALL_CODECS.iter().filter(|c| c.static_pt.is_none()).count();
        assert!(FIRST_DYNAMIC_PT as usize + dynamic <= 128);
    }

    #[test]
    fn aac_audio_specific_config() {
        // Values every AAC tool writes for these formats.
        assert_eq!(aac_config(16000, 1), Some(0x1408));
        assert_eq!(aac_config(48000, 1), Some(0x1188));
        assert_eq!(aac_config(44100, 2), Some(0x1210));
        assert_eq!(aac_config(8000, 1), Some(0x1588));
        assert_eq!(aac_config(32000, 1), Some(0x1288));
        assert_eq!(aac_config(44100, 1), Some(0x1208));
        assert_eq!(aac_config(12345, 1), None);
        assert_eq!(aac_config(16000, 0), None);
    }

    #[test]
    fn aac_at_every_rate_with_its_own_config() {
        let aac: Vec<&BackchannelCodec> = ALL_CODECS
            .iter()
            .filter(|c| c.encoding_name == "MPEG4-GENERIC")
            .collect();
        let mut rates: Vec<u32> = aac.iter().map(|c| c.clock_rate).collect();
        assert_eq!(
            rates,
            vec![16000, 48000, 44100, 32000, 8000],
            "preference order"
        );
        rates.sort();
        assert_eq!(rates, vec![8000, 16000, 32000, 44100, 48000]);
        for c in aac {
            assert_eq!(c.name, format!("AAC-{}", c.clock_rate));
            assert_eq!(c.channels, Some(1), "{}", c.name);
            assert_eq!(c.rtpmap(), format!("MPEG4-GENERIC/{}/1", c.clock_rate));
            let p = c.fmtp_params();
            let config = aac_config(c.clock_rate, 1).unwrap();
            assert!(
                p.contains(&("config", format!("{config:04x}").as_str())),
                "{}: {p:?}",
                c.name
            );
            for kv in [
                ("streamtype", "5"),
                ("mode", "AAC-hbr"),
                ("sizelength", "13"),
                ("indexlength", "3"),
                ("indexdeltalength", "3"),
            ] {
                assert!(p.contains(&kv), "{}: {kv:?} in {p:?}", c.name);
            }
            assert_eq!(
                (c.depayloader, c.decoder),
                ("rtpmp4gdepay", Some("avdec_aac"))
            );
        }
    }

    #[test]
    fn aac_names_every_rate() {
        let names = |list: &str| CodecList::parse(list, all).map(|l| l.names());
        assert_eq!(
            names("aac").unwrap(),
            "AAC-16000,AAC-48000,AAC-44100,AAC-32000,AAC-8000"
        );
        // Rates named before the alias come first; the alias adds the rest.
        assert_eq!(
            names("PCMU, aac-8000, AAC").unwrap(),
            "PCMU,AAC-8000,AAC-16000,AAC-48000,AAC-44100,AAC-32000"
        );
        assert_eq!(names("AAC-44100,PCMA").unwrap(), "AAC-44100,PCMA");
        assert_eq!(
            CodecList::parse("AAC,aac-8000", all).unwrap_err(),
            CodecListError::Duplicate("AAC-8000".into())
        );
        assert_eq!(
            CodecList::parse("aac,AAC", all).unwrap_err(),
            CodecListError::Duplicate("AAC".into())
        );
        assert_eq!(
            CodecList::parse("PCMU,aac", |e| e != "avdec_aac").unwrap_err(),
            CodecListError::Unavailable {
                name: "AAC".into(),
                missing: "avdec_aac".into()
            }
        );
        assert_eq!(
            CodecList::parse("AAC-11025", all).unwrap_err(),
            CodecListError::Unknown("AAC-11025".into())
        );
        assert!(CodecList::parse("MP3", all)
            .unwrap_err()
            .to_string()
            .ends_with("G726-16, AAC)"));
        // What the property shows parses back to the same list.
        let list = CodecList::parse("G722,AAC,PCMU", all).unwrap();
        assert_eq!(CodecList::parse(&list.names(), all).unwrap(), list);
        // Five payload types, numbered in order.
        let pts: Vec<(u8, &str)> = list.iter().map(|c| (c.pt, c.codec.name)).collect();
        assert_eq!(
            pts,
            vec![
                (9, "G722"),
                (96, "AAC-16000"),
                (97, "AAC-48000"),
                (98, "AAC-44100"),
                (99, "AAC-32000"),
                (100, "AAC-8000"),
                (0, "PCMU")
            ]
        );
    }
}

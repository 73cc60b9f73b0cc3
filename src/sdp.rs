//! SDP shaping for the back channel: the ONVIF form, one `m=audio` line with
//! `a=sendonly` that lists every payload type the device accepts.
//!
//! gst-rtsp-server writes one sendonly m= line per codec (all with the same
//! control URL); rtspsrc and many clients only look at the first. The glue
//! lets gst-rtsp-server write its lines, then uses these functions to fold the
//! sendonly ones into one.

use crate::codecs::CodecList;

/// An SDP attribute as `(key, value)`; `value` is `None` for flags like `sendonly`.
pub type Attribute = (String, Option<String>);

/// True for the media sections the device receives on (the back channel).
pub fn is_backchannel(attributes: &[Attribute]) -> bool {
    attributes.iter().any(|(k, _)| k == "sendonly")
}

/// Attributes of the per-codec sections that the folded section does not keep:
/// the codec lines are rewritten, and the media clock lines describe a sender.
const DROPPED: &[&str] = &["rtpmap", "fmtp", "ts-refclk", "mediaclk"];

/// Payload formats and attributes of the single back channel section.
///
/// `template` holds the attributes of one of the per-codec sections written
/// by gst-rtsp-server; everything in it except `rtpmap` and `fmtp` (control,
/// sendonly, x-onvif-track...) is kept, after one rtpmap (and fmtp where the
/// format needs one) per codec in preference order.
pub fn backchannel_section(
    template: &[Attribute],
    codecs: &CodecList,
) -> (Vec<String>, Vec<Attribute>) {
    let formats = codecs.iter().map(|c| c.pt.to_string()).collect();
    let mut attributes: Vec<Attribute> = Vec::new();
    for c in codecs.iter() {
        attributes.push((
            "rtpmap".into(),
            Some(format!("{} {}", c.pt, c.codec.rtpmap())),
        ));
        if let Some(fmtp) = c.codec.fmtp {
            attributes.push(("fmtp".into(), Some(format!("{} {}", c.pt, fmtp))));
        }
    }
    let mut seen: Vec<&Attribute> = Vec::new();
    for attr in template {
        if DROPPED.contains(&attr.0.as_str()) || seen.contains(&attr) {
            continue;
        }
        seen.push(attr);
        attributes.push(attr.clone());
    }
    (formats, attributes)
}

/// Indexes of the sections to remove so that only the first back channel
/// section remains, given each section's attributes in order.
pub fn redundant_backchannel_sections(sections: &[Vec<Attribute>]) -> Vec<usize> {
    sections
        .iter()
        .enumerate()
        .filter(|(_, attrs)| is_backchannel(attrs))
        .skip(1)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(k: &str, v: Option<&str>) -> Attribute {
        (k.to_string(), v.map(str::to_string))
    }

    fn per_codec_section(pt: u8, rtpmap: &str) -> Vec<Attribute> {
        vec![
            attr("rtpmap", Some(&format!("{pt} {rtpmap}"))),
            attr("ts-refclk", Some("local")),
            attr("mediaclk", Some("direct=1234")),
            attr("control", Some("stream=2")),
            attr("x-onvif-track", Some("AUDIO002")),
            attr("sendonly", None),
        ]
    }

    #[test]
    fn folds_into_one_section_listing_every_codec() {
        let codecs = CodecList::parse("PCMU,OPUS,AAC", |_| true).unwrap();
        let (formats, attrs) = backchannel_section(&per_codec_section(0, "PCMU/8000"), &codecs);
        assert_eq!(formats, vec!["0", "96", "97", "98", "99", "100", "101"]);
        let lines: Vec<String> = attrs
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("a={k}:{v}"),
                None => format!("a={k}"),
            })
            .collect();
        let aac = |pt: u8, rate: u32, config: &str| {
            [
                format!("a=rtpmap:{pt} MPEG4-GENERIC/{rate}/1"),
                format!(
                    "a=fmtp:{pt} streamtype=5;profile-level-id=1;mode=AAC-hbr;config={config};\
                     sizelength=13;indexlength=3;indexdeltalength=3"
                ),
            ]
        };
        let mut expected = vec![
            "a=rtpmap:0 PCMU/8000".to_string(),
            "a=rtpmap:96 opus/48000/2".into(),
            "a=fmtp:96 minptime=10;useinbandfec=1".into(),
        ];
        expected.extend(aac(97, 16000, "1408"));
        expected.extend(aac(98, 48000, "1188"));
        expected.extend(aac(99, 44100, "1208"));
        expected.extend(aac(100, 32000, "1288"));
        expected.extend(aac(101, 8000, "1588"));
        expected.extend(
            [
                "a=control:stream=2",
                "a=x-onvif-track:AUDIO002",
                "a=sendonly",
            ]
            .map(String::from),
        );
        assert_eq!(lines, expected);
    }

    #[test]
    fn only_the_first_backchannel_section_survives() {
        let recv = vec![attr("recvonly", None), attr("control", Some("stream=0"))];
        let sections = vec![
            recv.clone(),
            per_codec_section(0, "PCMU/8000"),
            recv,
            per_codec_section(8, "PCMA/8000"),
            per_codec_section(9, "G722/8000"),
        ];
        assert_eq!(redundant_backchannel_sections(&sections), vec![3, 4]);
        assert!(redundant_backchannel_sections(&sections[..2]).is_empty());
    }
}

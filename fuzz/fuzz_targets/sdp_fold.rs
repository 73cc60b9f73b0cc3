//! src/sdp.rs on arbitrary SDP text: the text is cut into media sections
//! (`m=` lines) of attributes (`a=` lines), the redundant back channel
//! sections are picked and the first one is folded with a codec list chosen
//! by the first two bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::codecs::{CodecList, ALL_CODECS};
use onvifbackchannel_pure::sdp::{
    backchannel_section, is_backchannel, redundant_backchannel_sections, Attribute,
};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let mask = u16::from_le_bytes([data[0], data[1]]);
    let text = String::from_utf8_lossy(&data[2..]);
    let names: Vec<&str> = ALL_CODECS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, c)| c.name)
        .collect();
    let codecs = CodecList::parse(&names.join(","), |_| true).expect("table names parse");

    let sections = sections(&text);
    let redundant = redundant_backchannel_sections(&sections);
    let backchannels: Vec<usize> = (0..sections.len())
        .filter(|&i| is_backchannel(&sections[i]))
        .collect();
    // Every back channel section but the first, in order.
    assert_eq!(
        redundant,
        backchannels.iter().skip(1).copied().collect::<Vec<_>>()
    );

    let template = backchannels
        .first()
        .map(|&i| sections[i].as_slice())
        .unwrap_or(sections.first().map(Vec::as_slice).unwrap_or(&[]));
    let (formats, attributes) = backchannel_section(template, &codecs);
    let pts: Vec<String> = codecs.iter().map(|c| c.pt.to_string()).collect();
    assert_eq!(formats, pts);

    // One rtpmap per codec, in order, then fmtp where the codec has one;
    // all generated lines come first.
    let generated =
        codecs.iter().count() + codecs.iter().filter(|c| c.codec.fmtp.is_some()).count();
    let (head, tail) = attributes.split_at(generated);
    let rtpmaps: Vec<&str> = head
        .iter()
        .filter(|(k, _)| k == "rtpmap")
        .map(|(_, v)| v.as_deref().expect("rtpmap has a value"))
        .collect();
    assert_eq!(rtpmaps.len(), pts.len());
    for (line, pt) in rtpmaps.iter().zip(&pts) {
        assert!(line.starts_with(&format!("{pt} ")), "{line}");
    }
    // The rest is the template without codec and clock lines, without
    // repeats, in its order.
    let mut expected: Vec<&Attribute> = Vec::new();
    for a in template {
        if !["rtpmap", "fmtp", "ts-refclk", "mediaclk"].contains(&a.0.as_str())
            && !expected.contains(&a)
        {
            expected.push(a);
        }
    }
    assert_eq!(tail.iter().collect::<Vec<_>>(), expected);
    assert_eq!(is_backchannel(&attributes), is_backchannel(template));
});

/// Attributes per media section; lines before the first `m=` are the session.
fn sections(text: &str) -> Vec<Vec<Attribute>> {
    let mut sections = vec![Vec::new()];
    for line in text.lines() {
        if line.starts_with("m=") {
            sections.push(Vec::new());
        } else if let Some(attr) = line.strip_prefix("a=") {
            let attr = match attr.split_once(':') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (attr.to_string(), None),
            };
            sections.last_mut().unwrap().push(attr);
        }
    }
    sections
}

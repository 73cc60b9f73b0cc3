//! src/codecs.rs on arbitrary strings: `CodecList::parse` (with some elements
//! missing, chosen by the first two bytes), `CodecList::available` and the
//! table lookups.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::codecs::{BackchannelCodec, CodecList, CodecListError, ALL_CODECS};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let missing_mask = u16::from_le_bytes([data[0], data[1]]);
    let Ok(text) = std::str::from_utf8(&data[2..]) else {
        return;
    };
    let elements: Vec<&str> = ALL_CODECS
        .iter()
        .flat_map(|c| std::iter::once(c.depayloader).chain(c.decoder))
        .collect();
    // An element is missing if its bit (by its first place in the table) is set.
    let exists = |e: &str| match elements.iter().position(|x| *x == e) {
        Some(i) => missing_mask & (1 << (i % 16)) == 0,
        None => panic!("asked about element {e} that is not in the table"),
    };

    if let Some(c) = BackchannelCodec::by_name(text) {
        assert!(c.name.eq_ignore_ascii_case(text.trim()));
        assert!(c.rtpmap().starts_with(c.sdp_name));
        let _ = c.fmtp_params();
    }

    match CodecList::parse(text, exists) {
        Ok(list) => {
            check_list(&list, exists);
            // What the property shows parses back to the same list.
            assert_eq!(CodecList::parse(&list.names(), exists).as_ref(), Ok(&list));
            // Each name adds one codec, or an alias (`AAC`) one or more.
            let names: Vec<&str> = text.split(',').filter(|n| !n.trim().is_empty()).collect();
            let most: usize = names
                .iter()
                .map(|n| BackchannelCodec::resolve(n).unwrap().len())
                .sum();
            assert!((names.len()..=most).contains(&list.iter().count()));
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            match &e {
                CodecListError::Unknown(n) => assert!(BackchannelCodec::by_name(n).is_none()),
                CodecListError::Duplicate(n) => assert!(BackchannelCodec::resolve(n).is_some()),
                CodecListError::Unavailable { name, missing } => {
                    assert!(BackchannelCodec::resolve(name).is_some());
                    assert!(!exists(missing));
                }
            }
        }
    }

    check_list(&CodecList::available(exists), exists);
});

fn check_list(list: &CodecList, exists: impl Fn(&str) -> bool) {
    let mut pts = Vec::new();
    for c in list.iter() {
        assert!(c.pt < 128, "payload type {}", c.pt);
        match c.codec.static_pt {
            Some(pt) => assert_eq!(c.pt, pt),
            None => assert!(c.pt >= 96),
        }
        // Sample codecs are decoded by the receiver and need no element.
        if c.codec.pcm_format().is_none() {
            assert!(exists(c.codec.depayloader));
            assert!(c.codec.decoder.is_none_or(&exists));
        }
        assert_eq!(list.by_pt(c.pt), Some(c));
        assert!(!pts.contains(&c.pt), "payload type {} twice", c.pt);
        pts.push(c.pt);
    }
    assert!(pts.len() <= ALL_CODECS.len());
    assert_eq!(list.is_empty(), pts.is_empty());
}

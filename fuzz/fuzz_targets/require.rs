//! src/rtsp_headers.rs `parse_require` on arbitrary strings: bounded tags
//! that join back to the same list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::rtsp_headers::{
    parse_require, requires_backchannel, MAX_HEADER_LEN, MAX_REQUIRE_TAGS, MAX_TAG_LEN,
    ONVIF_BACKCHANNEL,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tags = parse_require(text);
    assert!(tags.len() <= MAX_REQUIRE_TAGS);
    assert!(text.len() <= MAX_HEADER_LEN || tags.is_empty());
    for tag in &tags {
        assert!(!tag.is_empty() && tag.len() <= MAX_TAG_LEN);
        assert!(!tag.contains(','));
        assert!(!tag
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()));
        assert!(text.contains(tag.as_str()));
    }
    assert_eq!(parse_require(&tags.join(",")), tags);
    let spaced = tags.join(" , ");
    if spaced.len() <= MAX_HEADER_LEN {
        assert_eq!(parse_require(&spaced), tags);
    }
    assert_eq!(
        requires_backchannel(text),
        tags.iter()
            .any(|t| t.eq_ignore_ascii_case(ONVIF_BACKCHANNEL))
    );
});

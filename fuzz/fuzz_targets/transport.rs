//! src/rtsp_headers.rs `parse_transport` on arbitrary strings: every accepted
//! spec keeps the documented invariants and writes back to an equal spec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::rtsp_headers::{
    check_backchannel_transport, format_transport, parse_transport, LowerTransport, MAX_HEADER_LEN,
    MAX_TRANSPORT_SPECS,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let specs = match parse_transport(text) {
        Ok(specs) => specs,
        Err(e) => {
            // Error messages go into 461 answers: short whatever the input.
            let msg = e.to_string();
            assert!(!msg.is_empty() && msg.chars().count() < 200, "{msg}");
            return;
        }
    };
    assert!(text.len() <= MAX_HEADER_LEN);
    assert!(!specs.is_empty() && specs.len() <= MAX_TRANSPORT_SPECS);
    for spec in &specs {
        if let Some(i) = spec.interleaved {
            assert!(i.rtcp.is_none_or(|c| Some(c) == i.rtp.checked_add(1)));
        }
        for p in [spec.port, spec.client_port, spec.server_port]
            .into_iter()
            .flatten()
        {
            assert!(p.first > 0);
            assert!(p.last.is_none_or(|l| l > p.first));
        }
        assert!(spec.modes.len() <= 2);
        assert!(spec.modes.len() < 2 || spec.modes[0] != spec.modes[1]);
        let acceptable = spec.is_unicast()
            && match spec.lower {
                // The server picks channels when TCP names none.
                LowerTransport::Tcp => true,
                LowerTransport::Udp => spec.client_port.is_some(),
            };
        assert_eq!(check_backchannel_transport(spec).is_ok(), acceptable);
        // Each spec on its own writes back to itself.
        let written = spec.to_string();
        if written.len() <= MAX_HEADER_LEN {
            assert_eq!(
                parse_transport(&written).as_deref(),
                Ok(std::slice::from_ref(spec)),
                "{written}"
            );
        }
    }
    // And so does the whole list.
    let written = format_transport(&specs);
    if written.len() <= MAX_HEADER_LEN {
        assert_eq!(parse_transport(&written), Ok(specs), "{written}");
    }
});

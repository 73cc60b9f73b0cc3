//! src/rtsp_headers.rs on arbitrary Transport values: the pieces are cut as
//! rtsp-client.c cuts them, the chosen spec is the first piece a model parser
//! reads and the stream (a mask from the first byte) supports, each piece is
//! parsed at most once and none after the choice, and the check refuses
//! exactly no choice and multicast.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::rtsp_headers::{check, choose, specs, Lower, Refusal};

/// Stands in for gst_rtsp_transport_parse: the protocol part and the
/// delivery word, case-insensitive.
fn model_parse(spec: &str) -> Option<Lower> {
    let lower = spec.to_ascii_lowercase();
    let mut params = lower.split(';');
    let mut lower = match params.next()? {
        "rtp/avp" | "rtp/avp/udp" => Lower::UdpMulticast,
        "rtp/avp/tcp" => Lower::Tcp,
        "rtp/avp/http" => Lower::Other,
        _ => return None,
    };
    for p in params {
        match (p, lower) {
            ("unicast", Lower::UdpMulticast) => lower = Lower::Udp,
            ("multicast", Lower::Tcp) => return None,
            ("multicast", _) => lower = Lower::UdpMulticast,
            _ => {}
        }
    }
    Some(lower)
}

fn bit(lower: Lower) -> u8 {
    match lower {
        Lower::Udp => 1,
        Lower::UdpMulticast => 2,
        Lower::Tcp => 4,
        Lower::Other => 8,
    }
}

fn is_glib_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fuzz_target!(|data: &[u8]| {
    let Some((&mask, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let pieces: Vec<&str> = specs(text).collect();
    assert_eq!(pieces.len(), text.matches(',').count() + 1);
    for piece in &pieces {
        assert!(!piece.contains(','));
        assert!(!piece.starts_with(is_glib_space) && !piece.ends_with(is_glib_space));
        assert!(text.contains(piece));
    }

    let supported = |l: &Lower| mask & bit(*l) != 0;
    let mut parsed: Vec<String> = Vec::new();
    let chosen = choose(
        text,
        |s| {
            parsed.push(s.to_owned());
            model_parse(s)
        },
        supported,
    );
    // The reference: a plain loop over the pieces.
    let expected = pieces
        .iter()
        .position(|p| model_parse(p).is_some_and(|l| supported(&l)));
    match expected {
        Some(i) => {
            assert_eq!(chosen, model_parse(pieces[i]));
            assert_eq!(parsed, pieces[..=i]);
        }
        None => {
            assert_eq!(chosen, None);
            assert_eq!(parsed, pieces);
        }
    }

    let verdict = check(chosen);
    match chosen {
        None => assert_eq!(verdict, Err(Refusal::NoUsableSpec)),
        Some(Lower::UdpMulticast) => assert_eq!(verdict, Err(Refusal::Multicast)),
        Some(_) => assert_eq!(verdict, Ok(())),
    }
    if let Err(e) = verdict {
        let msg = e.to_string();
        assert!(!msg.is_empty() && msg.len() < 100, "{msg}");
    }
});

//! src/sink/plan.rs and src/sink/rtsp.rs on arbitrary bytes: the bytes are
//! a camera's DESCRIBE answer (its back channel formats, the other tracks,
//! a codec choice under a preference list chosen by the first byte) and,
//! as text, a Transport, a Session and WWW-Authenticate values. Nothing may
//! panic; a choice must be one of the formats offered, with a packet time
//! no longer than the camera's maxptime.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvifbackchannel_pure::sink::{plan, rtsp};

const NAMES: &[&str] = &[
    "PCMU",
    "PCMA",
    "G722",
    "OPUS",
    "AAC",
    "L16-16000",
    "G726-32",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mask, rest)) = data.split_first() else {
        return;
    };
    let url = "rtsp://192.0.2.1:554/cam/realmonitor?channel=1";
    let text = String::from_utf8_lossy(rest);
    let base = text.lines().next();
    let _ = plan::other_controls(rest, url, base);
    if let Ok(offered) = plan::backchannel_formats(rest, url, base) {
        let prefs: Vec<&str> = NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        let prefs = (mask & 0x80 != 0).then_some(prefs.as_slice());
        if let Ok(choice) = plan::choose(&offered, prefs, |_| true, u32::from(mask & 0x7f)) {
            assert!(offered.contains(&choice.offered));
            if let Some(max) = choice.offered.maxptime.filter(|m| *m > 0) {
                assert!(choice.ptime_ms <= max.max(1), "{choice:?}");
            }
        }
    }
    for line in text.lines().take(16) {
        let _ = rtsp::parse_transport(Some(line));
        let _ = rtsp::parse_session(line);
        let _ = plan::resolve_control(url, line);
        let _ = rtsp::split_credentials(line);
    }
    let values: Vec<&str> = text.lines().take(8).collect();
    let challenges = rtsp::parse_challenges(&values);
    let _ = rtsp::best_challenge(&challenges);
});

//! The receive path driven by a raw RTSP client: data before PLAY, payload
//! type and SSRC switches, unknown payload types, two talkers.

mod common;

use std::time::Duration;

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::rtsp::{backchannel_section, forward_control, PcmuSender, RtspClient, BACKCHANNEL};
use common::{TestServer, CAPTURE_OUTPUT, CAPTURE_RATE};

/// A client that has set up the forward track and the back channel (TCP,
/// channels 2-3) and is playing.
fn talker(server: &TestServer, require_everywhere: bool) -> RtspClient {
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200);
    let (_, bc_control, _) = backchannel_section(&r.body).unwrap();
    let fwd = forward_control(&r.body);
    assert_eq!(c.setup_tcp(&fwd, 0, require_everywhere).status, 200);
    let r = c.setup_tcp(&bc_control, 2, require_everywhere);
    assert_eq!(r.status, 200, "{r:?}");
    c
}

fn send_tone(c: &mut RtspClient, sender: &mut PcmuSender, freq: f64, ms: u64) {
    for _ in 0..ms / 20 {
        let p = sender.next(freq);
        c.send_interleaved(2, &p);
    }
}

fn assert_tone(samples: &[f32], freq: f64, min_ms: u64) {
    let loud = loud_samples(samples, CAPTURE_RATE, 0.05);
    let loud_ms = loud as u64 * 1000 / CAPTURE_RATE as u64;
    assert!(loud_ms >= min_ms, "only {loud_ms} ms of audio, expected {min_ms}");
    let f = dominant_frequency(&loud_part(samples, CAPTURE_RATE, 0.05), CAPTURE_RATE);
    assert!((f - freq).abs() <= 10.0, "dominant frequency {f} Hz, expected {freq}");
}

#[test]
fn tone_over_tcp_comes_out_and_data_before_play_is_dropped() {
    let server = TestServer::start(&[("output", CAPTURE_OUTPUT)]);
    let mut c = talker(&server, true);
    let capture = server.capture();
    // 300 ms of 1000 Hz before PLAY: must never be heard.
    let mut sender = PcmuSender::new(0x1234);
    send_tone(&mut c, &mut sender, 1000.0, 300);
    assert_eq!(c.play(true).status, 200);
    let _drain = c.drain_in_background();
    let mark = capture.mark();
    send_tone(&mut c, &mut sender, 440.0, 1000);
    send_tone(&mut c, &mut sender, 0.0, 200);
    assert!(capture.wait_for(mark, CAPTURE_RATE as usize * 3 / 2, Duration::from_secs(5)));
    let out = capture.since(mark);
    assert_tone(&out, 440.0, 900);
    let loud = loud_samples(&out, CAPTURE_RATE, 0.05) as u64 * 1000 / CAPTURE_RATE as u64;
    assert!(loud <= 1100, "{loud} ms of audio: data sent before PLAY was played");
}

#[test]
fn require_only_on_describe_works() {
    let server = TestServer::start(&[("output", CAPTURE_OUTPUT)]);
    let mut c = talker(&server, false);
    let capture = server.capture();
    assert_eq!(c.play(false).status, 200);
    let _drain = c.drain_in_background();
    let mark = capture.mark();
    let mut sender = PcmuSender::new(7);
    send_tone(&mut c, &mut sender, 440.0, 600);
    send_tone(&mut c, &mut sender, 0.0, 200);
    assert!(capture.wait_for(mark, CAPTURE_RATE as usize, Duration::from_secs(5)));
    assert_tone(&capture.since(mark), 440.0, 500);
}


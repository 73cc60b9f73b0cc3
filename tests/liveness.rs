//! Liveness: a talker that sends only RTP keeps its session; a client that
//! goes silent is reaped after the session timeout and releases the floor.

mod common;

use std::time::{Duration, Instant};

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::rtsp::{PcmuSender, RtspClient};
use gst::prelude::*;

#[path = "common/element.rs"]
mod element;
use element::serve;

const TIMEOUT_S: u64 = 2;

/// The talk events posted so far, as (event, seconds since `since`).
fn talk_events(bus: &gst::Bus, since: Instant) -> Vec<(String, f64)> {
    let mut events = Vec::new();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Element]) {
        if let Some(s) = msg
            .structure()
            .filter(|s| s.name() == "onvifbackchannel-talk")
        {
            events.push((
                s.get::<String>("event").unwrap(),
                since.elapsed().as_secs_f64(),
            ));
        }
    }
    events
}

/// A client set up to talk over UDP (not yet playing), with the element's
/// session timeout: the client, its RTP socket and the server's RTP port.
fn udp_talker(port: u16) -> (RtspClient, std::net::UdpSocket, u16) {
    let (c, rtp, server_port, r) = common::rtsp::udp_talker(port);
    assert!(
        r.header("session")
            .unwrap()
            .contains(&format!("timeout={TIMEOUT_S}")),
        "{r:?}"
    );
    (c, rtp, server_port)
}

#[test]
fn rtp_alone_keeps_a_talker_then_silence_reaps_it() {
    let (pipeline, capture, port) = serve(&format!("session-timeout={TIMEOUT_S}"));
    let bus = pipeline.bus().unwrap();
    let (mut c, rtp, server_port) = udp_talker(port);
    assert_eq!(c.play(true).status, 200);
    let start = Instant::now();

    // 2.5 session timeouts of RTP over UDP, paced in real time; no RTCP, no
    // RTSP request.
    let mut sender = PcmuSender::new(0x1234);
    let talk = Duration::from_millis(TIMEOUT_S * 2500);
    let mut n = 0u32;
    let mut last_mark = 0;
    while start.elapsed() < talk {
        if talk.saturating_sub(start.elapsed()) < Duration::from_millis(800) && last_mark == 0 {
            last_mark = capture.mark();
        }
        let p = sender.next(440.0);
        rtp.send_to(&p, ("127.0.0.1", server_port)).unwrap();
        n += 1;
        let next = start + Duration::from_millis(20 * n as u64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let events = talk_events(&bus, start);
    assert!(
        !events.iter().any(|(e, _)| e == "left"),
        "the talker was dropped while talking: {events:?}"
    );
    // Still heard at the end.
    assert!(capture.wait_for(last_mark, 8000, Duration::from_secs(5)));
    let out = capture.since(last_mark);
    assert!(
        loud_samples(&out, 16000, 0.05) >= 6400,
        "not heard at the end"
    );
    let f = dominant_frequency(&loud_part(&out, 16000, 0.05), 16000);
    assert!((f - 440.0).abs() <= 10.0, "{f} Hz");

    // Silence, no TEARDOWN, the RTSP connection stays open: the session is
    // reaped after its timeout and the talker leaves.
    let silent = Instant::now();
    let left = loop {
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(TIMEOUT_S * 4),
            &[gst::MessageType::Element],
        ) else {
            panic!("no left event within {} s of silence", TIMEOUT_S * 4);
        };
        if msg
            .structure()
            .is_some_and(|s| s.get::<String>("event").ok().as_deref() == Some("left"))
        {
            break silent.elapsed();
        }
    };
    eprintln!("silent talker reaped after {:.2} s", left.as_secs_f64());
    assert!(
        left >= Duration::from_millis(TIMEOUT_S * 1000 - 200),
        "reaped after only {left:?}"
    );
    drop(c);
    pipeline.set_state(gst::State::Null).unwrap();
}

/// A talker refused the floor (exclusive) keeps talking: its packets are
/// dropped before gst-rtsp-server sees them, yet its session must live.
#[test]
fn a_refused_talker_keeps_its_session_while_it_talks() {
    let (pipeline, _capture, port) = serve(&format!(
        "session-timeout={TIMEOUT_S} talk-policy=exclusive"
    ));
    let bus = pipeline.bus().unwrap();
    let (mut a, a_rtp, a_port) = udp_talker(port);
    let (mut b, b_rtp, b_port) = udp_talker(port);
    assert_eq!(a.play(true).status, 200);
    assert_eq!(b.play(true).status, 200);
    let start = Instant::now();
    let (mut sa, mut sb) = (PcmuSender::new(0xa), PcmuSender::new(0xb));
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(TIMEOUT_S * 2500) {
        a_rtp
            .send_to(&sa.next(440.0), ("127.0.0.1", a_port))
            .unwrap();
        if n >= 10 {
            b_rtp
                .send_to(&sb.next(1000.0), ("127.0.0.1", b_port))
                .unwrap();
        }
        n += 1;
        let next = start + Duration::from_millis(20 * n);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let events = talk_events(&bus, start);
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert!(
        kinds.contains(&"refused"),
        "B was never refused: {events:?}"
    );
    assert!(
        !kinds.contains(&"left"),
        "a talker was dropped while talking: {events:?}"
    );
    drop((a, b));
    pipeline.set_state(gst::State::Null).unwrap();
}

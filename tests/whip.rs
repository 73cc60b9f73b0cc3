//! WebRTC (WHIP) talkers into onvifbackchannelsrc, from a second WebRTC
//! implementation (GStreamer's webrtcbin as the sender), on 127.0.0.1 only:
//! audio, talk events, DELETE, a vanished peer, refusals, the talk floor
//! shared with RTSP talkers, and the factory's action signals.

mod common;

use std::time::{Duration, Instant};

use common::audio::{dominant_frequency, loud_part, loud_samples, power_at};
use common::http;
use common::rtsp::{backchannel_section, PcmuSender, RtspClient, BACKCHANNEL};
use common::webrtc::{Codec, WhipSender};
use common::Capture;
use gst::prelude::*;

#[path = "common/element.rs"]
mod element;

/// The element with its web side, its output captured at 16 kHz.
struct Device {
    pipeline: gst::Pipeline,
    capture: Capture,
    http: u16,
    rtsp: u16,
}

impl Device {
    fn start(props: &str) -> Device {
        let (pipeline, capture, rtsp) = element::serve(&format!(
            "http-port=-1 discovery=false codecs=PCMU,PCMA,G722,OPUS {props}"
        ));
        let http = pipeline
            .by_name("bc")
            .unwrap()
            .property::<i32>("bound-http-port");
        assert!(http > 0, "bound-http-port {http}");
        Device {
            pipeline,
            capture,
            http: http as u16,
            rtsp,
        }
    }

    /// Waits for the next talk event of `kind`; returns it with the time it
    /// took. Other messages are dropped.
    fn event(&self, kind: &str, timeout: Duration) -> Option<(gst::Structure, Duration)> {
        let start = Instant::now();
        let bus = self.pipeline.bus().unwrap();
        while let Some(left) = timeout.checked_sub(start.elapsed()) {
            let msg = bus.timed_pop_filtered(
                gst::ClockTime::from_nseconds(left.as_nanos() as u64),
                &[gst::MessageType::Element],
            )?;
            let s = msg.structure().unwrap();
            if s.name() == "onvifbackchannel-talk" && s.get::<String>("event").unwrap() == kind {
                return Some((s.to_owned(), start.elapsed()));
            }
        }
        None
    }

    /// Waits for `ms` of output after `mark` and returns it.
    fn output(&self, mark: usize, ms: usize) -> Vec<f32> {
        assert!(
            self.capture
                .wait_for(mark, ms * 16, Duration::from_secs(10)),
            "no output"
        );
        self.capture.since(mark)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// How much of `out` is loud, in ms, and its dominant frequency.
fn heard(out: &[f32]) -> (usize, f64) {
    let loud = loud_samples(out, 16000, 0.02);
    let f = if loud > 0 {
        dominant_frequency(&loud_part(out, 16000, 0.02), 16000)
    } else {
        0.0
    };
    (loud / 16, f)
}

#[test]
fn a_webrtc_talker_is_heard_and_hangs_up() {
    let device = Device::start("");
    let mut sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    let posted = Instant::now();
    let r = sender.post(device.http, &[]);
    assert_eq!(r.status, 201, "{}", r.body);
    let answered = posted.elapsed();
    assert_eq!(
        r.header("content-type"),
        Some("application/sdp"),
        "{:?}",
        r.headers
    );
    let location = sender.location.clone().expect("a Location");
    assert!(location.starts_with("/whip/"), "{location}");
    // The answer: recvonly, Opus only, candidates on loopback only.
    assert!(r.body.contains("a=recvonly"), "{}", r.body);
    let rtpmaps: Vec<&str> = r.body.lines().filter(|l| l.starts_with("a=rtpmap:")).collect();
    assert_eq!(rtpmaps.len(), 1, "{}", r.body);
    assert!(
        rtpmaps[0].to_ascii_lowercase().starts_with("a=rtpmap:111 opus/48000"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .all(|l| l.contains(" 127.0.0.1 ")),
        "{}",
        r.body
    );

    let (started, _) = device
        .event("started", Duration::from_secs(10))
        .expect("a started event");
    assert_eq!(started.get::<String>("codec").unwrap(), "OPUS");
    assert_eq!(started.get::<String>("address").unwrap(), "127.0.0.1");
    let session = started.get::<String>("session").unwrap();
    assert_eq!(format!("/whip/{session}"), location);

    let mark = device.capture.mark();
    let out = device.output(mark, 2000);
    let (loud_ms, f) = heard(&out);
    assert!(loud_ms >= 1800, "{loud_ms} ms of 2000 ms loud");
    assert!((f - 440.0).abs() <= 10.0, "{f} Hz");
    println!("answer in {} ms", answered.as_millis());

    // A GET on the resource: 200, no body (a keepalive).
    let get = http::exchange(
        device.http,
        format!("GET {location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(get.status, 200);

    // DELETE: 200 once torn down, the seat freed at once.
    let deleted = Instant::now();
    let r = sender.delete(device.http, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let (left, _) = device
        .event("left", Duration::from_secs(1))
        .expect("a left event as the DELETE is answered");
    println!("DELETE answered in {} ms", deleted.elapsed().as_millis());
    assert_eq!(left.get::<String>("session").unwrap(), session);
    assert!(left.get::<u64>("received").unwrap() > 50);
    // The resource is gone.
    assert_eq!(sender.delete(device.http, &[]).status, 404);
    // Silence after the hang-up (the sender still runs, unheard).
    // (What the output had queued plays out first.)
    let mark = device.capture.mark();
    let out = device.output(mark, 1200);
    assert_eq!(heard(&out[200 * 16..]).0, 0, "heard after DELETE");
}

#[test]
fn a_vanished_webrtc_talker_is_released_after_the_timeout() {
    let device = Device::start("webrtc-timeout=2");
    let mut sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(sender.post(device.http, &[]).status, 201);
    device
        .event("started", Duration::from_secs(10))
        .expect("a started event");
    sender.vanish();
    let vanished = Instant::now();
    let (left, _) = device
        .event("left", Duration::from_secs(10))
        .expect("a left event after the peer vanished");
    let release = vanished.elapsed();
    println!("vanished peer released after {} ms", release.as_millis());
    assert!(release >= Duration::from_millis(1500), "{release:?}");
    assert!(!left.get::<String>("session").unwrap().is_empty());
    // The resource is gone too.
    assert_eq!(sender.delete(device.http, &[]).status, 404);
}

/// An RTSP back channel talker on the same element, sending paced PCMU.
struct RtspTalker {
    client: RtspClient,
    sender: PcmuSender,
}

impl RtspTalker {
    fn connect(port: u16) -> RtspTalker {
        let mut client = RtspClient::connect(port);
        let r = client.describe(Some(BACKCHANNEL));
        let (_, control, _) = backchannel_section(&r.body).unwrap();
        assert_eq!(client.setup_tcp(&control, 0, true).status, 200);
        assert_eq!(client.play(true).status, 200);
        client.drain_in_background();
        RtspTalker {
            client,
            sender: PcmuSender::new(7),
        }
    }

    /// Sends `ms` of `freq` Hz in real time (one packet per 20 ms).
    fn talk(&mut self, freq: f64, ms: u64) {
        let start = Instant::now();
        for i in 0..ms / self.sender.packet_ms {
            let due = start + Duration::from_millis(i * self.sender.packet_ms);
            // Pacing a real-time sender, not waiting for a result.
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let p = self.sender.next(freq);
            self.client.send_interleaved(0, &p);
        }
    }
}

/// A WebRTC talker (440 Hz, talking first) and an RTSP talker (1000 Hz)
/// at once under `policy`: what came out while both talked, as the powers
/// at 440 Hz and 1000 Hz, and the device (for more).
fn webrtc_and_rtsp(policy: &str) -> (f64, f64, Device, WhipSender, RtspTalker) {
    let device = Device::start(&format!("talk-policy={policy}"));
    let mut whip = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(whip.post(device.http, &[]).status, 201);
    device
        .event("started", Duration::from_secs(10))
        .expect("the WebRTC talker started");
    let mut rtsp = RtspTalker::connect(device.rtsp);
    rtsp.talk(1000.0, 400);
    let mark = device.capture.mark();
    rtsp.talk(1000.0, 1000);
    let out = device.output(mark, 800);
    let out = &out[..800 * 16];
    let p440 = power_at(out, 16000, 440.0);
    let p1000 = power_at(out, 16000, 1000.0);
    println!("{policy}: 440 Hz {p440:.3e}, 1000 Hz {p1000:.3e}");
    (p440, p1000, device, whip, rtsp)
}

#[test]
fn exclusive_a_webrtc_talker_keeps_the_floor_from_an_rtsp_talker_until_it_hangs_up() {
    let (p440, p1000, device, whip, mut rtsp) = webrtc_and_rtsp("exclusive");
    assert!(p1000 * 100.0 < p440, "RTSP heard under exclusive");
    // The browser hangs up: the floor is free for the RTSP talker.
    assert_eq!(whip.delete(device.http, &[]).status, 200);
    rtsp.talk(1000.0, 300);
    let mark = device.capture.mark();
    rtsp.talk(1000.0, 1000);
    let out = device.output(mark, 800);
    let (loud_ms, f) = heard(&out[..800 * 16]);
    assert!(loud_ms >= 700, "{loud_ms} ms of the RTSP talker");
    assert!((f - 1000.0).abs() <= 10.0, "{f} Hz");
}

#[test]
fn latest_an_rtsp_talker_takes_the_floor_from_a_webrtc_talker() {
    let (p440, p1000, ..) = webrtc_and_rtsp("latest");
    assert!(p440 * 100.0 < p1000, "WebRTC still heard under latest");
}

#[test]
fn mix_a_webrtc_and_an_rtsp_talker_are_both_heard() {
    let (p440, p1000, ..) = webrtc_and_rtsp("mix");
    assert!(
        p440 > p1000 / 10.0 && p1000 > p440 / 10.0,
        "not both heard: {p440} {p1000}"
    );
}

#[test]
fn max_talkers_counts_webrtc_and_rtsp_talkers_alike() {
    let device = Device::start("max-talkers=1");
    let mut whip = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(whip.post(device.http, &[]).status, 201);
    // The seat is taken: a second browser gets 503 with the reason, and an
    // RTSP SETUP of the back channel 453.
    let mut second = WhipSender::new(Codec::Opus, 440.0, 0.3);
    let r = second.post(device.http, &[]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("seats"), "{}", r.body);
    let mut client = RtspClient::connect(device.rtsp);
    let d = client.describe(Some(BACKCHANNEL));
    let (_, control, _) = backchannel_section(&d.body).unwrap();
    assert_eq!(client.setup_tcp(&control, 0, true).status, 453);
    // Hung up: the seat is free again.
    assert_eq!(whip.delete(device.http, &[]).status, 200);
    let mut third = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(third.post(device.http, &[]).status, 201);
}

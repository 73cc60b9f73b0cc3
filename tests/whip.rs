//! WebRTC (WHIP) talkers into onvifbackchannelsrc, from a second WebRTC
//! implementation (GStreamer's webrtcbin as the sender), on 127.0.0.1 only:
//! audio, talk events, DELETE, a vanished peer, refusals, the talk floor
//! shared with RTSP talkers, and the factory's action signals.

mod common;

use std::time::{Duration, Instant};

use common::audio::{dominant_frequency, loud_part, loud_samples, power_at};
use common::http;
use common::rtsp::{backchannel_section, PcmuSender, RtspClient, BACKCHANNEL};
use common::webrtc::{loopback_candidates, Codec, WhipSender};
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

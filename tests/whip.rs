//! WebRTC (WHIP) talkers into onvifbackchannelsrc, from a second WebRTC
//! implementation (GStreamer's webrtcbin as the sender), on 127.0.0.1 only:
//! audio, talk events, DELETE, a vanished peer, refusals, the talk floor
//! shared with RTSP talkers, and the factory's action signals.

mod common;

use std::time::{Duration, Instant};

use common::audio::{heard, power_at};
use common::http;
use common::rtsp::{backchannel_section, PcmuSender, RtspClient, BACKCHANNEL};
use common::webrtc::{only_loopback_candidates, Codec, WhipSender};
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

    /// Waits for the next talk event of `kind`.
    fn event(&self, kind: &str, timeout: Duration) -> Option<gst::Structure> {
        element::talk_event(&self.pipeline, kind, timeout)
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
    let rtpmaps: Vec<&str> = r
        .body
        .lines()
        .filter(|l| l.starts_with("a=rtpmap:"))
        .collect();
    assert_eq!(rtpmaps.len(), 1, "{}", r.body);
    assert!(
        rtpmaps[0]
            .to_ascii_lowercase()
            .starts_with("a=rtpmap:111 opus/48000"),
        "{}",
        r.body
    );
    assert!(only_loopback_candidates(&r.body), "{}", r.body);

    let started = device
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
    let left = device
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
    let left = device
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

// ---------------------------------------------------------------------
// Refusals: each with its status and a reason the client can show.

#[test]
fn bad_offers_get_a_4xx_with_the_reason() {
    let device = Device::start("");
    let post = |content_type: &str, body: &str| {
        http::post(
            device.http,
            "/whip",
            &[("Content-Type", content_type)],
            body,
        )
    };
    // Not SDP.
    let r = post("application/sdp", "hello");
    assert_eq!(r.status, 400, "{}", r.body);
    // SDP, but not WebRTC (no ICE, no DTLS).
    let r = post(
        "application/sdp",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("not WebRTC"), "{}", r.body);
    // A WebRTC offer with no codec we take (a live sender's, codec renamed).
    let sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    let r = post(
        "application/sdp",
        &sender.offer.replace("OPUS/48000", "SPEEX/48000"),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("no codec in common"), "{}", r.body);
    // Not application/sdp.
    let r = post("text/plain", &sender.offer);
    assert_eq!(r.status, 415, "{}", r.body);
    // Too large for an offer (64 KiB), and too large for the server.
    let big = format!("{}a=x:{}\r\n", sender.offer, "y".repeat(70 * 1024));
    assert_eq!(post("application/sdp", &big).status, 413);
    let huge = "v=0\r\n".to_string() + &"a=x\r\n".repeat(80_000);
    assert_eq!(post("application/sdp", &huge).status, 413);
    // None of these took a seat or left a session: a good offer still works.
    let mut good = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(good.post(device.http, &[]).status, 201);
    assert_eq!(good.delete(device.http, &[]).status, 200);
}

const TALKER_PW: &str = "whip-Talk-Secret-3";
const VIEWER_PW: &str = "whip-View-Secret-5";
const TOKEN: &str = "c2VjcmV0LXRva2VuLWZvci13aGlw";

/// curl (a client no one here wrote) POSTs the offer with HTTP digest.
fn curl_post(port: u16, offer: &str, user: &str, password: &str) -> (u16, String, Option<String>) {
    curl(
        &format!("http://127.0.0.1:{port}/whip"),
        "--digest",
        offer,
        user,
        password,
    )
}

/// curl POSTs `offer` to `url` with `scheme` (`--digest`, `--basic`);
/// returns the last status, body and Location.
fn curl(
    url: &str,
    scheme: &str,
    offer: &str,
    user: &str,
    password: &str,
) -> (u16, String, Option<String>) {
    let dir = common::files::TempDir::new("whip-curl");
    let body = dir.write("offer.sdp", offer);
    let out = std::process::Command::new("curl")
        // -k: the test's self-signed certificate.
        .args(["-sS", "-k", "--max-time", "20", scheme, "-u"])
        .arg(format!("{user}:{password}"))
        .args([
            "-H",
            "Content-Type: application/sdp",
            "-D",
            "-",
            "--data-binary",
        ])
        .arg(format!("@{body}"))
        .arg(url)
        .output()
        .expect("curl (scripts/deps.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // The last response (after the 401 of the challenge).
    let last = text.rfind("HTTP/1.1 ").map(|i| &text[i..]).unwrap_or("");
    let status = last
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = last.split_once("\r\n\r\n").unwrap_or((last, ""));
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or(l.strip_prefix("location: "))
        })
        .map(|l| l.trim().to_string());
    (status, body.to_string(), location)
}

#[test]
fn only_talkers_may_post_with_digest_basic_over_https_or_a_bearer_token() {
    let dir = common::files::TempDir::new("whip-users");
    let users = dir.write_mode(
        "users",
        &format!("alice:{TALKER_PW}:talker\nbob:{VIEWER_PW}:viewer\n"),
        0o600,
    );
    let tokens = dir.write_mode(
        "tokens",
        &format!("obs:{TOKEN}:talker\nwall:d2FsbC10b2tlbg:viewer\n"),
        0o600,
    );
    let device = Device::start(&format!("users-file={users} whip-tokens-file={tokens}"));
    let mut sender = WhipSender::new(Codec::Opus, 440.0, 0.3);

    // No credentials: 401 with digest challenges and a Bearer one.
    let r = sender.post(device.http, &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    let challenges: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Digest ")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer ")),
        "{challenges:?}"
    );
    // Basic over plain http: refused (the password crossed in clear).
    let basic = format!(
        "Basic {}",
        glib::base64_encode(format!("alice:{TALKER_PW}").as_bytes())
    );
    assert_eq!(
        sender
            .post(device.http, &[("Authorization", &basic)])
            .status,
        401
    );
    // Digest: a viewer 403, a wrong password 401, a talker 201.
    assert_eq!(
        curl_post(device.http, &sender.offer, "bob", VIEWER_PW).0,
        403
    );
    assert_eq!(
        curl_post(device.http, &sender.offer, "alice", "wrong").0,
        401
    );
    let (status, answer, location) = curl_post(device.http, &sender.offer, "alice", TALKER_PW);
    assert_eq!(status, 201, "{answer}");
    sender.apply_answer(&answer);
    let started = device
        .event("started", Duration::from_secs(10))
        .expect("alice's talker started");
    assert_eq!(
        format!("/whip/{}", started.get::<String>("session").unwrap()),
        location.unwrap()
    );
    let mark = device.capture.mark();
    let (loud_ms, f) = heard(&device.output(mark, 1000));
    assert!(
        loud_ms >= 800 && (f - 440.0).abs() <= 10.0,
        "{loud_ms} ms {f} Hz"
    );

    // Bearer tokens: a talker's 201, a viewer's 403, a wrong one 401.
    let mut obs = WhipSender::new(Codec::Opus, 440.0, 0.3);
    let bearer = format!("Bearer {TOKEN}");
    let r = obs.post(device.http, &[("Authorization", &bearer)]);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = obs.post(device.http, &[("Authorization", "Bearer d2FsbC10b2tlbg")]);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = obs.post(device.http, &[("Authorization", "Bearer wrong")]);
    assert_eq!(r.status, 401, "{}", r.body);
    // Only the session's owner may hang it up.
    assert_eq!(obs.delete(device.http, &[]).status, 401);
    assert_eq!(
        obs.delete(device.http, &[("Authorization", &bearer)])
            .status,
        200
    );
}

#[test]
fn basic_over_https_and_the_page() {
    let dir = common::files::TempDir::new("whip-https");
    let users = dir.write_mode("users", &format!("alice:{TALKER_PW}:talker\n"), 0o600);
    let pem = common::files::certificate(&dir);
    let device = Device::start(&format!("users-file={users} tls-certificate={pem}"));
    let sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    let url = format!("https://127.0.0.1:{}/whip", device.http);
    assert_eq!(
        curl(&url, "--basic", &sender.offer, "alice", "wrong").0,
        401
    );
    let (status, answer, _) = curl(&url, "--basic", &sender.offer, "alice", TALKER_PW);
    assert_eq!(status, 201, "{answer}");
    sender.apply_answer(&answer);
    device
        .event("started", Duration::from_secs(10))
        .expect("alice's talker started");
    // The page, over https, with no credentials needed to load it.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-k", "--max-time", "20"])
        .arg(format!("https://127.0.0.1:{}/", device.http))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains("<html") && page.contains("getUserMedia") && page.contains("whip"),
        "{page}"
    );
}

/// The seed's Chrome 47 and Firefox 43 offers, and Chrome 120 and Firefox
/// 121 offers as the notes describe them, as written but for their
/// candidates (rewritten to 127.0.0.1 first: no packet may leave
/// loopback), POSTed to a live endpoint: each is answered recvonly with the
/// mount's first codec the offer has, its payload type and mid kept.
#[test]
fn browser_offers_are_answered() {
    use gstonvifbackchannel::webrtc::offer::rewrite_candidates_to_loopback;
    let device = Device::start("webrtc-timeout=30");
    let offers = [
        (
            "chrome47",
            include_str!("../src/webrtc/offers/chrome47.sdp"),
            "111",
            Some("audio"),
        ),
        (
            "firefox43",
            include_str!("../src/webrtc/offers/firefox43.sdp"),
            "109",
            Some("sdparta_0"),
        ),
        (
            "chrome120",
            include_str!("../src/webrtc/offers/chrome120.sdp"),
            "111",
            Some("0"),
        ),
        (
            "firefox121",
            include_str!("../src/webrtc/offers/firefox121.sdp"),
            "109",
            Some("0"),
        ),
    ];
    for (name, offer, pt, mid) in offers {
        let offer = rewrite_candidates_to_loopback(offer);
        let r = http::post(
            device.http,
            "/whip",
            &[("Content-Type", "application/sdp")],
            &offer,
        );
        assert_eq!(r.status, 201, "{name}: {}", r.body);
        let m: Vec<&str> = r
            .body
            .lines()
            .find(|l| l.starts_with("m=audio "))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(&m[3..], [pt], "{name}: {}", r.body);
        assert!(r.body.contains("a=recvonly"), "{name}: {}", r.body);
        if let Some(mid) = mid {
            assert!(
                r.body.contains(&format!("a=mid:{mid}")),
                "{name}: {}",
                r.body
            );
        }
        assert!(only_loopback_candidates(&r.body), "{name}: {}", r.body);
        let location = r.header("location").unwrap();
        let d = http::exchange(
            device.http,
            format!("DELETE {location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(d.status, 200, "{name}");
    }
}

/// Applications with their own web server: the factory's action signals,
/// on an application's RTSP server (no element, no web server of ours).
#[test]
fn the_factory_answers_offers_through_action_signals() {
    let server =
        common::TestServer::start(&[("output", common::CAPTURE_OUTPUT), ("webrtc-timeout", "30")]);
    let factory = &server.factory;
    let (events_tx, events) = std::sync::mpsc::channel::<gst::Structure>();
    let events_tx = std::sync::Mutex::new(events_tx);
    factory.connect("talk-event", false, move |args| {
        let _ = events_tx.lock().unwrap().send(args[1].get().unwrap());
        None
    });
    let ended: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    {
        let ended = ended.clone();
        factory.connect("webrtc-session-ended", false, move |args| {
            ended.lock().unwrap().push((
                args[1].get::<String>().unwrap(),
                args[2].get::<String>().unwrap(),
            ));
            None
        });
    }
    let event = |kind: &str| loop {
        let e = events
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no {kind} event"));
        if e.get::<String>("event").unwrap() == kind {
            break e;
        }
    };
    let sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    let reply = factory.emit_by_name::<gst::Structure>(
        "webrtc-offer",
        &[&sender.offer, &"127.0.0.1:5555", &"127.0.0.1"],
    );
    assert_eq!(reply.get::<u32>("status").unwrap(), 201, "{reply}");
    let session = reply.get::<String>("session").unwrap();
    sender.apply_answer(&reply.get::<String>("sdp").unwrap());
    let started = event("started");
    assert_eq!(started.get::<String>("session").unwrap(), session);
    assert_eq!(started.get::<String>("address").unwrap(), "127.0.0.1");
    let capture = server.capture();
    let mark = capture.mark();
    assert!(capture.wait_for(mark, 16000, Duration::from_secs(10)));
    let (loud_ms, f) = heard(&capture.since(mark));
    assert!(
        loud_ms >= 800 && (f - 440.0).abs() <= 10.0,
        "{loud_ms} ms {f} Hz"
    );
    assert!(factory.emit_by_name::<bool>("webrtc-hang-up", &[&session]));
    event("left");
    assert_eq!(
        ended.lock().unwrap()[0],
        (session.clone(), "hung up".to_string())
    );
    assert!(!factory.emit_by_name::<bool>("webrtc-hang-up", &[&session]));
    // A refusal carries its status and reason.
    let reply = factory.emit_by_name::<gst::Structure>(
        "webrtc-offer",
        &[&"v=0\r\n", &None::<String>, &None::<String>],
    );
    assert_eq!(reply.get::<u32>("status").unwrap(), 400, "{reply}");
    assert!(reply.get::<String>("reason").is_ok());
}

/// Push-to-talk up (RTP stops, `replaceTrack(null)` in a browser) is not a
/// vanished peer: its RTCP keeps the session past the timeout, and the
/// talker is heard again when it talks again.
#[test]
fn a_silent_but_present_webrtc_talker_is_kept() {
    // GStreamer's sender sends RTCP every 2.5 to 7.5 s (5 s randomised):
    // a timeout of 12 s leaves a margin on a loaded machine.
    let device = Device::start("webrtc-timeout=12");
    let mut sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(sender.post(device.http, &[]).status, 201);
    device
        .event("started", Duration::from_secs(10))
        .expect("started");
    sender.mute(true);
    device
        .event("stopped", Duration::from_secs(5))
        .expect("the talk spurt ended");
    // One and a half times the timeout without RTP.
    assert!(
        device.event("left", Duration::from_secs(18)).is_none(),
        "a talker that sends RTCP was hung up"
    );
    sender.mute(false);
    device
        .event("started", Duration::from_secs(5))
        .expect("talks again");
    let mark = device.capture.mark();
    let (loud_ms, f) = heard(&device.output(mark, 1000));
    assert!(
        loud_ms >= 800 && (f - 440.0).abs() <= 10.0,
        "{loud_ms} ms {f} Hz"
    );
    assert_eq!(sender.delete(device.http, &[]).status, 200);
}

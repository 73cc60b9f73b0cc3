//! The fake cameras of tests/common/camera.rs, checked with the raw RTSP
//! client of tests/common/rtsp.rs before any element is tested against
//! them: each quirk does what it says, and what a talker sends is recorded
//! and decodes to the tone it sent.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::audio::{dominant_frequency, loud_samples, mulaw};
use common::camera::{
    alaw_to_f32, decode_g711, decode_with_gstreamer, ulaw_to_f32, Auth, Camera, CameraConfig,
    Event, RequirePolicy, Rtp, TransportReply,
};
use common::rtsp::{rtp_packet, udp_pair, PcmuSender, RtspClient, BACKCHANNEL};
use gst::prelude::*;

const T: Duration = Duration::from_secs(10);

fn client(camera: &Camera) -> RtspClient {
    let mut c = RtspClient::connect(camera.port);
    c.url = camera.url();
    c
}

/// SETUP of an absolute URL over TCP interleaved channels.
fn setup_url(c: &mut RtspClient, url: &str, channel: u8, require: bool) -> common::rtsp::Response {
    let transport = format!(
        "RTP/AVP/TCP;unicast;interleaved={}-{}",
        channel,
        channel + 1
    );
    let mut headers = vec![("Transport", transport.as_str())];
    if require {
        headers.push(("Require", BACKCHANNEL));
    }
    c.request("SETUP", url, &headers)
}

/// Sends `n` paced 20 ms PCMU packets of 440 Hz on `channel`.
fn talk(c: &mut RtspClient, channel: u8, n: usize) {
    let mut sender = PcmuSender::new(0x1234);
    for _ in 0..n {
        let p = sender.next(440.0);
        c.send_interleaved(channel, &p);
    }
}

fn assert_tone(samples: &[f32], rate: u32, expected_ms: usize) {
    let loud = loud_samples(samples, rate, 0.05) * 1000 / rate as usize;
    assert!(
        loud * 10 >= expected_ms * 9,
        "{loud} ms loud of {expected_ms} ms"
    );
    let f = dominant_frequency(samples, rate);
    assert!((f - 440.0).abs() <= 5.0, "{f} Hz");
}

#[test]
fn g711_tables_decode_gstreamers_encoders() {
    common::init();
    // Our tables against the encoder's inverse on every code: µ-law and
    // A-law are monotonic in magnitude and symmetric.
    for b in 0..=255u8 {
        assert!(ulaw_to_f32(b).abs() <= 1.0 && alaw_to_f32(b).abs() <= 1.0);
    }
    for x in [-0.9f32, -0.3, -0.01, 0.0, 0.01, 0.3, 0.9] {
        assert!(
            (ulaw_to_f32(mulaw(x)) - x).abs() < 0.01 + x.abs() * 0.07,
            "{x}"
        );
    }
    for (enc, alaw) in [("mulawenc", false), ("alawenc", true)] {
        let pipeline = gst::parse::launch(&format!(
            "audiotestsrc freq=440 volume=0.5 num-buffers=25 samplesperbuffer=320 \
             ! audio/x-raw,format=S16LE,rate=8000,channels=1 ! {enc} ! appsink name=out sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = pipeline
            .by_name("out")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut bytes = Vec::new();
        while let Ok(s) = sink.pull_sample() {
            bytes.extend_from_slice(&s.buffer().unwrap().map_readable().unwrap());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        let packet = Rtp {
            pt: if alaw { 8 } else { 0 },
            seq: 0,
            ts: 0,
            marker: true,
            ssrc: 1,
            payload: bytes,
        };
        let samples = decode_g711(&[packet], alaw);
        assert_eq!(samples.len(), 8000);
        assert_tone(&samples, 8000, 1000);
        let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((0.45..0.55).contains(&peak), "{enc}: peak {peak}");
    }
}

#[test]
fn rtp_headers_parse() {
    let p = rtp_packet(8, 65535, 0xdeadbeef, 42, &[1, 2, 3]);
    let r = Rtp::parse(&p).unwrap();
    assert_eq!(
        (r.pt, r.seq, r.ts, r.ssrc, r.marker),
        (8, 65535, 0xdeadbeef, 42, true)
    );
    assert_eq!(r.payload, vec![1, 2, 3]);
    // CSRC, extension and padding.
    let mut q = vec![0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 9];
    q.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4, 7, 7, 0, 0, 3]);
    let r = Rtp::parse(&q).unwrap();
    assert_eq!(
        (r.pt, r.marker, r.payload.as_slice()),
        (0, false, &[7u8, 7][..])
    );
    assert!(Rtp::parse(&[0x80, 0]).is_none());
}

/// Dahua's camera: the SDP, Content-Base and `ssrc=` a client sees, the
/// exact back channel URL it must SETUP, and the RTP it records.
#[test]
fn dahua_camera_serves_a_raw_talker() {
    let camera = Camera::start(CameraConfig::dahua());
    let mut c = client(&camera);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200);
    assert!(r.header("content-base").unwrap().ends_with("proto=Onvif/"));
    let (formats, control, _) = common::rtsp::backchannel_section(&r.body).unwrap();
    assert_eq!(formats.len(), 20);
    assert_eq!(control, "trackID=5");
    // A wrong resolution of the control (query dropped) is 404.
    let wrong = format!("rtsp://127.0.0.1:{}/cam/realmonitor/trackID=5", camera.port);
    assert_eq!(setup_url(&mut c, &wrong, 0, true).status, 404);
    let r = c.setup_tcp("trackID=5", 0, true);
    assert_eq!(r.status, 200, "{r:?}");
    let transport = r.header("transport").unwrap();
    assert!(
        transport.contains("interleaved=0-1") && transport.contains("ssrc=1A2B3C4D"),
        "{transport}"
    );
    assert_eq!(c.play(true).status, 200);
    talk(&mut c, 0, 50);
    assert!(camera.wait_rtp(50, T));
    assert_eq!(c.teardown().status, 200);
    let log = camera.log();
    assert!(log
        .rtp()
        .iter()
        .all(|p| p.after_play && p.channel == Some(0)));
    let rtp = log.parsed_rtp();
    assert!(rtp.iter().all(|p| p.pt == 0 && p.ssrc == 0x1234));
    assert_tone(&decode_g711(&rtp, false), 8000, 1000);
    assert_eq!(
        log.methods(),
        [
            "DESCRIBE#0+R=200",
            "SETUP#0+R=404",
            "SETUP#0+R=200",
            "PLAY#0+R=200",
            "TEARDOWN#0=200"
        ]
    );
}

#[test]
fn answer_551_then_ok_without_require() {
    let mut config = CameraConfig::pcmu();
    config.require = RequirePolicy::Answer551;
    config.sdp_without_require = Some(CameraConfig::video_only_sdp());
    let camera = Camera::start(config);
    let mut c = client(&camera);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 551);
    assert_eq!(r.header("unsupported"), Some(BACKCHANNEL));
    let r = c.describe(None);
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("sendonly"));
}

#[test]
fn never_answers_describe_with_require() {
    let mut config = CameraConfig::pcmu();
    config.require = RequirePolicy::NeverAnswer;
    let camera = Camera::start(config);
    let mut s = TcpStream::connect(("127.0.0.1", camera.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let url = camera.url();
    write!(
        s,
        "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nRequire: {BACKCHANNEL}\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let err = s.read(&mut buf).expect_err("no answer");
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    // The same connection still answers without Require.
    write!(s, "DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n").unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("RTSP/1.0 200 OK\r\nCSeq: 2\r\n"), "{text}");
    let log = camera.log();
    assert_eq!(log.methods(), ["DESCRIBE#0+R", "DESCRIBE#0=200"]);
}

#[test]
fn require_only_on_describe_and_video_setup_first() {
    let mut config = CameraConfig::pcmu();
    config.require = RequirePolicy::DescribeOnly;
    config.video_setup_first = true;
    let camera = Camera::start(config);
    let mut c = client(&camera);
    assert_eq!(c.describe(Some(BACKCHANNEL)).status, 200);
    assert_eq!(c.setup_tcp("backchannel", 0, true).status, 551);
    assert_eq!(c.setup_tcp("backchannel", 0, false).status, 455);
    assert_eq!(c.setup_tcp("video", 2, false).status, 200);
    assert_eq!(c.setup_tcp("backchannel", 0, false).status, 200);
    assert_eq!(c.play(true).status, 551);
    assert_eq!(c.play(false).status, 200);
}

#[test]
fn session_timeout_expires_without_requests_and_keepalives_hold_it() {
    let mut config = CameraConfig::pcmu();
    config.session_timeout = Some(1);
    let camera = Camera::start(config);
    // Keepalives every 500 ms (with RTP in between) hold it for 3 s.
    let mut c = client(&camera);
    c.describe(Some(BACKCHANNEL));
    let r = c.setup_tcp("backchannel", 0, true);
    assert!(
        r.header("session").unwrap().ends_with(";timeout=1"),
        "{r:?}"
    );
    assert_eq!(c.play(true).status, 200);
    let start = Instant::now();
    let mut sender = PcmuSender::new(5);
    while start.elapsed() < Duration::from_secs(3) {
        for _ in 0..25 {
            let p = sender.next(440.0);
            c.send_interleaved(0, &p);
        }
        let url = c.url.clone();
        assert_eq!(c.request("GET_PARAMETER", &url, &[]).status, 200);
    }
    assert!(camera.log().keepalives(0).len() >= 6);
    // RTP alone does not: the camera closes the connection (and the
    // writes start failing).
    let mut raw = c.socket().try_clone().unwrap();
    let start = Instant::now();
    while !camera.log().events.contains(&Event::Expired(0)) && start.elapsed() < T {
        let p = sender.next(440.0);
        let mut frame = vec![b'$', 0];
        frame.extend_from_slice(&(p.len() as u16).to_be_bytes());
        frame.extend_from_slice(&p);
        if raw.write_all(&frame).is_err() {
            break;
        }
    }
    assert!(camera.wait(T, |l| l.events.contains(&Event::Expired(0))));
    let expired_after =
        camera.log().packets.last().unwrap().at - camera.log().requests.last().unwrap().at;
    assert!(
        expired_after < Duration::from_millis(1500),
        "{expired_after:?}"
    );
    assert!(c.closed_by_server(T));
}

#[test]
fn drops_the_first_connection_after_play() {
    let mut config = CameraConfig::pcmu();
    config.drop_after_play = Some(Duration::from_millis(300));
    config.drop_connections = 1;
    let camera = Camera::start(config);
    let mut c = client(&camera);
    c.describe(Some(BACKCHANNEL));
    c.setup_tcp("backchannel", 0, true);
    assert_eq!(c.play(true).status, 200);
    assert!(c.closed_by_server(T));
    assert!(camera.log().events.contains(&Event::Dropped(0)));
    // The second one stays.
    let mut c = client(&camera);
    c.describe(Some(BACKCHANNEL));
    c.setup_tcp("backchannel", 0, true);
    assert_eq!(c.play(true).status, 200);
    talk(&mut c, 0, 30);
    assert!(camera.wait(T, |l| l.rtp().iter().filter(|p| p.conn == 1).count() == 30));
    assert!(!camera.log().events.contains(&Event::Dropped(1)));
}

#[test]
fn odd_transport_replies() {
    for (shift, reply, expected) in [
        (
            2,
            TransportReply::Echo,
            Some("RTP/AVP/TCP;unicast;interleaved=2-3"),
        ),
        (0, TransportReply::Missing, None),
        (
            0,
            TransportReply::WithoutTcp,
            Some("RTP/AVP;unicast;interleaved=0-1"),
        ),
    ] {
        let mut config = CameraConfig::pcmu();
        config.channel_shift = shift;
        config.transport_reply = reply;
        let camera = Camera::start(config);
        let mut c = client(&camera);
        c.describe(Some(BACKCHANNEL));
        let r = c.setup_tcp("backchannel", 0, true);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("transport"), expected);
        assert_eq!(c.play(true).status, 200);
        talk(&mut c, shift, 5);
        assert!(camera.wait(T, |l| l.rtp().len() == 5));
        assert!(camera.log().rtp().iter().all(|p| p.channel == Some(shift)));
    }
}

#[test]
fn udp_rejected_with_461_or_received() {
    let mut config = CameraConfig::pcmu();
    config.reject_udp = true;
    let camera = Camera::start(config);
    let mut c = client(&camera);
    c.describe(Some(BACKCHANNEL));
    let (_rtp, _rtcp, transport) = udp_pair();
    assert_eq!(c.setup("backchannel", &transport, true).status, 461);
    assert_eq!(c.setup_tcp("backchannel", 0, true).status, 200);

    let camera = Camera::start(CameraConfig::pcmu());
    let mut c = client(&camera);
    c.describe(Some(BACKCHANNEL));
    let (rtp, _rtcp, transport) = udp_pair();
    let r = c.setup("backchannel", &transport, true);
    assert_eq!(r.status, 200);
    let server_port = common::rtsp::server_rtp_port(r.header("transport").unwrap());
    assert_eq!(c.play(true).status, 200);
    let mut sender = PcmuSender::new(9);
    for _ in 0..50 {
        rtp.send_to(&sender.next(440.0), ("127.0.0.1", server_port))
            .unwrap();
    }
    assert!(camera.wait_rtp(50, T));
    let log = camera.log();
    assert!(log
        .rtp()
        .iter()
        .all(|p| p.channel.is_none() && p.from == Some(rtp.local_addr().unwrap())));
    assert_tone(&decode_g711(&log.parsed_rtp(), false), 8000, 1000);
}

#[test]
fn digest_with_basic_offered_first() {
    let mut config = CameraConfig::pcmu();
    config.auth = Some(Auth {
        user: "admin".into(),
        password: "pw:x y".into(),
        realm: "IP Camera(12345)".into(),
        basic_too: true,
        qop: false,
    });
    let camera = Camera::start(config);
    let mut s = TcpStream::connect(("127.0.0.1", camera.port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(s, "DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\n\r\n", camera.url()).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    let basic = text.find("WWW-Authenticate: Basic realm=").expect(&text);
    let digest = text.find("WWW-Authenticate: Digest realm=").expect(&text);
    assert!(text.starts_with("RTSP/1.0 401") && basic < digest, "{text}");
    // RtspClient answers the last challenge, the digest one.
    let mut c = client(&camera);
    c.credentials = Some(("admin".into(), "pw:x y".into()));
    assert_eq!(c.describe(Some(BACKCHANNEL)).status, 200);
    let mut wrong = client(&camera);
    wrong.credentials = Some(("admin".into(), "nope".into()));
    assert_eq!(wrong.describe(Some(BACKCHANNEL)).status, 401);
}

#[test]
fn data_before_play_answer_is_flagged() {
    let mut config = CameraConfig::pcmu();
    config.play_delay = Duration::from_millis(300);
    let camera = Camera::start(config);
    let mut c = client(&camera);
    c.describe(Some(BACKCHANNEL));
    c.setup_tcp("backchannel", 0, true);
    // PLAY and data at once, without waiting for the answer.
    let url = c.url.clone();
    let session = c.session.clone().unwrap();
    let mut raw = c.socket().try_clone().unwrap();
    write!(
        raw,
        "PLAY {url} RTSP/1.0\r\nCSeq: 9\r\nSession: {session}\r\n\r\n"
    )
    .unwrap();
    c.send_interleaved(0, &rtp_packet(0, 1, 0, 1, &[0xff; 160]));
    assert!(camera.wait(T, |l| l.play_answered(0)));
    c.send_interleaved(0, &rtp_packet(0, 2, 160, 1, &[0xff; 160]));
    assert!(camera.wait_rtp(2, T));
    let flags: Vec<bool> = camera.log().rtp().iter().map(|p| p.after_play).collect();
    assert_eq!(flags, [false, true]);
}

/// The SDP helpers parse as what they claim, and GStreamer decodes what a
/// camera records (here G.722 from GStreamer's own payloader).
#[test]
fn sdp_forms_and_gstreamer_decoding() {
    common::init();
    for config in [
        CameraConfig::per_codec(&["PCMU", "PCMA", "G722", "OPUS"]),
        CameraConfig::reolink(Some(128), Some(128)),
        CameraConfig::avigilon(),
        CameraConfig::one_section(&["OPUS", "PCMA"]),
    ] {
        let camera = Camera::start(config);
        let mut c = client(&camera);
        let r = c.describe(Some(BACKCHANNEL));
        assert_eq!(r.status, 200);
        let sdp = gst_sdp::SDPMessage::parse_buffer(r.body.as_bytes()).expect("SDP parses");
        let sendonly = sdp
            .medias()
            .filter(|m| {
                m.attribute_val("sendonly").is_some()
                    || m.attributes().any(|a| a.key() == "sendonly")
            })
            .count();
        assert!(sendonly >= 1, "{}", r.body);
        // Its back channel URL takes a SETUP.
        let url = camera.backchannel_url();
        assert_eq!(setup_url(&mut c, &url, 0, true).status, 200, "{url}");
    }

    let pipeline = gst::parse::launch(
        "audiotestsrc freq=440 volume=0.5 num-buffers=50 samplesperbuffer=320 \
         ! audio/x-raw,rate=16000,channels=1 ! avenc_g722 ! rtpg722pay ! appsink name=out sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut packets = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        packets.push(s.buffer().unwrap().map_readable().unwrap().to_vec());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let out = decode_with_gstreamer(
        &packets,
        "application/x-rtp,media=audio,clock-rate=8000,encoding-name=G722,payload=9",
        16000,
    );
    assert_tone(&out, 16000, 950);
}

//! Who may talk: digest authentication from `users-file`, the
//! `onvifbackchannel.talk` permission of a role, and RTSPS.

mod common;
use common::files::{certificate, TempDir};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::rtsp::{backchannel_section, forward_control, PcmuSender, RtspClient, BACKCHANNEL};
use common::Capture;
use gst::prelude::*;

#[path = "common/element.rs"]
mod element;
use element::serve;

#[path = "../examples/common/talkback.rs"]
mod talkback;
use talkback::TalkbackClient;

const TALKER_PW: &str = "talk-Secret-9";
const VIEWER_PW: &str = "view-Secret-7";

fn assert_440(capture: &Capture, mark: usize) {
    assert!(capture.wait_for(mark, 12800, Duration::from_secs(5)));
    let out = capture.since(mark);
    let loud = loud_samples(&out, 16000, 0.05);
    assert!(
        loud >= 16000 * 6 / 10,
        "{} ms of 800 ms came out",
        loud / 16
    );
    let f = dominant_frequency(&loud_part(&out, 16000, 0.05), 16000);
    assert!((f - 440.0).abs() <= 10.0, "{f} Hz");
}

fn user(port: u16, name: &str, password: &str) -> RtspClient {
    let mut c = RtspClient::connect(port);
    c.credentials = Some((name.into(), password.into()));
    c
}

#[test]
fn viewers_watch_talkers_talk_strangers_get_401() {
    let dir = TempDir::new("users");
    let users = dir.write_mode(
        "users",
        &format!("# test users\nalice:{TALKER_PW}:talker\nbob:{VIEWER_PW}:viewer\n"),
        0o600,
    );
    // Everything our categories log, to check that no password is in it.
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = log.clone();
    gst::log::remove_default_log_function();
    gst::log::set_threshold_from_string("onvifbackchannel*:7", false);
    let log_fn = gst::log::add_log_function(move |cat, _, _, _, _, _, msg| {
        if cat.name().starts_with("onvifbackchannel") {
            if let Some(m) = msg.get() {
                sink.lock().unwrap().push(m.to_string());
            }
        }
    });
    let (pipeline, capture, port) = serve(&format!("users-file={users}"));

    // No credentials, or a wrong password: 401 with a digest challenge.
    let mut stranger = RtspClient::connect(port);
    let r = stranger.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Digest"));
    assert_eq!(
        user(port, "alice", "wrong")
            .describe(Some(BACKCHANNEL))
            .status,
        401
    );

    // Basic authentication sends the password in the clear: refused
    // without TLS, even with the right password.
    let basic = gst::glib::base64_encode(format!("alice:{TALKER_PW}").as_bytes());
    let r = RtspClient::connect(port).request(
        "DESCRIBE",
        &format!("rtsp://127.0.0.1:{port}/stream"),
        &[
            ("Require", BACKCHANNEL),
            ("Authorization", &format!("Basic {basic}")),
        ],
    );
    assert_eq!(r.status, 401, "basic authentication accepted without TLS");

    // A talker sees the back channel and is heard.
    let mut alice = user(port, "alice", TALKER_PW);
    let r = alice.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200);
    let (_, bc_control, _) = backchannel_section(&r.body).expect("a back channel for a talker");
    assert_eq!(alice.setup_tcp(&bc_control, 0, true).status, 200);
    assert_eq!(alice.play(true).status, 200);
    let _drain = alice.drain_in_background();
    let mark = capture.mark();
    let mut sender = PcmuSender::new(7);
    for _ in 0..40 {
        let p = sender.next(440.0);
        alice.send_interleaved(0, &p);
    }
    assert_440(&capture, mark);

    // A viewer sending Require gets the forward tracks and no back channel;
    // a SETUP of the back channel anyway is 403.
    let mut bob = user(port, "bob", VIEWER_PW);
    let r = bob.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("a=recvonly"), "{}", r.body);
    assert!(
        backchannel_section(&r.body).is_none(),
        "a viewer got a back channel:\n{}",
        r.body
    );
    assert_eq!(
        bob.setup_tcp(&forward_control(&r.body), 0, true).status,
        200
    );
    let bc_url = bc_control.rsplit('/').next().unwrap();
    assert_eq!(bob.setup_tcp(bc_url, 2, true).status, 403);
    assert_eq!(bob.play(true).status, 200);

    pipeline.set_state(gst::State::Null).unwrap();
    gst::log::remove_log_function(log_fn);
    let log = log.lock().unwrap();
    assert!(log.iter().any(|m| m.contains("403")), "no 403 in the log");
    for line in log.iter() {
        assert!(
            !line.contains(TALKER_PW) && !line.contains(VIEWER_PW),
            "password in the log: {line}"
        );
    }
}

#[test]
fn a_users_file_others_may_read_is_warned_about() {
    let dir = TempDir::new("users-open");
    let users = dir.write_mode("users", &format!("alice:{TALKER_PW}:talker\n"), 0o644);
    let (pipeline, _capture, _port) = serve(&format!("users-file={users}"));
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(2),
            &[gst::MessageType::Warning],
        )
        .expect("a warning");
    let gst::MessageView::Warning(w) = msg.view() else {
        unreachable!()
    };
    assert!(w.error().to_string().contains("chmod 600"), "{}", w.error());
    assert!(!w.error().to_string().contains(TALKER_PW));
    pipeline.set_state(gst::State::Null).unwrap();
}

/// rtspsrc talks through rtsps:// with authentication.
#[test]
fn rtsps_end_to_end_with_rtspsrc() {
    let dir = TempDir::new("tls");
    let pem = certificate(&dir);
    let users = dir.write_mode("users", &format!("alice:{TALKER_PW}:talker\n"), 0o600);
    let (pipeline, capture, port) = serve(&format!("tls-certificate={pem} users-file={users}"));
    let url = format!("rtsps://127.0.0.1:{port}/stream");
    let client = TalkbackClient::connect(&url, Duration::from_secs(10), |src| {
        // The test certificate is self-signed and for another name.
        src.set_property_from_str("tls-validation-flags", "0");
        src.set_property("user-id", "alice");
        src.set_property("user-pw", TALKER_PW);
        // RTP over UDP: rtspsrc 1.22.0 aborts now and then when it writes
        // interleaved back channel data into TLS (an assertion on partial
        // writes in gst_rtsp_connection_send_messages_usec).
        src.set_property_from_str("protocols", "udp");
    })
    .expect("rtspsrc connects over TLS");
    let (sender, appsink) = talkback::rtp_sender(
        "audiotestsrc is-live=false freq=440 volume=0.5 num-buffers=50 samplesperbuffer=160 \
         ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay pt=0 max-ptime=20000000",
    )
    .unwrap();
    let mark = capture.mark();
    client.send_from(&appsink);
    sender.set_state(gst::State::Playing).unwrap();
    assert_440(&capture, mark);
    sender.set_state(gst::State::Null).unwrap();
    client.stop();

    // Plain RTSP on the TLS port gets nowhere.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    use std::io::{Read, Write};
    plain
        .write_all(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).starts_with("RTSP/1.0 200"),
        "plain RTSP was answered on the TLS port"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

//! RTSP signalling and SDP shape, checked with a raw client.

mod common;

use common::rtsp::{backchannel_section, RtspClient, BACKCHANNEL};
use common::TestServer;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

#[test]
fn describe_with_require_offers_one_sendonly_track_with_every_codec() {
    let server = TestServer::start(&[]);
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200, "{r:?}");
    println!("{}", r.body);
    assert_eq!(r.body.matches("a=sendonly").count(), 1, "{}", r.body);
    assert!(r.body.contains("a=recvonly"));
    let (formats, control, section) = backchannel_section(&r.body).unwrap();
    let codecs: String = server.factory.property("codecs");
    assert_eq!(formats.len(), codecs.split(',').count(), "{section}");
    assert!(section.starts_with("m=audio "));
    assert!(section.contains("a=rtpmap:0 PCMU/8000"));
    assert!(section.contains("a=rtpmap:8 PCMA/8000"));
    assert!(!control.is_empty());
    for f in &formats {
        assert!(
            section.contains(&format!("a=rtpmap:{f} ")),
            "no rtpmap for {f}: {section}"
        );
    }
}

#[test]
fn aac_is_offered_at_every_rate_with_its_config() {
    let server = TestServer::start(&[("codecs", "PCMU,AAC")]);
    let codecs: String = server.factory.property("codecs");
    assert_eq!(
        codecs,
        "PCMU,AAC-16000,AAC-48000,AAC-44100,AAC-32000,AAC-8000"
    );
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200, "{r:?}");
    let (formats, _, section) = backchannel_section(&r.body).unwrap();
    assert_eq!(formats, ["0", "96", "97", "98", "99", "100"], "{section}");
    for (pt, rate, config) in [
        (96, 16000, "1408"),
        (97, 48000, "1188"),
        (98, 44100, "1208"),
        (99, 32000, "1288"),
        (100, 8000, "1588"),
    ] {
        assert!(
            section.contains(&format!("a=rtpmap:{pt} MPEG4-GENERIC/{rate}/1\r\n")),
            "{section}"
        );
        assert!(
            section.contains(&format!(
                "a=fmtp:{pt} streamtype=5;profile-level-id=1;mode=AAC-hbr;config={config};\
                 sizelength=13;indexlength=3;indexdeltalength=3\r\n"
            )),
            "{section}"
        );
    }
}

#[test]
fn describe_without_require_has_no_backchannel() {
    let server = TestServer::start(&[]);
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(None);
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("a=sendonly"), "{}", r.body);
    assert!(r.body.contains("m=audio"));
}

#[test]
fn require_on_a_mount_without_backchannel_is_551() {
    let server = TestServer::start(&[("codecs", "")]);
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 551);
    assert_eq!(r.header("unsupported"), Some(BACKCHANNEL));
}

#[test]
fn unknown_require_tag_is_551() {
    let server = TestServer::start(&[]);
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some("com.example.teleport"));
    assert_eq!(r.status, 551);
    assert_eq!(r.header("unsupported"), Some("com.example.teleport"));
}

#[test]
fn receive_latency_defaults_to_20_ms() {
    // The jitter buffer holds each new talker's first packet this long.
    let server = TestServer::start(&[]);
    assert_eq!(server.factory.latency(), 20);
}

#[test]
fn max_talkers_refuses_extra_back_channels_with_453_but_never_viewers() {
    use common::rtsp::forward_control;
    let server = TestServer::start(&[("max-talkers", "1")]);
    let setup_client = || {
        let mut c = RtspClient::connect(server.port);
        let r = c.describe(Some(BACKCHANNEL));
        let (_, bc, _) = backchannel_section(&r.body).unwrap();
        (c, forward_control(&r.body), bc)
    };
    let (mut a, a_fwd, a_bc) = setup_client();
    assert_eq!(a.setup_tcp(&a_fwd, 0, true).status, 200);
    assert_eq!(a.setup_tcp(&a_bc, 2, true).status, 200);
    // A second back channel is refused; the same client's viewing is not.
    let (mut b, b_fwd, b_bc) = setup_client();
    assert_eq!(b.setup_tcp(&b_fwd, 0, true).status, 200);
    assert_eq!(b.setup_tcp(&b_bc, 2, true).status, 453);
    assert_eq!(b.play(true).status, 200);
    // Viewers without the back channel are never counted.
    let mut v = RtspClient::connect(server.port);
    let r = v.describe(None);
    assert_eq!(v.setup_tcp(&forward_control(&r.body), 0, false).status, 200);
    // A leaves: its seat is free for C.
    assert_eq!(a.teardown().status, 200);
    let (mut c, c_fwd, c_bc) = setup_client();
    assert_eq!(c.setup_tcp(&c_fwd, 0, true).status, 200);
    assert_eq!(c.setup_tcp(&c_bc, 2, true).status, 200);
}

/// The back channel answers every Transport header as gst-rtsp-server
/// answers it for a forward track, since both are read by GStreamer's parser
/// (`src/rtsp_headers.rs`); it refuses multicast on top. The headers of
/// rtspsrc, ffmpeg and live555 (VLC), and the edges of the grammar.
#[test]
fn back_channel_takes_the_transports_a_forward_track_takes() {
    use common::rtsp::forward_control;
    let server = TestServer::start(&[]);
    let setup = |back_channel: bool, transport: &str| {
        let mut c = RtspClient::connect(server.port);
        let r = c.describe(Some(BACKCHANNEL));
        let control = if back_channel {
            backchannel_section(&r.body).unwrap().1
        } else {
            forward_control(&r.body)
        };
        c.setup(&control, transport, true).status
    };
    let cases: &[(&str, u16)] = &[
        // rtspsrc, ffmpeg, live555: UDP and TCP.
        ("RTP/AVP;unicast;client_port=40000-40001", 200),
        ("RTP/AVP/UDP;unicast;client_port=40000-40001", 200),
        ("RTP/AVP/TCP;unicast;interleaved=0-1", 200),
        // UDP offered first, TCP second: gst-rtsp-server reads the first.
        (
            "RTP/AVP;unicast;client_port=40000-40001,RTP/AVP/TCP;unicast;interleaved=0-1",
            200,
        ),
        // Sockets bound separately; one port; none; the server picks channels.
        ("RTP/AVP;unicast;client_port=51066-50191", 200),
        ("RTP/AVP;unicast;client_port=5000", 200),
        ("RTP/AVP;unicast", 200),
        ("RTP/AVP/TCP;unicast", 200),
        ("RTP/AVP/TCP;unicast;interleaved=5-2", 200),
        (
            "RTP/AVP;unicast;client_port=5000-5001;mode=\"PLAY,RECORD\"",
            200,
        ),
        // What gst_rtsp_transport_parse refuses or the stream does not serve.
        ("RTP/AVP/TCP;unicast;interleaved=300-301", 461),
        ("RTP/AVP ; unicast ; client_port = 51234 - 51235", 461),
        (";;;===,,RTP/AVP/XYZ;interleaved=a-b", 461),
        ("RTP/SAVP;unicast;client_port=6000-6001", 461),
        ("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record", 461),
        // RTP/AVP without `unicast` is multicast to GStreamer.
        ("RTP/AVP;client_port=6000-6001", 461),
        ("RTP/AVP;multicast;port=5000-5001", 461),
    ];
    for (transport, expected) in cases {
        let forward = setup(false, transport);
        let back_channel = setup(true, transport);
        assert_eq!(
            (forward, back_channel),
            (*expected, *expected),
            "(forward, back channel) for {transport}"
        );
    }
}

/// With a multicast address pool, gst-rtsp-server serves a forward track over
/// multicast, even for a Transport header it cannot parse; the back channel
/// refuses both.
#[test]
fn back_channel_refuses_multicast_that_forward_tracks_get() {
    use common::rtsp::forward_control;
    let server = TestServer::start(&[]);
    let pool = gst_rtsp_server::RTSPAddressPool::new();
    pool.add_range("224.3.0.0", "224.3.0.10", 5000, 5010, 1)
        .unwrap();
    server.factory.set_address_pool(Some(&pool));
    for transport in ["RTP/AVP;multicast", "RTP/AVP/UDP;multicast;ttl=1"] {
        let mut c = RtspClient::connect(server.port);
        let r = c.describe(Some(BACKCHANNEL));
        let (_, bc, _) = backchannel_section(&r.body).unwrap();
        let r = c.setup(&forward_control(&r.body), transport, true);
        if r.status == 200 {
            assert!(
                r.header("transport").unwrap().contains("multicast"),
                "{r:?}"
            );
        } else {
            // A machine without a multicast route cannot join the group.
            eprintln!("no multicast here, the forward track got {r:?}");
        }
        assert_eq!(c.setup(&bc, transport, true).status, 461, "{transport}");
    }
    // A header none of whose specs parses: gst-rtsp-server goes on with a
    // default transport, multicast, and serves it from the pool.
    let garbage = "RTP/AVP/XYZ;interleaved=a-b";
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    let (_, bc, _) = backchannel_section(&r.body).unwrap();
    let r = c.setup(&forward_control(&r.body), garbage, true);
    eprintln!("forward track, {garbage}: {r:?}");
    assert_eq!(c.setup(&bc, garbage, true).status, 461, "{garbage}");
}

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

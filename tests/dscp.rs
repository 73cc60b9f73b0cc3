//! DSCP marking: the `dscp` property of the factory and of the element marks
//! the packets the server sends over UDP (the forward RTP and RTCP), and by
//! default nothing is marked. A raw client reads the TOS byte of each
//! packet it receives (IP_RECVTOS), whose upper six bits are the DSCP.

mod common;
#[path = "common/element.rs"]
mod element;

use std::net::UdpSocket;
use std::time::Duration;

use common::rtsp::{backchannel_section, forward_control, udp_pair, RtspClient, BACKCHANNEL};
use common::TestServer;
use gst::prelude::*;

/// Receives one packet on `socket` (IP_RECVTOS must be on); its TOS byte.
fn recv_tos(socket: &UdpSocket) -> u8 {
    let mut data = [0u8; 2048];
    let (_, _, tos) = common::tos::recv_with_tos(socket, &mut data).expect("a packet");
    tos.expect("a packet without IP_TOS control data")
}

/// A UDP pair whose sockets report the TOS byte of what they receive.
fn tos_reporting_pair() -> (UdpSocket, UdpSocket, String) {
    let (rtp, rtcp, transport) = udp_pair();
    for s in [&rtp, &rtcp] {
        common::tos::report_tos(s);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    (rtp, rtcp, transport)
}

/// TOS bytes of what a client receives: the first RTP packets and the
/// first RTCP packet of the forward stream.
struct Received {
    rtp: Vec<u8>,
    rtcp: u8,
}

/// Watches the forward stream over UDP, with the back channel set up too
/// (over UDP, a media with a receive stream) when `backchannel`.
fn received_tos(port: u16, backchannel: bool) -> Received {
    let mut c = RtspClient::connect(port);
    let r = c.describe(backchannel.then_some(BACKCHANNEL));
    assert_eq!(r.status, 200, "{r:?}");
    let sdp = r.body;
    let (rtp, rtcp, transport) = tos_reporting_pair();
    let r = c.setup(&forward_control(&sdp), &transport, backchannel);
    assert_eq!(r.status, 200, "{r:?}");
    // The talker's sockets: the server sends nothing there until it talks.
    let mut _talker = None;
    if backchannel {
        let (_, control, _) = backchannel_section(&sdp).expect("a back channel");
        let (bc_rtp, bc_rtcp, bc_transport) = udp_pair();
        let r = c.setup(&control, &bc_transport, true);
        assert_eq!(r.status, 200, "{r:?}");
        _talker = Some((bc_rtp, bc_rtcp));
    }
    let r = c.play(backchannel);
    assert_eq!(r.status, 200, "{r:?}");
    let rtp_tos = (0..5).map(|_| recv_tos(&rtp)).collect();
    // gst-rtsp-server sends a sender report within a few seconds.
    let rtcp_tos = recv_tos(&rtcp);
    c.teardown();
    Received {
        rtp: rtp_tos,
        rtcp: rtcp_tos,
    }
}

#[test]
fn factory_dscp_marks_rtp_and_rtcp() {
    let server = TestServer::start(&[("dscp", "46")]);
    assert_eq!(server.factory.property::<i32>("dscp"), 46);
    // The same setting as gst-rtsp-server's own property.
    assert_eq!(server.factory.property::<i32>("dscp-qos"), 46);
    let got = received_tos(server.port, true);
    // EF: DSCP 46 in the upper six bits of the TOS byte, ECN bits clear.
    assert_eq!(got.rtp, vec![46 << 2; 5], "forward RTP TOS bytes");
    assert_eq!(got.rtcp, 46 << 2, "forward RTCP TOS byte");
}

#[test]
fn factory_default_leaves_packets_unmarked() {
    let server = TestServer::start(&[]);
    assert_eq!(server.factory.property::<i32>("dscp"), -1);
    let got = received_tos(server.port, true);
    assert_eq!(got.rtp, vec![0; 5], "forward RTP TOS bytes");
    assert_eq!(got.rtcp, 0, "forward RTCP TOS byte");
}

#[test]
fn element_dscp_marks_rtp_and_rtcp() {
    let (pipeline, _capture, port) = element::serve("dscp=34");
    let bc = pipeline.by_name("bc").unwrap();
    assert_eq!(bc.property::<i32>("dscp"), 34);
    // AF41, as for video.
    let got = received_tos(port, false);
    assert_eq!(got.rtp, vec![34 << 2; 5], "forward RTP TOS bytes");
    assert_eq!(got.rtcp, 34 << 2, "forward RTCP TOS byte");
    pipeline.set_state(gst::State::Null).unwrap();
}

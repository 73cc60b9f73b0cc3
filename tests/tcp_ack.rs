//! A talker that leaves Nagle's algorithm on (most clients: no TCP_NODELAY)
//! sends its RTP interleaved in the RTSP connection. Its kernel holds each
//! small packet until the previous one is acknowledged, so the server must
//! acknowledge every packet at once, not 40 ms later (Linux's delayed ACK).

mod common;

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::rtsp::{backchannel_section, forward_control, PcmuSender, RtspClient, BACKCHANNEL};
use common::{TestServer, CAPTURE_OUTPUT, CAPTURE_RATE};

/// Segments this end has sent that the peer has not acknowledged yet
/// (TCP_INFO's tcpi_unacked).
fn unacked(stream: &TcpStream) -> u32 {
    // SAFETY: getsockopt writes at most `len` bytes into the zeroed struct.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut libc::tcp_info as *mut libc::c_void,
            &mut len,
        );
        assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
        info.tcpi_unacked
    }
}

/// Forward data every 40 ms, as a 25 fps video stream would send: each send
/// soon after a received packet puts Linux's side of the connection back in
/// its delayed-ACK ("pingpong") mode.
const LAUNCH: &str =
    "( audiotestsrc is-live=true samplesperbuffer=320 wave=sine freq=200 volume=0.1 \
    ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay0 pt=0 )";

/// The client watches the forward track, interleaved in the same connection,
/// and talks 440 Hz in 20 ms packets with Nagle on. Just before each packet
/// is written, 20 ms after the one before, that one must have been
/// acknowledged: a delayed ACK takes 40 ms at least, a prompt one well under
/// 1 ms on loopback. And the tone must come out whole.
#[test]
fn a_talker_with_nagle_on_is_acknowledged_at_once() {
    let server = TestServer::start(&[
        ("codecs", "PCMU"),
        ("output", CAPTURE_OUTPUT),
        ("launch", LAUNCH),
    ]);
    let mut c = RtspClient::connect(server.port);
    c.socket().set_nodelay(false).unwrap();
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200);
    let (_, bc_control, _) = backchannel_section(&r.body).unwrap();
    assert_eq!(c.setup_tcp(&forward_control(&r.body), 0, true).status, 200);
    assert_eq!(c.setup_tcp(&bc_control, 2, true).status, 200);
    let capture = server.capture();
    assert_eq!(c.play(true).status, 200);
    let _drain = c.drain_in_background();
    let mark = capture.mark();

    const PACKETS: usize = 100; // 2 s
    let mut sender = PcmuSender::new(0x4e41);
    let mut waiting = 0;
    for i in 0..PACKETS {
        let packet = sender.next(440.0); // returns at the packet's send time
        if i > 0 && unacked(c.socket()) > 0 {
            waiting += 1;
        }
        c.send_interleaved(2, &packet);
    }
    for _ in 0..10 {
        let packet = sender.next(0.0);
        c.send_interleaved(2, &packet);
    }
    eprintln!(
        "{waiting} of {} packets unacknowledged after 20 ms",
        PACKETS - 1
    );
    // Measured: delayed ACKs left 80 to 97 of 99 packets unacknowledged after
    // 20 ms (83 to 91 with three busy loops on the 2 cores), prompt ones 0 or
    // 1 (up to 9 with the busy loops).
    assert!(
        waiting <= PACKETS / 3,
        "{waiting} of {} packets were still unacknowledged 20 ms later: the \
         server delays its ACKs, and a client with Nagle on holds its audio",
        PACKETS - 1
    );

    assert!(capture.wait_for(mark, CAPTURE_RATE as usize * 2, Duration::from_secs(5)));
    let out = capture.since(mark);
    let loud_ms = loud_samples(&out, CAPTURE_RATE, 0.05) as u64 * 1000 / CAPTURE_RATE as u64;
    assert!(
        loud_ms >= 1900,
        "only {loud_ms} ms of the 2 s tone came out"
    );
    let f = dominant_frequency(&loud_part(&out, CAPTURE_RATE, 0.05), CAPTURE_RATE);
    assert!((f - 440.0).abs() <= 10.0, "dominant frequency {f} Hz");
}

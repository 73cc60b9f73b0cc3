//! Bad input gets a clear RTSP error or is dropped; the server never crashes,
//! hangs or stops serving. Every case ends with the server still answering a
//! normal client, and the last one with a talker still being heard.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::rtsp::{backchannel_section, rtp_packet, PcmuSender, RtspClient, BACKCHANNEL};
use common::{TestServer, CAPTURE_OUTPUT, CAPTURE_RATE};

/// What the server answers to `bytes` on a fresh connection: the status
/// code, or `None` when it closed the connection without answering.
/// Panics when it neither answers nor closes within 5 s (a hang).
fn answer(port: u16, bytes: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server may close before reading everything.
    let _ = s.write_all(bytes);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "no answer and no close within 5 s to {:?}: {e}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
            ),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .strip_prefix("RTSP/1.0 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok());
    assert!(
        buf.is_empty() || status.is_some(),
        "not an RTSP response: {text:?}"
    );
    status
}

fn still_serves(server: &TestServer) {
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200, "the server stopped serving");
    assert!(backchannel_section(&r.body).is_some());
}

#[test]
fn malformed_and_oversized_requests() {
    let server = TestServer::start(&[]);
    let url = server.url();
    // (case, request bytes, the answers allowed: a status, or None for a close)
    type Case = (&'static str, Vec<u8>, &'static [Option<u16>]);
    let cases: Vec<Case> = vec![
        (
            "garbage line",
            b"GARBAGE\r\n\r\n".to_vec(),
            &[Some(400), None],
        ),
        (
            "unknown method",
            format!("FROB {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n").into_bytes(),
            &[Some(400), Some(405), Some(501), None],
        ),
        (
            "wrong protocol version",
            format!("DESCRIBE {url} RTSP/7.3\r\nCSeq: 1\r\n\r\n").into_bytes(),
            &[Some(400), Some(505), None],
        ),
        (
            "no CSeq",
            format!("DESCRIBE {url} RTSP/1.0\r\n\r\n").into_bytes(),
            &[Some(400), None],
        ),
        (
            "header line of 100 kB",
            format!(
                "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nX-Junk: {}\r\n\r\n",
                "x".repeat(100_000)
            )
            .into_bytes(),
            &[Some(400), Some(413), Some(200), None],
        ),
        (
            "binary garbage",
            (0..65536u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            &[Some(400), None],
        ),
        (
            "URL of another server",
            b"DESCRIBE rtsp://example.invalid:1/x RTSP/1.0\r\nCSeq: 1\r\n\r\n".to_vec(),
            &[Some(404), Some(400)],
        ),
        (
            "Require with 5000 tags",
            format!(
                "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nRequire: {}\r\n\r\n",
                vec!["x.example/tag"; 5000].join(",")
            )
            .into_bytes(),
            &[Some(551), Some(400), None],
        ),
        (
            "Require of commas only",
            format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nRequire: ,,, ,\r\n\r\n").into_bytes(),
            &[Some(200), Some(551)],
        ),
        (
            "Accept of nonsense",
            format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: \x01\x02/;;q=zz\r\n\r\n")
                .into_bytes(),
            &[Some(200), Some(406), Some(400)],
        ),
        (
            "SETUP without DESCRIBE, garbage Transport",
            format!(
                "SETUP {url}/stream=1 RTSP/1.0\r\nCSeq: 1\r\nRequire: {BACKCHANNEL}\r\n\
                 Transport: ;;;===,,RTP/AVP/XYZ;interleaved=a-b\r\n\r\n"
            )
            .into_bytes(),
            &[Some(461), Some(400)],
        ),
        (
            "SETUP with channels out of range",
            format!(
                "SETUP {url}/stream=1 RTSP/1.0\r\nCSeq: 1\r\nRequire: {BACKCHANNEL}\r\n\
                 Transport: RTP/AVP/TCP;unicast;interleaved=300-301\r\n\r\n"
            )
            .into_bytes(),
            &[Some(461), Some(400)],
        ),
        (
            "multicast back channel",
            format!(
                "SETUP {url}/stream=1 RTSP/1.0\r\nCSeq: 1\r\nRequire: {BACKCHANNEL}\r\n\
                 Transport: RTP/AVP;multicast;port=5000-5001\r\n\r\n"
            )
            .into_bytes(),
            &[Some(461)],
        ),
        (
            "PLAY of a session that does not exist",
            format!("PLAY {url} RTSP/1.0\r\nCSeq: 1\r\nSession: 12345678\r\n\r\n").into_bytes(),
            &[Some(454), Some(455), Some(400)],
        ),
    ];
    for (name, bytes, allowed) in cases {
        let got = answer(server.port, &bytes);
        eprintln!("{name}: {got:?}");
        assert!(
            allowed.contains(&got),
            "{name}: got {got:?}, expected one of {allowed:?}"
        );
        still_serves(&server);
    }
    // Content-Length that promises more than comes, then the client goes.
    {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.write_all(
            format!(
                "ANNOUNCE {url} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\nv=0\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    }
    still_serves(&server);
    // Half a request, then the client vanishes.
    {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.write_all(format!("DESCRIBE {url} RTSP/1.0\r\nCSe").as_bytes())
            .unwrap();
    }
    still_serves(&server);
}

#[test]
fn rtp_garbage_is_dropped_and_talk_goes_on() {
    let server = TestServer::start(&[("output", CAPTURE_OUTPUT)]);
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    let (_, control, _) = backchannel_section(&r.body).unwrap();
    assert_eq!(c.setup_tcp(&control, 0, true).status, 200);
    let capture = server.capture();
    assert_eq!(c.play(true).status, 200);
    let _drain = c.drain_in_background();

    let valid = rtp_packet(0, 1, 160, 99, &[0xff; 160]);
    let mut garbage: Vec<Vec<u8>> = vec![
        vec![],               // empty frame
        vec![0x80],           // 1 byte
        valid[..11].to_vec(), // short of a header
        {
            let mut p = valid.clone();
            p[0] = 0x40; // version 1
            p
        },
        {
            let mut p = valid.clone();
            p[0] |= 0x20; // padding, and a last byte claiming 255 of it
            *p.last_mut().unwrap() = 255;
            p
        },
        {
            let mut p = valid.clone();
            p[0] |= 0x20; // padding length 0
            *p.last_mut().unwrap() = 0;
            p
        },
        {
            let mut p = valid[..12].to_vec();
            p[0] |= 0x10; // extension header whose length runs past the end
            p.extend_from_slice(&[0xbe, 0xde, 0xff, 0xff, 1, 2, 3, 4]);
            p
        },
        {
            let mut p = valid[..12].to_vec();
            p[0] |= 0x0f; // 15 CSRCs, 2 present
            p.extend_from_slice(&[0u8; 8]);
            p
        },
        {
            let mut p = valid.clone();
            p[0] |= 0x03; // 3 real CSRCs, then PCMU: valid, played
            p.splice(12..12, [0u8; 12]);
            p
        },
        rtp_packet(0, 2, 320, 99, &vec![0x7f; 65_000]), // huge
        rtp_packet(77, 3, 480, 99, &[0u8; 160]),        // unknown payload type
        rtp_packet(0, 4, 640, 99, &[]),                 // no payload
    ];
    // Random bytes with a valid-looking first byte.
    let mut x = 0x1234_5678u32;
    for len in [12usize, 13, 40, 172, 1500] {
        garbage.push(
            (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if i == 0 {
                        0x80
                    } else {
                        x as u8
                    }
                })
                .collect(),
        );
    }
    for g in &garbage {
        c.send_interleaved(0, g);
    }
    // Data on channels nobody set up, and RTCP garbage on the RTCP channel.
    c.send_interleaved(9, &valid);
    c.send_interleaved(255, &valid);
    c.send_interleaved(1, &[0x81, 0xc9, 0xff, 0xff]);

    // Talk goes on.
    let mark = capture.mark();
    let mut sender = PcmuSender::new(0x4242);
    for _ in 0..50 {
        let p = sender.next(440.0);
        c.send_interleaved(0, &p);
    }
    assert!(capture.wait_for(mark, CAPTURE_RATE as usize, Duration::from_secs(5)));
    let out = capture.since(mark);
    let loud_ms = loud_samples(&out, CAPTURE_RATE, 0.05) * 1000 / CAPTURE_RATE as usize;
    assert!(loud_ms >= 700, "{loud_ms} ms of the tone came out");
    let f = dominant_frequency(&loud_part(&out, CAPTURE_RATE, 0.05), CAPTURE_RATE);
    assert!((f - 440.0).abs() <= 10.0, "{f} Hz");
    still_serves(&server);
}

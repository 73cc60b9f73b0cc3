//! Soak, short version (the long one is benches/soak.py): 100 cycles of
//! connect, talk, disconnect against one in-process server, rotating through
//! TCP interleaved and UDP, each ended by TEARDOWN or by dropping the
//! connection, and between PCMU (decoded by the receiver itself) and G.722
//! (decoded by a chain of elements). Afterwards a new client must still be
//! heard, the process's open file descriptors and threads must be back within
//! a margin of their count after the first 20 cycles, every talker must have
//! been heard and have left, and no RTSP session the server still holds may
//! keep a media.
//!
//! The server runs in this process, so /proc/self is measured (RSS is too
//! noisy in-process to be checked). This file holds a single test: another
//! one running at the same time would move the counts.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::rtsp::{
    backchannel_section, forward_control, server_rtp_port, udp_pair, PcmuSender, RtspClient,
    BACKCHANNEL,
};
use common::{eventually, TestServer, CAPTURE_OUTPUT, CAPTURE_RATE};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

const CYCLES: usize = 100;
const BASELINE_AFTER: usize = 20;
const FD_MARGIN: usize = 5;
const THREAD_MARGIN: usize = 5;
/// Audio per cycle: 6 packets of 20 ms.
const TALK_PACKETS: usize = 6;
const PCMU: u8 = 0;
const G722: u8 = 9;
/// How long the figures may take to come back after the last cycle.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    TcpTeardown,
    TcpDrop,
    UdpTeardown,
    UdpDrop,
}

const KINDS: [Kind; 4] = [
    Kind::TcpTeardown,
    Kind::TcpDrop,
    Kind::UdpTeardown,
    Kind::UdpDrop,
];

impl Kind {
    fn udp(self) -> bool {
        matches!(self, Kind::UdpTeardown | Kind::UdpDrop)
    }

    fn teardown(self) -> bool {
        matches!(self, Kind::TcpTeardown | Kind::UdpTeardown)
    }
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads in /proc/self/status")
}

/// `interleaved=a-b` of a Transport reply: the RTP channel.
fn interleaved_channel(transport: &str) -> u8 {
    transport
        .split(';')
        .find_map(|p| p.strip_prefix("interleaved="))
        .and_then(|ch| ch.split('-').next())
        .and_then(|ch| ch.parse().ok())
        .unwrap_or_else(|| panic!("no interleaved channel in {transport}"))
}

/// Where a cycle sends its back channel RTP.
enum Sink {
    Interleaved(u8),
    Udp(UdpSocket, u16),
}

/// One cycle: DESCRIBE, SETUP of the forward track and the back channel,
/// PLAY, `packets` of 440 Hz with payload type `pt`, then TEARDOWN or a
/// dropped connection. Returns the RTSP session id.
fn cycle(
    server: &TestServer,
    events: &Mutex<Vec<(String, String)>>,
    kind: Kind,
    pt: u8,
    ssrc: u32,
    packets: usize,
) -> String {
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200, "DESCRIBE: {r:?}");
    let (_, backchannel, _) = backchannel_section(&r.body).unwrap();
    let forward = forward_control(&r.body);
    // Kept open until the end of the cycle, as a client's would be.
    let mut udp_sockets = Vec::new();
    let sink = if kind.udp() {
        let (rtp, rtcp, transport) = udp_pair();
        let r = c.setup(&forward, &transport, true);
        assert_eq!(r.status, 200, "SETUP forward: {r:?}");
        udp_sockets.extend([rtp, rtcp]);
        let (rtp, rtcp, transport) = udp_pair();
        let r = c.setup(&backchannel, &transport, true);
        assert_eq!(r.status, 200, "SETUP back channel: {r:?}");
        let port = server_rtp_port(r.header("transport").unwrap());
        udp_sockets.push(rtcp);
        Sink::Udp(rtp, port)
    } else {
        let r = c.setup_tcp(&forward, 0, true);
        assert_eq!(r.status, 200, "SETUP forward: {r:?}");
        let r = c.setup_tcp(&backchannel, 2, true);
        assert_eq!(r.status, 200, "SETUP back channel: {r:?}");
        Sink::Interleaved(interleaved_channel(r.header("transport").unwrap()))
    };
    let session = c.session.clone().expect("a session id");
    assert_eq!(c.play(true).status, 200, "PLAY");
    let mut sender = PcmuSender::new(ssrc);
    sender.pt = pt;
    for _ in 0..packets {
        let p = sender.next(440.0);
        match &sink {
            Sink::Interleaved(channel) => c.send_interleaved(*channel, &p),
            Sink::Udp(socket, port) => {
                socket.send_to(&p, ("127.0.0.1", *port)).unwrap();
            }
        }
    }
    // The floor follows voice, so a talker is heard once its first audio is
    // decoded; G.722 goes through rtpbin's jitter buffer and a decode chain
    // first, which may outlast 120 ms of talk on a loaded machine. Every
    // cycle waits until it is heard before it leaves.
    let heard = || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|(e, s)| e == "started" && *s == session)
    };
    assert!(
        eventually(SETTLE, heard),
        "talker of session {session} ({kind:?}) never heard"
    );
    if kind.teardown() {
        assert_eq!(c.teardown().status, 200, "TEARDOWN");
    }
    // Otherwise the connection and the sockets just go away.
    drop(c);
    drop(sink);
    drop(udp_sockets);
    session
}

/// Talk events seen: (event, session).
fn record_talk_events(server: &TestServer) -> Arc<Mutex<Vec<(String, String)>>> {
    let events: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = events.clone();
    server.factory.connect("talk-event", false, move |args| {
        let event = args[1].get::<gst::Structure>().unwrap();
        let field = |name| event.get::<String>(name).unwrap_or_default();
        seen.lock()
            .unwrap()
            .push((field("event"), field("session")));
        None
    });
    events
}

/// Weak references to the back channel receiver bin of every media, and to
/// every element of its decode chains.
fn watch_receivers(server: &TestServer) -> Arc<Mutex<Vec<glib::WeakRef<gst::Element>>>> {
    let receivers: Arc<Mutex<Vec<glib::WeakRef<gst::Element>>>> = Arc::default();
    let seen = receivers.clone();
    server.factory.connect_media_constructed(move |_, media| {
        let receiver = media
            .element()
            .downcast::<gst::Bin>()
            .ok()
            .and_then(|bin| bin.by_name("onvif-backchannel"));
        if let Some(receiver) = receiver {
            seen.lock().unwrap().push(receiver.downgrade());
            // Its decode chains come and go while it runs.
            let seen = seen.clone();
            receiver
                .downcast::<gst::Bin>()
                .unwrap()
                .connect_deep_element_added(move |_, _, element| {
                    seen.lock().unwrap().push(element.downgrade());
                });
        }
    });
    receivers
}

#[test]
fn soak_connect_talk_disconnect_tcp_udp_teardown_drop() {
    let started = Instant::now();
    let server = TestServer::start(&[("output", CAPTURE_OUTPUT)]);
    let events = record_talk_events(&server);
    let receivers = watch_receivers(&server);
    let mut sessions: HashMap<String, Kind> = HashMap::new();
    let mut baseline = None;
    for i in 0..CYCLES {
        let kind = KINDS[i % KINDS.len()];
        // PCMU is decoded by the receiver itself; G.722 (its payload here is
        // noise) goes through rtpbin and a chain of decode elements.
        let pt = if (i / KINDS.len()) % 2 == 0 {
            PCMU
        } else {
            G722
        };
        let session = cycle(&server, &events, kind, pt, 0x5000 + i as u32, TALK_PACKETS);
        sessions.insert(session, kind);
        if i == 0 {
            // The output runs from the first back channel on; read it from
            // now on, so nothing piles up in its appsink.
            server.capture();
        }
        if i + 1 == BASELINE_AFTER {
            // Let the last cycle's media go before counting.
            std::thread::sleep(Duration::from_millis(500));
            baseline = Some((fd_count(), thread_count()));
        }
    }
    let (base_fds, base_threads) = baseline.unwrap();
    let back = eventually(SETTLE, || {
        fd_count() <= base_fds + FD_MARGIN && thread_count() <= base_threads + THREAD_MARGIN
    });
    let (fds, threads) = (fd_count(), thread_count());
    eprintln!(
        "after {BASELINE_AFTER} cycles: {base_fds} fds, {base_threads} threads; \
         after {CYCLES}: {fds} fds, {threads} threads ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        back,
        "not back within margin after {CYCLES} cycles: fds {base_fds} -> {fds} (+{FD_MARGIN} \
         allowed), threads {base_threads} -> {threads} (+{THREAD_MARGIN} allowed)"
    );

    // Every talker was heard (no earlier one still held the floor) and has
    // left (its media was unprepared), dropped ones included.
    let talkers_done = || {
        let events = events.lock().unwrap();
        let of = |what: &str| -> HashSet<String> {
            events
                .iter()
                .filter(|(e, _)| e == what)
                .map(|(_, s)| s.clone())
                .collect()
        };
        let (started, left) = (of("started"), of("left"));
        sessions
            .keys()
            .filter(|s| !started.contains(*s) || !left.contains(*s))
            .map(|s| {
                (
                    s.clone(),
                    sessions[s],
                    started.contains(s),
                    left.contains(s),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(SETTLE, || talkers_done().is_empty()),
        "talkers not heard or not left \
         (session, kind, heard, left): {:?}",
        talkers_done()
    );

    // Sessions the pool still holds: gst-rtsp-server keeps those of
    // clients that dropped until someone calls gst_rtsp_session_pool_cleanup()
    // after their timeout. They must hold no media (no pipeline, no socket).
    let pool = server.session_pool();
    let held = pool.filter(None);
    let mut held_by_kind: HashMap<String, usize> = HashMap::new();
    for session in &held {
        let id = session.sessionid().unwrap().to_string();
        let kind = sessions.get(&id).copied();
        *held_by_kind
            .entry(kind.map_or("unknown".into(), |k| format!("{k:?}")))
            .or_default() += 1;
        assert!(
            kind.is_some_and(|k| !k.teardown()),
            "session {id} ({kind:?}) still in the pool"
        );
        let medias = session.filter(None);
        assert!(
            medias.is_empty(),
            "session {id} ({kind:?}) of a gone client still holds {} media",
            medias.len()
        );
    }
    eprintln!(
        "session pool still holds {} sessions, none with media: {held_by_kind:?} \
         (timeout {} s)",
        held.len(),
        held.first().map_or(0, |s| s.timeout())
    );
    drop(held);

    // gst-rtsp-server 1.22 keeps one reference too many to every back
    // channel bin (gst_rtsp_onvif_media_collect_backchannel refs it twice
    // and releases it once); the media drops it, or each finished back
    // channel would leave its receiver and decode chain behind (~50 KB).
    let receivers = receivers.lock().unwrap();
    let alive = receivers.iter().filter(|r| r.upgrade().is_some()).count();
    eprintln!(
        "back channel receivers and decode elements of finished clients still alive: {alive} of {}",
        receivers.len()
    );
    assert_eq!(
        alive, 0,
        "receivers or decode elements of finished clients leaked"
    );
    drop(receivers);

    // A new client still talks, and its tone comes out.
    let capture = server.capture();
    let mark = capture.mark();
    let mut c = RtspClient::connect(server.port);
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200);
    let (_, backchannel, _) = backchannel_section(&r.body).unwrap();
    assert_eq!(c.setup_tcp(&forward_control(&r.body), 0, true).status, 200);
    let r = c.setup_tcp(&backchannel, 2, true);
    assert_eq!(r.status, 200);
    let channel = interleaved_channel(r.header("transport").unwrap());
    assert_eq!(c.play(true).status, 200);
    let _drain = c.drain_in_background();
    let mut sender = PcmuSender::new(0xf1a1);
    for freq in [440.0; 30].into_iter().chain([0.0; 10]) {
        let p = sender.next(freq);
        c.send_interleaved(channel, &p);
    }
    assert!(capture.wait_for(mark, CAPTURE_RATE as usize, Duration::from_secs(5)));
    let out = capture.since(mark);
    let loud_ms = loud_samples(&out, CAPTURE_RATE, 0.05) * 1000 / CAPTURE_RATE as usize;
    assert!(
        loud_ms >= 500,
        "new client after the soak: {loud_ms} ms of audio"
    );
    let f = dominant_frequency(&loud_part(&out, CAPTURE_RATE, 0.05), CAPTURE_RATE);
    assert!((f - 440.0).abs() <= 10.0, "new client: {f} Hz");
    c.shutdown();
    eprintln!("soak took {:.1} s", started.elapsed().as_secs_f64());
}

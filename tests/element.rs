//! onvifbackchannelsrc in a pipeline: a client talks, the src pad outputs it,
//! and talk events reach the bus.

mod common;

use std::time::Duration;

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::rtsp::{backchannel_section, PcmuSender, RtspClient, BACKCHANNEL};
use common::FORWARD_LAUNCH;
use gst::prelude::*;

#[path = "common/element.rs"]
mod element;
use element::serve;

#[test]
fn element_outputs_what_a_client_says_and_posts_talk_events() {
    // Props given later win: codecs=PCMU,PCMA replaces serve()'s PCMU.
    let (pipeline, capture, port) = serve("codecs=PCMU,PCMA");

    // Silence flows while nobody talks.
    assert!(capture.wait_for(0, 3200, Duration::from_secs(5)));
    assert_eq!(loud_samples(&capture.since(0), 16000, 0.01), 0);

    let mut c = RtspClient::connect(port);
    let r = c.describe(Some(BACKCHANNEL));
    let (formats, control, _) = backchannel_section(&r.body).unwrap();
    assert_eq!(formats, vec!["0", "8"]);
    assert_eq!(c.setup_tcp(&control, 0, true).status, 200);
    assert_eq!(c.play(true).status, 200);
    let _drain = c.drain_in_background();
    let mark = capture.mark();
    let mut sender = PcmuSender::new(42);
    for _ in 0..40 {
        let p = sender.next(440.0);
        c.send_interleaved(0, &p);
    }
    assert!(capture.wait_for(mark, 16000, Duration::from_secs(5)));
    let out = capture.since(mark);
    let loud = loud_samples(&out, 16000, 0.05);
    assert!(
        loud >= 16000 * 7 / 10,
        "{} ms of 800 ms came out",
        loud / 16
    );
    let f = dominant_frequency(&loud_part(&out, 16000, 0.05), 16000);
    assert!((f - 440.0).abs() <= 10.0, "{f} Hz");

    // The client vanishes: the floor is released and the bus is told.
    c.shutdown();
    let bus = pipeline.bus().unwrap();
    let mut events = Vec::new();
    let mut left = None;
    while left.is_none() {
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Element],
        ) else {
            break;
        };
        let s = msg.structure().unwrap();
        if s.name() == "onvifbackchannel-talk" {
            let event = s.get::<String>("event").unwrap();
            if event == "left" {
                left = Some(s.to_owned());
            }
            events.push(event);
        }
    }
    let left = left.expect("a left event");
    assert_eq!(left.get::<String>("address").unwrap(), "127.0.0.1");
    assert!(!left.get::<String>("session").unwrap().is_empty());
    assert_eq!(left.get::<String>("codec").unwrap(), "PCMU");
    assert_eq!(left.get::<u64>("received").unwrap(), 40);
    assert_eq!(left.get::<u64>("lost").unwrap(), 0);
    assert_eq!(left.get::<u64>("dropped").unwrap(), 0);
    assert_eq!(
        events.first().map(String::as_str),
        Some("started"),
        "{events:?}"
    );
    assert!(events.contains(&"left".to_string()), "{events:?}");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// The forward pipeline stops with the element: once `set_state(Null)` has
/// returned, nothing of it runs any more. (gst-launch calls gst_deinit()
/// right after; a forward pipeline still closing its encoder on a thread of
/// its own then crashed in the debug log's fprintf and hung.) Seen here
/// through a UDP port that the forward pipeline holds.
#[test]
fn the_forward_pipeline_stops_with_the_element() {
    let free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let launch = format!(
        "( audiotestsrc is-live=true ! audio/x-raw,rate=8000,channels=1 ! mulawenc \
         ! rtppcmupay name=pay0 pt=0 \
         udpsrc address=127.0.0.1 port={port} reuse=false ! fakesink async=false )"
    );
    let (pipeline, _capture, rtsp_port) = serve(&format!("launch=\"{launch}\""));
    let mut c = RtspClient::connect(rtsp_port);
    assert_eq!(c.describe(None).status, 200);
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(),
        "the forward pipeline holds port {port}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still held once the element is in NULL"
    );
}

/// The pipeline must fail to start; returns the error message it posted.
fn error_on_start(pipeline: &gst::Element) -> String {
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .expect("error message");
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    pipeline.set_state(gst::State::Null).unwrap();
    err.error().to_string()
}

#[test]
fn port_in_use_is_a_clear_error() {
    common::init();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let src = gst::ElementFactory::make("onvifbackchannelsrc")
        .property("address", "127.0.0.1")
        .property("port", port as u32)
        .build()
        .unwrap();
    let pipeline = gst::Pipeline::new();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &sink]).unwrap();
    src.link(&sink).unwrap();
    let text = error_on_start(pipeline.upcast_ref());
    assert!(text.contains(&port.to_string()), "{text}");
}

#[test]
fn unknown_codec_is_a_clear_error() {
    common::init();
    let pipeline =
        gst::parse::launch("onvifbackchannelsrc port=0 codecs=PCMU,MP3 ! fakesink").unwrap();
    let text = error_on_start(&pipeline);
    assert!(text.contains("unknown codec 'MP3'"), "{text}");
}

#[test]
fn mounts_on_an_application_server() {
    use gst_rtsp_server::prelude::*;
    common::init();
    let server = gst_rtsp_server::RTSPOnvifServer::new();
    server.set_address("127.0.0.1");
    server.set_service("0");
    let ctx = glib::MainContext::new();
    let main_loop = glib::MainLoop::new(Some(&ctx), false);
    server.attach(Some(&ctx)).unwrap();
    let port = server.bound_port() as u16;
    let thread = {
        let main_loop = main_loop.clone();
        std::thread::spawn(move || ctx.with_thread_default(|| main_loop.run()).unwrap())
    };

    let src = gst::ElementFactory::make("onvifbackchannelsrc")
        .property("server", &server)
        .property("mount-point", "/talk")
        .property("codecs", "PCMA")
        .property("launch", FORWARD_LAUNCH)
        .build()
        .unwrap();
    let pipeline = gst::Pipeline::new();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &sink]).unwrap();
    src.link(&sink).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let mut c = RtspClient::connect(port);
    c.url = format!("rtsp://127.0.0.1:{port}/talk");
    let r = c.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200);
    let (formats, _, _) = backchannel_section(&r.body).unwrap();
    assert_eq!(formats, vec!["8"]);

    // Stopping the element removes its mount; the application's server stays.
    pipeline.set_state(gst::State::Null).unwrap();
    let mut c = RtspClient::connect(port);
    c.url = format!("rtsp://127.0.0.1:{port}/talk");
    assert_eq!(c.describe(Some(BACKCHANNEL)).status, 404);
    let quit = main_loop.clone();
    main_loop.context().invoke(move || quit.quit());
    thread.join().unwrap();
}

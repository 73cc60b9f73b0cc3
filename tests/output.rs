//! An output that cannot play (missing device) is reported once; RTSP keeps serving.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::rtsp::{backchannel_section, PcmuSender, RtspClient, BACKCHANNEL};
use common::TestServer;
use gst::prelude::*;

#[test]
fn missing_device_is_reported_once_and_rtsp_keeps_serving() {
    let server = TestServer::start(&[("output", "alsasink device=hw:CARD=NoSuchCard")]);
    let errors = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let e = errors.clone();
    let tx = std::sync::Mutex::new(tx);
    server.factory.connect("output-error", false, move |args| {
        e.fetch_add(1, Ordering::SeqCst);
        let _ = tx.lock().unwrap().send(args[1].get::<String>().unwrap());
        None
    });
    for round in 0..2 {
        let mut c = RtspClient::connect(server.port);
        let r = c.describe(Some(BACKCHANNEL));
        assert_eq!(r.status, 200, "round {round}");
        let (_, control, _) = backchannel_section(&r.body).unwrap();
        assert_eq!(c.setup_tcp(&control, 0, true).status, 200);
        assert_eq!(c.play(true).status, 200);
        let mut sender = PcmuSender::new(9);
        for _ in 0..10 {
            let p = sender.next(440.0);
            c.send_interleaved(0, &p);
        }
        c.shutdown();
        if round == 0 {
            let text = rx
                .recv_timeout(std::time::Duration::from_secs(5))
                .expect("output error reported");
            assert!(text.contains("output failed"), "{text}");
        }
    }
    assert_eq!(errors.load(Ordering::SeqCst), 1);
}

#[test]
fn one_output_pipeline_serves_every_session_and_outlives_them() {
    let server = TestServer::start(&[]);
    let mut pipelines = Vec::new();
    for _ in 0..3 {
        let mut c = RtspClient::connect(server.port);
        let r = c.describe(Some(BACKCHANNEL));
        let (_, control, _) = backchannel_section(&r.body).unwrap();
        assert_eq!(c.setup_tcp(&control, 0, true).status, 200);
        assert_eq!(c.play(true).status, 200);
        pipelines.push(
            server
                .factory
                .property::<Option<gst::Pipeline>>("output-pipeline")
                .unwrap(),
        );
        assert_eq!(c.teardown().status, 200);
    }
    assert!(pipelines.iter().all(|p| p == &pipelines[0]));
    // Its start to PLAYING is asynchronous, and the three clients may all
    // be done before it completes: wait for it.
    let (_, state, _) = pipelines[0].state(gst::ClockTime::from_seconds(5));
    assert_eq!(state, gst::State::Playing);
}

//! `max-clients` of onvifbackchannelsrc: connections beyond it get 503
//! Service Unavailable and are closed, with a log line and a bus message;
//! a slot that frees up is taken by the next connection.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::rtsp::{backchannel_section, RtspClient, BACKCHANNEL};
use gst::prelude::*;

#[path = "common/element.rs"]
mod element;
use element::serve;

fn options(c: &mut RtspClient) -> u16 {
    let url = c.url.clone();
    c.request("OPTIONS", &url, &[]).status
}

/// A DESCRIBE without the back channel: the cheapest request that needs a
/// slot (OPTIONS is answered either way).
fn describe(c: &mut RtspClient) -> u16 {
    c.describe(None).status
}

/// The next `onvifbackchannel-client-refused` message on the bus.
fn refused_message(pipeline: &gst::Pipeline) -> Option<gst::Structure> {
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(5),
        &[gst::MessageType::Element],
    ) {
        let s = msg.structure().unwrap();
        if s.name() == "onvifbackchannel-client-refused" {
            return Some(s.to_owned());
        }
    }
    None
}

#[test]
fn the_connection_beyond_max_clients_gets_503_until_a_slot_frees() {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = log.clone();
    common::init();
    gst::log::set_threshold_for_name("onvifbackchannelsrc", gst::DebugLevel::Info);
    gst::log::remove_default_log_function();
    let _log_fn = gst::log::add_log_function(move |cat, _, _, _, _, _, msg| {
        if cat.name() == "onvifbackchannelsrc" {
            if let Some(m) = msg.get() {
                sink.lock().unwrap().push(m.to_string());
            }
        }
    });
    let (pipeline, _capture, port) = serve("max-clients=2");

    // Two clients in, with the back channel set up.
    let mut first = RtspClient::connect(port);
    let mut second = RtspClient::connect(port);
    for c in [&mut first, &mut second] {
        let r = c.describe(Some(BACKCHANNEL));
        assert_eq!(r.status, 200);
        let (_, control, _) = backchannel_section(&r.body).unwrap();
        assert_eq!(c.setup_tcp(&control, 0, true).status, 200);
    }

    // The third: 503 to whatever it asks, then the server closes it.
    let mut third = RtspClient::connect(port);
    assert_eq!(third.describe(Some(BACKCHANNEL)).status, 503);
    assert!(
        third.closed_by_server(Duration::from_secs(5)),
        "a refused connection stays open"
    );
    let refused = refused_message(&pipeline).expect("a client-refused message");
    assert_eq!(refused.get::<String>("address").unwrap(), "127.0.0.1");
    assert_eq!(refused.get::<u32>("max-clients").unwrap(), 2);
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("refusing client 127.0.0.1") && l.contains("max-clients is 2")),
        "no log line about the refusal"
    );
    // A refused connection held no slot: the next one is refused too, but
    // may ask OPTIONS.
    let mut fourth = RtspClient::connect(port);
    assert_eq!(options(&mut fourth), 200);
    assert_eq!(describe(&mut fourth), 503);
    assert_eq!(
        options(&mut second),
        200,
        "an admitted client is still served"
    );

    // One leaves: a new connection gets in (once the server has seen the
    // connection close, which nothing here can wait on).
    first.shutdown();
    assert!(
        common::eventually(Duration::from_secs(5), || describe(
            &mut RtspClient::connect(port)
        ) == 200),
        "no slot after a client left"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn the_default_admits_twenty_and_zero_admits_all() {
    let (pipeline, _capture, port) = serve("");
    let bc = pipeline.by_name("bc").unwrap();
    assert_eq!(bc.property::<u32>("max-clients"), 20);
    let mut clients: Vec<RtspClient> = (0..20).map(|_| RtspClient::connect(port)).collect();
    for c in &mut clients {
        assert_eq!(describe(c), 200);
    }
    assert_eq!(describe(&mut RtspClient::connect(port)), 503);

    // Changed while playing: applies to the next connection.
    bc.set_property("max-clients", 0u32);
    for _ in 0..10 {
        let mut c = RtspClient::connect(port);
        assert_eq!(describe(&mut c), 200);
        clients.push(c);
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

//! onvifbackchannelsrc in a test pipeline, its output captured.
//! Included with `#[path]` by the tests that need it.

use super::common;
use super::common::{Capture, FORWARD_LAUNCH};
use gst::prelude::*;

/// onvifbackchannelsrc with `props`, its output captured at 16 kHz.
pub fn serve(props: &str) -> (gst::Pipeline, Capture, u16) {
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "onvifbackchannelsrc name=bc address=127.0.0.1 port=0 codecs=PCMU launch=\"{FORWARD_LAUNCH}\" {props} \
         ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=16000,channels=1 \
         ! appsink name=capture sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let capture = Capture::attach(
        &pipeline
            .by_name("capture")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let port = pipeline
        .by_name("bc")
        .unwrap()
        .property::<i32>("bound-port");
    assert!(port > 0, "bound-port {port}");
    (pipeline, capture, port as u16)
}

/// Waits for the next `onvifbackchannel-talk` message of `kind` on the
/// pipeline's bus (other messages are dropped); `None` after `timeout`.
#[allow(dead_code)] // not every test that includes this file waits for events
pub fn talk_event(
    pipeline: &gst::Pipeline,
    kind: &str,
    timeout: std::time::Duration,
) -> Option<gst::Structure> {
    let bus = pipeline.bus().unwrap();
    let start = std::time::Instant::now();
    while let Some(left) = timeout.checked_sub(start.elapsed()) {
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::Element],
        )?;
        let s = msg.structure().unwrap();
        if s.name() == "onvifbackchannel-talk" && s.get::<String>("event").unwrap() == kind {
            return Some(s.to_owned());
        }
    }
    None
}

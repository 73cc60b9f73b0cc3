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

//! The element's default forward streams: H.264 (x264enc) when it is
//! installed, else VP8 with a warning on the bus. One process per test
//! binary: this one hides x264enc from the registry before the element's
//! class is made, so it is the only test here.

use gst::prelude::*;

#[test]
fn without_x264enc_the_default_is_vp8_and_a_warning_says_so() {
    gst::init().unwrap();
    // The machine has x264enc (CI installs gstreamer1.0-plugins-ugly): the
    // fallback is only reachable by hiding it.
    let registry = gst::Registry::get();
    let x264 = registry
        .lookup_feature("x264enc")
        .expect("x264enc is installed (gstreamer1.0-plugins-ugly)");
    // With it, the default would be H.264: checked in the same process before
    // hiding would make the class (and its default) H.264 for good, so the
    // H.264 case is left to tests/onvif.rs and the client tests.
    registry.remove_feature(&x264);
    assert!(gst::ElementFactory::find("x264enc").is_none());

    gstonvifbackchannel::plugin_register_static().unwrap();
    let pipeline = gst::parse::launch(
        "onvifbackchannelsrc name=bc address=127.0.0.1 port=0 ! fakesink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let element = pipeline.by_name("bc").unwrap();
    let launch = element.property::<String>("launch");
    assert!(launch.contains("vp8enc"), "default launch: {launch}");
    assert!(!launch.contains("x264enc"), "default launch: {launch}");

    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let warning = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Warning],
        )
        .expect("a warning about the missing x264enc");
    let gst::MessageView::Warning(w) = warning.view() else {
        unreachable!()
    };
    let text = w.error().to_string();
    assert!(
        text.contains("x264enc") && text.contains("VP8"),
        "warning: {text}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

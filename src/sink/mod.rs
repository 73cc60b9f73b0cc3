//! The `onvifbackchannelsink` element: talks into a camera's ONVIF audio
//! back channel (issue 13).
//!
//! Every protocol decision is in plain Rust modules without GStreamer
//! objects: [`plan`] (what the camera takes and what we send), [`rtsp`]
//! (header values, auth, keepalive schedule, reconnect backoff) and
//! [`encode`] (which encoder and payloader send each codec).
//!
//! The glue: [`connection`] (GstRTSPConnection, which gstreamer-rtsp does
//! not bind), [`session`] (one back channel session: signalling, RTP,
//! keepalives, TEARDOWN) and the element (`imp.rs`: a bin whose send chain
//! is built when the first caps come, and the I/O thread).

use gst::glib;
use gst::prelude::*;

pub mod connection;
pub mod encode;
mod imp;
pub mod plan;
pub mod rtsp;
pub mod session;

pub use imp::TransportValue;

glib::wrapper! {
    pub struct OnvifBackchannelSink(ObjectSubclass<imp::OnvifBackchannelSink>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "onvifbackchannelsink",
        gst::Rank::NONE,
        OnvifBackchannelSink::static_type(),
    )
}

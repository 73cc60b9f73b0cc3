//! `onvifbackchannelsrc`: a live audio source that runs an RTSP server (or
//! mounts on an application's) with the ONVIF back channel and outputs what
//! clients say.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct OnvifBackchannelSrc(ObjectSubclass<imp::OnvifBackchannelSrc>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "onvifbackchannelsrc",
        gst::Rank::NONE,
        OnvifBackchannelSrc::static_type(),
    )
}

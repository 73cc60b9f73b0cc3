// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! # onvifbackchannel
//!
//! ONVIF audio back channel (two-way audio) for gst-rtsp-server: the media
//! factory `GstOnvifBackchannelMediaFactory` for applications with their own
//! GstRTSPServer, and the element `onvifbackchannelsrc` for gst-launch-1.0.

use gst::glib;

pub mod client_limit;
pub mod codecs;
pub mod direct;
pub mod factory;
mod forward;
pub mod http;
mod media;
pub mod onvif;
mod onvifbackchannelsrc;
mod output;
mod outputsrc;
pub mod pcm;
mod receiver;
pub mod reorder;
pub mod rtp;
pub mod rtsp_headers;
pub mod sdp;
pub mod sink;
mod talk;
pub mod talk_floor;
pub mod talk_mixer;
mod tcp_ack;
pub mod upsample;
mod upstream;
pub mod users;
pub mod vad;
pub mod webrtc;

pub use factory::OnvifBackchannelMediaFactory;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    factory::register();
    onvifbackchannelsrc::register(plugin)?;
    sink::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    onvifbackchannel,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);

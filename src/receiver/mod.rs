//! The receive path of one client's back channel: a bin placed in the media
//! pipeline, named `onvif-backchannel` as gst-rtsp-server expects, that checks
//! every RTP packet, decodes it by its payload type and hands the audio to
//! the mount's [`Talk`](crate::talk::Talk).

use std::sync::Arc;

use gst::glib;
use gst::subclass::prelude::*;

use crate::codecs::{AssignedCodec, CodecList};
use crate::talk::Talk;

mod imp;

glib::wrapper! {
    pub struct BackchannelReceiver(ObjectSubclass<imp::BackchannelReceiver>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

/// Name gst-rtsp-server looks for in the media pipeline.
pub const BIN_NAME: &str = "onvif-backchannel";

impl BackchannelReceiver {
    pub fn new(codecs: CodecList, talk: Arc<Talk>) -> Self {
        let obj: Self = glib::Object::builder().property("name", BIN_NAME).build();
        obj.imp().configure(codecs, talk);
        obj
    }

    /// Codecs this back channel accepts, with their payload types.
    pub fn codecs(&self) -> CodecList {
        self.imp().codecs()
    }

    /// Hooks the receive path onto the media's rtpbin; `session` is the
    /// index of the back channel stream.
    pub fn attach_rtpbin(&self, rtpbin: &gst::Element, session: u32) {
        self.imp().attach_rtpbin(rtpbin, session)
    }

    /// Packets are only played between PLAY and PAUSE/TEARDOWN.
    pub fn set_playing(&self, playing: bool) {
        self.imp().set_playing(playing)
    }

    /// The identity of this back channel in the mount's talk.
    pub fn talker(&self) -> crate::talk_floor::TalkerId {
        self.imp().talker()
    }

    /// Whether this back channel belongs to the mount whose talk is `talk`.
    pub fn talks_to(&self, talk: &Arc<Talk>) -> bool {
        self.imp().talks_to(talk)
    }

    /// Whether the client may talk; see the factory's `onvifbackchannel.talk`
    /// permission.
    pub fn set_talk_allowed(&self, allowed: bool) {
        self.imp().set_talk_allowed(allowed)
    }

    pub fn talk_allowed(&self) -> bool {
        self.imp().talk_allowed()
    }

    /// Who the client is, for talk events.
    pub fn identify(&self, address: Option<String>, session: Option<String>) {
        self.imp().identify(address, session)
    }

    /// The client's SETUP of this back channel was answered with 200 OK:
    /// from now on it is a talker that applications hear about.
    pub fn set_up(&self) {
        self.imp().set_up()
    }

    /// The socket of the client's RTSP connection when the back channel is
    /// interleaved in it (None over UDP): received packets are acknowledged
    /// at once.
    pub fn set_ack_socket(&self, socket: Option<crate::tcp_ack::AckSocket>) {
        self.imp().set_ack_socket(socket)
    }

    /// The client is gone: release the floor and drop queued audio.
    pub fn leave(&self) {
        self.imp().leave()
    }
}

/// RTP caps of one advertised codec, as depayloaders and rtpbin want them.
pub fn rtp_caps(c: &AssignedCodec) -> gst::Caps {
    let mut s = gst::Structure::builder("application/x-rtp")
        .field("media", "audio")
        .field("payload", c.pt as i32)
        .field("clock-rate", c.codec.clock_rate as i32)
        .field("encoding-name", c.codec.encoding_name)
        .build();
    if let Some(ch) = c.codec.channels {
        s.set("encoding-params", ch.to_string());
    }
    for (k, v) in c.codec.fmtp_params() {
        s.set(k, v);
    }
    gst::Caps::builder_full().structure(s).build()
}

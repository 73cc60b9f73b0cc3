//! `GstOnvifBackchannelMediaFactory`: a GstRTSPOnvifMediaFactory whose mounts
//! get the ONVIF audio back channel. Mount it on a GstRTSPOnvifServer like any
//! media factory; set `launch` for the forward streams as usual.

use std::sync::Arc;

use gst::glib;
use gst::subclass::prelude::*;

use crate::talk::Talk;
use crate::talk_floor::TalkPolicy;

mod imp;

pub use crate::forward::StreamDescription;
pub use imp::{dscp_property, talk_properties, DEFAULT_LATENCY_MS, TALK_PERMISSION};

glib::wrapper! {
    pub struct OnvifBackchannelMediaFactory(ObjectSubclass<imp::OnvifBackchannelMediaFactory>)
        @extends gst_rtsp_server::RTSPOnvifMediaFactory, gst_rtsp_server::RTSPMediaFactory;
}

impl Default for OnvifBackchannelMediaFactory {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl OnvifBackchannelMediaFactory {
    /// The mount's talk state. With `external_output`, the factory builds no
    /// output pipeline of its own: the caller plays the talk (this is what
    /// `onvifbackchannelsrc` does).
    pub fn talk(&self, external_output: bool) -> Arc<Talk> {
        self.imp().talk(external_output)
    }

    /// What the forward streams of `launch` carry (caps and encoder), for an
    /// ONVIF profile. Starts the forward pipeline if it is stopped, until the
    /// caps are known (blocks up to a few seconds the first time).
    pub fn forward_streams(&self) -> Result<Vec<crate::forward::StreamDescription>, String> {
        self.imp().forward_streams()
    }

    /// The back channel's codecs, in the order the SDP lists them.
    pub fn codec_list(&self) -> crate::codecs::CodecList {
        self.imp().codec_list()
    }

    /// Answers a WebRTC (WHIP) offer with a talker on this mount's floor, in
    /// the background: `on_answer` gets the answer or the refusal (status
    /// and reason), `on_end` the end of an answered session. See the
    /// `webrtc-offer` action signal for the blocking form.
    pub fn webrtc_offer(
        &self,
        offer: crate::webrtc::talker::Offer,
        on_answer: Box<dyn FnOnce(crate::webrtc::talker::Outcome) + Send>,
        on_end: crate::webrtc::talker::OnEnd,
    ) {
        let imp = self.imp();
        let settings = imp.webrtc_settings();
        imp.webrtc()
            .offer(offer, &settings, on_answer, imp.webrtc_on_end(Some(on_end)));
    }

    /// Ends a WebRTC talker; false if there is no such session.
    pub fn webrtc_hang_up(&self, session: &str) -> bool {
        self.imp()
            .webrtc_if_any()
            .is_some_and(|t| t.hang_up(session))
    }

    /// A sign of life from a WebRTC talker's peer (a keepalive GET on its
    /// WHIP resource); false if there is no such session.
    pub fn webrtc_touch(&self, session: &str) -> bool {
        self.imp().webrtc_if_any().is_some_and(|t| t.touch(session))
    }

    /// Ends every WebRTC talker and waits until they are torn down.
    pub fn webrtc_stop(&self) {
        if let Some(talkers) = self.imp().webrtc_if_any() {
            talkers.stop();
        }
    }

    /// Stops the forward pipeline on the calling thread and lets it go (the
    /// next client starts a new one): for `onvifbackchannelsrc` going to
    /// NULL, so that none of its threads outlive the element's stop.
    pub fn stop_forward(&self) {
        self.imp().stop_forward();
    }

    /// Why the last value set on `codecs` was refused (the old list was kept).
    pub fn codecs_error(&self) -> Option<String> {
        self.imp().codecs_error()
    }
}

/// Values of the `talk-policy` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstOnvifBackchannelTalkPolicy")]
pub enum TalkPolicyValue {
    #[default]
    #[enum_value(
        name = "Exclusive: the first talker holds the floor until silent or gone",
        nick = "exclusive"
    )]
    Exclusive = 0,
    #[enum_value(
        name = "Latest: a talker that starts talking takes the floor from the current one",
        nick = "latest"
    )]
    Latest = 1,
    #[enum_value(
        name = "Mix: every talker is heard, summed under a limiter",
        nick = "mix"
    )]
    Mix = 2,
}

impl From<TalkPolicyValue> for TalkPolicy {
    fn from(v: TalkPolicyValue) -> Self {
        match v {
            TalkPolicyValue::Exclusive => TalkPolicy::Exclusive,
            TalkPolicyValue::Latest => TalkPolicy::Latest,
            TalkPolicyValue::Mix => TalkPolicy::Mix,
        }
    }
}

pub fn register() {
    use glib::prelude::StaticType;
    OnvifBackchannelMediaFactory::static_type();
    TalkPolicyValue::static_type();
}

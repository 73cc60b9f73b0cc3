//! The live source at the head of every output: it plays the mount's
//! [`Talk`](crate::talk::Talk) in 10 ms blocks paced by the pipeline clock,
//! silence while nobody talks, so the sink never underruns.

use std::sync::Arc;

use gst::glib;
use gst::subclass::prelude::*;

use crate::talk::Talk;

mod imp;

glib::wrapper! {
    pub struct TalkOutputSrc(ObjectSubclass<imp::TalkOutputSrc>)
        @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

impl TalkOutputSrc {
    pub fn new(talk: Option<Arc<Talk>>) -> Self {
        let obj: Self = glib::Object::new();
        obj.set_talk(talk);
        obj
    }

    /// The talk to play; silence without one.
    pub fn set_talk(&self, talk: Option<Arc<Talk>>) {
        *self.imp().talk.lock().unwrap() = talk;
    }
}

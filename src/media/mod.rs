//! The media of a mount with a back channel: shapes the SDP into the ONVIF
//! form and hooks the receive path onto the media's rtpbin.

use gst::glib;

mod imp;

glib::wrapper! {
    pub struct OnvifBackchannelMedia(ObjectSubclass<imp::OnvifBackchannelMedia>)
        @extends gst_rtsp_server::RTSPOnvifMedia, gst_rtsp_server::RTSPMedia;
}

impl OnvifBackchannelMedia {
    /// The back channel receive bin, when the client asked for it.
    pub fn receiver(&self) -> Option<crate::receiver::BackchannelReceiver> {
        use gst::subclass::prelude::ObjectSubclassIsExt;
        self.imp().receiver()
    }
}

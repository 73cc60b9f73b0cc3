//! The media of a mount with a back channel: shapes the SDP into the ONVIF
//! form and hooks the receive path onto the media's rtpbin.

use gst::glib;

mod imp;

glib::wrapper! {
    pub struct OnvifBackchannelMedia(ObjectSubclass<imp::OnvifBackchannelMedia>)
        @extends gst_rtsp_server::RTSPOnvifMedia, gst_rtsp_server::RTSPMedia;
}

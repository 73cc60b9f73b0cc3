use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;

use crate::receiver::{BackchannelReceiver, BIN_NAME};
use crate::sdp;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-media",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel media and SDP"),
    )
});

#[derive(Default)]
pub struct OnvifBackchannelMedia {}

#[glib::object_subclass]
impl ObjectSubclass for OnvifBackchannelMedia {
    const NAME: &'static str = "GstOnvifBackchannelMedia";
    type Type = super::OnvifBackchannelMedia;
    type ParentType = gst_rtsp_server::RTSPOnvifMedia;
}

impl ObjectImpl for OnvifBackchannelMedia {}

impl OnvifBackchannelMedia {
    /// The receive bin, present when the client asked for the back channel.
    pub(super) fn receiver(&self) -> Option<BackchannelReceiver> {
        let element = self.obj().element();
        let bin = element.downcast_ref::<gst::Bin>()?;
        bin.by_name(BIN_NAME)?
            .downcast::<BackchannelReceiver>()
            .ok()
    }

    /// gst_rtsp_onvif_media_collect_backchannel() moves the back channel bin
    /// into a latency bin and keeps one reference too many (it takes two and
    /// releases one), so every client's receiver, with its decoders, outlived
    /// the media: about 48 kB per back channel. Once the media is set up the
    /// receiver's references are its parent's, that stray one, and
    /// `receiver`; the stray one is dropped here, and only when it is there.
    fn drop_stray_reference(&self, receiver: BackchannelReceiver) {
        let parent_is_latency_bin = receiver
            .parent()
            .is_some_and(|p| p.type_().name() == "GstRTSPLatencyBin");
        let refs = receiver.ref_count();
        if !parent_is_latency_bin || refs != 3 {
            gst::debug!(
                CAT,
                imp = self,
                "receiver has {refs} references, no stray one to drop"
            );
            return;
        }
        gst::debug!(
            CAT,
            imp = self,
            "dropping the reference gst-rtsp-server leaks on the back channel bin"
        );
        // SAFETY: the stray reference belongs to nobody; the parent's and
        // ours stay valid, so the object outlives this call.
        unsafe {
            glib::gobject_ffi::g_object_unref(receiver.as_ptr() as *mut glib::gobject_ffi::GObject);
        }
    }

    /// Index of the stream fed by the client (the one with a sink pad).
    fn backchannel_stream(&self) -> Option<gst_rtsp_server::RTSPStream> {
        let media = self.obj();
        (0..media.n_streams())
            .filter_map(|i| media.stream(i))
            .find(|s| s.sinkpad().is_some())
    }
}

impl RTSPMediaImpl for OnvifBackchannelMedia {
    fn setup_rtpbin(&self, rtpbin: &gst::Element) -> Result<(), gst::LoggableError> {
        self.parent_setup_rtpbin(rtpbin)?;
        if let (Some(receiver), Some(stream)) = (self.receiver(), self.backchannel_stream()) {
            receiver.attach_rtpbin(rtpbin, stream.index());
            self.drop_stray_reference(receiver);
        }
        Ok(())
    }

    fn setup_sdp(
        &self,
        sdp: &mut gst_sdp::SDPMessageRef,
        info: &gst_rtsp_server::subclass::SDPInfo,
    ) -> Result<(), gst::LoggableError> {
        let Some(receiver) = self.receiver() else {
            return self.parent_setup_sdp(sdp, info);
        };
        // gst-rtsp-server writes one sendonly m= line per codec; write into a
        // scratch message and copy it over with those folded into one.
        let mut scratch = gst_sdp::SDPMessage::new();
        self.parent_setup_sdp(&mut scratch, info)?;
        for attr in scratch.attributes() {
            sdp.add_attribute(attr.key(), attr.value());
        }
        let sections: Vec<Vec<sdp::Attribute>> = scratch
            .medias()
            .map(|m| {
                m.attributes()
                    .map(|a| (a.key().to_string(), a.value().map(str::to_string)))
                    .collect()
            })
            .collect();
        let redundant = sdp::redundant_backchannel_sections(&sections);
        let codecs = receiver.codecs();
        let may_talk = receiver.talk_allowed();
        if !may_talk {
            gst::debug!(
                CAT,
                imp = self,
                "client may not talk: no back channel track in its SDP"
            );
        }
        for (i, media) in scratch.medias().enumerate() {
            if redundant.contains(&i) || (!may_talk && sdp::is_backchannel(&sections[i])) {
                continue;
            }
            let mut media = media.to_owned();
            if sdp::is_backchannel(&sections[i]) {
                let (formats, attributes) = sdp::backchannel_section(&sections[i], &codecs);
                while media.formats_len() > 0 {
                    media
                        .remove_format(0)
                        .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                }
                while media.attributes_len() > 0 {
                    media
                        .remove_attribute(0)
                        .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                }
                for f in &formats {
                    media.add_format(f);
                }
                for (k, v) in &attributes {
                    media.add_attribute(k, v.as_deref());
                }
                gst::debug!(
                    CAT,
                    imp = self,
                    "back channel track offers payload types {}",
                    formats.join(" ")
                );
            }
            sdp.add_media(media);
        }
        Ok(())
    }

    fn target_state(&self, state: gst::State) {
        self.parent_target_state(state);
        if let Some(receiver) = self.receiver() {
            if state == gst::State::Playing {
                // Called while the client's PLAY is handled: who it is.
                let who = gst_rtsp_server::RTSPContext::with_current_context(|ctx| {
                    (
                        ctx.client().and_then(client_ip),
                        ctx.session()
                            .and_then(|s| s.sessionid())
                            .map(|s| s.to_string()),
                    )
                });
                if let Some((address, session)) = who {
                    receiver.identify(address, session);
                }
            }
            receiver.set_playing(state == gst::State::Playing);
        }
    }

    fn unprepared(&self) {
        self.parent_unprepared();
        if let Some(receiver) = self.receiver() {
            receiver.leave();
        }
    }
}

impl RTSPOnvifMediaImpl for OnvifBackchannelMedia {}

/// The IP address of a client's RTSP connection (not bound in gstreamer-rs).
fn client_ip(client: &gst_rtsp_server::RTSPClient) -> Option<String> {
    use glib::translate::ToGlibPtr;
    // SAFETY: the connection is owned by the client, which outlives this
    // call; the returned string is owned by the connection and copied here.
    unsafe {
        let conn = gst_rtsp_server::ffi::gst_rtsp_client_get_connection(client.to_glib_none().0);
        if conn.is_null() {
            return None;
        }
        let ip = gst_rtsp::ffi::gst_rtsp_connection_get_ip(conn);
        if ip.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(ip).to_string_lossy().into_owned())
    }
}

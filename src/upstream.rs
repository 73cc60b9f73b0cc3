//! Checks for the upstream bugs this plugin works around. A workaround asks
//! here first, so it does nothing where GStreamer behaves (see the README,
//! "gst-rtsp-server pitfalls handled here").

use std::sync::{LazyLock, OnceLock};

use gst::glib;
use gst::prelude::*;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-upstream",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel: checks for upstream bugs"),
    )
});

/// Type name of gst-rtsp-server's latency bin, which
/// gst_rtsp_onvif_media_collect_backchannel() wraps the back channel bin in.
pub const LATENCY_BIN_TYPE: &str = "GstRTSPLatencyBin";

/// Whether `GstRTSPLatencyBin` leaks the latency messages of its child:
/// gst_rtsp_latency_bin_message_handler() (rtsp-latency-bin.c, unchanged
/// from 1.22 to at least 1.26) recalculates the latency and then neither
/// forwards nor unrefs the message, which holds a reference to its source.
///
/// Checked once per process on a latency bin of its own (`latency_bin_type`
/// is the parent's type): true only when the bin kept the message.
pub fn latency_bin_leaks_messages(latency_bin_type: glib::Type) -> bool {
    static LEAKS: OnceLock<bool> = OnceLock::new();
    *LEAKS.get_or_init(|| {
        let leaks = probe_latency_bin(latency_bin_type);
        gst::info!(
            CAT,
            "{latency_bin_type} {} latency messages",
            if leaks { "leaks" } else { "does not leak" }
        );
        leaks
    })
}

fn probe_latency_bin(latency_bin_type: glib::Type) -> bool {
    let Ok(child) = gst::ElementFactory::make("fakesink").build() else {
        // Cannot check: keep the workaround, which is harmless where the
        // bug is absent (the latency is recalculated either way).
        return true;
    };
    let Ok(bin) = glib::Object::builder_with_type(latency_bin_type)
        .property("element", &child)
        .build()
        .downcast::<gst::Bin>()
    else {
        return true;
    };
    let leaks = bin_keeps_latency_message(&bin, &child);
    drop(bin);
    // The latency bin also keeps one reference too many to its element (the
    // leak drop_stray_reference() in src/media handles): give it back, only
    // when it is there, so this check leaks nothing.
    if child.ref_count() == 2 {
        // SAFETY: the stray reference belongs to nobody; ours keeps the
        // object alive through this call.
        unsafe {
            glib::gobject_ffi::g_object_unref(child.as_ptr() as *mut glib::gobject_ffi::GObject);
        }
    }
    leaks
}

/// Posts a latency message from `child`, a child of `bin`, and tells
/// whether anything still holds it afterwards. The child bus of a bin hands
/// messages to the bin's handle_message() synchronously, and a bin with no
/// parent has no bus to queue them on, so a bin that forwards or drops the
/// message has released it when post_message() returns. A kept message is
/// released here.
pub fn bin_keeps_latency_message(bin: &gst::Bin, child: &gst::Element) -> bool {
    debug_assert!(bin.parent().is_none());
    let message = gst::message::Latency::builder().src(child).build();
    let ours = message.clone();
    let _ = child.post_message(message);
    // SAFETY: `ours` keeps the message alive; the count is read atomically
    // by GStreamer's own accessors too, a plain read suffices for a value
    // no one changes any more.
    let refs = unsafe { (*ours.as_ptr()).mini_object.refcount };
    let kept = refs > 1;
    if kept {
        // SAFETY: the reference the bin kept belongs to nobody; ours keeps
        // the message alive through this call.
        unsafe { gst::ffi::gst_mini_object_unref(ours.as_ptr() as *mut gst::ffi::GstMiniObject) };
    }
    kept
}

/// Whether `event` is rtpjitterbuffer's packet-lost event.
pub fn is_lost_event(event: &gst::Event) -> bool {
    event.type_() == gst::EventType::CustomDownstream
        && event
            .structure()
            .is_some_and(|s| s.name() == "GstRTPPacketLost")
}

/// The rtpulpfecdec behind one of rtpbin's `recv_rtp_src_%u_%u_%u` pads:
/// rtpbin puts the FEC decoder gst-rtsp-server gives it between its payload
/// demuxer and that pad, which is a ghost pad of the decoder's source pad.
pub fn ulpfecdec_behind(rtpbin_pad: &gst::Pad) -> Option<gst::Element> {
    let target = rtpbin_pad.downcast_ref::<gst::GhostPad>()?.target()?;
    let element = target.parent_element()?;
    element
        .factory()
        .is_some_and(|f| f.name() == "rtpulpfecdec")
        .then_some(element)
}

/// Whether a packet-lost event sent into `sinkpad`, an rtpulpfecdec's,
/// would abort the process: rtpulpfecdec
/// (gst_rtp_ulpfec_dec_handle_sink_event() in gstrtpulpfecdec.c, unchanged
/// from 1.22 to at least 1.26) runs `g_assert (self->have_caps_ssrc)` on
/// such an event unless it is in passthrough mode. gst-rtsp-server's is not,
/// and its caps come from rtpptdemux, without an SSRC. True only in that
/// state: an rtpulpfecdec, not in passthrough, whose caps have no `ssrc`.
pub fn lost_event_would_abort(sinkpad: &gst::Pad) -> bool {
    let Some(element) = sinkpad.parent_element() else {
        return false;
    };
    if element.factory().is_none_or(|f| f.name() != "rtpulpfecdec") {
        return false;
    }
    if element.find_property("passthrough").is_some() && element.property::<bool>("passthrough") {
        return false;
    }
    let has_ssrc = sinkpad.current_caps().is_some_and(|caps| {
        caps.structure(0)
            .is_some_and(|s| s.has_field_with_type("ssrc", u32::static_type()))
    });
    !has_ssrc
}

/// Whether GStreamer unrefs a NULL event after a pad probe drops one,
/// logging `gst_mini_object_unref: assertion 'mini_object != NULL' failed`
/// each time. gstreamer-rs moves the item out of the probe info before it
/// calls a probe and, on `PadProbeReturn::Drop`, releases it itself and
/// leaves NULL there; the probe_stopped paths of gst_pad_push_event_unchecked()
/// and gst_pad_send_event_unchecked() in gstpad.c then unref that NULL.
/// Fixed upstream by "pad: Check data NULL-ness when probes are stopped"
/// (gstreamer merge request 7493, commit f30321538b) in 1.24.8 and 1.25.1,
/// so in 1.26; absent from every 1.22 release.
///
/// Checked on the version of the GStreamer core running: the bug's only
/// symptom is the critical itself, which a check that tries it would log
/// (and turn into an abort under G_DEBUG=fatal-criticals).
pub fn dropping_probe_unrefs_null_event() -> bool {
    let (major, minor, micro, _) = gst::version();
    (major, minor, micro) < (1, 24, 8) || (major, minor, micro) == (1, 25, 0)
}

/// What an event probe returns to drop the event it was given. A probe
/// that releases the event itself and says it handled it (HANDLED: not
/// forwarded, not unreffed by GStreamer) avoids the NULL unref of
/// [`dropping_probe_unrefs_null_event`] where that bug is present; elsewhere
/// it is plain `Drop`.
pub fn drop_event(info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    if dropping_probe_unrefs_null_event() {
        drop(info.take_event());
        gst::PadProbeReturn::Handled
    } else {
        gst::PadProbeReturn::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst::subclass::prelude::*;

    /// A bin that keeps every latency message, as GstRTSPLatencyBin does.
    mod leaky {
        use super::*;

        #[derive(Default)]
        pub struct LeakyBin;

        #[glib::object_subclass]
        impl ObjectSubclass for LeakyBin {
            const NAME: &'static str = "OnvifBackchannelTestLeakyBin";
            type Type = super::LeakyBin;
            type ParentType = gst::Bin;
        }
        impl ObjectImpl for LeakyBin {}
        impl GstObjectImpl for LeakyBin {}
        impl ElementImpl for LeakyBin {}
        impl BinImpl for LeakyBin {
            fn handle_message(&self, message: gst::Message) {
                if let gst::MessageView::Latency(_) = message.view() {
                    std::mem::forget(message);
                    return;
                }
                self.parent_handle_message(message)
            }
        }
    }

    glib::wrapper! {
        pub struct LeakyBin(ObjectSubclass<leaky::LeakyBin>) @extends gst::Bin, gst::Element, gst::Object;
    }

    fn with_child(bin: gst::Bin) -> (gst::Bin, gst::Element) {
        let child = gst::ElementFactory::make("fakesink").build().unwrap();
        bin.add(&child).unwrap();
        (bin, child)
    }

    #[test]
    fn a_bin_that_forwards_latency_messages_keeps_none() {
        gst::init().unwrap();
        let (bin, child) = with_child(gst::Bin::new());
        assert!(!bin_keeps_latency_message(&bin, &child));
    }

    #[test]
    fn a_bin_that_keeps_latency_messages_is_caught() {
        gst::init().unwrap();
        let (bin, child) = with_child(glib::Object::new::<LeakyBin>().upcast());
        assert!(bin_keeps_latency_message(&bin, &child));
    }

    /// A source pad linked to a new `factory` element, as rtpptdemux's is to
    /// the rtpulpfecdec gst-rtsp-server gives rtpbin.
    fn linked_to(factory: &str) -> (gst::Pad, gst::Element) {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        let src = gst::Pad::builder(gst::PadDirection::Src)
            .name("src")
            .build();
        src.link(&element.static_pad("sink").unwrap()).unwrap();
        (src, element)
    }

    /// Pushes stream-start and `caps` through `src` into `element`.
    fn push_caps(src: &gst::Pad, element: &gst::Element, caps: &str) {
        element.set_state(gst::State::Playing).unwrap();
        src.set_active(true).unwrap();
        assert!(src.push_event(gst::event::StreamStart::new("test")));
        assert!(src.push_event(gst::event::Caps::new(&caps.parse::<gst::Caps>().unwrap())));
    }

    #[test]
    fn lost_events_are_recognised() {
        gst::init().unwrap();
        let lost = gst::event::CustomDownstream::new(
            gst::Structure::builder("GstRTPPacketLost")
                .field("seqnum", 7u32)
                .build(),
        );
        assert!(is_lost_event(&lost));
        let other = gst::event::CustomDownstream::new(gst::Structure::new_empty(
            "GstRTPRetransmissionRequest",
        ));
        assert!(!is_lost_event(&other));
        assert!(!is_lost_event(&gst::event::Eos::new()));
    }

    #[test]
    fn rtpulpfecdec_without_an_ssrc_in_its_caps_would_abort() {
        gst::init().unwrap();
        let (src, fecdec) = linked_to("rtpulpfecdec");
        let sink = fecdec.static_pad("sink").unwrap();
        assert!(lost_event_would_abort(&sink), "no caps yet");
        push_caps(
            &src,
            &fecdec,
            "application/x-rtp,media=audio,clock-rate=8000,encoding-name=G722,payload=9",
        );
        assert!(lost_event_would_abort(&sink), "caps without ssrc");
        let _ = fecdec.set_state(gst::State::Null);
    }

    #[test]
    fn rtpulpfecdec_with_an_ssrc_or_in_passthrough_would_not_abort() {
        gst::init().unwrap();
        let (src, fecdec) = linked_to("rtpulpfecdec");
        push_caps(
            &src,
            &fecdec,
            "application/x-rtp,media=audio,clock-rate=8000,encoding-name=G722,payload=9,ssrc=(uint)1234",
        );
        assert!(
            !lost_event_would_abort(&fecdec.static_pad("sink").unwrap()),
            "caps with ssrc"
        );
        let _ = fecdec.set_state(gst::State::Null);

        let fecdec = gst::ElementFactory::make("rtpulpfecdec").build().unwrap();
        fecdec.set_property("passthrough", true);
        assert!(
            !lost_event_would_abort(&fecdec.static_pad("sink").unwrap()),
            "passthrough"
        );
    }

    /// How many `mini_object != NULL` criticals GStreamer logs while one
    /// event is pushed into a sink pad whose probe returns what `probe`
    /// returns.
    fn null_unref_criticals(probe: fn(&mut gst::PadProbeInfo) -> gst::PadProbeReturn) -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        gst::init().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let handler = glib::log_set_handler(
            Some("GStreamer"),
            glib::LogLevels::LEVEL_CRITICAL,
            false,
            false,
            move |_, _, message| {
                if message.contains("mini_object != NULL") {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
        let src = gst::Pad::builder(gst::PadDirection::Src).build();
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .event_function(|_, _, _| true)
            .build();
        src.link(&sink).unwrap();
        src.set_active(true).unwrap();
        sink.set_active(true).unwrap();
        sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            probe(info)
        });
        let event = gst::event::CustomDownstream::new(gst::Structure::new_empty("test"));
        assert!(src.push_event(event), "a dropped event is no error");
        glib::log_remove_handler(Some("GStreamer"), handler);
        count.load(Ordering::SeqCst)
    }

    /// The version check matches what the running GStreamer does (1.22:
    /// one critical per dropped event; 1.26: none).
    #[test]
    fn a_dropping_probe_unrefs_null_where_the_check_says_so() {
        let criticals = null_unref_criticals(|_| gst::PadProbeReturn::Drop);
        assert_eq!(
            criticals,
            usize::from(dropping_probe_unrefs_null_event()),
            "{}",
            gst::version_string()
        );
    }

    #[test]
    fn drop_event_drops_without_a_critical() {
        assert_eq!(null_unref_criticals(drop_event), 0);
    }

    #[test]
    fn other_elements_would_not_abort() {
        gst::init().unwrap();
        let identity = gst::ElementFactory::make("identity").build().unwrap();
        assert!(!lost_event_would_abort(
            &identity.static_pad("sink").unwrap()
        ));
        let orphan = gst::Pad::builder(gst::PadDirection::Sink).build();
        assert!(!lost_event_would_abort(&orphan));
    }

    #[test]
    fn the_fec_decoder_behind_a_ghost_pad_is_found() {
        gst::init().unwrap();
        let fecdec = gst::ElementFactory::make("rtpulpfecdec").build().unwrap();
        let ghost = gst::GhostPad::with_target(&fecdec.static_pad("src").unwrap()).unwrap();
        assert_eq!(ulpfecdec_behind(ghost.upcast_ref()), Some(fecdec));
        let identity = gst::ElementFactory::make("identity").build().unwrap();
        let ghost = gst::GhostPad::with_target(&identity.static_pad("src").unwrap()).unwrap();
        assert_eq!(ulpfecdec_behind(ghost.upcast_ref()), None);
        assert_eq!(ulpfecdec_behind(&identity.static_pad("src").unwrap()), None);
    }

    extern "C" {
        fn gst_rtsp_latency_bin_get_type() -> glib::ffi::GType;
    }

    /// Upstream has not fixed it up to 1.26: there the workaround stays on.
    #[test]
    fn gst_rtsp_server_latency_bin_leaks_latency_messages() {
        gst::init().unwrap();
        // SAFETY: a plain GType getter of libgstrtspserver.
        let ty = unsafe { glib::translate::from_glib(gst_rtsp_latency_bin_get_type()) };
        let leaks = probe_latency_bin(ty);
        let (major, minor, _, _) = gst::version();
        if (major, minor) <= (1, 26) {
            assert!(leaks, "{}", gst::version_string());
        } else {
            println!(
                "{}: GstRTSPLatencyBin leaks: {leaks}",
                gst::version_string()
            );
        }
    }
}

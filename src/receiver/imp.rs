use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::codecs::CodecList;
use crate::direct::{DirectDecoder, Outcome};
use crate::rtp;
use crate::talk::{self, Talk};
use crate::talk_floor::{TalkerId, Verdict};
use crate::tcp_ack::AckSocket;
use crate::upstream;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-receive",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel receive path"),
    )
});

struct Setup {
    codecs: CodecList,
    caps: gst::Caps,
    talk: Arc<Talk>,
    talker: TalkerId,
}

#[derive(Default)]
pub struct BackchannelReceiver {
    /// Set once, right after construction.
    setup: OnceLock<Setup>,
    playing: AtomicBool,
    left: AtomicBool,
    losses: Mutex<rtp::LossCounter>,
    sinkpad: Mutex<Option<gst::GhostPad>>,
    /// Whether the client may talk (its role's permission), decided when
    /// the media is made; a client that may not gets no back channel in the
    /// SDP and 403 on its SETUP.
    talk_allowed: AtomicBool,
    /// PCMU, PCMA and L16 are decoded here, on the thread that brings the
    /// packet, instead of in rtpbin's jitter buffer and a decoder chain.
    direct: Mutex<Option<DirectDecoder>>,
    /// Losses seen on packets that were not offered to the talk (not
    /// advertised), reported with the next one that is.
    unreported_lost: AtomicU64,
    /// The client's RTSP connection, when the back channel is interleaved
    /// in it: every packet is acknowledged at once (see `tcp_ack`).
    ack_socket: Mutex<Option<AckSocket>>,
}

/// Larger packets are dropped: 16 kB hold 170 ms of the widest codec we
/// advertise (L16, 48 kHz mono), and clients send 20 to 160 ms per packet.
/// One packet of seconds of audio would fill the talker's queue.
const MAX_PACKET_BYTES: usize = 16 * 1024;

#[glib::object_subclass]
impl ObjectSubclass for BackchannelReceiver {
    const NAME: &'static str = "GstOnvifBackchannelReceiver";
    type Type = super::BackchannelReceiver;
    type ParentType = gst::Bin;
}

impl ObjectImpl for BackchannelReceiver {
    fn constructed(&self) {
        self.parent_constructed();
        // The caps query is answered with the advertised codecs: gst-rtsp-server
        // builds the SDP from it, and rtpbin's pads link against it. The pad
        // gets a target once the first packet tells which decoder it needs.
        let sinkpad = gst::GhostPad::builder(gst::PadDirection::Sink)
            .name("sink")
            .query_function(|pad, parent, query| {
                BackchannelReceiver::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_query(pad, query),
                )
            })
            .build();
        self.obj().add_pad(&sinkpad).unwrap();
        *self.sinkpad.lock().unwrap() = Some(sinkpad);
    }

    fn dispose(&self) {
        self.leave();
    }
}

impl GstObjectImpl for BackchannelReceiver {}
impl ElementImpl for BackchannelReceiver {}
impl BinImpl for BackchannelReceiver {
    fn handle_message(&self, message: gst::Message) {
        // Our parent, gst-rtsp-server's GstRTSPLatencyBin (1.22 to 1.26 at
        // least), neither forwards nor frees the latency messages it gets,
        // and each holds a reference to its source: every decode chain
        // outlived its client. Where that bin is checked to leak them, they
        // stop here; the chains end in unsynchronised appsinks, so
        // recalculating here is all a latency change needs (what the latency
        // bin itself would do).
        if let gst::MessageView::Latency(_) = message.view() {
            let leaky_parent = self.obj().parent().is_some_and(|p| {
                p.type_().name() == upstream::LATENCY_BIN_TYPE
                    && upstream::latency_bin_leaks_messages(p.type_())
            });
            if leaky_parent {
                gst::log!(CAT, imp = self, "latency changed in a decode chain");
                let _ = self.obj().recalculate_latency();
                return;
            }
        }
        self.parent_handle_message(message)
    }
}

impl BackchannelReceiver {
    pub(super) fn configure(&self, codecs: CodecList, talk: Arc<Talk>) {
        let mut caps = gst::Caps::new_empty();
        for c in codecs.iter() {
            caps.merge(super::rtp_caps(c));
        }
        let talker = talk::new_talker_id();
        gst::debug!(
            CAT,
            imp = self,
            "talker {talker}: back channel for {}",
            codecs.names()
        );
        let _ = self.setup.set(Setup {
            codecs,
            caps,
            talk,
            talker,
        });
    }

    pub(super) fn talks_to(&self, talk: &Arc<Talk>) -> bool {
        self.setup.get().is_some_and(|s| Arc::ptr_eq(&s.talk, talk))
    }

    pub(super) fn talker(&self) -> TalkerId {
        self.setup.get().map_or(0, |s| s.talker)
    }

    pub(super) fn codecs(&self) -> CodecList {
        self.setup
            .get()
            .map(|s| s.codecs.clone())
            .unwrap_or_default()
    }

    fn sink_query(&self, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Caps(q) = query.view_mut() {
            let Some(setup) = self.setup.get() else {
                return false;
            };
            let caps = match q.filter() {
                Some(filter) => {
                    filter.intersect_with_mode(&setup.caps, gst::CapsIntersectMode::First)
                }
                None => setup.caps.clone(),
            };
            q.set_result(&caps);
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    pub(super) fn set_playing(&self, playing: bool) {
        if self.playing.swap(playing, Ordering::SeqCst) != playing {
            gst::debug!(
                CAT,
                imp = self,
                "back channel {}",
                if playing { "playing" } else { "paused" }
            );
        }
    }

    pub(super) fn set_talk_allowed(&self, allowed: bool) {
        self.talk_allowed.store(allowed, Ordering::SeqCst);
    }

    pub(super) fn talk_allowed(&self) -> bool {
        self.talk_allowed.load(Ordering::SeqCst)
    }

    pub(super) fn identify(&self, address: Option<String>, session: Option<String>) {
        if let Some(setup) = self.setup.get() {
            gst::debug!(
                CAT,
                imp = self,
                "talker {} is {:?}, session {:?}",
                setup.talker,
                address,
                session
            );
            setup.talk.identify(setup.talker, address, session);
        }
    }

    pub(super) fn set_up(&self) {
        if let Some(setup) = self.setup.get() {
            gst::debug!(
                CAT,
                imp = self,
                "talker {}: back channel set up",
                setup.talker
            );
            setup.talk.set_up(setup.talker);
        }
    }

    pub(super) fn set_ack_socket(&self, socket: Option<AckSocket>) {
        gst::debug!(
            CAT,
            imp = self,
            "{}",
            if socket.is_some() {
                "back channel interleaved in the RTSP connection: packets are acknowledged at once"
            } else {
                "back channel not interleaved"
            }
        );
        *self.ack_socket.lock().unwrap() = socket;
    }

    /// Has the kernel acknowledge the packets read from the client's RTSP
    /// connection now rather than up to 40 ms later: a client with Nagle's
    /// algorithm on sends nothing more until then (see `tcp_ack`).
    fn ack_now(&self) {
        let mut socket = self.ack_socket.lock().unwrap();
        let Some(ack) = socket.as_ref() else {
            return;
        };
        match ack.ack_now() {
            Ok(true) => {}
            Ok(false) => *socket = None,
            Err(err) => {
                gst::debug!(CAT, imp = self, "cannot set TCP_QUICKACK: {err}");
                *socket = None;
            }
        }
    }

    pub(super) fn leave(&self) {
        *self.ack_socket.lock().unwrap() = None;
        if self.left.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(setup) = self.setup.get() {
            gst::debug!(
                CAT,
                imp = self,
                "talker {}: back channel closed",
                setup.talker
            );
            setup.talk.leave(setup.talker);
        }
    }

    pub(super) fn attach_rtpbin(&self, rtpbin: &gst::Element, session: u32) {
        gst::debug!(CAT, imp = self, "back channel is rtpbin session {session}");
        let sink_name = format!("recv_rtp_sink_{session}");
        let src_prefix = format!("recv_rtp_src_{session}_");
        let weak = self.obj().downgrade();
        for pad in rtpbin.pads() {
            if pad.name() == sink_name.as_str() {
                self.guard_sink_pad(&pad);
            }
        }
        // Connected "after" so that gst-rtsp-server's own handler has linked
        // the first pad to our sink pad when this runs.
        rtpbin.connect("pad-added", true, move |args| {
            let pad = args[1].get::<gst::Pad>().unwrap();
            let obj = weak.upgrade()?;
            let imp = obj.imp();
            let name = pad.name();
            if name == sink_name.as_str() {
                imp.guard_sink_pad(&pad);
            } else if let Some(rest) = name.strip_prefix(src_prefix.as_str()) {
                imp.guard_fec_decoder(&pad);
                imp.decode_pad(&pad, rest);
            }
            None
        });
    }

    /// gst-rtsp-server turns lost events on (rtpbin do-lost) and gives
    /// rtpbin an rtpulpfecdec for every stream, which aborts the process on
    /// a packet-lost event when its caps carry no SSRC, as they do here: a
    /// client that loses one packet would kill the server. Such events are
    /// dropped, and only those (upstream::lost_event_would_abort); the
    /// output fills gaps itself.
    fn guard_fec_decoder(&self, rtpbin_pad: &gst::Pad) {
        let Some(sinkpad) =
            upstream::ulpfecdec_behind(rtpbin_pad).and_then(|dec| dec.static_pad("sink"))
        else {
            return;
        };
        gst::debug!(
            CAT,
            imp = self,
            "checking lost events into {}",
            sinkpad.name()
        );
        sinkpad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |pad, info| {
            let Some(gst::PadProbeData::Event(event)) = &info.data else {
                return gst::PadProbeReturn::Ok;
            };
            if upstream::is_lost_event(event) && upstream::lost_event_would_abort(pad) {
                gst::debug!(
                    CAT,
                    obj = pad,
                    "dropping a packet-lost event that rtpulpfecdec would abort on"
                );
                // Not a plain Drop: GStreamer before 1.24.8 logs a critical
                // for every event a Rust probe drops.
                return upstream::drop_event(info);
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// Every RTP packet of the back channel passes here before rtpbin.
    fn guard_sink_pad(&self, pad: &gst::Pad) {
        gst::debug!(CAT, imp = self, "checking packets on {}", pad.name());
        let weak = self.obj().downgrade();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let Some(obj) = weak.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                let imp = obj.imp();
                imp.ack_now();
                // Rejected packets are taken out of the probe info and reported as
                // handled: the sender sees success and nothing else touches them.
                if let Some(buffer) = info.buffer() {
                    if imp.admit(buffer) {
                        return gst::PadProbeReturn::Ok;
                    }
                    drop(info.take_buffer());
                    return gst::PadProbeReturn::Handled;
                }
                let Some(list) = info.buffer_list() else {
                    return gst::PadProbeReturn::Ok;
                };
                let verdicts: Vec<bool> = list.iter().map(|b| imp.admit(b)).collect();
                if verdicts.iter().all(|v| *v) {
                    return gst::PadProbeReturn::Ok;
                }
                let list = info.take_buffer_list().unwrap();
                let mut kept = gst::BufferList::new();
                {
                    let kept = kept.get_mut().unwrap();
                    for (buffer, admitted) in list.iter_owned().zip(verdicts) {
                        if admitted {
                            kept.add(buffer);
                        }
                    }
                }
                if kept.is_empty() {
                    return gst::PadProbeReturn::Handled;
                }
                info.data = Some(gst::PadProbeData::BufferList(kept));
                gst::PadProbeReturn::Ok
            },
        );
    }

    /// Whether a packet goes on to rtpbin: not when it is dropped, and not
    /// when it was decoded here already.
    fn admit(&self, buffer: &gst::BufferRef) -> bool {
        let Ok(map) = buffer.map_readable() else {
            return false;
        };
        if map.len() > MAX_PACKET_BYTES {
            gst::debug!(
                CAT,
                imp = self,
                "dropping a packet of {} bytes (at most {MAX_PACKET_BYTES})",
                map.len()
            );
            return false;
        }
        let header = match rtp::parse_header(&map) {
            Ok(h) => h,
            Err(err) => {
                gst::debug!(CAT, imp = self, "dropping packet: {err}");
                return false;
            }
        };
        if !self.playing.load(Ordering::SeqCst) {
            gst::debug!(
                CAT,
                imp = self,
                "dropping packet seq {} that arrived before PLAY",
                header.sequence
            );
            return false;
        }
        let Some(setup) = self.setup.get() else {
            return false;
        };
        if self.left.load(Ordering::SeqCst) {
            gst::debug!(
                CAT,
                imp = self,
                "dropping packet: the back channel is closed"
            );
            return false;
        }
        // Every packet counts for losses: telephone-event and CN share the
        // audio's sequence numbers.
        let lost = self
            .losses
            .lock()
            .unwrap()
            .packet(header.ssrc, header.sequence);
        let Some(codec) = setup.codecs.by_pt(header.payload_type) else {
            gst::debug!(
                CAT,
                imp = self,
                "dropping packet with payload type {} that was not advertised (telephone-event, CN or unknown)",
                header.payload_type
            );
            self.unreported_lost.fetch_add(lost, Ordering::SeqCst);
            self.pass_over(setup, &header);
            return false;
        };
        gst::trace!(
            CAT,
            imp = self,
            "packet ssrc {:08x} pt {} seq {} {} bytes",
            header.ssrc,
            header.payload_type,
            header.sequence,
            header.payload_len
        );
        let lost = lost + self.unreported_lost.swap(0, Ordering::SeqCst);
        setup.talk.packet(setup.talker, codec.codec.name, lost);
        let Some(format) = codec.codec.pcm_format() else {
            // On to rtpbin and a decoder chain; the floor judges its audio
            // once decoded.
            self.pass_over(setup, &header);
            return true;
        };
        // A sample codec: decoded here and taken out of the stream.
        let payload = &map[header.payload_offset..header.payload_offset + header.payload_len];
        let mut direct = self.direct.lock().unwrap();
        // Every sample codec's rate divides the output rate (a unit test of
        // the codec table checks it).
        let direct = direct.get_or_insert_with(|| DirectDecoder::new(talk::RATE));
        let outcome = direct.packet(
            header.ssrc,
            header.sequence,
            (format, codec.codec.clock_rate),
            payload,
            |samples, rate| setup.talk.judge(setup.talker, samples, rate) == Verdict::Play,
            |samples| setup.talk.push(setup.talker, samples),
        );
        match outcome {
            Outcome::NewStream => gst::info!(
                CAT,
                imp = self,
                "talker {}: new stream ssrc {:08x}, decoding {} here ({} Hz to {} Hz)",
                setup.talker,
                header.ssrc,
                codec.codec.name,
                codec.codec.clock_rate,
                talk::RATE
            ),
            Outcome::Held => gst::debug!(
                CAT,
                imp = self,
                "seq {} waits for a missing earlier packet",
                header.sequence
            ),
            Outcome::Late => gst::debug!(
                CAT,
                imp = self,
                "dropping packet seq {}: it came after later ones were played",
                header.sequence
            ),
            Outcome::Decoded => {}
        }
        false
    }

    /// A packet of a stream decoded here will not be: nothing waits for its
    /// sequence number.
    fn pass_over(&self, setup: &Setup, header: &rtp::RtpHeader) {
        if let Some(direct) = self.direct.lock().unwrap().as_mut() {
            direct.pass_over(
                header.ssrc,
                header.sequence,
                |samples, rate| setup.talk.judge(setup.talker, samples, rate) == Verdict::Play,
                |samples| setup.talk.push(setup.talker, samples),
            );
        }
    }

    /// rtpbin has a new pad for one SSRC and payload type: decode it.
    /// `ids` is the `<ssrc>_<pt>` tail of the pad name.
    fn decode_pad(&self, pad: &gst::Pad, ids: &str) {
        let Some(pt) = ids.rsplit('_').next().and_then(|pt| pt.parse::<u8>().ok()) else {
            return;
        };
        let Some(setup) = self.setup.get() else {
            return;
        };
        let (talk, talker) = (setup.talk.clone(), setup.talker);
        let Some(codec) = setup.codecs.by_pt(pt).copied() else {
            gst::debug!(
                CAT,
                imp = self,
                "ignoring pad {} of unadvertised payload type {pt}",
                pad.name()
            );
            return;
        };
        gst::info!(
            CAT,
            imp = self,
            "talker {talker}: new stream ssrc/pt {ids}, decoding as {} ({:?})",
            codec.codec.name,
            pad.current_caps()
        );
        let chain = match self.build_chain(&codec, talk, talker) {
            Ok(chain) => chain,
            Err(err) => {
                gst::error!(CAT, imp = self, "cannot decode {}: {err}", codec.codec.name);
                return;
            }
        };
        let chain_sink = chain.static_pad("sink").unwrap();
        let ghost = self.sinkpad.lock().unwrap().clone().unwrap();
        let linked_to_us =
            pad.peer().is_some() && ghost.target().is_none() && ghost.peer().is_some();
        let linked = if linked_to_us {
            // gst-rtsp-server linked this first pad to our ghost pad.
            ghost
                .set_target(Some(&chain_sink))
                .map_err(|e| e.to_string())
        } else if pad.peer().is_none() {
            // gst-rtsp-server links only the first pad; later SSRCs and payload
            // types are ours to link (ghost pads are made through the bins).
            pad.link_maybe_ghosting(&chain_sink)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            Err(format!("pad {} is linked elsewhere", pad.name()))
        };
        if let Err(err) = linked {
            gst::error!(CAT, imp = self, "cannot link {}: {err}", pad.name());
            let _ = self.obj().remove(&chain);
            let _ = chain.set_state(gst::State::Null);
        }
    }

    /// depayloader ! decoder ! audioconvert ! audioresample ! appsink, in a bin.
    fn build_chain(
        &self,
        codec: &crate::codecs::AssignedCodec,
        talk: Arc<Talk>,
        talker: TalkerId,
    ) -> Result<gst::Bin, glib::BoolError> {
        let chain = gst::Bin::new();
        let elements = talk::decode_elements(codec.codec, talk, talker)?;
        chain.add_many(&elements)?;
        gst::Element::link_many(&elements)?;
        let sinkpad = elements[0].static_pad("sink").unwrap();
        chain.add_pad(&gst::GhostPad::with_target(&sinkpad)?)?;
        self.obj().add(&chain)?;
        chain.sync_state_with_parent()?;
        Ok(chain)
    }
}

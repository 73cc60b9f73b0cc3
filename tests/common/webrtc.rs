//! A WHIP client made of GStreamer's webrtcbin: a second WebRTC
//! implementation that talks into the element's `/whip` as a browser would
//! (non-trickle, sendonly, Opus first), on 127.0.0.1 only.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use gst_webrtc::{WebRTCICEGatheringState, WebRTCSDPType};

use super::http::{self, HttpResponse};

/// Waits for a webrtcbin promise and returns its reply.
pub fn promise(f: impl FnOnce(gst::Promise)) -> Option<gst::Structure> {
    let (tx, rx) = mpsc::channel();
    let p = gst::Promise::with_change_func(move |r| {
        let _ = tx.send(r.ok().flatten().map(|s| s.to_owned()));
    });
    f(p);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("webrtcbin promise not answered in 10 s")
}

/// Keeps only candidates on 127.0.0.1: no packet may leave loopback.
pub fn loopback_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:") || l.contains(" 127.0.0.1 "))
        .collect()
}

/// Whether every candidate of `sdp` is on 127.0.0.1.
pub fn only_loopback_candidates(sdp: &str) -> bool {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .all(|l| l.contains(" 127.0.0.1 "))
}

/// What to send.
#[derive(Debug, Clone, Copy)]
pub enum Codec {
    Opus,
    G722,
    Pcmu,
    Pcma,
}

impl Codec {
    fn chain(self) -> (&'static str, &'static str, &'static str, u32, u8) {
        match self {
            Codec::Opus => ("opusenc", "rtpopuspay", "OPUS", 48000, 111),
            Codec::G722 => ("avenc_g722", "rtpg722pay", "G722", 8000, 9),
            Codec::Pcmu => ("mulawenc", "rtppcmupay", "PCMU", 8000, 0),
            Codec::Pcma => ("alawenc", "rtppcmapay", "PCMA", 8000, 8),
        }
    }
}

/// A webrtcbin that sends a tone to a WHIP endpoint.
pub struct WhipSender {
    pub pipeline: gst::Pipeline,
    webrtc: gst::Element,
    /// Drops RTP at the payloader while set: the browser page's
    /// `replaceTrack(null)` (RTCP goes on).
    muted: Arc<AtomicBool>,
    /// The resource (`Location`) once answered.
    pub location: Option<String>,
    pub offer: String,
}

impl WhipSender {
    /// A sender of `freq` Hz at `volume`, its offer gathered (loopback only).
    pub fn new(codec: Codec, freq: f64, volume: f64) -> WhipSender {
        let (encoder, payloader, name, clock_rate, pt) = codec.chain();
        let rate = if clock_rate == 48000 { 48000 } else { 16000 };
        let rate = if matches!(codec, Codec::Pcmu | Codec::Pcma) {
            8000
        } else {
            rate
        };
        let pipeline = gst::parse::launch(&format!(
            "audiotestsrc is-live=true wave=sine freq={freq} volume={volume} \
             ! audioconvert ! audioresample ! audio/x-raw,rate={rate},channels=1 \
             ! {encoder} ! {payloader} name=pay pt={pt} \
             ! application/x-rtp,media=audio,encoding-name={name},clock-rate={clock_rate},payload={pt} \
             ! webrtcbin name=send bundle-policy=max-bundle"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let webrtc = pipeline.by_name("send").unwrap();
        let muted = Arc::new(AtomicBool::new(false));
        {
            let muted = muted.clone();
            pipeline
                .by_name("pay")
                .unwrap()
                .static_pad("src")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    if muted.load(Ordering::SeqCst) {
                        gst::PadProbeReturn::Drop
                    } else {
                        gst::PadProbeReturn::Ok
                    }
                });
        }
        pipeline.set_state(gst::State::Playing).unwrap();
        let agent = webrtc.property::<gst_webrtc::WebRTCICE>("ice-agent");
        assert!(agent.emit_by_name::<bool>("add-local-ip-address", &[&"127.0.0.1"]));
        // No SSDP multicast from libnice's UPnP either.
        gstonvifbackchannel::webrtc::talker::no_upnp(&agent);
        let transceiver = webrtc
            .emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>("get-transceiver", &[&0i32])
            .unwrap();
        transceiver.set_property(
            "direction",
            gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly,
        );
        transceiver.set_property(
            "codec-preferences",
            gst::Caps::from_str(&format!(
                "application/x-rtp,media=audio,encoding-name={name},clock-rate={clock_rate},payload={pt}"
            ))
            .unwrap(),
        );
        let reply =
            promise(|p| webrtc.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &p]))
                .unwrap();
        let offer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("offer")
            .unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let id = webrtc.connect_notify(Some("ice-gathering-state"), move |w, _| {
            if w.property::<WebRTCICEGatheringState>("ice-gathering-state")
                == WebRTCICEGatheringState::Complete
            {
                let _ = tx.lock().unwrap().send(());
            }
        });
        promise(|p| webrtc.emit_by_name::<()>("set-local-description", &[&offer, &p]));
        if webrtc.property::<WebRTCICEGatheringState>("ice-gathering-state")
            != WebRTCICEGatheringState::Complete
        {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("sender: ICE gathering did not complete in 10 s");
        }
        webrtc.disconnect(id);
        let offer = webrtc
            .property::<gst_webrtc::WebRTCSessionDescription>("local-description")
            .sdp()
            .as_text()
            .unwrap();
        WhipSender {
            pipeline,
            webrtc,
            muted,
            location: None,
            offer: loopback_candidates(&offer),
        }
    }

    /// POSTs the offer; on 201 applies the answer. Returns the response.
    pub fn post(&mut self, port: u16, headers: &[(&str, &str)]) -> HttpResponse {
        let mut all = vec![("Content-Type", "application/sdp")];
        all.extend_from_slice(headers);
        let response = http::post(port, "/whip", &all, &self.offer);
        if response.status == 201 {
            self.location = response.header("location").map(str::to_string);
            self.apply_answer(&response.body);
        }
        response
    }

    /// Applies an answer got elsewhere (the factory's action signal).
    pub fn apply_answer(&self, answer: &str) {
        let sdp = gst_sdp::SDPMessage::parse_buffer(answer.as_bytes()).expect("answer SDP");
        let answer = gst_webrtc::WebRTCSessionDescription::new(WebRTCSDPType::Answer, sdp);
        promise(|p| {
            self.webrtc
                .emit_by_name::<()>("set-remote-description", &[&answer, &p])
        });
    }

    /// Stops sending RTP (push-to-talk released) or starts again.
    pub fn mute(&self, muted: bool) {
        self.muted.store(muted, Ordering::SeqCst);
    }

    /// DELETEs the resource.
    pub fn delete(&self, port: u16, headers: &[(&str, &str)]) -> HttpResponse {
        let location = self.location.as_deref().expect("no resource to delete");
        let mut request = format!("DELETE {location} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
        http::exchange(port, request.as_bytes())
    }

    /// Vanishes without a word (a closed laptop, a lost network).
    pub fn vanish(&self) {
        self.pipeline.set_state(gst::State::Null).unwrap();
    }
}

impl Drop for WhipSender {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

//! GStreamer's rtspsrc as an ONVIF talk-back client: connect with
//! `backchannel=onvif`, find the back channel stream, push RTP into it.
//! Shared by `examples/talk.rs` and the end-to-end tests.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

/// Builds `<up_to_payloader> ! appsink`, the RTP sender for
/// [`TalkbackClient::send_from`]. The appsink is synchronised, so packets
/// leave in real time by their timestamps; the source should not be live
/// (a live source lets encoders with large frames, like avenc_g726 at
/// 16 kbit/s, release half a second in one burst).
pub fn rtp_sender(up_to_payloader: &str) -> Result<(gst::Pipeline, gst_app::AppSink), String> {
    let pipeline = gst::parse::launch(&format!("{up_to_payloader} ! appsink name=rtp sync=true"))
        .map_err(|e| format!("sender '{up_to_payloader}': {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the sender is not a pipeline".to_string())?;
    let appsink = pipeline
        .by_name("rtp")
        .and_downcast::<gst_app::AppSink>()
        .ok_or("the sender has no appsink")?;
    Ok((pipeline, appsink))
}

pub struct TalkbackClient {
    pub pipeline: gst::Pipeline,
    pub src: gst::Element,
    /// rtspsrc's stream id of the back channel.
    pub stream: u32,
}

impl TalkbackClient {
    /// Connects to `url` and plays; returns once PLAY has been answered (the
    /// first forward packet arrived). `configure` may set more rtspsrc
    /// properties (e.g. `protocols`) or connect signals (e.g. `on-sdp`).
    pub fn connect(
        url: &str,
        timeout: Duration,
        configure: impl FnOnce(&gst::Element),
    ) -> Result<TalkbackClient, String> {
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc")
            .property("location", url)
            .property_from_str("backchannel", "onvif")
            .property("latency", 100u32)
            .build()
            .map_err(|e| e.to_string())?;
        configure(&src);
        pipeline.add(&src).map_err(|e| e.to_string())?;

        let backchannel: Arc<Mutex<Option<u32>>> = Arc::default();
        let bc = backchannel.clone();
        src.connect("select-stream", false, move |args| {
            let num = args[1].get::<u32>().unwrap();
            let caps = args[2].get::<gst::Caps>().unwrap();
            if caps.structure(0).is_some_and(|s| s.has_field("a-sendonly")) {
                *bc.lock().unwrap() = Some(num);
            }
            Some(true.to_value())
        });
        // Forward streams are not played; their first packet means PLAY was answered.
        let (playing_tx, playing_rx) = mpsc::channel::<()>();
        let playing_tx = Mutex::new(playing_tx);
        let weak = pipeline.downgrade();
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let sink = gst::ElementFactory::make("fakesink")
                .property("async", false)
                .build()
                .unwrap();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            let _ = pad.link(&sink.static_pad("sink").unwrap());
            let tx = playing_tx.lock().unwrap().clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let _ = tx.send(());
                gst::PadProbeReturn::Remove
            });
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("{url}: {e}"))?;
        if playing_rx.recv_timeout(timeout).is_err() {
            let errors: Vec<String> = std::iter::from_fn(|| {
                pipeline
                    .bus()
                    .unwrap()
                    .pop_filtered(&[gst::MessageType::Error])
            })
            .filter_map(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .collect();
            let client = TalkbackClient {
                pipeline,
                src,
                stream: 0,
            };
            client.stop();
            return Err(format!("{url}: no data after PLAY; errors: {errors:?}"));
        }
        let stream = backchannel.lock().unwrap().take();
        let Some(stream) = stream else {
            let client = TalkbackClient {
                pipeline,
                src,
                stream: 0,
            };
            client.stop();
            return Err(format!(
                "{url}: the server offers no back channel (no sendonly track)"
            ));
        };
        Ok(TalkbackClient {
            pipeline,
            src,
            stream,
        })
    }

    /// Sends every RTP sample `appsink` produces into the back channel.
    pub fn send_from(&self, appsink: &gst_app::AppSink) {
        // rtspsrc 1.22.0 takes the caller's reference of the sample (fixed in
        // 1.22.1): the version of the plugin rtspsrc comes from tells, not
        // the core's.
        let leak_sample = self
            .src
            .factory()
            .and_then(|f| f.plugin())
            .is_some_and(|p| p.version() == "1.22.0");
        let src = self.src.downgrade();
        let stream = self.stream;
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let src = src.upgrade().ok_or(gst::FlowError::Flushing)?;
                    if leak_sample {
                        std::mem::forget(sample.clone());
                    }
                    src.emit_by_name::<gst::FlowReturn>(
                        "push-backchannel-sample",
                        &[&stream, &sample],
                    )
                    .into_result()?;
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    pub fn stop(self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        // rtspsrc 1.22.0 sometimes still holds a mutex when it is finalized
        // right after going to NULL, and GLib aborts the process
        // (g_mutex_clear in libgstrtsp.so). Leak it instead.
        std::mem::forget(self.pipeline);
    }
}

//! The factory's standing output pipeline: `<TalkOutputSrc> ! <output>`,
//! built once from the `output` property and kept playing for the factory's
//! whole life, sessions or not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use gst::prelude::*;

use crate::outputsrc::TalkOutputSrc;
use crate::talk::Talk;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-output",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel output clock"),
    )
});

pub struct OutputPipeline {
    pipeline: gst::Pipeline,
}

impl OutputPipeline {
    /// Builds and starts the pipeline. `on_error` is called once, from a
    /// streaming thread, if the output fails later (e.g. a missing device);
    /// the pipeline then stops and the received audio is discarded.
    pub fn start(
        description: &str,
        talk: Arc<Talk>,
        on_error: impl Fn(&str) + Send + Sync + 'static,
    ) -> Result<OutputPipeline, String> {
        let bin = gst::parse::bin_from_description(description, true)
            .map_err(|e| format!("cannot parse output '{description}': {e}"))?;
        let pipeline = gst::Pipeline::with_name("onvifbackchannel-output");
        let src = TalkOutputSrc::new(Some(talk));
        pipeline
            .add_many([src.upcast_ref::<gst::Element>(), bin.upcast_ref()])
            .map_err(|e| e.to_string())?;
        src.link(&bin)
            .map_err(|_| format!("output '{description}' does not accept raw audio"))?;

        let reported = AtomicBool::new(false);
        let weak = pipeline.downgrade();
        pipeline
            .bus()
            .unwrap()
            .set_sync_handler(move |_, msg| match msg.view() {
                gst::MessageView::Error(err) => {
                    if !reported.swap(true, Ordering::SeqCst) {
                        let text = format!(
                            "output failed: {} ({})",
                            err.error(),
                            err.debug().map(|d| d.to_string()).unwrap_or_default()
                        );
                        gst::error!(
                            CAT,
                            "{text}; RTSP keeps serving, received audio is discarded"
                        );
                        on_error(&text);
                        if let Some(pipeline) = weak.upgrade() {
                            // Not from a streaming thread: state changes join them.
                            std::thread::spawn(move || {
                                let _ = pipeline.set_state(gst::State::Null);
                            });
                        }
                    }
                    // Kept on the bus once for applications that watch it.
                    gst::BusSyncReply::Pass
                }
                _ => gst::BusSyncReply::Drop,
            });

        gst::info!(CAT, "starting output '{description}'");
        if pipeline.set_state(gst::State::Playing).is_err() {
            gst::debug!(
                CAT,
                "output '{description}' failed to start (reported on its bus)"
            );
        }
        Ok(OutputPipeline { pipeline })
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }
}

impl Drop for OutputPipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

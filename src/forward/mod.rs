//! The forward streams of a mount, run once for every client.
//!
//! gst-rtsp-server never shares a media that has a back channel, so each
//! talker would get its own copy of the whole `launch` pipeline, encoders
//! and capture devices included. Instead, the factory runs `launch` once in
//! a pipeline of its own, where each payloader `payN` is replaced by an
//! appsink that receives the encoded stream. Every client media gets a
//! small pipeline `feed ! <a payloader like payN>` per stream (its own
//! SSRC and sequence numbers), which that appsink's thread pushes into
//! directly ([`feed::ForwardFeed`]).
//!
//! A client that joins asks the encoders for a key unit and is fed from its
//! first key frame on, so it can decode at once.
//!
//! The pipeline starts with the first client. When the last client leaves,
//! it lingers (`forward-linger`), so that a client that reconnects at once
//! does not restart the encoders, and then stops (state NULL), which releases
//! capture devices and encoders. The next client starts the same pipeline
//! again: it is built once, so a restart makes no new elements, and its
//! streaming threads come back from GStreamer's thread pool. One that fails
//! or ends stops at once, releasing its devices, and the next client gets a
//! new one; clients of the old one keep it (stopped) until they go.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

mod feed;
mod threads;
use feed::ForwardFeed;
use threads::StayingThreadPool;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-forward",
        gst::DebugColorFlags::empty(),
        Some("ONVIF back channel shared forward streams"),
    )
});

/// How long a new client waits for the encoders' first output.
const CAPS_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(5);

/// One forward stream: what `payN` received, and who gets it.
struct Stream {
    index: usize,
    appsink: gst_app::AppSink,
    /// The payloader of `launch`, as a model for each client's copy.
    payloader: gst::Element,
    feeds: Mutex<Vec<glib::WeakRef<ForwardFeed>>>,
    /// Caps of the encoded stream, known from its first sample on.
    caps: Mutex<Option<gst::Caps>>,
    caps_known: Condvar,
    /// The element of `launch` that encodes it, if any (for its bit rate
    /// and key frame interval).
    encoder: Option<gst::Element>,
}

/// A forward stream as the ONVIF profile describes it.
#[derive(Debug, Clone)]
pub struct StreamDescription {
    /// Caps of the encoded stream (what the payloader takes).
    pub caps: gst::Caps,
    /// The encoder of `launch` that makes it, if one was found upstream.
    pub encoder: Option<gst::Element>,
}

/// Who uses the pipeline, and when it stops.
struct Lifecycle {
    /// Holds of client feeds (one per stream of each prepared client media).
    clients: usize,
    /// It was set to PLAYING and not stopped since.
    playing: bool,
    /// When it stops if no client comes: the last client left.
    stop_at: Option<Instant>,
    /// How long it keeps running after the last client left.
    linger: Duration,
    /// The forward is dropped: the control thread ends.
    shutdown: bool,
}

/// State shared with the control thread that stops a lingering pipeline.
struct Control {
    life: Mutex<Lifecycle>,
    changed: Condvar,
    /// Held while the pipeline starts or stops, so that the two never
    /// overlap. Never taken while holding `life`.
    switching: Mutex<()>,
}

/// The mount's single forward pipeline.
pub struct SharedForward {
    pipeline: gst::Pipeline,
    streams: Vec<std::sync::Arc<Stream>>,
    /// Set on an error or the end of the stream: no client can use it any more.
    ended: Arc<AtomicBool>,
    control: Arc<Control>,
}

/// A client feed's hold on the forward pipeline, while its media is
/// prepared: the last one to let go starts the linger.
struct ClientHold {
    forward: Arc<SharedForward>,
}

impl Drop for ClientHold {
    fn drop(&mut self) {
        let control = &self.forward.control;
        let mut life = control.life.lock().unwrap();
        life.clients = life.clients.saturating_sub(1);
        if life.clients == 0 {
            gst::debug!(
                CAT,
                "last client left: forward pipeline stops in {:?} unless one comes",
                life.linger
            );
            life.stop_at = Some(Instant::now() + life.linger);
            control.changed.notify_all();
        }
    }
}

impl SharedForward {
    /// Builds the pipeline from `launch`; the first client starts it, and it
    /// stops `linger` after the last one left.
    pub fn start(launch: &str, linger: Duration) -> Result<SharedForward, String> {
        let element = gst::parse::launch_full(launch, None, gst::ParseFlags::PLACE_IN_BIN)
            .map_err(|e| format!("cannot parse launch '{launch}': {e}"))?;
        let bin = element
            .downcast::<gst::Bin>()
            .map_err(|_| "launch is not a bin".to_string())?;
        let pipeline = gst::Pipeline::with_name("onvifbackchannel-forward");
        // Client pipelines run on the system clock; timestamps are mapped
        // through absolute time, so this one must too (a capture element
        // would otherwise provide its own clock).
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        pipeline.add(&bin).map_err(|e| e.to_string())?;

        let mut streams = Vec::new();
        while let Some(payloader) = bin.by_name(&format!("pay{}", streams.len())) {
            let index = streams.len();
            let sinkpad = payloader
                .static_pad("sink")
                .ok_or(format!("pay{index} has no sink pad"))?;
            let upstream = sinkpad.peer().ok_or(format!("pay{index} is not linked"))?;
            // What the payloader accepts still constrains the encoder
            // (e.g. rtppcmupay takes 8 kHz only).
            let accepted = sinkpad.query_caps(None);
            upstream.unlink(&sinkpad).map_err(|e| e.to_string())?;
            let _ = payloader.set_state(gst::State::Null);
            payloader
                .parent()
                .and_then(|p| p.downcast::<gst::Bin>().ok())
                .map(|p| p.remove(&payloader))
                .transpose()
                .map_err(|e| e.to_string())?;
            let appsink = gst_app::AppSink::builder()
                .name(format!("forward{index}"))
                .caps(&accepted)
                .sync(false)
                .build();
            let parent = upstream
                .parent_element()
                .and_then(|e| e.parent())
                .and_then(|p| p.downcast::<gst::Bin>().ok())
                .unwrap_or_else(|| bin.clone());
            parent.add(&appsink).map_err(|e| e.to_string())?;
            upstream
                .link(&appsink.static_pad("sink").unwrap())
                .map_err(|e| format!("pay{index}: {e}"))?;
            let stream = std::sync::Arc::new(Stream {
                index,
                appsink: appsink.clone(),
                payloader,
                feeds: Mutex::new(Vec::new()),
                caps: Mutex::new(None),
                caps_known: Condvar::new(),
                encoder: upstream.parent_element().and_then(find_encoder),
            });
            let weak = std::sync::Arc::downgrade(&stream);
            appsink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                        if let Some(stream) = weak.upgrade() {
                            stream.fan_out(&sample, sink.base_time());
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            streams.push(stream);
        }
        // Nobody pops this bus: messages are logged and dropped here, so that
        // they neither pile up nor go unnoticed.
        let ended = Arc::new(AtomicBool::new(false));
        let weak_pipeline = pipeline.downgrade();
        let has_ended = ended.clone();
        // Its streaming threads stay from one start to the next.
        let pool = StayingThreadPool::new("onvifbc-fwd");
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            let end = match msg.view() {
                gst::MessageView::StreamStatus(status)
                    if status.get().0 == gst::StreamStatusType::Create =>
                {
                    if let Some(task) = status
                        .stream_status_object()
                        .and_then(|v| v.get::<gst::Task>().ok())
                    {
                        task.set_pool(&pool);
                    }
                    false
                }
                gst::MessageView::Error(err) => {
                    gst::error!(
                        CAT,
                        "forward pipeline error from {:?}: {} ({:?}); the next client starts a new one",
                        msg.src().map(|s| s.path_string()),
                        err.error(),
                        err.debug()
                    );
                    true
                }
                gst::MessageView::Eos(_) => {
                    gst::info!(CAT, "forward pipeline ended; the next client starts a new one");
                    true
                }
                gst::MessageView::Warning(w) => {
                    gst::warning!(
                        CAT,
                        "forward pipeline warning from {:?}: {} ({:?})",
                        msg.src().map(|s| s.path_string()),
                        w.error(),
                        w.debug()
                    );
                    false
                }
                _ => false,
            };
            if end && !has_ended.swap(true, Ordering::SeqCst) {
                // Release the devices now, for the pipeline that replaces it.
                if let Some(pipeline) = weak_pipeline.upgrade() {
                    stop(pipeline);
                }
            }
            gst::BusSyncReply::Drop
        });
        gst::info!(
            CAT,
            "forward pipeline with {} streams: {launch}",
            streams.len()
        );
        let control = Arc::new(Control {
            life: Mutex::new(Lifecycle {
                clients: 0,
                playing: false,
                stop_at: None,
                linger,
                shutdown: false,
            }),
            changed: Condvar::new(),
            switching: Mutex::new(()),
        });
        spawn_control_thread(&control, &pipeline, &streams)?;
        Ok(SharedForward {
            pipeline,
            streams,
            ended,
            control,
        })
    }

    /// How long the pipeline keeps running after the last client left.
    pub fn set_linger(&self, linger: Duration) {
        let mut life = self.control.life.lock().unwrap();
        if life.linger != linger {
            life.linger = linger;
            if let Some(at) = life.stop_at.as_mut() {
                *at = Instant::now() + linger;
            }
            self.control.changed.notify_all();
        }
    }

    /// Registers a new client and starts the pipeline if it is stopped.
    fn hold(self: &Arc<Self>) -> Result<Arc<ClientHold>, String> {
        let _switching = self.control.switching.lock().unwrap();
        let start = {
            let mut life = self.control.life.lock().unwrap();
            life.clients += 1;
            life.stop_at = None;
            !std::mem::replace(&mut life.playing, true)
        };
        // From here, dropping the hold undoes the count.
        let hold = Arc::new(ClientHold {
            forward: self.clone(),
        });
        if start {
            gst::info!(CAT, "starting the forward pipeline for a client");
            if self.pipeline.set_state(gst::State::Playing).is_err() {
                let _ = self.pipeline.set_state(gst::State::Null);
                self.control.life.lock().unwrap().playing = false;
                return Err("forward pipeline failed to start".into());
            }
        }
        Ok(hold)
    }

    /// What each stream carries and which encoder makes it. Starts the
    /// pipeline if it is stopped, until the caps are known; the linger then
    /// stops it again if no client comes.
    pub fn describe(self: &Arc<Self>) -> Result<Vec<StreamDescription>, String> {
        let _hold = self.hold()?;
        self.streams
            .iter()
            .map(|stream| {
                Ok(StreamDescription {
                    caps: stream.wait_caps()?,
                    encoder: stream.encoder.clone(),
                })
            })
            .collect()
    }

    /// Stops the pipeline now, on the calling thread, which must not be one
    /// of the pipeline's own streaming threads: for an owner that is going
    /// away (an element going to NULL), so that nothing of the pipeline
    /// still runs on another thread when the application goes on (and
    /// perhaps calls `gst_deinit()`).
    pub fn stop_now(&self) {
        let _switching = self.control.switching.lock().unwrap();
        {
            let mut life = self.control.life.lock().unwrap();
            life.playing = false;
            life.stop_at = None;
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        gst::debug!(CAT, "forward pipeline stopped by its owner");
    }

    /// Whether it still runs (no error, no end of stream).
    pub fn is_running(&self) -> bool {
        !self.ended.load(Ordering::SeqCst)
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// A client's copy of the forward streams: `feed ! payloader` per
    /// stream, payloaders named `pay0`, `pay1`... as gst-rtsp-server wants.
    /// The bin holds on to this forward.
    pub fn client_bin(self: &Arc<Self>) -> Result<gst::Bin, String> {
        // Started (if it was stopped) while the caps are waited for; each
        // feed then holds it.
        let _starting = self.hold()?;
        let bin = gst::Bin::new();
        for stream in &self.streams {
            let caps = stream.wait_caps()?;
            let feed = ForwardFeed::new(&caps);
            let forward = self.clone();
            feed.set_holder(Box::new(move || {
                forward
                    .hold()
                    .map(|hold| hold as Arc<dyn std::any::Any + Send + Sync>)
            }))?;
            let weak = std::sync::Arc::downgrade(stream);
            feed.set_key_unit_request(move || {
                if let Some(stream) = weak.upgrade() {
                    stream.request_key_unit();
                }
            });
            let payloader = copy_element(&stream.payloader, &format!("pay{}", stream.index))?;
            bin.add_many([feed.upcast_ref(), &payloader])
                .map_err(|e| e.to_string())?;
            feed.link(&payloader).map_err(|e| e.to_string())?;
            stream.feeds.lock().unwrap().push(feed.downgrade());
            stream.request_key_unit();
        }
        Ok(bin)
    }
}

impl Drop for SharedForward {
    fn drop(&mut self) {
        self.control.life.lock().unwrap().shutdown = true;
        self.control.changed.notify_all();
        if self.pipeline.current_state() == gst::State::Null
            && self.pipeline.pending_state() == gst::State::VoidPending
        {
            gst::debug!(CAT, "forward pipeline released, stopped already");
            return;
        }
        gst::info!(CAT, "forward pipeline released: stopping it");
        stop(self.pipeline.clone());
    }
}

/// Starts the thread that stops the pipeline when the linger after the last
/// client has passed. It holds neither the pipeline nor the forward.
fn spawn_control_thread(
    control: &Arc<Control>,
    pipeline: &gst::Pipeline,
    streams: &[Arc<Stream>],
) -> Result<(), String> {
    let control = control.clone();
    let pipeline = pipeline.downgrade();
    let streams: Vec<std::sync::Weak<Stream>> = streams.iter().map(Arc::downgrade).collect();
    std::thread::Builder::new()
        .name("onvifbc-fwd-ctl".into())
        .spawn(move || loop {
            // Wait for the linger after the last client to pass.
            {
                let mut life = control.life.lock().unwrap();
                loop {
                    if life.shutdown {
                        return;
                    }
                    match life.stop_at {
                        Some(at) if life.clients == 0 => {
                            let now = Instant::now();
                            if now >= at {
                                life.stop_at = None;
                                break;
                            }
                            life = control.changed.wait_timeout(life, at - now).unwrap().0;
                        }
                        _ => life = control.changed.wait(life).unwrap(),
                    }
                }
            }
            let _switching = control.switching.lock().unwrap();
            {
                // A client may have come meanwhile.
                let mut life = control.life.lock().unwrap();
                if life.clients > 0 || !life.playing {
                    continue;
                }
                life.playing = false;
            }
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            gst::info!(
                CAT,
                "no client for the linger time: stopping the forward pipeline"
            );
            let _ = pipeline.set_state(gst::State::Null);
            // A restarted encoder may negotiate anew: the next client waits
            // for the caps of its first output.
            for stream in streams.iter().filter_map(std::sync::Weak::upgrade) {
                *stream.caps.lock().unwrap() = None;
            }
            gst::debug!(CAT, "forward pipeline stopped until the next client");
        })
        .map(|_| ())
        .map_err(|err| format!("cannot start the forward control thread: {err}"))
}

/// Stops a forward pipeline on the thread kept for that: the last reference
/// may go, or an error come, on one of the pipeline's own streaming threads,
/// which a state change to NULL joins.
fn stop(pipeline: gst::Pipeline) {
    static STOPPER: LazyLock<Mutex<Option<std::sync::mpsc::Sender<gst::Pipeline>>>> =
        LazyLock::new(|| {
            let (tx, rx) = std::sync::mpsc::channel::<gst::Pipeline>();
            let spawned = std::thread::Builder::new()
                .name("onvifbc-fwd-stop".into())
                .spawn(move || {
                    for pipeline in rx {
                        let _ = pipeline.set_state(gst::State::Null);
                        gst::debug!(CAT, "forward pipeline stopped");
                    }
                });
            match spawned {
                Ok(_) => Mutex::new(Some(tx)),
                Err(err) => {
                    gst::error!(CAT, "cannot start the forward stopping thread: {err}");
                    Mutex::new(None)
                }
            }
        });
    let sender = STOPPER.lock().unwrap();
    if let Some(Err(err)) = sender.as_ref().map(|tx| tx.send(pipeline)) {
        gst::error!(CAT, "cannot stop the forward pipeline: {err}");
    }
}

impl Stream {
    /// The caps of the encoded stream, once the encoder has produced them.
    fn wait_caps(&self) -> Result<gst::Caps, String> {
        let timeout = std::time::Duration::from_nanos(CAPS_TIMEOUT.nseconds());
        let caps = self.caps.lock().unwrap();
        let (caps, _) = self
            .caps_known
            .wait_timeout_while(caps, timeout, |c| c.is_none())
            .unwrap();
        caps.clone().ok_or_else(|| {
            format!(
                "forward stream {} produced nothing in {CAPS_TIMEOUT}",
                self.index
            )
        })
    }

    /// Asks the encoder for a key frame with its headers.
    fn request_key_unit(&self) {
        let event = gst::event::CustomUpstream::new(
            gst::Structure::builder("GstForceKeyUnit")
                .field("running-time", u64::MAX)
                .field("all-headers", true)
                .field("count", 0u32)
                .build(),
        );
        let pad = self.appsink.static_pad("sink").unwrap();
        if !pad.push_event(event) {
            gst::debug!(
                CAT,
                "stream {}: nobody upstream makes key units",
                self.index
            );
        }
    }

    /// Sends a sample of the shared pipeline to every client.
    fn fan_out(&self, sample: &gst::Sample, base_time: Option<gst::ClockTime>) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        {
            let mut caps = self.caps.lock().unwrap();
            if caps.as_deref() != sample.caps() {
                *caps = sample.caps_owned();
                self.caps_known.notify_all();
            }
        }
        let Some(base_time) = base_time else {
            return;
        };
        // A client whose connection stalls does not hold this up: its
        // gst-rtsp-server stream drops a transport whose backlog is full.
        // The list is not locked while pushing, which can take as long as
        // the buffer lasts (its packets are paced), so that a joining
        // client is never held up by it.
        let feeds: Vec<ForwardFeed> = {
            let mut feeds = self.feeds.lock().unwrap();
            feeds.retain(|feed| feed.upgrade().is_some());
            feeds.iter().filter_map(|feed| feed.upgrade()).collect()
        };
        for feed in feeds {
            feed.push(buffer, base_time);
        }
    }
}

/// A new element of the same kind as `model`, with the properties it was
/// given in `launch`.
fn copy_element(model: &gst::Element, name: &str) -> Result<gst::Element, String> {
    let factory = model
        .factory()
        .ok_or_else(|| format!("{} has no factory", model.name()))?;
    let copy = factory
        .create()
        .name(name)
        .build()
        .map_err(|e| e.to_string())?;
    for pspec in model.list_properties() {
        let flags = pspec.flags();
        if !flags.contains(glib::ParamFlags::READWRITE)
            || flags.contains(glib::ParamFlags::CONSTRUCT_ONLY)
            || ["name", "parent"].contains(&pspec.name())
        {
            continue;
        }
        let value = model.property_value(pspec.name());
        if pspec.value_type() != value.type_() {
            continue;
        }
        if value.compare(pspec.default_value()) != Some(std::cmp::Ordering::Equal) {
            copy.set_property_from_value(pspec.name(), &value);
        }
    }
    Ok(copy)
}

/// The encoder of a stream: the first element with the Encoder class at or
/// upstream of `element`, through single-input elements (capsfilters,
/// parsers, queues).
fn find_encoder(element: gst::Element) -> Option<gst::Element> {
    let mut element = element;
    for _ in 0..16 {
        let klass = element.factory().map(|f| {
            f.metadata(gst::ELEMENT_METADATA_KLASS)
                .unwrap_or_default()
                .to_string()
        });
        if klass.is_some_and(|k| k.contains("Encoder")) {
            return Some(element);
        }
        let sinkpads = element.sink_pads();
        let [sinkpad] = sinkpads.as_slice() else {
            return None;
        };
        element = sinkpad.peer()?.parent_element()?;
    }
    None
}

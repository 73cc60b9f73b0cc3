//! The head of a client's copy of a forward stream.
//!
//! A live source without a thread of its own: the shared forward pipeline's
//! streaming thread pushes each encoded buffer through every client's
//! payloader directly. With an appsrc per client, each buffer woke one
//! thread per client and waited on the clock again in each client's sink.
//!
//! Timestamps are moved into the client pipeline's running time and back by
//! the latency the client pipeline configured, so its sinks render them at
//! once instead of blocking the shared thread.
//!
//! gst-rtsp-server blocks a media's RTP output from its preroll until PLAY
//! (and again on PAUSE), holding the first buffer that reaches it. While it
//! does, one buffer is handed to a thread of its own to wait there, the
//! others are dropped, and the client starts again at the next key frame.

use gst::glib;
use gst::subclass::prelude::*;

/// Takes a hold on the shared forward pipeline, starting it if needed.
pub type Holder =
    Box<dyn Fn() -> Result<std::sync::Arc<dyn std::any::Any + Send + Sync>, String> + Send + Sync>;

glib::wrapper! {
    pub struct ForwardFeed(ObjectSubclass<imp::ForwardFeed>)
        @extends gst::Element, gst::Object;
}

impl ForwardFeed {
    pub fn new(caps: &gst::Caps) -> Self {
        let feed: Self = glib::Object::new();
        feed.imp().set_caps(caps);
        feed
    }

    /// How the feed asks the shared encoder for a key unit, after it had to
    /// drop buffers.
    pub fn set_key_unit_request(&self, request: impl Fn() + Send + Sync + 'static) {
        self.imp()
            .set_key_unit_request(std::sync::Arc::new(request));
    }

    /// How the feed takes a hold on the shared forward pipeline (which
    /// starts it if it is stopped): now, and again whenever the client
    /// media is prepared anew. The hold is let go when the client media
    /// stops (state NULL), even if the media object lives on in a session:
    /// the pipeline runs while some client's media is prepared.
    pub fn set_holder(&self, holder: Holder) -> Result<(), String> {
        let hold = holder()?;
        let imp = self.imp();
        *imp.hold.lock().unwrap() = Some(hold);
        *imp.holder.lock().unwrap() = Some(holder);
        Ok(())
    }

    /// Sends `buffer`, timestamped in the running time of a pipeline whose
    /// base time is `base_time`, if this client plays and has seen a key
    /// frame. Returns whether it was sent.
    pub fn push(&self, buffer: &gst::BufferRef, base_time: gst::ClockTime) -> bool {
        self.imp().push(buffer, base_time)
    }
}

mod imp {
    use std::sync::{LazyLock, Mutex};

    use gst::prelude::*;
    use gst::subclass::prelude::*;

    use crate::forward::CAT;

    struct State {
        caps: Option<gst::Caps>,
        playing: bool,
        /// Stream-start, caps and segment are due before the next buffer.
        need_events: bool,
        /// Nothing is sent before the first key frame.
        started: bool,
        /// The client pipeline's configured latency.
        latency: gst::ClockTime,
        /// rtpbin's output for this stream, where gst-rtsp-server blocks.
        blocked_pad: Option<gst::glib::WeakRef<gst::Pad>>,
        /// A buffer is waiting at that block on a thread of its own.
        parked: bool,
        /// Asks the shared encoder for a key unit.
        request_key_unit: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
    }

    /// What is sent downstream.
    enum Item {
        Buffer(gst::Buffer),
        Gap(gst::Event),
    }

    impl Default for State {
        fn default() -> Self {
            State {
                caps: None,
                playing: false,
                need_events: true,
                started: false,
                latency: gst::ClockTime::ZERO,
                blocked_pad: None,
                parked: false,
                request_key_unit: None,
            }
        }
    }

    pub struct ForwardFeed {
        srcpad: gst::Pad,
        state: Mutex<State>,
        /// Takes a hold on the shared forward pipeline.
        pub(super) holder: Mutex<Option<super::Holder>>,
        /// The hold, while the client media is prepared.
        pub(super) hold: Mutex<Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ForwardFeed {
        const NAME: &'static str = "GstOnvifBackchannelForwardFeed";
        type Type = super::ForwardFeed;
        type ParentType = gst::Element;

        fn with_class(klass: &Self::Class) -> Self {
            let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap())
                .query_function(|pad, parent, query| {
                    ForwardFeed::catch_panic_pad_function(
                        parent,
                        || false,
                        |feed| feed.src_query(pad, query),
                    )
                })
                .event_function(|pad, parent, event| {
                    ForwardFeed::catch_panic_pad_function(
                        parent,
                        || false,
                        |feed| feed.src_event(pad, event),
                    )
                })
                .build();
            ForwardFeed {
                srcpad,
                state: Mutex::new(State::default()),
                holder: Mutex::new(None),
                hold: Mutex::new(None),
            }
        }
    }

    impl ObjectImpl for ForwardFeed {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.add_pad(&self.srcpad).unwrap();
            obj.set_element_flags(gst::ElementFlags::SOURCE);
        }
    }

    impl GstObjectImpl for ForwardFeed {}

    impl ElementImpl for ForwardFeed {
        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                vec![gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &gst::Caps::new_any(),
                )
                .unwrap()]
            });
            TEMPLATES.as_ref()
        }

        fn change_state(
            &self,
            transition: gst::StateChange,
        ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
            match transition {
                gst::StateChange::PlayingToPaused => self.state.lock().unwrap().playing = false,
                gst::StateChange::NullToReady => self.take_hold()?,
                _ => (),
            }
            let mut ret = self.parent_change_state(transition)?;
            match transition {
                gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused => {
                    // Live: nothing to preroll.
                    ret = gst::StateChangeSuccess::NoPreroll;
                }
                gst::StateChange::PausedToPlaying => {
                    gst::debug!(CAT, imp = self, "client plays, waiting for a key frame");
                    let announce = {
                        let mut state = self.state.lock().unwrap();
                        state.playing = true;
                        state.need_events && !state.parked
                    };
                    if announce {
                        self.announce();
                    }
                }
                gst::StateChange::PausedToReady => {
                    let mut state = self.state.lock().unwrap();
                    state.need_events = true;
                    state.started = false;
                }
                gst::StateChange::ReadyToNull => {
                    // The client media stopped; it may live on, unused, in
                    // its RTSP session until that times out.
                    gst::debug!(CAT, imp = self, "client stopped: letting go of the forward");
                    self.hold.lock().unwrap().take();
                }
                _ => (),
            }
            Ok(ret)
        }
    }

    impl ForwardFeed {
        fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
            match query.view_mut() {
                gst::QueryViewMut::Latency(q) => {
                    q.set(true, gst::ClockTime::ZERO, gst::ClockTime::NONE);
                    true
                }
                gst::QueryViewMut::Caps(q) => {
                    let caps = self.state.lock().unwrap().caps.clone();
                    let caps = caps.unwrap_or_else(gst::Caps::new_any);
                    let result = match q.filter() {
                        Some(filter) => {
                            filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First)
                        }
                        None => caps,
                    };
                    q.set_result(&result);
                    true
                }
                _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
            }
        }

        fn src_event(&self, _pad: &gst::Pad, event: gst::Event) -> bool {
            match event.view() {
                gst::EventView::Latency(l) => {
                    gst::debug!(CAT, imp = self, "client pipeline latency {}", l.latency());
                    self.state.lock().unwrap().latency = l.latency();
                    true
                }
                // Key units are requested for each joining client already;
                // seeking and the like mean nothing on a shared live stream.
                _ => {
                    gst::log!(CAT, imp = self, "ignoring upstream {:?}", event.type_());
                    false
                }
            }
        }

        /// Takes a hold on the forward pipeline unless the feed has one.
        fn take_hold(&self) -> Result<(), gst::StateChangeError> {
            let mut hold = self.hold.lock().unwrap();
            if hold.is_some() {
                return Ok(());
            }
            let holder = self.holder.lock().unwrap();
            let Some(holder) = holder.as_ref() else {
                return Ok(());
            };
            match holder() {
                Ok(h) => {
                    *hold = Some(h);
                    Ok(())
                }
                Err(err) => {
                    gst::element_imp_error!(self, gst::CoreError::StateChange, ["{err}"]);
                    Err(gst::StateChangeError)
                }
            }
        }

        pub(super) fn set_caps(&self, caps: &gst::Caps) {
            self.state.lock().unwrap().caps = Some(caps.clone());
        }

        pub(super) fn set_key_unit_request(&self, request: std::sync::Arc<dyn Fn() + Send + Sync>) {
            self.state.lock().unwrap().request_key_unit = Some(request);
        }

        /// rtpbin's `send_rtp_src_N` behind this feed's payloader: where
        /// gst-rtsp-server installs its blocking probe.
        fn find_blocked_pad(&self) -> Option<gst::Pad> {
            let payloader = self.srcpad.peer()?.parent_element()?;
            // Out of the client bin and the media's bin through ghost pads.
            let mut rtpbin_sink = payloader.static_pad("src")?.peer()?;
            while let Some(ghost) = rtpbin_sink.parent().and_downcast::<gst::GhostPad>() {
                rtpbin_sink = ghost.peer()?;
            }
            let name = rtpbin_sink.name();
            let session = name.strip_prefix("send_rtp_sink_")?;
            rtpbin_sink
                .parent_element()?
                .static_pad(&format!("send_rtp_src_{session}"))
        }

        /// Sends the stream's caps at once, and a gap event instead of its
        /// first buffer, for gst-rtsp-server's preroll.
        ///
        /// gst-rtsp-server prepares a live media, and so answers DESCRIBE or
        /// the first SETUP, only once every stream has blocked at its RTP
        /// output, on a buffer or on a gap event (`rtp_pad_blocking` in
        /// rtsp-stream.c). Waiting for the shared encoder's next buffer would
        /// hold every request up by up to a buffer's duration (a key frame's
        /// interval for video), and clients handled by one thread would queue
        /// behind each other. The gap event waits at the block, on a thread
        /// of its own, until PLAY; then the client is fed from the next key
        /// frame, as after any parked buffer.
        fn announce(&self) {
            let caps = {
                let mut state = self.state.lock().unwrap();
                state.need_events = false;
                state.parked = true;
                state.caps.clone()
            };
            let feed = self.obj().clone();
            let spawned = std::thread::Builder::new()
                .name("onvifbc-parked".into())
                .spawn(move || {
                    let imp = feed.imp();
                    let position = match (feed.clock(), feed.base_time()) {
                        (Some(clock), Some(base)) => clock.time().saturating_sub(base),
                        _ => gst::ClockTime::ZERO,
                    };
                    gst::debug!(
                        CAT,
                        imp = imp,
                        "announcing the stream with a gap at {position}, waiting for PLAY"
                    );
                    let gap = gst::event::Gap::builder(position).build();
                    imp.push_downstream(Item::Gap(gap), caps, true);
                    imp.released();
                });
            if let Err(err) = spawned {
                gst::warning!(CAT, imp = self, "cannot start a thread: {err}");
                let mut state = self.state.lock().unwrap();
                state.parked = false;
                state.need_events = true;
            }
        }

        /// What was parked at gst-rtsp-server's block went through (PLAY) or
        /// was flushed: what was dropped meanwhile cannot be decoded without
        /// the next key frame.
        fn released(&self) {
            let request = {
                let mut state = self.state.lock().unwrap();
                state.parked = false;
                state.started = false;
                state.request_key_unit.clone()
            };
            if let Some(request) = request {
                request();
            }
            gst::debug!(CAT, imp = self, "parked item released");
        }

        pub(super) fn push(&self, buffer: &gst::BufferRef, base_time: gst::ClockTime) -> bool {
            let (caps, send_events, latency, blocked) = {
                let mut state = self.state.lock().unwrap();
                if !state.playing || state.parked {
                    return false;
                }
                if !state.started {
                    if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                        return false;
                    }
                    gst::debug!(CAT, imp = self, "client starts at a key frame");
                    state.started = true;
                }
                if state.blocked_pad.is_none() {
                    state.blocked_pad = self.find_blocked_pad().map(|p| p.downgrade());
                }
                let blocked = state
                    .blocked_pad
                    .as_ref()
                    .and_then(|p| p.upgrade())
                    .is_some_and(|p| p.is_blocked());
                let send_events = std::mem::replace(&mut state.need_events, false);
                if blocked {
                    state.parked = true;
                }
                (state.caps.clone(), send_events, state.latency, blocked)
            };
            // Its base time, and so the mapping of timestamps, is only known
            // once the client pipeline plays.
            let Some(client_base) = self.obj().base_time() else {
                return false;
            };
            let shift = |t: gst::ClockTime| {
                (t + base_time)
                    .checked_sub(client_base)
                    .map(|t| t.saturating_sub(latency))
            };
            let mut out = buffer.to_owned();
            {
                let out = out.make_mut();
                out.set_pts(buffer.pts().and_then(shift));
                out.set_dts(buffer.dts().and_then(shift));
            }
            if !blocked {
                return self.push_downstream(
                    Item::Buffer(out),
                    send_events.then_some(caps).flatten(),
                    send_events,
                );
            }
            // gst-rtsp-server holds the first buffer until PLAY: let it wait
            // on a thread of its own, not the one every client shares.
            gst::debug!(
                CAT,
                imp = self,
                "client is not playing yet: parking one buffer"
            );
            let feed = self.obj().clone();
            let spawned = std::thread::Builder::new()
                .name("onvifbc-parked".into())
                .spawn(move || {
                    let imp = feed.imp();
                    imp.push_downstream(
                        Item::Buffer(out),
                        send_events.then_some(caps).flatten(),
                        send_events,
                    );
                    imp.released();
                });
            if let Err(err) = spawned {
                gst::warning!(CAT, imp = self, "cannot start a thread: {err}");
                let mut state = self.state.lock().unwrap();
                state.parked = false;
                state.need_events |= send_events;
            }
            false
        }

        fn push_downstream(&self, item: Item, caps: Option<gst::Caps>, send_events: bool) -> bool {
            // One push at a time, and pad deactivation waits for it.
            let _stream = self.srcpad.stream_lock();
            if send_events {
                let stream_id = self.srcpad.create_stream_id(&*self.obj(), None::<&str>);
                self.srcpad
                    .push_event(gst::event::StreamStart::builder(&stream_id).build());
                if let Some(caps) = caps {
                    self.srcpad.push_event(gst::event::Caps::new(&caps));
                }
                let segment = gst::FormattedSegment::<gst::ClockTime>::new();
                self.srcpad.push_event(gst::event::Segment::new(&segment));
            }
            let buffer = match item {
                Item::Buffer(buffer) => buffer,
                Item::Gap(gap) => return self.srcpad.push_event(gap),
            };
            match self.srcpad.push(buffer) {
                Ok(_) => true,
                Err(err) => {
                    // Flushing while the client goes away, or a client whose
                    // pipeline failed: it just misses this buffer.
                    gst::log!(CAT, imp = self, "push: {err:?}");
                    false
                }
            }
        }
    }
}

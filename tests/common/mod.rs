//! Shared test helpers: a server on 127.0.0.1 with the factory mounted, a raw
//! RTSP client for what rtspsrc cannot do, and audio analysis.
#![allow(dead_code)]

pub mod audio;
pub mod camera;
pub mod files;
pub mod http;
pub mod rtsp;
pub mod tos;
pub mod webrtc;

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_rtsp_server::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        fail_on_criticals();
        gst::init().unwrap();
        gstonvifbackchannel::plugin_register_static().unwrap();
    });
}

/// The log domain of the criticals the plugin logs on purpose: an invalid
/// value an application sets (`codecs=PCMU,MP3`, src/factory/imp.rs),
/// which tests try.
const OWN_LOG_DOMAIN: &str = "onvifbackchannel";

/// A GLib critical from anyone else (GStreamer, GLib, a plugin or library:
/// a failed g_return_if_fail() and the like) is a bug, ours or an upstream
/// one we trigger, even when the test around it passes: the process aborts
/// on the first, as gst-check makes criticals fatal. A log handler runs on
/// the thread that logged, mostly a streaming thread, and tests share the
/// process, so it cannot fail only the test that caused it; it says what
/// was logged, on which thread, and where, then aborts, which fails the
/// test binary. Other messages go to GLib's default handler as before.
fn fail_on_criticals() {
    glib::log_set_default_handler(|domain, level, message| {
        if level == glib::LogLevel::Critical && domain != Some(OWN_LOG_DOMAIN) {
            // The kernel's name: GStreamer's threads are not Rust's.
            let thread = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
            // Straight to stderr: eprintln! output of a test thread is
            // captured, and lost when the process aborts.
            let _ = writeln!(
                std::io::stderr(),
                "\n{}-CRITICAL in thread {:?}: {message}\n\
                 A critical fails the tests (tests/common/mod.rs); at:\n{}",
                domain.unwrap_or("(no domain)"),
                thread.trim(),
                std::backtrace::Backtrace::force_capture()
            );
            std::process::abort();
        }
        glib::log_default_handler(domain, level, Some(message));
    });
}

/// An RTSPOnvifServer on 127.0.0.1, any free port, serving in its own thread.
pub struct TestServer {
    pub port: u16,
    pub factory: gst_rtsp_server::RTSPMediaFactory,
    server: gst_rtsp_server::RTSPOnvifServer,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    capture: std::sync::OnceLock<Capture>,
}

/// Forward streams of the tests: a quiet tone, cheap to encode.
pub const FORWARD_LAUNCH: &str =
    "( audiotestsrc is-live=true wave=sine freq=200 volume=0.1 ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay0 pt=0 )";

impl TestServer {
    /// `props`: properties of the factory, e.g. `[("codecs", "PCMU")]`.
    pub fn start(props: &[(&str, &str)]) -> TestServer {
        init();
        let factory: gst_rtsp_server::RTSPMediaFactory = glib::Object::with_type(
            glib::Type::from_name("GstOnvifBackchannelMediaFactory")
                .expect("factory type registered"),
        )
        .downcast()
        .unwrap();
        factory.set_launch(FORWARD_LAUNCH);
        // ("launch" may be overridden by `props`.)
        // No sound card in CI: tests that listen set their own output.
        factory.set_property("output", "fakesink sync=false");
        for (k, v) in props {
            factory.set_property_from_str(k, v);
        }
        let server = gst_rtsp_server::RTSPOnvifServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        server
            .mount_points()
            .unwrap()
            .add_factory("/stream", factory.clone());
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        server.attach(Some(&ctx)).expect("server attaches");
        let port = server.bound_port() as u16;
        let thread = {
            let main_loop = main_loop.clone();
            std::thread::spawn(move || {
                ctx.with_thread_default(|| main_loop.run()).unwrap();
            })
        };
        TestServer {
            port,
            factory,
            server,
            main_loop,
            thread: Some(thread),
            capture: std::sync::OnceLock::new(),
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }

    /// The server's session pool: the RTSP sessions it still holds.
    pub fn session_pool(&self) -> gst_rtsp_server::RTSPSessionPool {
        self.server
            .session_pool()
            .expect("server has a session pool")
    }

    /// Captures the factory's output pipeline; the factory must have been
    /// created with `output` = [`CAPTURE_OUTPUT`] and a client must have
    /// asked for the back channel already (the output starts then).
    pub fn capture(&self) -> Capture {
        self.capture.get_or_init(|| self.attach_capture()).clone()
    }

    fn attach_capture(&self) -> Capture {
        let pipeline: gst::Pipeline = self
            .factory
            .property::<Option<gst::Pipeline>>("output-pipeline")
            .expect("output pipeline running");
        let sink = pipeline
            .by_name("capture")
            .expect("capture appsink")
            .downcast::<gst_app::AppSink>()
            .unwrap();
        Capture::attach(&sink)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Quit from inside the loop: a quit() before run() started is lost.
        let main_loop = self.main_loop.clone();
        self.main_loop.context().invoke(move || main_loop.quit());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = &self.server;
    }
}

/// `output` for factories whose audio the test reads: S16 mono 16 kHz.
pub const CAPTURE_OUTPUT: &str =
    "audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! appsink name=capture sync=false";
pub const CAPTURE_RATE: u32 = 16000;

/// Samples arriving at an appsink, as f32.
#[derive(Clone)]
pub struct Capture {
    samples: Arc<(Mutex<Vec<f32>>, Condvar)>,
}

impl Capture {
    /// Captures what `sink` holds already and everything it gets from now
    /// on. A factory's output starts with the first back channel, before a
    /// test can attach, and its appsink queues the buffers of that time.
    /// They are taken at once: pulling only one per new buffer kept the
    /// capture that far behind for good (600 to 740 ms on a loaded machine,
    /// and a tone sent after a [`mark`](Self::mark) then fell partly
    /// outside the window waited for).
    pub fn attach(sink: &gst_app::AppSink) -> Capture {
        let samples = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let s = samples.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    Self::take_queued(sink, &s);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        Self::take_queued(sink, &samples);
        Capture { samples }
    }

    /// Appends every sample `sink` holds, in order: they are pulled under
    /// the lock, so the streaming thread and `attach` cannot interleave.
    fn take_queued(sink: &gst_app::AppSink, samples: &(Mutex<Vec<f32>>, Condvar)) {
        let mut captured = samples.0.lock().unwrap();
        while let Some(sample) = sink.try_pull_sample(gst::ClockTime::ZERO) {
            let map = sample.buffer().unwrap().map_readable().unwrap();
            captured.extend(
                map.chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0),
            );
        }
        samples.1.notify_all();
    }

    /// Samples captured from now on.
    pub fn mark(&self) -> usize {
        self.samples.0.lock().unwrap().len()
    }

    pub fn since(&self, mark: usize) -> Vec<f32> {
        self.samples.0.lock().unwrap()[mark..].to_vec()
    }

    /// Waits until `n` more samples than `mark` were captured.
    pub fn wait_for(&self, mark: usize, n: usize, timeout: Duration) -> bool {
        let (lock, cond) = &*self.samples;
        let guard = lock.lock().unwrap();
        let (_guard, res) = cond
            .wait_timeout_while(guard, timeout, |s| s.len() < mark + n)
            .unwrap();
        !res.timed_out()
    }
}

/// Polls `f` (every 20 ms) until it holds or `timeout` passed; whether it
/// came to hold. For conditions nothing signals, such as a pipeline's state
/// or a process's file descriptor count.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while !f() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

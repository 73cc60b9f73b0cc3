//! `onvifbackchannelsink`: a pipeline talks into a camera's back channel.
//!
//! Three kinds of cameras: the scripted fakes of tests/common/camera.rs,
//! which play real cameras' quirks (../shared/client-notes.md) and record
//! every request and RTP packet; this plugin's own `onvifbackchannelsrc`
//! (every codec it offers, TCP and UDP, users-file, rtsps); and upstream
//! gst-rtsp-server's GstRTSPOnvifMediaFactory back channel (one sendonly m=
//! per codec). Each test sends 440 Hz and checks that 440 Hz came out, at
//! least 90 % of it, and what was said on the wire.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::audio::{dominant_frequency, heard, loud_samples};
use common::camera::{
    decode_g711, decode_with_gstreamer, Auth, Camera, CameraConfig, Log, Request, RequirePolicy,
    Rtp, TransportReply,
};
use common::files::{certificate, TempDir};
use common::Capture;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

#[path = "common/element.rs"]
mod element;
use element::{serve, talk_event};

const T: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// The pipeline around the sink, its bus collected.

/// A pipeline with an `onvifbackchannelsink name=sink`, every bus message kept.
struct Run {
    pipeline: gst::Pipeline,
    messages: Arc<(Mutex<Vec<gst::Message>>, Condvar)>,
    started: Instant,
}

impl Run {
    /// Builds `desc` and sets it PLAYING (a failing state change is left to
    /// the ERROR message it posts).
    fn start(desc: &str) -> Run {
        common::init();
        let pipeline = gst::parse::launch(desc)
            .unwrap_or_else(|e| panic!("{desc}: {e}"))
            .downcast::<gst::Pipeline>()
            .unwrap();
        let messages: Arc<(Mutex<Vec<gst::Message>>, Condvar)> = Arc::default();
        let m = messages.clone();
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            m.0.lock().unwrap().push(msg.clone());
            m.1.notify_all();
            gst::BusSyncReply::Drop
        });
        let _ = pipeline.set_state(gst::State::Playing);
        Run {
            pipeline,
            messages,
            started: Instant::now(),
        }
    }

    fn sink(&self) -> gst::Element {
        self.pipeline
            .by_name("sink")
            .expect("an element named sink")
    }

    /// The first message that `pick` maps to something, waiting up to `timeout`.
    fn wait_for<R>(
        &self,
        timeout: Duration,
        mut pick: impl FnMut(&gst::Message) -> Option<R>,
    ) -> Option<R> {
        let (lock, cond) = &*self.messages;
        let end = Instant::now() + timeout;
        let mut guard = lock.lock().unwrap();
        loop {
            if let Some(r) = guard.iter().find_map(&mut pick) {
                return Some(r);
            }
            let left = end.checked_duration_since(Instant::now())?;
            guard = cond.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// Every element message of the sink with `event` = `name`, so far.
    fn events(&self, name: &str) -> Vec<gst::Structure> {
        self.messages
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| sink_event(m, name))
            .collect()
    }

    /// Waits for the `n`th (1-based) sink event `name`.
    fn event(&self, name: &str, n: usize, timeout: Duration) -> gst::Structure {
        let mut seen = 0;
        self.wait_for(timeout, |m| {
            let s = sink_event(m, name)?;
            seen += 1;
            (seen == n).then_some(s)
        })
        .unwrap_or_else(|| {
            panic!(
                "no {name} event #{n} within {timeout:?}; errors: {:?}",
                self.errors()
            )
        })
    }

    fn errors(&self) -> Vec<String> {
        self.messages
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
                _ => None,
            })
            .collect()
    }

    /// Waits for EOS; panics with the error if one came instead.
    fn wait_eos(&self, timeout: Duration) {
        let r = self.wait_for(timeout, |m| match m.view() {
            gst::MessageView::Eos(_) => Some(Ok(())),
            gst::MessageView::Error(e) => Some(Err(format!("{} ({:?})", e.error(), e.debug()))),
            _ => None,
        });
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("error instead of EOS: {e}"),
            None => panic!("no EOS within {timeout:?}"),
        }
    }

    /// Waits for an ERROR message: its text and debug string, in one string.
    fn wait_error(&self, timeout: Duration) -> String {
        self.wait_for(timeout, |m| match m.view() {
            gst::MessageView::Error(e) => Some(format!(
                "{} | {}",
                e.error(),
                e.debug().map(|d| d.to_string()).unwrap_or_default()
            )),
            gst::MessageView::Eos(_) => Some("EOS instead of an error".into()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no error within {timeout:?}"))
    }

    /// Sends EOS into the pipeline (a live source's end) and waits for it.
    fn finish(&self, timeout: Duration) {
        self.pipeline.send_event(gst::event::Eos::new());
        self.wait_eos(timeout);
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn sink_event(m: &gst::Message, name: &str) -> Option<gst::Structure> {
    let gst::MessageView::Element(e) = m.view() else {
        return None;
    };
    let s = e.structure()?;
    (s.name() == "onvifbackchannelsink" && s.get::<String>("event").ok()? == name)
        .then(|| s.to_owned())
}

/// `ms` of 440 Hz at `rate` from a non-live source: 20 ms buffers.
fn tone(ms: u32, rate: u32) -> String {
    format!(
        "audiotestsrc freq=440 volume=0.5 num-buffers={} samplesperbuffer={} \
         ! audio/x-raw,format=S16LE,rate={rate},channels=1",
        ms / 20,
        rate / 50
    )
}

/// The same, live.
fn live_tone(rate: u32) -> String {
    format!(
        "audiotestsrc is-live=true freq=440 volume=0.5 samplesperbuffer={} \
         ! audio/x-raw,format=S16LE,rate={rate},channels=1",
        rate / 50
    )
}

/// `ms` of tone into `location` with `props`; waits for EOS.
fn talk(location: &str, props: &str, ms: u32) -> Run {
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=\"{location}\" {props}",
        tone(ms, 8000)
    ));
    run.wait_eos(T + Duration::from_millis(ms as u64));
    run
}

/// Talks 1 s into `location` with `props` and expects an error: its text.
fn refused(location: &str, props: &str) -> String {
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=\"{location}\" {props}",
        tone(1000, 8000)
    ));
    run.wait_error(T)
}

// ---------------------------------------------------------------------------
// Checks on what a fake camera recorded.

/// The decoded RTP is 440 Hz and at least 90 % of `ms` is loud.
fn assert_tone(samples: &[f32], rate: u32, ms: u32) {
    let loud_ms = loud_samples(samples, rate, 0.05) as u64 * 1000 / rate as u64;
    assert!(
        loud_ms * 10 >= ms as u64 * 9,
        "{loud_ms} ms of {ms} ms came out loud"
    );
    assert!(
        loud_ms <= ms as u64 + 100,
        "{loud_ms} ms loud for {ms} ms sent (duplicated audio?)"
    );
    let f = dominant_frequency(samples, rate);
    assert!((f - 440.0).abs() <= 10.0, "{f} Hz");
}

/// The RTP of the camera (all connections) decoded as G.711, checked as in
/// [`assert_tone`]; all of one PT and SSRC.
fn assert_g711_tone(log: &Log, pt: u8, ms: u32) {
    let rtp = log.parsed_rtp();
    assert!(!rtp.is_empty(), "no RTP; requests {:?}", log.methods());
    assert!(rtp.iter().all(|p| p.pt == pt), "PTs {:?}", pts(&rtp));
    assert_tone(&decode_g711(&rtp, pt == 8), 8000, ms);
}

fn pts(rtp: &[Rtp]) -> Vec<u8> {
    let mut v: Vec<u8> = rtp.iter().map(|p| p.pt).collect();
    v.dedup();
    v
}

/// Nothing arrived before PLAY's 200 OK on its connection.
fn assert_nothing_before_play(log: &Log) {
    let early = log.packets.iter().filter(|p| !p.after_play).count();
    assert_eq!(early, 0, "{early} packets before PLAY's answer");
}

/// The requests of the connection that talked, in order, as `METHOD+R`
/// (Require) or `METHOD`.
fn requests_of(log: &Log, conn: usize) -> Vec<&Request> {
    log.requests.iter().filter(|r| r.conn == conn).collect()
}

/// The ONVIF exchange on one connection: DESCRIBE, SETUP of the back
/// channel URL, PLAY, TEARDOWN, with Require on each (unless
/// `require_after_describe` is false), Session on all after SETUP and none
/// of them refused.
fn assert_exchange(camera: &Camera, log: &Log, require_after_describe: bool) {
    let conn = log
        .requests
        .iter()
        .rfind(|r| r.method == "PLAY")
        .expect("a PLAY")
        .conn;
    let reqs = requests_of(log, conn);
    let describe = reqs
        .iter()
        .rfind(|r| r.method == "DESCRIBE")
        .expect("a DESCRIBE");
    assert!(describe.has_require(), "DESCRIBE without Require");
    assert_eq!(describe.url, camera.url());
    assert!(describe
        .header("accept")
        .is_some_and(|a| a.contains("application/sdp")));
    let setup = reqs
        .iter()
        .rfind(|r| r.method == "SETUP" && r.url == camera.backchannel_url())
        .unwrap_or_else(|| {
            panic!(
                "no SETUP of {}: {:?}",
                camera.backchannel_url(),
                log.methods()
            )
        });
    assert_eq!(setup.status, Some(200), "{:?}", log.methods());
    assert!(setup.header("transport").is_some());
    let play = reqs.iter().find(|r| r.method == "PLAY").unwrap();
    let teardown = reqs
        .iter()
        .find(|r| r.method == "TEARDOWN")
        .expect("a TEARDOWN");
    for r in [setup, play, teardown] {
        assert_eq!(
            r.has_require(),
            require_after_describe,
            "{} Require: {:?}",
            r.method,
            r.header("require")
        );
    }
    for r in [play, teardown] {
        assert!(
            r.header("session").is_some(),
            "{} without Session",
            r.method
        );
    }
    // Refused only with 401 (a challenge answered) or, for a SETUP, 461
    // (UDP refused before TCP).
    assert!(
        reqs.iter().all(|r| match r.status {
            None | Some(200) | Some(401) => true,
            Some(461) => r.method == "SETUP",
            Some(_) => false,
        }),
        "refused: {:?}",
        log.methods()
    );
}

/// The camera saw the TEARDOWN.
fn wait_teardown(camera: &Camera) -> Log {
    assert!(
        camera.wait(T, |l| !l.of("TEARDOWN").is_empty()),
        "no TEARDOWN: {:?}",
        camera.log().methods()
    );
    camera.log()
}

// ---------------------------------------------------------------------------
// Fake cameras.

#[test]
fn dahua_twenty_payload_types_pcmu_by_preference() {
    let camera = Camera::start(CameraConfig::dahua());
    let run = talk(&camera.url(), "codecs=PCMU", 1000);
    let connected = run.event("connected", 1, Duration::ZERO);
    assert_eq!(connected.get::<String>("codec").unwrap(), "PCMU");
    assert_eq!(connected.get::<u32>("payload-type").unwrap(), 0);
    assert_eq!(connected.get::<u32>("clock-rate").unwrap(), 8000);
    assert_eq!(connected.get::<u32>("ptime").unwrap(), 20);
    let log = wait_teardown(&camera);
    assert_exchange(&camera, &log, true);
    // auto: UDP first, which this camera takes.
    assert_eq!(connected.get::<String>("transport").unwrap(), "udp");
    let setup = log
        .of("SETUP")
        .into_iter()
        .rfind(|r| r.status == Some(200))
        .unwrap();
    let session = setup.header("session").unwrap_or_default().to_string();
    assert!(log.requests.iter().any(|r| r.method == "PLAY"));
    assert!(
        !connected.get::<String>("session").unwrap().is_empty(),
        "{session}"
    );
    assert!(
        log.rtp().iter().all(|p| p.channel.is_none()),
        "RTP not over UDP"
    );
    assert_nothing_before_play(&log);
    assert_g711_tone(&log, 0, 1000);
}

#[test]
fn dahua_default_order_takes_the_cameras_first_codec() {
    // MPEG4-GENERIC/8000 without config comes first: AAC-8000 with our config.
    let camera = Camera::start(CameraConfig::dahua());
    let run = talk(&camera.url(), "transport=tcp", 2000);
    let connected = run.event("connected", 1, Duration::ZERO);
    assert_eq!(connected.get::<String>("codec").unwrap(), "AAC-8000");
    assert_eq!(connected.get::<u32>("payload-type").unwrap(), 97);
    let log = wait_teardown(&camera);
    assert_exchange(&camera, &log, true);
    let rtp = log.parsed_rtp();
    assert!(rtp.iter().all(|p| p.pt == 97), "{:?}", pts(&rtp));
    // 1024 samples per AU, one AU per packet at this rate.
    for w in rtp.windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts) % 1024, 0);
    }
    let packets: Vec<Vec<u8>> = log.rtp().iter().map(|p| p.data.clone()).collect();
    let out = decode_with_gstreamer(
        &packets,
        "application/x-rtp,media=audio,clock-rate=8000,encoding-name=MPEG4-GENERIC,payload=97,\
         mode=AAC-hbr,sizelength=13,indexlength=3,indexdeltalength=3,streamtype=5,config=(string)1588",
        16000,
    );
    assert_tone(&out, 16000, 2000);
}

#[test]
fn one_m_line_per_codec_sharing_a_control() {
    let camera = Camera::start(CameraConfig::per_codec(&["PCMU", "PCMA", "G722", "OPUS"]));
    let run = talk(&camera.url(), "codecs=PCMA transport=tcp", 1000);
    let connected = run.event("connected", 1, Duration::ZERO);
    assert_eq!(connected.get::<String>("codec").unwrap(), "PCMA");
    assert_eq!(connected.get::<String>("transport").unwrap(), "tcp");
    let log = wait_teardown(&camera);
    assert_exchange(&camera, &log, true);
    assert_eq!(log.of("SETUP").len(), 1, "{:?}", log.methods());
    assert_g711_tone(&log, 8, 1000);
}

#[test]
fn avigilon_lower_case_names_bad_c_line_absolute_control() {
    let camera = Camera::start(CameraConfig::avigilon());
    talk(&camera.url(), "transport=tcp codecs=PCMU", 1000);
    let log = wait_teardown(&camera);
    assert_exchange(&camera, &log, true);
    assert_g711_tone(&log, 0, 1000);
}

#[test]
fn already_encoded_mulaw_passes_through() {
    let camera = Camera::start(CameraConfig::pcmu());
    let run = Run::start(&format!(
        "{} ! mulawenc ! onvifbackchannelsink name=sink location={} transport=tcp",
        tone(1000, 8000),
        camera.url()
    ));
    run.wait_eos(T);
    let log = wait_teardown(&camera);
    assert_g711_tone(&log, 0, 1000);
}

/// The sink prerolls like any GStreamer sink: PAUSED is ASYNC until the
/// first buffer. (With a sink that does not preroll, `filesrc ! decodebin !
/// onvifbackchannelsink` sometimes never posted EOS on 1.26: the pipeline's
/// READY-to-PAUSED, posted from decodebin's streaming thread, could land
/// after gst-launch's PLAYING and leave GstBin believing it was not
/// playing.)
#[test]
fn the_sink_prerolls_on_its_first_buffer() {
    common::init();
    let camera = Camera::start(CameraConfig::pcmu());
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=audio/x-raw,format=S16LE,layout=interleaved,rate=8000,channels=1 \
         ! onvifbackchannelsink name=sink location={} transport=tcp",
        camera.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    assert_eq!(
        pipeline.set_state(gst::State::Paused),
        Ok(gst::StateChangeSuccess::Async)
    );
    let (_, current, _) = pipeline.state(gst::ClockTime::from_mseconds(300));
    assert_eq!(current, gst::State::Ready, "prerolled without a buffer");
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let mut buffer = gst::Buffer::from_mut_slice(vec![0u8; 320]);
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    src.push_buffer(buffer).unwrap();
    let (done, current, _) = pipeline.state(gst::ClockTime::from_seconds(5));
    assert_eq!(done, Ok(gst::StateChangeSuccess::Success));
    assert_eq!(current, gst::State::Paused);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn any_raw_format_is_converted() {
    // 48 kHz stereo F32 in, PCMU out.
    let camera = Camera::start(CameraConfig::pcmu());
    let run = Run::start(&format!(
        "audiotestsrc freq=440 volume=0.5 num-buffers=50 samplesperbuffer=960 \
         ! audio/x-raw,format=F32LE,rate=48000,channels=2 \
         ! onvifbackchannelsink name=sink location={} transport=tcp",
        camera.url()
    ));
    run.wait_eos(T);
    let log = wait_teardown(&camera);
    assert_g711_tone(&log, 0, 1000);
}

#[test]
fn require_only_on_describe() {
    // With the property: Require on DESCRIBE only, and the camera takes it.
    let mut config = CameraConfig::pcmu();
    config.require = RequirePolicy::DescribeOnly;
    let camera = Camera::start(config.clone());
    talk(
        &camera.url(),
        "require-on-describe-only=true transport=tcp",
        1000,
    );
    let log = wait_teardown(&camera);
    assert_exchange(&camera, &log, false);
    assert_g711_tone(&log, 0, 1000);

    // Without it the camera refuses the SETUP: a clear error with its answer.
    let camera = Camera::start(config);
    let err = refused(&camera.url(), "transport=tcp");
    assert!(err.contains("551"), "{err}");
    assert!(camera.log().rtp().is_empty());
}

#[test]
fn answer_551_then_describe_without_require() {
    let mut config = CameraConfig::pcmu();
    config.require = RequirePolicy::Answer551;
    let camera = Camera::start(config);
    talk(&camera.url(), "transport=tcp", 1000);
    let log = wait_teardown(&camera);
    let describes = log.of("DESCRIBE");
    assert_eq!(describes.len(), 2, "{:?}", log.methods());
    assert!(describes[0].has_require() && describes[0].status == Some(551));
    assert!(!describes[1].has_require() && describes[1].status == Some(200));
    assert_nothing_before_play(&log);
    assert_g711_tone(&log, 0, 1000);
}

#[test]
fn answer_551_and_no_sendonly_track_is_no_back_channel() {
    let mut config = CameraConfig::pcmu();
    config.require = RequirePolicy::Answer551;
    config.sdp_without_require = Some(CameraConfig::video_only_sdp());
    let camera = Camera::start(config);
    let err = refused(&camera.url(), "");
    assert!(
        err.contains("551") && err.to_lowercase().contains("back channel"),
        "{err}"
    );
    assert!(camera.log().of("SETUP").is_empty());
}

#[test]
fn sdp_without_sendonly_is_no_back_channel() {
    let mut config = CameraConfig::pcmu();
    config.sdp = CameraConfig::video_only_sdp();
    let camera = Camera::start(config);
    let err = refused(&camera.url(), "");
    assert!(err.to_lowercase().contains("back channel"), "{err}");
    // The camera's answer is in it.
    assert!(err.contains("video"), "{err}");
    assert!(camera.log().of("SETUP").is_empty());
}

#[test]
fn no_answer_to_require_times_out_then_retries_without() {
    let mut config = CameraConfig::pcmu();
    config.require = RequirePolicy::NeverAnswer;
    let camera = Camera::start(config);
    let start = Instant::now();
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location={} timeout=1000 transport=tcp",
        tone(1000, 8000),
        camera.url()
    ));
    run.event("connected", 1, T);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "connected after {waited:?}"
    );
    run.wait_eos(T);
    let log = wait_teardown(&camera);
    let describes = log.of("DESCRIBE");
    assert_eq!(describes.len(), 2, "{:?}", log.methods());
    assert!(describes[0].has_require() && describes[0].status.is_none());
    assert!(!describes[1].has_require() && describes[1].status == Some(200));
    assert_g711_tone(&log, 0, 1000);
}

#[test]
fn a_camera_that_needs_the_video_setup() {
    let mut config = CameraConfig::pcmu();
    config.video_setup_first = true;
    let camera = Camera::start(config.clone());
    talk(&camera.url(), "setup-all-tracks=true transport=tcp", 1000);
    let log = wait_teardown(&camera);
    let setups: Vec<(String, Option<u16>)> = log
        .of("SETUP")
        .iter()
        .map(|r| (r.url.clone(), r.status))
        .collect();
    assert_eq!(
        setups,
        [
            (camera.video_url(), Some(200)),
            (camera.backchannel_url(), Some(200))
        ]
    );
    // The back channel's SETUP carries Require.
    assert!(log.of("SETUP")[1].has_require());
    assert_g711_tone(&log, 0, 1000);

    // Without setup-all-tracks: the camera's 455 in a clear error.
    let camera = Camera::start(config);
    let err = refused(&camera.url(), "transport=tcp");
    assert!(err.contains("455"), "{err}");
}

/// A 2 s session timeout held for three timeouts by keepalives (RTP alone
/// would not: the camera expires sessions without requests).
fn keepalives_hold_a_short_session(public: &str, method: &str) {
    let mut config = CameraConfig::pcmu();
    config.session_timeout = Some(2);
    config.public = public.into();
    let camera = Camera::start(config);
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location={} transport=tcp",
        live_tone(8000),
        camera.url()
    ));
    run.event("connected", 1, T);
    // Three timeouts after PLAY (the camera's log changes with every packet).
    let held = camera.wait(Duration::from_secs(20), |l| {
        let play = l.of("PLAY").first().map(|r| r.at);
        let expired = l
            .events
            .iter()
            .any(|e| matches!(e, common::camera::Event::Expired(_)));
        expired
            || play.is_some_and(|p| {
                l.packets
                    .last()
                    .is_some_and(|k| k.at - p > Duration::from_secs(6))
            })
    });
    assert!(held);
    run.finish(T);
    let log = wait_teardown(&camera);
    assert!(
        !log.events
            .iter()
            .any(|e| matches!(e, common::camera::Event::Expired(_))),
        "the session expired: {:?}",
        log.methods()
    );
    let keepalives = log.keepalives(0);
    assert!(
        keepalives.len() >= 3,
        "{} keepalives: {:?}",
        keepalives.len(),
        log.methods()
    );
    for k in &keepalives {
        assert_eq!(k.method, method);
        assert!(k.header("session").is_some(), "keepalive without Session");
        assert!(!k.has_require(), "keepalive with Require");
        assert_eq!(k.status, Some(200));
    }
    // Evenly within the timeout: no gap of 2 s without a request after PLAY.
    let play = log.of("PLAY")[0].at;
    let mut last = play;
    for k in &keepalives {
        assert!(
            k.at - last < Duration::from_millis(1900),
            "gap {:?}",
            k.at - last
        );
        last = k.at;
    }
    // RTP kept flowing all along: 440 Hz over the whole run.
    let rtp = log.parsed_rtp();
    let samples = decode_g711(&rtp, false);
    // (About 6 s were sent; the first packets may follow PLAY a little.)
    assert!(samples.len() >= 5 * 8000, "{} samples", samples.len());
    assert!((dominant_frequency(&samples, 8000) - 440.0).abs() <= 10.0);
    assert!(loud_samples(&samples, 8000, 0.05) * 10 >= samples.len() * 9);
}

#[test]
fn keepalive_get_parameter_holds_a_short_session_timeout() {
    keepalives_hold_a_short_session(
        "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER",
        "GET_PARAMETER",
    );
}

#[test]
fn keepalive_options_when_get_parameter_is_not_public() {
    keepalives_hold_a_short_session("OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN", "OPTIONS");
}

#[test]
fn dropped_connection_reconnects_with_backoff() {
    let mut config = CameraConfig::pcmu();
    config.drop_after_play = Some(Duration::from_millis(1000));
    config.drop_connections = 1;
    let camera = Camera::start(config);
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location={} transport=tcp reconnect=true",
        live_tone(8000),
        camera.url()
    ));
    run.event("connected", 1, T);
    let disconnected = run.event("disconnected", 1, T);
    assert!(disconnected.get::<String>("reason").is_ok());
    let reconnecting = run.event("reconnecting", 1, T);
    assert_eq!(reconnecting.get::<u32>("attempt").unwrap(), 1);
    assert_eq!(reconnecting.get::<u64>("delay-ms").unwrap(), 1000);
    assert!(!reconnecting.get::<String>("error").unwrap().is_empty());
    run.event("connected", 2, T);
    // A second of audio on the new connection.
    assert!(camera.wait(T, |l| l.rtp().iter().filter(|p| p.conn >= 1).count() >= 50));
    run.finish(T);
    let log = wait_teardown(&camera);
    assert_exchange(&camera, &log, true);
    let second: Vec<Rtp> = log
        .rtp()
        .iter()
        .filter(|p| p.conn >= 1)
        .filter_map(|p| Rtp::parse(&p.data))
        .collect();
    let samples = decode_g711(&second, false);
    assert!((dominant_frequency(&samples, 8000) - 440.0).abs() <= 10.0);
    assert!(loud_samples(&samples, 8000, 0.05) * 10 >= samples.len() * 9);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
}

#[test]
fn dropped_connection_without_reconnect_is_an_error() {
    let mut config = CameraConfig::pcmu();
    config.drop_after_play = Some(Duration::from_millis(500));
    let camera = Camera::start(config);
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location={} transport=tcp",
        live_tone(8000),
        camera.url()
    ));
    run.event("connected", 1, T);
    let err = run.wait_error(T);
    assert!(!err.is_empty());
    assert!(run.events("reconnecting").is_empty());
}

#[test]
fn changed_interleaved_channel_is_followed() {
    let mut config = CameraConfig::pcmu();
    config.channel_shift = 4;
    let camera = Camera::start(config);
    talk(&camera.url(), "transport=tcp", 1000);
    let log = wait_teardown(&camera);
    let asked = interleaved_asked(&log);
    assert!(
        log.rtp().iter().all(|p| p.channel == Some(asked + 4)),
        "asked {asked}"
    );
    assert_g711_tone(&log, 0, 1000);
}

/// The RTP channel the back channel SETUP asked for.
fn interleaved_asked(log: &Log) -> u8 {
    let setup = log
        .of("SETUP")
        .into_iter()
        .rfind(|r| r.status == Some(200))
        .unwrap();
    let t = setup.header("transport").unwrap();
    t.split(';')
        .find_map(|p| p.strip_prefix("interleaved="))
        .and_then(|r| r.split('-').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no interleaved= in {t}"))
}

#[test]
fn missing_transport_or_without_tcp_in_the_answer() {
    for reply in [TransportReply::Missing, TransportReply::WithoutTcp] {
        let mut config = CameraConfig::pcmu();
        config.transport_reply = reply;
        let camera = Camera::start(config);
        talk(&camera.url(), "transport=tcp", 1000);
        let log = wait_teardown(&camera);
        let asked = interleaved_asked(&log);
        assert!(
            log.rtp().iter().all(|p| p.channel == Some(asked)),
            "{reply:?}"
        );
        assert_g711_tone(&log, 0, 1000);
    }
}

#[test]
fn malformed_content_base_falls_back_to_the_request_url() {
    let mut config = CameraConfig::pcmu();
    config.content_base = Some("rtsp://rtsp://127.0.0.1/stream/".into());
    let camera = Camera::start(config);
    talk(&camera.url(), "transport=tcp", 1000);
    let log = wait_teardown(&camera);
    assert_exchange(&camera, &log, true);
    assert_g711_tone(&log, 0, 1000);
}

fn auth_camera(basic_too: bool, qop: bool) -> Camera {
    let mut config = CameraConfig::pcmu();
    config.auth = Some(Auth {
        user: "admin".into(),
        password: "s3cr3t".into(),
        realm: "IP Camera(C1234)".into(),
        basic_too,
        qop,
    });
    Camera::start(config)
}

#[test]
fn digest_preferred_when_basic_is_offered_too() {
    for qop in [false, true] {
        let camera = auth_camera(true, qop);
        talk(
            &camera.url_with_credentials("admin", "s3cr3t"),
            "transport=tcp",
            1000,
        );
        let log = wait_teardown(&camera);
        // Credentials never in a request URL.
        assert!(log.requests.iter().all(|r| !r.url.contains('@')));
        let authorized: Vec<&Request> = log
            .requests
            .iter()
            .filter(|r| r.status == Some(200))
            .collect();
        assert!(authorized.iter().all(|r| r
            .header("authorization")
            .is_some_and(|a| a.starts_with("Digest "))));
        assert_exchange(&camera, &log, true);
        assert_g711_tone(&log, 0, 1000);
    }
    // user-id / user-pw instead of the URL.
    let camera = auth_camera(false, false);
    talk(
        &camera.url(),
        "transport=tcp user-id=admin user-pw=s3cr3t",
        1000,
    );
    assert_g711_tone(&wait_teardown(&camera), 0, 1000);
}

#[test]
fn wrong_password_is_a_401_error() {
    let camera = auth_camera(true, false);
    let err = refused(&camera.url_with_credentials("admin", "wrong"), "");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("wrong"), "password in the error: {err}");
    assert!(camera.log().of("SETUP").is_empty());
}

#[test]
fn udp_refused_with_461_falls_back_to_tcp() {
    let mut config = CameraConfig::pcmu();
    config.reject_udp = true;
    let camera = Camera::start(config.clone());
    let run = talk(&camera.url(), "", 1000);
    let connected = run.event("connected", 1, Duration::ZERO);
    assert_eq!(connected.get::<String>("transport").unwrap(), "tcp");
    let log = wait_teardown(&camera);
    let setups: Vec<Option<u16>> = log.of("SETUP").iter().map(|r| r.status).collect();
    assert_eq!(setups, [Some(461), Some(200)], "{:?}", log.methods());
    assert!(log.rtp().iter().all(|p| p.channel.is_some()));
    assert_g711_tone(&log, 0, 1000);

    // transport=udp: the 461 is the error.
    let camera = Camera::start(config);
    let err = refused(&camera.url(), "transport=udp");
    assert!(err.contains("461"), "{err}");
}

#[test]
fn udp_transport_from_the_announced_port() {
    let camera = Camera::start(CameraConfig::pcmu());
    let run = talk(&camera.url(), "transport=udp", 1000);
    let connected = run.event("connected", 1, Duration::ZERO);
    assert_eq!(connected.get::<String>("transport").unwrap(), "udp");
    let log = wait_teardown(&camera);
    let setup = log
        .of("SETUP")
        .into_iter()
        .rfind(|r| r.status == Some(200))
        .unwrap();
    let t = setup.header("transport").unwrap().to_string();
    let client_port: u16 = t
        .split(';')
        .find_map(|p| p.strip_prefix("client_port="))
        .and_then(|r| r.split('-').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{t}"));
    assert!(!t.contains("/TCP"), "{t}");
    assert!(log
        .rtp()
        .iter()
        .all(|p| p.channel.is_none() && p.from.map(|a| a.port()) == Some(client_port)));
    assert_nothing_before_play(&log);
    assert_g711_tone(&log, 0, 1000);
}

#[test]
fn dscp_marks_the_udp_rtp() {
    for (props, tos) in [("transport=udp dscp=46", 46 << 2), ("transport=udp", 0)] {
        let camera = Camera::start(CameraConfig::pcmu());
        let _run = talk(&camera.url(), props, 1000);
        let log = wait_teardown(&camera);
        let rtp = log.rtp();
        assert!(!rtp.is_empty(), "{props}: no RTP");
        assert!(
            rtp.iter().all(|p| p.tos == Some(tos)),
            "{props}: TOS {:?}, want {tos}",
            rtp.iter().map(|p| p.tos).collect::<Vec<_>>()
        );
    }
}

#[test]
fn reolink_ptime_and_maxptime() {
    // (camera ptime, maxptime, sink ptime) -> bytes per packet
    for (ptime, maxptime, prop, bytes) in [
        (Some(128), Some(128), 0, 1024),
        (None, Some(128), 0, 160),
        (None, Some(128), 200, 1024),
        (None, None, 40, 320),
    ] {
        let camera = Camera::start(CameraConfig::reolink(ptime, maxptime));
        let run = talk(&camera.url(), &format!("transport=tcp ptime={prop}"), 2048);
        let connected = run.event("connected", 1, Duration::ZERO);
        assert_eq!(connected.get::<u32>("ptime").unwrap() * 8, bytes as u32);
        let log = wait_teardown(&camera);
        assert_exchange(&camera, &log, true);
        let rtp = log.parsed_rtp();
        let n = rtp.len();
        // All but the last packet are full.
        assert!(
            rtp[..n - 1].iter().all(|p| p.payload.len() == bytes),
            "{ptime:?} {maxptime:?} {prop}"
        );
        for w in rtp.windows(2) {
            assert_eq!(w[1].ts.wrapping_sub(w[0].ts), w[0].payload.len() as u32);
        }
        assert_g711_tone(&log, 8, 2048);
    }
}

#[test]
fn nothing_is_sent_before_plays_answer() {
    let mut config = CameraConfig::pcmu();
    config.play_delay = Duration::from_millis(800);
    let camera = Camera::start(config);
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location={} transport=tcp",
        live_tone(8000),
        camera.url()
    ));
    run.event("connected", 1, T);
    assert!(camera.wait_rtp(25, T));
    run.finish(T);
    let log = wait_teardown(&camera);
    assert_nothing_before_play(&log);
}

#[test]
fn no_codec_in_common_names_both_lists() {
    let mut config = CameraConfig::pcmu();
    config.sdp = CameraConfig::video_only_sdp()
        + "m=audio 0 RTP/AVP 3 96\na=control:backchannel\na=rtpmap:3 GSM/8000\na=rtpmap:96 AMR/8000\na=sendonly\n";
    let camera = Camera::start(config);
    let err = refused(&camera.url(), "");
    assert!(
        err.contains("GSM") && err.contains("AMR") && err.contains("PCMU"),
        "{err}"
    );

    // A preference list the camera does not take.
    let camera = Camera::start(CameraConfig::pcmu());
    let err = refused(&camera.url(), "codecs=OPUS,G722");
    assert!(err.contains("PCMU") && err.contains("OPUS"), "{err}");
    assert!(camera.log().of("SETUP").is_empty());
}

#[test]
fn unreachable_and_closed_connections_are_errors() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=rtsp://127.0.0.1:{port}/stream",
        tone(1000, 8000)
    ));
    let err = run.wait_error(T);
    assert!(err.contains(&port.to_string()), "{err}");

    // A server that closes every connection at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closer = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        // The first connection only; the listener goes with the thread.
        if let Ok((s, _)) = listener.accept() {
            drop(s);
        }
    });
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=rtsp://127.0.0.1:{port}/stream",
        tone(1000, 8000)
    ));
    let err = run.wait_error(T);
    assert!(!err.is_empty());
    closer.join().unwrap();
}

/// RTP timestamps advance by exactly the samples sent, at the codec clock;
/// the marker bit only on the first packet; one SSRC, one PT, consecutive
/// sequence numbers.
#[test]
fn rtp_timestamps_advance_by_the_samples_sent() {
    // (codec, source rate, PT, clock ticks of one second of audio, ticks per 20 ms)
    for (codec, rate, pt, per_second, per_packet) in [
        ("PCMU", 8000, 0u8, 8000u32, 160u32),
        ("PCMA", 8000, 8, 8000, 160),
        ("G722", 16000, 9, 8000, 160),
        ("OPUS", 48000, 96, 48000, 960),
    ] {
        let camera = Camera::start(CameraConfig::per_codec(&["PCMU", "PCMA", "G722", "OPUS"]));
        let run = Run::start(&format!(
            "{} ! onvifbackchannelsink name=sink location={} codecs={codec} transport=tcp",
            tone(1000, rate),
            camera.url()
        ));
        run.wait_eos(T);
        let log = wait_teardown(&camera);
        let rtp = log.parsed_rtp();
        assert!(rtp.len() >= 45, "{codec}: {} packets", rtp.len());
        assert!(
            rtp.iter().all(|p| p.pt == pt),
            "{codec}: PTs {:?}",
            pts(&rtp)
        );
        assert!(
            rtp.iter().all(|p| p.ssrc == rtp[0].ssrc),
            "{codec}: SSRC changed"
        );
        assert!(rtp[0].marker, "{codec}: no marker on the first packet");
        assert!(
            rtp[1..].iter().all(|p| !p.marker),
            "{codec}: marker after the first"
        );
        for w in rtp.windows(2) {
            assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "{codec}: sequence");
        }
        let deltas: Vec<u32> = rtp
            .windows(2)
            .map(|w| w[1].ts.wrapping_sub(w[0].ts))
            .collect();
        match codec {
            "OPUS" => {
                // The payloader's timestamps: 20 ms frames, 960 at 48 kHz.
                // The first step is shorter by opusenc's lookahead (312
                // samples at 48 kHz: its output starts that much later).
                assert!((1..=per_packet).contains(&deltas[0]), "{codec}: {deltas:?}");
                assert!(
                    deltas[1..].iter().all(|&d| d == per_packet),
                    "{codec}: {deltas:?}"
                );
            }
            _ => {
                // One byte per tick for G.711 and G.722 (64 kbit/s at 8000 Hz).
                for (w, d) in rtp.windows(2).zip(&deltas) {
                    assert_eq!(*d, w[0].payload.len() as u32, "{codec}");
                }
                let total: u32 = rtp.iter().map(|p| p.payload.len() as u32).sum();
                assert_eq!(total, per_second, "{codec}: ticks of audio for 1 s sent");
                assert!(
                    deltas.iter().all(|&d| d == per_packet),
                    "{codec}: {deltas:?}"
                );
            }
        }
        // The tone itself, through GStreamer's decoders.
        let caps = match codec {
            "PCMU" => "application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0",
            "PCMA" => "application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMA,payload=8",
            "G722" => "application/x-rtp,media=audio,clock-rate=8000,encoding-name=G722,payload=9",
            _ => "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96",
        };
        let packets: Vec<Vec<u8>> = log.rtp().iter().map(|p| p.data.clone()).collect();
        assert_tone(&decode_with_gstreamer(&packets, caps, 16000), 16000, 1000);
    }
}

/// A pause in a live source starts a new talk spurt: marker again, and the
/// timestamps jump by the pause (running time at the codec clock).
#[test]
fn timestamps_follow_running_time_across_a_pause() {
    let camera = Camera::start(CameraConfig::pcmu());
    let run = Run::start(&format!(
        "{} ! valve name=valve ! onvifbackchannelsink name=sink location={} transport=tcp",
        live_tone(8000),
        camera.url()
    ));
    run.event("connected", 1, T);
    assert!(camera.wait_rtp(25, T));
    let valve = run.pipeline.by_name("valve").unwrap();
    valve.set_property("drop", true);
    let paused_at = camera.log().rtp().len();
    // Half a second without audio (the source keeps running).
    assert!(!camera.wait(Duration::from_millis(500), |l| l.rtp().len()
        > paused_at + 2));
    valve.set_property("drop", false);
    let resumed = camera.log().rtp().len();
    assert!(camera.wait_rtp(resumed + 25, T));
    run.finish(T);
    let rtp = camera.log().parsed_rtp();
    let gap = rtp
        .windows(2)
        .map(|w| w[1].ts.wrapping_sub(w[0].ts))
        .max()
        .unwrap();
    assert!(
        gap >= 8000 * 4 / 10,
        "largest timestamp step {gap}: no pause seen"
    );
    let markers = rtp.iter().filter(|p| p.marker).count();
    assert_eq!(markers, 2, "one marker per talk spurt");
}

// ---------------------------------------------------------------------------
// Into this plugin's own onvifbackchannelsrc.

/// Every codec `onvifbackchannelsrc` offers, by its `codecs` names.
const OUR_CODECS: &[&str] = &[
    "PCMU",
    "PCMA",
    "G722",
    "OPUS",
    "AAC-16000",
    "AAC-48000",
    "AAC-44100",
    "AAC-32000",
    "AAC-8000",
    "L16-48000",
    "L16-16000",
    "L16-8000",
    "G726-40",
    "G726-32",
    "G726-24",
    "G726-16",
];

/// `ms` of tone from `source` into the src serving with `src_props`; the
/// src's output must be 440 Hz, ≥ 90 % of it. `location` is given the port.
fn into_our_src(
    src_props: &str,
    source: &str,
    location: &dyn Fn(u16) -> String,
    sink_props: &str,
    ms: u32,
) -> Result<(), String> {
    let (pipeline, capture, port) = serve(src_props);
    let mark = capture.mark();
    let run = Run::start(&format!(
        "{source} ! onvifbackchannelsink name=sink location=\"{}\" {sink_props}",
        location(port)
    ));
    let result = (|| {
        run.wait_for(T + Duration::from_millis(ms as u64), |m| match m.view() {
            gst::MessageView::Eos(_) => Some(Ok(())),
            gst::MessageView::Error(e) => Some(Err(format!("{} ({:?})", e.error(), e.debug()))),
            _ => None,
        })
        .ok_or("no EOS")??;
        // TEARDOWN reached the src: its talker left.
        let left = talk_event(&pipeline, "left", T).ok_or("no `left` talk event")?;
        check_heard(&capture, mark, ms)?;
        Ok::<_, String>(left)
    })();
    drop(run);
    pipeline.set_state(gst::State::Null).unwrap();
    let left = result?;
    let lost = left.get::<u64>("lost").unwrap_or(0);
    if lost != 0 {
        return Err(format!("{lost} packets lost"));
    }
    Ok(())
}

fn check_heard(capture: &Capture, mark: usize, ms: u32) -> Result<(), String> {
    // What comes out follows the talker by the src's latency: wait for it.
    let enough = common::eventually(T, || heard(&capture.since(mark)).0 as u32 * 10 >= ms * 9);
    let (loud_ms, f) = heard(&capture.since(mark));
    if !enough {
        return Err(format!("{loud_ms} ms of {ms} ms heard ({f} Hz)"));
    }
    if loud_ms as u32 > ms + 150 {
        return Err(format!("{loud_ms} ms heard for {ms} ms sent"));
    }
    if (f - 440.0).abs() > 10.0 {
        return Err(format!("{f} Hz"));
    }
    Ok(())
}

fn every_codec_into_our_src(transport: &str) {
    let mut failures = Vec::new();
    for codec in OUR_CODECS {
        let r = into_our_src(
            &format!("codecs={codec}"),
            &tone(1500, 16000),
            &|port| format!("rtsp://127.0.0.1:{port}/stream"),
            &format!("transport={transport}"),
            1500,
        );
        if let Err(e) = r {
            failures.push(format!("{codec}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{transport}: {failures:#?}");
}

#[test]
fn every_codec_of_our_src_over_tcp() {
    every_codec_into_our_src("tcp");
}

#[test]
fn every_codec_of_our_src_over_udp() {
    every_codec_into_our_src("udp");
}

#[test]
fn our_src_chooses_by_preference_among_its_codecs() {
    let (pipeline, capture, port) = serve("codecs=OPUS,PCMA,PCMU");
    let mark = capture.mark();
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=rtsp://127.0.0.1:{port}/stream codecs=PCMU,PCMA",
        tone(1000, 8000)
    ));
    run.wait_eos(T);
    let connected = run.event("connected", 1, Duration::ZERO);
    assert_eq!(connected.get::<String>("codec").unwrap(), "PCMU");
    let left = talk_event(&pipeline, "left", T).expect("left");
    assert_eq!(left.get::<String>("codec").unwrap(), "PCMU");
    check_heard(&capture, mark, 1000).unwrap();
    drop(run);

    // The default: the camera's order, OPUS first.
    let mark = capture.mark();
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=rtsp://127.0.0.1:{port}/stream",
        tone(1000, 8000)
    ));
    run.wait_eos(T);
    assert_eq!(
        run.event("connected", 1, Duration::ZERO)
            .get::<String>("codec")
            .unwrap(),
        "OPUS"
    );
    talk_event(&pipeline, "left", T).expect("left");
    check_heard(&capture, mark, 1000).unwrap();
    drop(run);
    pipeline.set_state(gst::State::Null).unwrap();
}

const ALICE_PW: &str = "talk-Secret-9";

#[test]
fn our_src_with_a_users_file() {
    let dir = TempDir::new("sink-users");
    let users = dir.write(
        "users",
        &format!("alice:{ALICE_PW}:talker\nbob:view-7:viewer\n"),
    );
    // Credentials in the URL, then in user-id/user-pw.
    into_our_src(
        &format!("users-file={users}"),
        &tone(1000, 8000),
        &|port| format!("rtsp://alice:{ALICE_PW}@127.0.0.1:{port}/stream"),
        "transport=tcp",
        1000,
    )
    .unwrap();
    into_our_src(
        &format!("users-file={users}"),
        &tone(1000, 8000),
        &|port| format!("rtsp://127.0.0.1:{port}/stream"),
        &format!("transport=udp user-id=alice user-pw={ALICE_PW}"),
        1000,
    )
    .unwrap();

    // A wrong password is a 401; a viewer gets no back channel.
    let (pipeline, _capture, port) = serve(&format!("users-file={users}"));
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=rtsp://alice:nope@127.0.0.1:{port}/stream",
        tone(1000, 8000)
    ));
    let err = run.wait_error(T);
    assert!(err.contains("401") && !err.contains("nope"), "{err}");
    drop(run);
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=rtsp://bob:view-7@127.0.0.1:{port}/stream",
        tone(1000, 8000)
    ));
    let err = run.wait_error(T);
    assert!(err.to_lowercase().contains("back channel"), "{err}");
    drop(run);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn our_src_over_rtsps() {
    let dir = TempDir::new("sink-tls");
    let pem = certificate(&dir);
    let users = dir.write("users", &format!("alice:{ALICE_PW}:talker\n"));
    for transport in ["udp", "tcp"] {
        into_our_src(
            &format!("tls-certificate={pem} users-file={users}"),
            &tone(1000, 8000),
            &|port| format!("rtsps://alice:{ALICE_PW}@127.0.0.1:{port}/stream"),
            &format!("tls-validation-flags=0 transport={transport}"),
            1000,
        )
        .unwrap_or_else(|e| panic!("{transport}: {e}"));
    }
    // The self-signed certificate is refused by default.
    let (pipeline, _capture, port) = serve(&format!("tls-certificate={pem} users-file={users}"));
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location=rtsps://alice:{ALICE_PW}@127.0.0.1:{port}/stream",
        tone(1000, 8000)
    ));
    let err = run.wait_error(T);
    assert!(!err.contains(ALICE_PW), "{err}");
    drop(run);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn our_src_from_a_live_source() {
    for transport in ["tcp", "udp"] {
        let (pipeline, capture, port) = serve("codecs=PCMU,OPUS");
        let mark = capture.mark();
        let run = Run::start(&format!(
            // linger=0: the talk is timed to EOS, which a linger delays.
            "{} ! onvifbackchannelsink name=sink location=rtsp://127.0.0.1:{port}/stream \
             transport={transport} linger=0",
            live_tone(16000)
        ));
        run.event("connected", 1, T);
        let connected_at = Instant::now();
        // Two seconds of talk, timed by the src's output.
        assert!(capture.wait_for(mark, 16000 * 3, T));
        run.finish(T);
        let talked_ms = connected_at.elapsed().as_millis() as u32;
        talk_event(&pipeline, "left", T).expect("left");
        let (loud_ms, f) = heard(&capture.since(mark));
        assert!(
            loud_ms as u32 * 10 >= talked_ms * 9 - 2000,
            "{transport}: {loud_ms} ms heard of {talked_ms} ms talked"
        );
        assert!((f - 440.0).abs() <= 10.0, "{f} Hz");
        drop(run);
        pipeline.set_state(gst::State::Null).unwrap();
    }
}

#[test]
fn our_src_from_a_file() {
    common::init();
    let dir = TempDir::new("sink-file");
    let wav = dir.0.join("tone.wav");
    let writer = gst::parse::launch(&format!(
        "{} ! wavenc ! filesink location={}",
        tone(2000, 44100),
        wav.display()
    ))
    .unwrap();
    writer.set_state(gst::State::Playing).unwrap();
    writer
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos])
        .expect("wav written");
    writer.set_state(gst::State::Null).unwrap();
    into_our_src(
        "codecs=PCMA",
        &format!("filesrc location={} ! decodebin", wav.display()),
        &|port| format!("rtsp://127.0.0.1:{port}/stream"),
        "",
        2000,
    )
    .unwrap();
}

// ---------------------------------------------------------------------------
// Into upstream gst-rtsp-server's back channel.

/// GstRTSPOnvifMediaFactory with a back channel of two codecs (PCMU, PCMA):
/// upstream writes one sendonly m= per caps structure of the element named
/// `depay_backchannel`, all with one control. Its back channel pipeline
/// hands the RTP it gets (after upstream's rtpbin) to the test, which
/// decodes it by payload type. (A decodebin there made upstream's media
/// fail to prepare; a depayloader narrows the caps to one codec.)
struct Upstream {
    port: u16,
    received: Arc<(Mutex<Vec<Vec<u8>>>, Condvar)>,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    _server: gst_rtsp_server::RTSPOnvifServer,
}

impl Upstream {
    fn start() -> Upstream {
        common::init();
        let factory = gst_rtsp_server::RTSPOnvifMediaFactory::new();
        factory.set_media_gtype(gst_rtsp_server::RTSPOnvifMedia::static_type());
        factory.set_launch(common::FORWARD_LAUNCH);
        factory.set_backchannel_launch(Some(
            "( capsfilter name=depay_backchannel caps=\"\
             application/x-rtp,media=audio,payload=0,clock-rate=8000,encoding-name=PCMU; \
             application/x-rtp,media=audio,payload=8,clock-rate=8000,encoding-name=PCMA\" \
             ! appsink name=rtp sync=false async=false )",
        ));
        let received: Arc<(Mutex<Vec<Vec<u8>>>, Condvar)> = Arc::default();
        let r = received.clone();
        factory.connect_media_configure(move |_, media| {
            let bin = media.element().downcast::<gst::Bin>().unwrap();
            let Some(sink) = bin.by_name("rtp") else {
                return;
            };
            let r = r.clone();
            sink.downcast::<gst_app::AppSink>().unwrap().set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let data = sample.buffer().unwrap().map_readable().unwrap().to_vec();
                        r.0.lock().unwrap().push(data);
                        r.1.notify_all();
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        });
        let server = gst_rtsp_server::RTSPOnvifServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        server
            .mount_points()
            .unwrap()
            .add_factory("/stream", factory);
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        server.attach(Some(&ctx)).unwrap();
        let port = server.bound_port() as u16;
        let thread = {
            let main_loop = main_loop.clone();
            std::thread::spawn(move || ctx.with_thread_default(|| main_loop.run()).unwrap())
        };
        Upstream {
            port,
            received,
            main_loop,
            thread: Some(thread),
            _server: server,
        }
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }

    /// Waits for `n` packets; all received so far, parsed.
    fn wait_packets(&self, n: usize) -> Vec<Rtp> {
        let (lock, cond) = &*self.received;
        let guard = cond
            .wait_timeout_while(lock.lock().unwrap(), T, |p| p.len() < n)
            .unwrap()
            .0;
        guard.iter().filter_map(|p| Rtp::parse(p)).collect()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let main_loop = self.main_loop.clone();
        self.main_loop.context().invoke(move || main_loop.quit());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The fixture itself, with the raw client (no sink needed): two sendonly
/// m= lines sharing one control. (Audio through it is the sink's test: a
/// raw client that SETUPs only the back channel races upstream 1.22, whose
/// unSETUP live forward track errors the media within ~20 ms.)
#[test]
fn upstream_fixture_offers_one_m_line_per_codec() {
    let upstream = Upstream::start();
    let mut c = common::rtsp::RtspClient::connect(upstream.port);
    let r = c.describe(Some(common::rtsp::BACKCHANNEL));
    assert_eq!(r.status, 200);
    let sendonly: Vec<&str> = r
        .body
        .split("\r\nm=")
        .filter(|s| s.contains("a=sendonly"))
        .collect();
    assert_eq!(sendonly.len(), 2, "{}", r.body);
    assert!(
        sendonly[0].starts_with("audio 0 RTP/AVP 0")
            && sendonly[1].starts_with("audio 0 RTP/AVP 8")
    );
    let controls: Vec<&str> = sendonly
        .iter()
        .map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("a=control:"))
                .unwrap()
        })
        .collect();
    assert_eq!(controls[0], controls[1]);
}

#[test]
fn into_upstream_gst_rtsp_server_back_channel() {
    // setup-all-tracks: upstream 1.22 leaves the payloader of a track that
    // was not SETUP unlinked, so its live source stops with not-linked and
    // the whole media, back channel included, goes into error (within
    // ~20 ms; whether some audio got through first was a race).
    for (codecs, expected, pt) in [("", "PCMU", 0u8), ("codecs=PCMA", "PCMA", 8)] {
        for transport in ["tcp", "udp"] {
            let upstream = Upstream::start();
            let run = Run::start(&format!(
                "{} ! onvifbackchannelsink name=sink location={} transport={transport} {codecs} \
                 setup-all-tracks=true",
                tone(1000, 8000),
                upstream.url()
            ));
            let connected = run.event("connected", 1, T);
            assert_eq!(connected.get::<String>("codec").unwrap(), expected);
            run.wait_eos(T);
            let rtp = upstream.wait_packets(50);
            assert!(
                rtp.iter().all(|p| p.pt == pt),
                "{expected} {transport}: {:?}",
                pts(&rtp)
            );
            assert_tone(&decode_g711(&rtp, pt == 8), 8000, 1000);
        }
    }
}

// ---------------------------------------------------------------------------
// The element's face.

#[test]
fn element_metadata_pads_and_properties() {
    common::init();
    let factory =
        gst::ElementFactory::find("onvifbackchannelsink").expect("onvifbackchannelsink registered");
    let klass = factory.metadata(gst::ELEMENT_METADATA_KLASS).unwrap();
    for k in ["Sink", "Audio", "Network"] {
        assert!(klass.contains(k), "{klass}");
    }
    let sink = factory.create().build().unwrap();
    assert!(sink.is::<gst::Bin>());
    let caps = sink.static_pad("sink").unwrap().pad_template_caps();
    for name in [
        "audio/x-raw",
        "audio/x-mulaw",
        "audio/x-alaw",
        "audio/x-opus",
        "audio/G722",
    ] {
        assert!(
            caps.iter().any(|s| s.name() == name),
            "{name} not in {caps}"
        );
    }
    for name in [
        "location",
        "user-id",
        "user-pw",
        "codecs",
        "user-agent",
        "transport",
        "tls-validation-flags",
    ] {
        assert!(sink.find_property(name).is_some(), "no {name}");
    }
    assert_eq!(sink.property::<u32>("timeout"), 5000);
    assert_eq!(sink.property::<u32>("ptime"), 0);
    assert_eq!(sink.property::<i32>("dscp"), -1);
    assert!(!sink.property::<bool>("reconnect"));
    assert!(!sink.property::<bool>("setup-all-tracks"));
    assert!(!sink.property::<bool>("require-on-describe-only"));
    assert!(sink.property::<bool>("sync"));
    sink.set_property_from_str("transport", "tcp");
    sink.set_property_from_str("transport", "udp");
    sink.set_property_from_str("transport", "auto");
    sink.set_property_from_str("tls-validation-flags", "0");
    let pspec = sink.find_property("dscp").unwrap();
    let p = pspec.downcast_ref::<glib::ParamSpecInt>().unwrap();
    assert_eq!((p.minimum(), p.maximum()), (-1, 63));
}

/// A live pipeline reaches PLAYING at once; the sink connects meanwhile
/// and posts `connected` with the session the camera gave.
#[test]
fn connected_message_carries_the_session() {
    let mut config = CameraConfig::pcmu();
    config.session_timeout = Some(60);
    let camera = Camera::start(config);
    let run = Run::start(&format!(
        "{} ! onvifbackchannelsink name=sink location={} transport=tcp",
        live_tone(8000),
        camera.url()
    ));
    assert_eq!(
        run.sink().property::<Option<String>>("location"),
        Some(camera.url())
    );
    let connected = run.event("connected", 1, T);
    let play = camera.wait_request("PLAY", T).unwrap();
    let session = play
        .header("session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(connected.get::<String>("session").unwrap(), session);
    assert_eq!(connected.get::<String>("url").unwrap(), camera.url());
    assert!(run.started.elapsed() < T);
    run.finish(T);
    wait_teardown(&camera);
}

//! A talk-back client: sends a tone, a WAV file or the microphone to an RTSP
//! server's ONVIF back channel with GStreamer's rtspsrc, the way a VMS
//! operator would talk to a camera.
//!
//! ```text
//! cargo run --release --example talk -- rtsp://127.0.0.1:8554/stream
//! cargo run --release --example talk -- rtsp://cam/stream --codec PCMA --file hello.wav
//! cargo run --release --example talk -- rtsp://cam/stream --mic
//! ```
//!
//! Options: `--codec PCMU|PCMA|G722|OPUS|L16|AAC-<rate>` (the server must
//! offer it; AAC at 8000, 16000, 32000, 44100 or 48000 Hz),
//! `--seconds N` and `--freq HZ` for the tone, `--file F.wav` instead of a
//! tone, `--mic` to talk into the default microphone (autoaudiosrc) until
//! Ctrl+C, or for `--seconds N`; `--tcp` to force RTP over the RTSP
//! connection. Ctrl+C (SIGINT) or SIGTERM stop talking at any time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

#[path = "common/talkback.rs"]
mod talkback;
use talkback::TalkbackClient;

// POSIX signal numbers.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

struct Options {
    url: String,
    codec: String,
    /// Tone length (3 s by default); the microphone's limit, if given.
    seconds: Option<u32>,
    freq: f64,
    file: Option<String>,
    mic: bool,
    tcp: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        url: String::new(),
        codec: "PCMU".into(),
        seconds: None,
        freq: 440.0,
        file: None,
        mic: false,
        tcp: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--codec" => opts.codec = value("--codec")?.to_ascii_uppercase(),
            "--seconds" => {
                opts.seconds = Some(
                    value("--seconds")?
                        .parse()
                        .map_err(|e| format!("--seconds: {e}"))?,
                )
            }
            "--freq" => {
                opts.freq = value("--freq")?
                    .parse()
                    .map_err(|e| format!("--freq: {e}"))?
            }
            "--file" => opts.file = Some(value("--file")?),
            "--mic" => opts.mic = true,
            "--tcp" => opts.tcp = true,
            url if !url.starts_with("--") && opts.url.is_empty() => opts.url = url.into(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if opts.url.is_empty() {
        return Err(
            "usage: talk RTSP-URL [--codec C] [--seconds N] [--freq HZ] \
                    [--file F.wav | --mic] [--tcp]"
                .into(),
        );
    }
    if opts.mic && opts.file.is_some() {
        return Err("--mic and --file exclude each other".into());
    }
    Ok(opts)
}

/// Encoder, payloader and raw caps for a codec, and its rtpmap encoding name
/// and clock rate (`None`: any).
fn encoder(codec: &str) -> Result<(String, &'static str, &'static str, Option<u32>), String> {
    if let Some(rate) = codec.strip_prefix("AAC-") {
        let rate: u32 = rate
            .parse()
            .map_err(|_| format!("codec {codec}: AAC-<rate>, e.g. AAC-8000"))?;
        return Ok((
            format!("audio/x-raw,rate={rate},channels=1"),
            "avenc_aac ! rtpmp4gpay",
            "MPEG4-GENERIC",
            Some(rate),
        ));
    }
    let (caps, enc, name) = match codec {
        "PCMU" => (
            "audio/x-raw,rate=8000,channels=1",
            "mulawenc ! rtppcmupay",
            "PCMU",
        ),
        "PCMA" => (
            "audio/x-raw,rate=8000,channels=1",
            "alawenc ! rtppcmapay",
            "PCMA",
        ),
        "G722" => (
            "audio/x-raw,rate=16000,channels=1",
            "avenc_g722 ! rtpg722pay",
            "G722",
        ),
        "OPUS" => (
            "audio/x-raw,rate=48000,channels=1",
            "opusenc ! rtpopuspay",
            "OPUS",
        ),
        "L16" => (
            "audio/x-raw,format=S16BE,rate=16000,channels=1",
            "rtpL16pay",
            "L16",
        ),
        other => return Err(format!("codec {other} is not supported by this example")),
    };
    Ok((caps.to_string(), enc, name, None))
}

/// The payload type the server gave `encoding` (at `rate`, if given) on its
/// sendonly track.
fn offered_pt(sdp: &gst_sdp::SDPMessageRef, encoding: &str, rate: Option<u32>) -> Option<u32> {
    let media = sdp
        .medias()
        .find(|m| m.attributes().any(|a| a.key() == "sendonly"))?;
    let pts: Vec<String> = media.formats().map(str::to_string).collect();
    pts.iter().find_map(|pt| {
        let rtpmap = media
            .attributes()
            .filter(|a| a.key() == "rtpmap")
            .find_map(|a| {
                let v = a.value()?;
                let (p, map) = v.split_once(' ')?;
                (p == pt).then(|| map.to_string())
            });
        let mut fields = rtpmap.as_deref().map(|m| m.split('/'));
        let name = fields.as_mut().and_then(|f| f.next());
        let clock_rate = fields
            .as_mut()
            .and_then(|f| f.next())
            .and_then(|r| r.parse::<u32>().ok());
        if rate.is_some() && clock_rate != rate {
            return None;
        }
        let static_name = match pt.as_str() {
            "0" => Some("PCMU"),
            "8" => Some("PCMA"),
            "9" => Some("G722"),
            _ => None,
        };
        let name = name.or(static_name)?;
        name.eq_ignore_ascii_case(encoding)
            .then(|| pt.parse().ok())
            .flatten()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = parse_args()?;
    gst::init()?;
    let (raw_caps, enc, encoding, rate) = encoder(&opts.codec)?;

    // The SDP tells which payload type the server gave our codec.
    let pt: Arc<Mutex<Option<u32>>> = Arc::default();
    let pt_slot = pt.clone();
    let client = TalkbackClient::connect(&opts.url, Duration::from_secs(10), |src| {
        if opts.tcp {
            src.set_property_from_str("protocols", "tcp");
        }
        src.connect("on-sdp", false, move |args| {
            let sdp = args[1].get::<gst_sdp::SDPMessage>().ok()?;
            *pt_slot.lock().unwrap() = offered_pt(&sdp, encoding, rate);
            None
        });
    })?;
    let Some(pt) = *pt.lock().unwrap() else {
        client.stop();
        return Err(format!("the server's back channel does not offer {}", opts.codec).into());
    };
    println!(
        "talking to {} with {} (payload type {pt})",
        opts.url, opts.codec
    );

    // Tone and file are not live but synchronised: packets leave in real
    // time by their timestamps.
    let source = match &opts.file {
        Some(f) => format!("filesrc location=\"{f}\" ! wavparse ! audioconvert ! audioresample"),
        None if opts.mic => "autoaudiosrc ! audioconvert ! audioresample".to_string(),
        None => format!(
            "audiotestsrc freq={} volume=0.5 num-buffers={} samplesperbuffer=480 \
             ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! audioresample",
            opts.freq,
            opts.seconds.unwrap_or(3) * 100
        ),
    };
    let (sender, appsink) = talkback::rtp_sender(&format!(
        "{source} ! {raw_caps} ! {enc} pt={pt} max-ptime=20000000"
    ))?;
    client.send_from(&appsink);

    // Talk until the source ends (tone, file), fails, the time is up
    // (microphone with --seconds), or SIGINT/SIGTERM.
    let main_loop = glib::MainLoop::new(None, false);
    let error: Arc<Mutex<Option<String>>> = Arc::default();
    let (ml, err_slot) = (main_loop.clone(), error.clone());
    let _watch = sender.bus().unwrap().add_watch(move |_, msg| {
        match msg.view() {
            gst::MessageView::Eos(_) => ml.quit(),
            gst::MessageView::Error(err) => {
                *err_slot.lock().unwrap() = Some(err.error().to_string());
                ml.quit();
            }
            _ => (),
        }
        glib::ControlFlow::Continue
    })?;
    for signum in [SIGINT, SIGTERM] {
        let ml = main_loop.clone();
        glib_unix::unix_signal_add(signum, move || {
            ml.quit();
            glib::ControlFlow::Continue
        });
    }
    if let (true, Some(seconds)) = (opts.mic, opts.seconds) {
        let ml = main_loop.clone();
        glib::timeout_add_seconds_once(seconds, move || ml.quit());
    }
    sender.set_state(gst::State::Playing)?;
    main_loop.run();
    sender.set_state(gst::State::Null)?;
    client.stop();
    if let Some(err) = error.lock().unwrap().take() {
        return Err(format!("sending failed: {err}").into());
    }
    println!("done");
    Ok(())
}

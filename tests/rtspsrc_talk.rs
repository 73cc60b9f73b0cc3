//! GStreamer's own rtspsrc (backchannel=onvif) talks to the back channel with
//! every codec this machine can encode, over TCP and UDP; the factory's output
//! must play the 440 Hz tone it sent.

mod common;

use std::time::Duration;

use common::audio::{dominant_frequency, loud_part, loud_samples};
use common::{TestServer, CAPTURE_OUTPUT, CAPTURE_RATE};
use gst::prelude::*;
use gstonvifbackchannel::codecs::CodecList;

#[path = "../examples/common/talkback.rs"]
mod talkback;
use talkback::TalkbackClient;

const TONE_MS: u64 = 1000;

/// Encoder and payloader for each codec, and the rate to encode at;
/// `CODEC@RATE` encodes at another rate (Opus is `opus/48000/2` whatever the
/// encoder's rate, RFC 7587).
fn encoder(codec: &str) -> (&'static str, u32) {
    if let Some((codec, rate)) = codec.split_once('@') {
        return (encoder(codec).0, rate.parse().unwrap());
    }
    match codec {
        "PCMU" => ("mulawenc ! rtppcmupay", 8000),
        "PCMA" => ("alawenc ! rtppcmapay", 8000),
        "G722" => ("avenc_g722 ! rtpg722pay", 16000),
        "OPUS" => ("opusenc ! rtpopuspay", 48000),
        "AAC-8000" => ("avenc_aac ! rtpmp4gpay", 8000),
        "AAC-16000" => ("avenc_aac ! rtpmp4gpay", 16000),
        "AAC-32000" => ("avenc_aac ! rtpmp4gpay", 32000),
        "AAC-44100" => ("avenc_aac ! rtpmp4gpay", 44100),
        "AAC-48000" => ("avenc_aac ! rtpmp4gpay", 48000),
        "L16-48000" => ("audioconvert ! audio/x-raw,format=S16BE ! rtpL16pay", 48000),
        "L16-16000" => ("audioconvert ! audio/x-raw,format=S16BE ! rtpL16pay", 16000),
        "L16-8000" => ("audioconvert ! audio/x-raw,format=S16BE ! rtpL16pay", 8000),
        "G726-40" => ("avenc_g726 bitrate=40000 ! rtpg726pay", 8000),
        "G726-32" => ("avenc_g726 bitrate=32000 ! rtpg726pay", 8000),
        "G726-24" => ("avenc_g726 bitrate=24000 ! rtpg726pay", 8000),
        "G726-16" => ("avenc_g726 bitrate=16000 ! rtpg726pay", 8000),
        other => panic!("no encoder for {other}"),
    }
}

fn can_encode(launch: &str) -> bool {
    launch
        .split('!')
        .filter_map(|e| e.split_whitespace().next())
        .filter(|e| !e.contains('/'))
        .all(|e| gst::ElementFactory::find(e).is_some())
}

/// Talks `TONE_MS` of 440 Hz with `codec` through rtspsrc; returns the output.
fn talk(codec: &str, protocols: &str) -> Option<Vec<f32>> {
    let server = TestServer::start(&[("output", CAPTURE_OUTPUT)]);
    let codecs = CodecList::available(|e| gst::ElementFactory::find(e).is_some());
    let name = codec.split('@').next().unwrap();
    let pt = codecs
        .iter()
        .find(|c| c.codec.name == name)
        .expect("codec advertised")
        .pt;
    let (enc, rate) = encoder(codec);
    if !can_encode(enc) {
        eprintln!("skipping {codec}: no encoder on this machine");
        return None;
    }

    let client = TalkbackClient::connect(&server.url(), Duration::from_secs(10), |src| {
        src.set_property_from_str("protocols", protocols)
    })
    .unwrap_or_else(|e| panic!("{codec}/{protocols}: {e}"));

    let capture = server.capture();
    let mark = capture.mark();
    let buffers = TONE_MS * 50 / 1000;
    let (sender, appsink) = talkback::rtp_sender(&format!(
        "audiotestsrc is-live=false freq=440 volume=0.5 num-buffers={buffers} samplesperbuffer={} \
         ! audio/x-raw,rate={rate},channels=1 ! {enc} pt={pt} max-ptime=20000000",
        rate / 50
    ))
    .unwrap();
    client.send_from(&appsink);
    sender.set_state(gst::State::Playing).unwrap();
    let msg = sender.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    assert!(
        matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)),
        "sender failed"
    );
    sender.set_state(gst::State::Null).unwrap();
    // Everything was sent; give the receive path time to play the rest.
    let end = capture.mark();
    let tail = 800 * CAPTURE_RATE as usize / 1000;
    assert!(
        capture.wait_for(end, tail, Duration::from_secs(10)),
        "output stalled"
    );
    client.stop();
    Some(capture.since(mark))
}

fn check(codec: &str, protocols: &str) {
    common::init();
    let Some(out) = talk(codec, protocols) else {
        return;
    };
    let loud_ms = loud_samples(&out, CAPTURE_RATE, 0.05) as u64 * 1000 / CAPTURE_RATE as u64;
    if std::env::var_os("SHOW_OUTPUT").is_some() {
        // One character per 10 ms window: '#' loud, '.' quiet.
        let map: String = out
            .chunks_exact(CAPTURE_RATE as usize / 100)
            .map(|w| {
                if loud_samples(w, CAPTURE_RATE, 0.05) > 0 {
                    '#'
                } else {
                    '.'
                }
            })
            .collect();
        eprintln!("{codec}/{protocols}: {map}");
    }
    assert!(
        loud_ms * 100 >= TONE_MS * 90,
        "{codec}/{protocols}: {loud_ms} ms of the {TONE_MS} ms sent came out"
    );
    let f = dominant_frequency(&loud_part(&out, CAPTURE_RATE, 0.05), CAPTURE_RATE);
    assert!(
        (f - 440.0).abs() <= 10.0,
        "{codec}/{protocols}: dominant frequency {f} Hz"
    );
    eprintln!("{codec}/{protocols}: {loud_ms} ms out of {TONE_MS} ms, {f} Hz");
}

macro_rules! codec_tests {
    ($($(#[$attr:meta])* $name:ident: $codec:expr,)*) => {
        mod tcp {
            $( $(#[$attr])* #[test] fn $name() { super::check($codec, "tcp") } )*
        }
        mod udp {
            $( $(#[$attr])* #[test] fn $name() { super::check($codec, "udp") } )*
        }
    };
}

codec_tests! {
    pcmu: "PCMU",
    pcma: "PCMA",
    g722: "G722",
    opus: "OPUS",
    // What a client whose microphone runs at 16 kHz sends as Opus.
    opus_from_16000: "OPUS@16000",
    aac_8000: "AAC-8000",
    aac_16000: "AAC-16000",
    aac_32000: "AAC-32000",
    aac_44100: "AAC-44100",
    aac_48000: "AAC-48000",
    l16_48000: "L16-48000",
    l16_16000: "L16-16000",
    l16_8000: "L16-8000",
    g726_40: "G726-40",
    g726_32: "G726-32",
    g726_24: "G726-24",
    g726_16: "G726-16",
}

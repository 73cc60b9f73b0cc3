//! The receiver's own G.711 decoding (src/pcm.rs) against GStreamer's
//! mulawdec and alawdec, code by code: the direct path must sound exactly
//! like the decoder elements it replaces.

mod common;

use gst::prelude::*;
use gstonvifbackchannel::pcm::{alaw_to_linear, mulaw_to_linear};

/// Every code through `decoder`, as S16 samples.
fn decode_with(decoder: &str, caps_name: &str) -> Vec<i16> {
    common::init();
    let codes: Vec<u8> = (0..=255).collect();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src caps={caps_name},rate=8000,channels=1 format=time ! {decoder} \
         ! audio/x-raw,format=S16LE ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut buffer = gst::Buffer::from_slice(codes);
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    src.push_buffer(buffer).unwrap();
    src.end_of_stream().unwrap();
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let map = sample.buffer().unwrap().map_readable().unwrap();
        out.extend(
            map.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn mulaw_matches_mulawdec_for_every_code() {
    let theirs = decode_with("mulawdec", "audio/x-mulaw");
    let ours: Vec<i16> = (0..=255).map(mulaw_to_linear).collect();
    assert_eq!(theirs.len(), 256);
    assert_eq!(ours, theirs);
}

#[test]
fn alaw_matches_alawdec_for_every_code() {
    let theirs = decode_with("alawdec", "audio/x-alaw");
    let ours: Vec<i16> = (0..=255).map(alaw_to_linear).collect();
    assert_eq!(theirs.len(), 256);
    assert_eq!(ours, theirs);
}

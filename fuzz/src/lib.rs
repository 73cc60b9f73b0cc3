// SPDX-License-Identifier: MPL-2.0
//! The plugin's pure modules, compiled from the plugin's own sources (see
//! Cargo.toml for why not as a dependency; `soap` is src/onvif/soap.rs, which
//! uses nothing of the crate; `discovery` is src/onvif/discovery.rs, its glib
//! part left out under cfg(fuzzing)). `sdp`, `codecs` and `direct`
//! refer to their neighbours as `crate::...`, which resolves to the copies
//! here.

#[path = "../../src/codecs.rs"]
pub mod codecs;
#[path = "../../src/direct.rs"]
pub mod direct;
#[path = "../../src/onvif/discovery.rs"]
pub mod discovery;
#[path = "../../src/pcm.rs"]
pub mod pcm;
#[path = "../../src/reorder.rs"]
pub mod reorder;
#[path = "../../src/rtp.rs"]
pub mod rtp;
#[path = "../../src/rtsp_headers.rs"]
pub mod rtsp_headers;
#[path = "../../src/sdp.rs"]
pub mod sdp;
#[path = "../../src/onvif/soap.rs"]
pub mod soap;
#[path = "../../src/upsample.rs"]
pub mod upsample;
#[path = "../../src/vad.rs"]
pub mod vad;
#[path = "../../src/webrtc/offer.rs"]
pub mod webrtc_offer;

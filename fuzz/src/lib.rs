// SPDX-License-Identifier: MPL-2.0
//! The plugin's pure modules, compiled from the plugin's own sources (see
//! Cargo.toml for why not as a dependency). `sdp` refers to
//! `crate::codecs`, which resolves to the copy here.

#[path = "../../src/codecs.rs"]
pub mod codecs;
#[path = "../../src/rtp.rs"]
pub mod rtp;
#[path = "../../src/rtsp_headers.rs"]
pub mod rtsp_headers;
#[path = "../../src/sdp.rs"]
pub mod sdp;

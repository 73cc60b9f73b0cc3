//! The `onvifbackchannelsink` element: talks into a camera's ONVIF audio
//! back channel (issue 13).
//!
//! Every protocol decision is in plain Rust modules without GStreamer
//! objects: [`plan`] (what the camera takes and what we send) and [`rtsp`]
//! (header values, auth, keepalive schedule, reconnect backoff).

pub mod plan;
pub mod rtsp;

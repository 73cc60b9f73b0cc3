//! WebRTC (WHIP) talkers: browsers that talk into the back channel.
//!
//! Pure modules, no GStreamer objects and no I/O, so that every edge case is
//! a fast unit test; the webrtcbin glue and the HTTP endpoint build on them.
//!
//! - [`offer`]: reads a WHIP offer, decides whether we can take it (and with
//!   which status and reason we refuse it), and writes or fixes the answer.
//! - [`whip`]: the WHIP resource protocol (RFC 9725) over the element's
//!   plain HTTP requests: credentials, CORS, sessions and their expiry.

pub mod offer;
pub mod whip;

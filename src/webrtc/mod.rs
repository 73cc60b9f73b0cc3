//! WebRTC (WHIP) talkers: browsers that talk into the back channel.
//!
//! [`offer`] and [`whip`] are pure modules, no GStreamer objects and no I/O,
//! so that every edge case is a fast unit test; the glue builds on them.
//!
//! - [`offer`]: reads a WHIP offer, decides whether we can take it (and with
//!   which status and reason we refuse it), and writes or fixes the answer.
//! - [`whip`]: the WHIP resource protocol (RFC 9725) over the element's
//!   plain HTTP requests: credentials, CORS, sessions and their expiry.
//!
//! The glue: [`talker`] runs a webrtcbin per session into the mount's talk
//! floor (used by the factory), [`endpoint`] serves `/whip` and the
//! push-to-talk page on the element's web server.

pub mod endpoint;
pub mod offer;
pub mod talker;
pub mod whip;

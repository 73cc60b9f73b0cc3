//! The ONVIF device side: the web services ONVIF clients call (Device, Media,
//! Media2, DeviceIO) and WS-Discovery, so that ONVIF clients, VMSes and Home
//! Assistant find the device and offer intercom.
//!
//! Plain Rust, no GStreamer objects, apart from the glue in `server.rs`
//! (HTTP paths on the element's web server) and `discovery_socket.rs`:
//! - `soap`: reads a SOAP request (envelope, WS-Security UsernameToken,
//!   WS-Addressing) into a small element tree;
//! - `wsse`: checks a UsernameToken (PasswordDigest, Created skew, nonce reuse);
//! - `access`: which operations need which ONVIF user level;
//! - `model`: what the device is (identity, profiles, audio output, decoders);
//! - `services`: answers each operation from the model;
//! - `discovery`: WS-Discovery Probe matching, ProbeMatches, Hello and Bye.

pub mod model;
pub mod soap;

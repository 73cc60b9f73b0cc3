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
//! - `services`: answers each operation from the model (dispatch, faults,
//!   envelope), with `device`, `media`, `media2` and `deviceio` for the four
//!   services, `configs` for the profile's `tt:` configurations and the
//!   decoder options, `xml_out` for writing escaped XML;
//! - `discovery`: WS-Discovery Probe matching, ProbeMatches, Hello and Bye.

pub mod access;
mod configs;
mod device;
mod deviceio;
pub mod discovery;
#[cfg(target_os = "linux")]
pub mod discovery_socket;
pub mod glue;
pub mod media;
pub mod media2;
pub mod model;
pub mod server;
pub mod services;
pub mod soap;
pub mod wsse;
pub mod xml_out;

pub use media::decoder_options_media1;
pub use media2::decoder_options_media2;
pub use services::{answer, Answer};

//! A small safe wrapper around GstRTSPConnection, which gstreamer-rtsp 0.25
//! does not bind: its framing, sockets, TLS and DSCP, through `gst_rtsp::ffi`.
//! Every protocol decision is elsewhere (src/sink/rtsp.rs, plan.rs, io.rs).
//!
//! One thread receives (the sink's I/O thread); sends may come from two
//! (requests from the I/O thread, interleaved RTP from the streaming thread)
//! and are serialised by a lock. GstRTSPConnection keeps separate read and
//! write state: rtspsrc itself receives in its loop while an application's
//! thread pushes back channel data on the same connection.

use std::ffi::{CStr, CString};
use std::sync::Mutex;
use std::time::Duration;

use gst::glib;
use gst_rtsp::ffi;

/// An RTSP connection (plain or TLS).
pub struct Connection {
    raw: *mut ffi::GstRTSPConnection,
    send_lock: Mutex<()>,
}

// SAFETY: see the module docs: receiving and sending run on different
// threads, as rtspsrc does; sends are serialised by `send_lock`; `close`
// and `free` happen in Drop, when no other thread holds a reference.
unsafe impl Send for Connection {}
unsafe impl Sync for Connection {}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: `raw` came from gst_rtsp_connection_create and is freed once.
        unsafe {
            ffi::gst_rtsp_connection_close(self.raw);
            ffi::gst_rtsp_connection_free(self.raw);
        }
    }
}

/// What a failed call returned (a GstRTSPResult) and what it was doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspError {
    pub code: i32,
    pub what: String,
}

impl RtspError {
    fn new(code: i32, what: impl Into<String>) -> RtspError {
        RtspError {
            code,
            what: what.into(),
        }
    }

    pub fn timed_out(&self) -> bool {
        self.code == ffi::GST_RTSP_ETIMEOUT
    }
}

impl std::fmt::Display for RtspError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: gst_rtsp_strresult returns a newly allocated string.
        let text: String = unsafe {
            let s = ffi::gst_rtsp_strresult(self.code);
            let t = CStr::from_ptr(s).to_string_lossy().into_owned();
            glib::ffi::g_free(s as *mut _);
            t
        };
        write!(f, "{}: {text}", self.what)
    }
}

/// An owned GstRTSPMessage.
pub struct Message(*mut ffi::GstRTSPMessage);

// SAFETY: a message is owned by one thread at a time.
unsafe impl Send for Message {}

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: created by gst_rtsp_message_new*, freed once.
        unsafe {
            ffi::gst_rtsp_message_free(self.0);
        }
    }
}

/// What kind of message was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Data,
    Other,
}

/// RTSP methods the sink sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Options,
    Describe,
    Setup,
    Play,
    Teardown,
    GetParameter,
}

impl Method {
    fn raw(self) -> ffi::GstRTSPMethod {
        match self {
            Method::Options => ffi::GST_RTSP_OPTIONS,
            Method::Describe => ffi::GST_RTSP_DESCRIBE,
            Method::Setup => ffi::GST_RTSP_SETUP,
            Method::Play => ffi::GST_RTSP_PLAY,
            Method::Teardown => ffi::GST_RTSP_TEARDOWN,
            Method::GetParameter => ffi::GST_RTSP_GET_PARAMETER,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Setup => "SETUP",
            Method::Play => "PLAY",
            Method::Teardown => "TEARDOWN",
            Method::GetParameter => "GET_PARAMETER",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        [
            Method::Options,
            Method::Describe,
            Method::Setup,
            Method::Play,
            Method::Teardown,
            Method::GetParameter,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

fn cstring(s: &str) -> CString {
    // Interior NULs cannot be sent anyway: cut there.
    CString::new(s.split('\0').next().unwrap_or_default()).unwrap()
}

impl Message {
    pub fn request(method: Method, uri: &str) -> Message {
        let mut msg = std::ptr::null_mut();
        let uri = cstring(uri);
        // SAFETY: out-pointer filled on success; the URI is copied.
        let res =
            unsafe { ffi::gst_rtsp_message_new_request(&mut msg, method.raw(), uri.as_ptr()) };
        assert_eq!(res, ffi::GST_RTSP_OK, "gst_rtsp_message_new_request");
        Message(msg)
    }

    pub fn data(channel: u8, body: &[u8]) -> Message {
        let mut msg = std::ptr::null_mut();
        // SAFETY: the body is copied by set_body.
        unsafe {
            assert_eq!(
                ffi::gst_rtsp_message_new_data(&mut msg, channel),
                ffi::GST_RTSP_OK
            );
            ffi::gst_rtsp_message_set_body(msg, body.as_ptr(), body.len() as u32);
        }
        Message(msg)
    }

    fn empty() -> Message {
        let mut msg = std::ptr::null_mut();
        // SAFETY: out-pointer filled on success.
        assert_eq!(
            unsafe { ffi::gst_rtsp_message_new(&mut msg) },
            ffi::GST_RTSP_OK
        );
        Message(msg)
    }

    pub fn add_header(&mut self, name: &str, value: &str) {
        let (name, value) = (cstring(name), cstring(value));
        // SAFETY: both strings are copied.
        unsafe {
            ffi::gst_rtsp_message_add_header_by_name(self.0, name.as_ptr(), value.as_ptr());
        }
    }

    /// Every value of header `name`.
    pub fn headers(&self, name: &str) -> Vec<String> {
        let name = cstring(name);
        let mut out = Vec::new();
        for index in 0.. {
            let mut value = std::ptr::null_mut();
            // SAFETY: value points into the message, copied at once.
            let res = unsafe {
                ffi::gst_rtsp_message_get_header_by_name(self.0, name.as_ptr(), &mut value, index)
            };
            if res != ffi::GST_RTSP_OK || value.is_null() {
                break;
            }
            out.push(
                unsafe { CStr::from_ptr(value) }
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        out
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    pub fn kind(&self) -> Kind {
        // SAFETY: a valid message.
        match unsafe { ffi::gst_rtsp_message_get_type(self.0) } {
            ffi::GST_RTSP_MESSAGE_REQUEST => Kind::Request,
            ffi::GST_RTSP_MESSAGE_RESPONSE => Kind::Response,
            ffi::GST_RTSP_MESSAGE_DATA => Kind::Data,
            _ => Kind::Other,
        }
    }

    /// Status code and reason of a response.
    pub fn status(&self) -> (u16, String) {
        let mut code = 0;
        let mut reason = std::ptr::null();
        // SAFETY: the reason points into the message, copied at once.
        unsafe {
            ffi::gst_rtsp_message_parse_response(
                self.0,
                &mut code,
                &mut reason,
                std::ptr::null_mut(),
            );
        }
        let reason = if reason.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(reason) }
                .to_string_lossy()
                .into_owned()
        };
        (code as u16, reason)
    }

    pub fn body(&self) -> Vec<u8> {
        let mut data = std::ptr::null_mut();
        let mut size = 0;
        // SAFETY: the body stays owned by the message; copied at once.
        unsafe {
            ffi::gst_rtsp_message_get_body(self.0, &mut data, &mut size);
            if data.is_null() {
                return Vec::new();
            }
            std::slice::from_raw_parts(data, size as usize).to_vec()
        }
    }

    /// Every header as (name, value), for error messages.
    pub fn all_headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for name in [
            "Content-Base",
            "Content-Type",
            "Session",
            "Transport",
            "Unsupported",
            "WWW-Authenticate",
            "Public",
        ] {
            for value in self.headers(name) {
                out.push((name.to_string(), value));
            }
        }
        out
    }
}

/// GstRTSPConnection says only "Generic error" when it cannot connect: ask
/// the system why (refused, unreachable, no such host), or say it is TLS.
fn why_not_connected(url: &str, timeout: Duration) -> String {
    let tls = url.starts_with("rtsps://");
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:{}", if tls { 322 } else { 554 })
    } else {
        authority.to_string()
    };
    use std::net::ToSocketAddrs;
    let addrs = match with_port.to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return format!(" ({authority}: {e})"),
    };
    let Some(addr) = addrs.first() else {
        return format!(" ({authority}: no address)");
    };
    match std::net::TcpStream::connect_timeout(addr, timeout) {
        Ok(_) if tls => " (TCP connects: the TLS handshake failed; check the camera's \
                         certificate or set tls-validation-flags)"
            .into(),
        Ok(_) => String::new(),
        Err(e) => format!(" ({addr}: {e})"),
    }
}

impl Connection {
    /// Connects to `url` (no credentials in it). `tls_validation` applies to
    /// rtsps:// (GTlsCertificateFlags bits).
    pub fn connect(
        url: &str,
        timeout: Duration,
        tls_validation: u32,
        dscp: i32,
    ) -> Result<Connection, RtspError> {
        let curl = cstring(url);
        let mut purl = std::ptr::null_mut();
        let mut raw = std::ptr::null_mut();
        // SAFETY: the URL is parsed into a new GstRTSPUrl, copied by
        // create and freed here; the connection is owned by `Connection`.
        unsafe {
            let res = ffi::gst_rtsp_url_parse(curl.as_ptr(), &mut purl);
            if res != ffi::GST_RTSP_OK {
                return Err(RtspError::new(res, format!("'{url}' is not an RTSP URL")));
            }
            let res = ffi::gst_rtsp_connection_create(purl, &mut raw);
            ffi::gst_rtsp_url_free(purl);
            if res != ffi::GST_RTSP_OK {
                return Err(RtspError::new(res, "creating the connection"));
            }
            let conn = Connection {
                raw,
                send_lock: Mutex::new(()),
            };
            ffi::gst_rtsp_connection_set_tls_validation_flags(conn.raw, tls_validation);
            let res = ffi::gst_rtsp_connection_connect_usec(conn.raw, timeout.as_micros() as i64);
            if res != ffi::GST_RTSP_OK {
                return Err(RtspError::new(
                    res,
                    format!("connecting to {url}{}", why_not_connected(url, timeout)),
                ));
            }
            if dscp >= 0 {
                ffi::gst_rtsp_connection_set_qos_dscp(conn.raw, dscp as u32);
            }
            Ok(conn)
        }
    }

    pub fn send(&self, msg: &Message, timeout: Duration) -> Result<(), RtspError> {
        let _one = self.send_lock.lock().unwrap();
        // SAFETY: a valid connection and message.
        let res = unsafe {
            ffi::gst_rtsp_connection_send_usec(self.raw, msg.0, timeout.as_micros() as i64)
        };
        if res == ffi::GST_RTSP_OK {
            Ok(())
        } else {
            Err(RtspError::new(res, "sending"))
        }
    }

    pub fn receive(&self, timeout: Duration) -> Result<Message, RtspError> {
        let msg = Message::empty();
        // SAFETY: a valid connection; the message is filled in.
        let res = unsafe {
            ffi::gst_rtsp_connection_receive_usec(self.raw, msg.0, timeout.as_micros() as i64)
        };
        if res == ffi::GST_RTSP_OK {
            Ok(msg)
        } else {
            Err(RtspError::new(res, "receiving"))
        }
    }

    /// The peer's IP address.
    pub fn remote_ip(&self) -> Option<String> {
        // SAFETY: the string belongs to the connection; copied at once.
        unsafe {
            let ip = ffi::gst_rtsp_connection_get_ip(self.raw);
            (!ip.is_null()).then(|| CStr::from_ptr(ip).to_string_lossy().into_owned())
        }
    }

    /// Unblocks a receive in another thread (and makes later ones fail).
    pub fn flush(&self) {
        // SAFETY: a valid connection.
        unsafe {
            ffi::gst_rtsp_connection_flush(self.raw, glib::ffi::GTRUE);
        }
    }
}

//! Prompt TCP acknowledgements for back channel audio that arrives
//! interleaved in the client's RTSP connection.
//!
//! Most clients leave Nagle's algorithm on (no `TCP_NODELAY`): their kernel
//! holds each small packet while an earlier one is unacknowledged. Linux
//! delays the acknowledgement of a small segment by at least 40 ms
//! (`TCP_DELACK_MIN`) when the connection looks interactive ("pingpong"
//! mode), which it enters whenever the server sends data soon after it
//! received some: RTSP replies, RTCP, forward streams interleaved in the same
//! connection. A client that sends 20 ms packets then has each packet held
//! until the previous one's delayed ACK, and mouth-to-sink latency grows by
//! up to 40 ms.
//!
//! `TCP_QUICKACK` set to 1 on the server's socket leaves pingpong mode and
//! sends a pending ACK at once. It is not sticky: the next data the server
//! sends can put the connection back in pingpong mode. So it is set again
//! for every packet received ([`AckSocket::ack_now`], about 0.3 to 0.7 µs a
//! call measured on Linux 6.18).

use gst_rtsp_server::gio;
use gst_rtsp_server::gio::prelude::*;

/// The socket the client's RTSP connection reads from, held weakly: the
/// connection owns it and closes it when the client goes.
pub struct AckSocket(glib::WeakRef<gio::Socket>);

// SAFETY: a GWeakRef may be set, read and cleared from any thread
// (g_weak_ref_get takes a global lock and returns a strong reference or
// NULL), and GObject reference counting is atomic. The only calls made on
// the socket are g_socket_is_closed (one flag) and g_socket_set_option (one
// setsockopt on its descriptor); the kernel serialises those with the
// connection's own reads and writes.
unsafe impl Send for AckSocket {}
unsafe impl Sync for AckSocket {}

impl AckSocket {
    pub fn new(socket: &gio::Socket) -> Self {
        AckSocket(socket.downgrade())
    }

    /// Acknowledges what the kernel has received on the socket now, and
    /// leaves the connection out of delayed-ACK mode for the next segment.
    /// Ok(false) once the socket is gone or closed, or on systems without
    /// `TCP_QUICKACK` (nothing to do there).
    pub fn ack_now(&self) -> Result<bool, glib::Error> {
        let Some(socket) = self.0.upgrade() else {
            return Ok(false);
        };
        if socket.is_closed() {
            return Ok(false);
        }
        quick_ack(&socket)
    }
}

/// Linux's `IPPROTO_TCP` and `TCP_QUICKACK` (<netinet/in.h>,
/// <netinet/tcp.h>; the same on every Linux architecture).
#[cfg(target_os = "linux")]
const IPPROTO_TCP: i32 = 6;
#[cfg(target_os = "linux")]
const TCP_QUICKACK: i32 = 12;

#[cfg(target_os = "linux")]
fn quick_ack(socket: &gio::Socket) -> Result<bool, glib::Error> {
    socket.set_option(IPPROTO_TCP, TCP_QUICKACK, 1)?;
    Ok(true)
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_socket: &gio::Socket) -> Result<bool, glib::Error> {
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::OwnedFd;

    fn connected_pair() -> (TcpStream, gio::Socket) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let socket = gio::Socket::from_fd(OwnedFd::from(server)).unwrap();
        (client, socket)
    }

    #[test]
    fn acks_on_a_live_socket() {
        let (_client, socket) = connected_pair();
        let ack = AckSocket::new(&socket);
        assert!(ack.ack_now().unwrap());
        assert!(ack.ack_now().unwrap());
    }

    #[test]
    fn does_nothing_once_the_socket_is_closed_or_gone() {
        let (_client, socket) = connected_pair();
        let ack = AckSocket::new(&socket);
        socket.close().unwrap();
        assert!(!ack.ack_now().unwrap());
        drop(socket);
        assert!(!ack.ack_now().unwrap());
    }

    #[test]
    fn a_socket_that_is_not_tcp_is_an_error() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = gio::Socket::from_fd(OwnedFd::from(udp)).unwrap();
        assert!(AckSocket::new(&socket).ack_now().is_err());
    }
}

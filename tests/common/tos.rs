//! The TOS byte (DSCP in its upper six bits) of received UDP packets:
//! IP_RECVTOS on a socket, then recvmsg with its control data.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// Turns IP_RECVTOS on for `socket`.
pub fn report_tos(socket: &UdpSocket) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and an int option of the right size.
    let res = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_RECVTOS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(res, 0, "IP_RECVTOS: {}", std::io::Error::last_os_error());
}

/// Receives one packet into `buf` (IPv4): its length, sender and TOS byte
/// (`None` without IP_RECVTOS). Honours the socket's read timeout.
pub fn recv_with_tos(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<u8>)> {
    let mut control = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: every pointer in msg points into buffers that outlive the
    // call, with their true lengths; the control messages are read within
    // msg_controllen with the libc macros.
    unsafe {
        let mut from: libc::sockaddr_in = std::mem::zeroed();
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as _;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut tos = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IP && (*cmsg).cmsg_type == libc::IP_TOS {
                tos = Some(*libc::CMSG_DATA(cmsg));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        let addr = SocketAddrV4::new(
            u32::from_be(from.sin_addr.s_addr).into(),
            u16::from_be(from.sin_port),
        );
        Ok((n as usize, SocketAddr::V4(addr), tos))
    }
}

//! WS-Discovery on the network: a UDP socket on 0.0.0.0:3702 in the group
//! 239.255.255.250 on every up, multicast-capable IPv4 interface, read and
//! written on a given `glib::MainContext`. What to answer is decided by the
//! pure `discovery` module; this file only moves datagrams.
//!
//! Choices:
//! - The socket is a `gio::Socket` (bound with SO_REUSEADDR, and GLib adds
//!   SO_REUSEPORT for datagram sockets, so another WS-Discovery daemon on
//!   the host can share the port), attached to the context as a socket
//!   source. Datagrams are read with `recvmsg` and IP_PKTINFO, because GIO
//!   drops control messages it does not know: IP_PKTINFO tells on which
//!   interface a probe arrived, and the XAddr of the answer is that
//!   interface's address (the one in the prober's subnet if it has several).
//!   A connected socket's local address would give the kernel's choice of
//!   source for a reply instead, which is not always the interface the
//!   probe came in on.
//! - Interfaces come from `getifaddrs` (libc, already in the dependency tree
//!   under glib): up, MULTICAST, IPv4. They are enumerated again every few
//!   seconds, so an interface that comes up later (DHCP, Wi-Fi) is joined
//!   and greeted with a Hello, and a vanished one is forgotten.
//! - Hello and Bye are sent once per interface with `sendmsg` and an
//!   IP_PKTINFO that names the interface and its address, so no
//!   IP_MULTICAST_IF state is shared between sends.
//! - A multicast probe is answered after a random wait of up to
//!   `max_delay_ms` (WS-Discovery's APP_MAX_DELAY, 500 ms), so that many
//!   devices do not answer at once; a unicast (directed) probe at once.
//!   Each probe is answered once (clients repeat a probe with the same
//!   MessageID), and at most `answers_per_second` answers go out.
//! - IPv4 only; the element's `address` restricts discovery to the
//!   interface holding that address (0.0.0.0 and :: mean all).

use std::ffi::CStr;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gst::glib;
use gst_rtsp_server::gio;
use gst_rtsp_server::gio::prelude::*;
use once_cell::sync::Lazy;

use super::discovery::{self, Message, RateLimit, RecentIds, Sequencer, Target};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-discovery",
        gst::DebugColorFlags::empty(),
        Some("ONVIF WS-Discovery (probes, Hello, Bye)"),
    )
});

/// How often interfaces are enumerated again.
const RESCAN_INTERVAL: Duration = Duration::from_secs(5);
/// Datagrams read per wake-up before the context gets to run other sources.
const MAX_READS_PER_WAKEUP: usize = 64;

/// What the glue needs to know to announce the device.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// `urn:uuid:...` (see `discovery::stable_uuid`).
    pub endpoint: String,
    /// Scopes (see `discovery::device_scopes`).
    pub scopes: Vec<String>,
    /// `http` or `https`.
    pub scheme: String,
    /// Port of the device service.
    pub http_port: u16,
    /// The element's `address`: None, "", "0.0.0.0" or "::" = all
    /// interfaces; an IPv4 address = only the interface holding it.
    pub bind_address: Option<String>,
    pub metadata_version: u32,
    /// Longest random wait before answering a multicast probe.
    pub max_delay_ms: u32,
    /// Cap on answers per second.
    pub answers_per_second: u32,
}

impl DiscoveryConfig {
    pub fn new(endpoint: &str, scopes: Vec<String>, scheme: &str, http_port: u16) -> Self {
        DiscoveryConfig {
            endpoint: endpoint.to_owned(),
            scopes,
            scheme: scheme.to_owned(),
            http_port,
            bind_address: None,
            metadata_version: 1,
            max_delay_ms: 500,
            answers_per_second: 20,
        }
    }
}

/// An IPv4 interface we listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub address: Ipv4Addr,
    pub netmask: Ipv4Addr,
}

impl Interface {
    fn same_subnet(&self, other: Ipv4Addr) -> bool {
        let m = u32::from(self.netmask);
        u32::from(self.address) & m == u32::from(other) & m
    }
}

struct State {
    target: Target,
    seq: Sequencer,
    limit: RateLimit,
    /// Probes answered (by MessageID).
    answered: RecentIds,
    /// MessageIDs we sent (to recognise them looping back).
    sent: RecentIds,
    interfaces: Vec<Interface>,
    stopped: bool,
}

/// The socket, shared between the context's thread (reads, answers, joins)
/// and whoever stops discovery (Bye).
struct SharedSocket(gio::Socket);

// SAFETY: GObject reference counting is atomic. The calls made on the
// socket after start are g_socket_join/leave_multicast_group (a setsockopt
// on its descriptor, only from the context's thread) and recvmsg/sendmsg on
// its descriptor, which the kernel serialises; the socket is never closed
// before the last reference goes, so the descriptor stays valid meanwhile.
unsafe impl Send for SharedSocket {}
unsafe impl Sync for SharedSocket {}

impl std::ops::Deref for SharedSocket {
    type Target = gio::Socket;
    fn deref(&self) -> &gio::Socket {
        &self.0
    }
}

struct Inner {
    socket: SharedSocket,
    ctx: glib::MainContext,
    config: DiscoveryConfig,
    /// Only the interface holding this address (None = all).
    only: Option<Ipv4Addr>,
    state: Mutex<State>,
    sources: Mutex<Vec<glib::Source>>,
    epoch: std::time::Instant,
}

/// WS-Discovery for one device. Sends Hello when started and Bye when
/// stopped or dropped.
pub struct Discovery {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("endpoint", &self.inner.config.endpoint)
            .finish()
    }
}

fn parse_bind(addr: Option<&str>) -> Result<Option<Ipv4Addr>, String> {
    let a = addr.map(str::trim).unwrap_or("");
    if a.is_empty() || a == "::" {
        return Ok(None);
    }
    match a.parse::<Ipv4Addr>() {
        Ok(ip) if ip.is_unspecified() => Ok(None),
        Ok(ip) => Ok(Some(ip)),
        Err(_) => Err(format!(
            "WS-Discovery needs an IPv4 address or 0.0.0.0, not {a:?} (discovery is IPv4 only)"
        )),
    }
}

impl Discovery {
    /// Opens the socket, joins the group on each interface, sends Hello on
    /// each and answers probes on `ctx` until stopped or dropped.
    pub fn start(ctx: &glib::MainContext, config: DiscoveryConfig) -> Result<Discovery, String> {
        let only = parse_bind(config.bind_address.as_deref())?;
        let socket = gio::Socket::new(
            gio::SocketFamily::Ipv4,
            gio::SocketType::Datagram,
            gio::SocketProtocol::Udp,
        )
        .map_err(|e| format!("UDP socket: {e}"))?;
        let any = gio::InetSocketAddress::new(
            &gio::InetAddress::new_any(gio::SocketFamily::Ipv4),
            discovery::PORT,
        );
        socket
            .bind(&any, true)
            .map_err(|e| format!("binding 0.0.0.0:{}: {e}", discovery::PORT))?;
        socket
            .set_option(libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
            .map_err(|e| format!("IP_PKTINFO: {e}"))?;
        // Only the groups this socket joined, on the interfaces it joined
        // them on (not every group any program on the host joined).
        if let Err(e) = socket.set_option(libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, 0) {
            gst::debug!(CAT, "IP_MULTICAST_ALL off: {e}");
        }
        socket.set_multicast_ttl(1);
        socket.set_multicast_loopback(true);

        let instance_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1);
        let inner = Arc::new(Inner {
            socket: SharedSocket(socket),
            ctx: ctx.clone(),
            only,
            state: Mutex::new(State {
                target: Target {
                    endpoint: config.endpoint.clone(),
                    scopes: config.scopes.clone(),
                    metadata_version: config.metadata_version,
                },
                seq: Sequencer::new(instance_id),
                limit: RateLimit::new(config.answers_per_second.max(1)),
                answered: RecentIds::new(64),
                sent: RecentIds::new(64),
                interfaces: Vec::new(),
                stopped: false,
            }),
            config,
            sources: Mutex::new(Vec::new()),
            epoch: std::time::Instant::now(),
        });
        gst::info!(
            CAT,
            "WS-Discovery for {} on 0.0.0.0:{} (scopes {})",
            inner.config.endpoint,
            discovery::PORT,
            inner.config.scopes.join(" ")
        );
        inner.rescan();
        if inner.state.lock().unwrap().interfaces.is_empty() {
            gst::warning!(
                CAT,
                "no up, multicast-capable IPv4 interface{} yet: discovery waits for one",
                only.map(|a| format!(" with address {a}"))
                    .unwrap_or_default()
            );
        }

        let weak = Arc::downgrade(&inner);
        let read = SocketExtManual::create_source(
            &*inner.socket,
            glib::IOCondition::IN,
            None::<&gio::Cancellable>,
            Some("onvifbackchannel-discovery"),
            glib::Priority::DEFAULT,
            move |_, _| match weak.upgrade() {
                Some(inner) => {
                    inner.read_all();
                    glib::ControlFlow::Continue
                }
                None => glib::ControlFlow::Break,
            },
        );
        read.attach(Some(ctx));
        let weak = Arc::downgrade(&inner);
        let rescan = glib::timeout_source_new(
            RESCAN_INTERVAL,
            Some("onvifbackchannel-discovery-rescan"),
            glib::Priority::LOW,
            move || match weak.upgrade() {
                Some(inner) => {
                    inner.rescan();
                    glib::ControlFlow::Continue
                }
                None => glib::ControlFlow::Break,
            },
        );
        rescan.attach(Some(ctx));
        inner.sources.lock().unwrap().extend([read, rescan]);
        Ok(Discovery { inner })
    }

    /// The interfaces discovery listens on now.
    pub fn interfaces(&self) -> Vec<Interface> {
        self.inner.state.lock().unwrap().interfaces.clone()
    }

    /// Sends Bye on each interface and stops answering. Also done on drop.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.inner.stop();
    }
}

fn new_message_id() -> String {
    format!("urn:uuid:{}", glib::uuid_string_random())
}

impl Inner {
    fn xaddr(&self, ip: Ipv4Addr) -> String {
        format!(
            "{}://{}:{}/onvif/device_service",
            self.config.scheme, ip, self.config.http_port
        )
    }

    fn stop(&self) {
        let interfaces = {
            let mut st = self.state.lock().unwrap();
            if st.stopped {
                return;
            }
            st.stopped = true;
            st.interfaces.clone()
        };
        for s in self.sources.lock().unwrap().drain(..) {
            s.destroy();
        }
        for iface in &interfaces {
            self.send_bye(iface);
        }
        gst::info!(CAT, "WS-Discovery for {} stopped", self.config.endpoint);
    }

    /// Enumerates interfaces; joins and greets new ones, forgets gone ones.
    fn rescan(&self) {
        let now = match list_interfaces(self.only) {
            Ok(v) => v,
            Err(e) => {
                gst::warning!(CAT, "listing interfaces: {e}");
                return;
            }
        };
        let (added, removed) = {
            let mut st = self.state.lock().unwrap();
            if st.stopped {
                return;
            }
            let added: Vec<Interface> = now
                .iter()
                .filter(|i| !st.interfaces.contains(i))
                .cloned()
                .collect();
            let removed: Vec<Interface> = st
                .interfaces
                .iter()
                .filter(|i| !now.contains(i))
                .cloned()
                .collect();
            st.interfaces = now;
            (added, removed)
        };
        let group = gio::InetAddress::from_string(discovery::MULTICAST_ADDRESS)
            .expect("a literal IPv4 address");
        for iface in &removed {
            gst::info!(
                CAT,
                "interface {} ({}) gone or changed",
                iface.name,
                iface.address
            );
            // Fails harmlessly when the interface itself is gone.
            let _ = self
                .socket
                .leave_multicast_group(&group, false, Some(&iface.name));
        }
        for iface in &added {
            match self
                .socket
                .join_multicast_group(&group, false, Some(&iface.name))
            {
                Ok(()) => {}
                // Still a member after an address change.
                Err(e) if e.matches(gio::IOErrorEnum::AddressInUse) => {}
                Err(e) => {
                    gst::warning!(
                        CAT,
                        "joining {} on {} ({}): {e}",
                        discovery::MULTICAST_ADDRESS,
                        iface.name,
                        iface.address
                    );
                    continue;
                }
            }
            gst::info!(
                CAT,
                "listening on {} ({}, index {}), XAddr {}",
                iface.name,
                iface.address,
                iface.index,
                self.xaddr(iface.address)
            );
            self.send_hello(iface);
        }
    }

    fn send_hello(&self, iface: &Interface) {
        let id = new_message_id();
        let xaddr = self.xaddr(iface.address);
        let xml = {
            let mut st = self.state.lock().unwrap();
            st.sent.insert(&id);
            let seq = st.seq.next_seq();
            discovery::build_hello(&st.target, &xaddr, &id, seq)
        };
        self.send_multicast(iface, &xml, "Hello");
    }

    fn send_bye(&self, iface: &Interface) {
        let id = new_message_id();
        let xml = {
            let mut st = self.state.lock().unwrap();
            st.sent.insert(&id);
            let seq = st.seq.next_seq();
            discovery::build_bye(&st.target, &id, seq)
        };
        self.send_multicast(iface, &xml, "Bye");
    }

    fn send_multicast(&self, iface: &Interface, xml: &str, what: &str) {
        let to = SocketAddrV4::new(
            discovery::MULTICAST_ADDRESS.parse().expect("literal"),
            discovery::PORT,
        );
        match send_pktinfo(
            self.socket.as_raw_fd(),
            xml.as_bytes(),
            to,
            iface.index,
            iface.address,
        ) {
            Ok(_) => gst::debug!(
                CAT,
                "sent {what} on {} ({}), {} bytes",
                iface.name,
                iface.address,
                xml.len()
            ),
            Err(e) => gst::warning!(CAT, "sending {what} on {}: {e}", iface.name),
        }
    }

    /// Reads what is waiting on the socket.
    fn read_all(self: &Arc<Self>) {
        let mut buf = vec![0u8; discovery::MAX_MESSAGE];
        for _ in 0..MAX_READS_PER_WAKEUP {
            match recv_pktinfo(self.socket.as_raw_fd(), &mut buf) {
                Ok(Some(d)) => self.handle(&buf[..d.len], &d),
                Ok(None) => return,
                Err(e) => {
                    gst::debug!(CAT, "receive: {e}");
                    return;
                }
            }
        }
    }

    fn handle(self: &Arc<Self>, data: &[u8], d: &Datagram) {
        let from = d.from;
        if d.truncated {
            gst::debug!(
                CAT,
                "datagram from {from} longer than {} bytes: dropped",
                data.len()
            );
            return;
        }
        // Where it came in, and our address there.
        let local = {
            let st = self.state.lock().unwrap();
            if st.stopped {
                return;
            }
            let on_iface: Vec<&Interface> = st
                .interfaces
                .iter()
                .filter(|i| i.index == d.ifindex)
                .collect();
            on_iface
                .iter()
                .find(|i| i.same_subnet(*from.ip()))
                .or(on_iface.first())
                .map(|i| (i.name.clone(), i.address))
        };
        let Some((iface_name, local_ip)) = local else {
            gst::log!(
                CAT,
                "datagram from {from} on interface index {} that we do not serve: ignored",
                d.ifindex
            );
            return;
        };
        let msg = match discovery::parse(data) {
            Ok(m) => m,
            Err(e) => {
                gst::debug!(
                    CAT,
                    "malformed datagram from {from} on {iface_name} ({} bytes): {e}; dropped",
                    data.len()
                );
                return;
            }
        };
        let probe = match msg {
            Message::Probe(p) => p,
            Message::Other { body, message_id } => {
                let ours = message_id
                    .as_deref()
                    .is_some_and(|id| self.state.lock().unwrap().sent.contains(id));
                if ours {
                    gst::trace!(CAT, "our own {body} looped back from {from}");
                } else {
                    gst::log!(
                        CAT,
                        "{body} from {from} on {iface_name}: not a probe, ignored"
                    );
                }
                return;
            }
        };
        let Some(id) = probe.message_id.clone().filter(|s| !s.is_empty()) else {
            gst::debug!(CAT, "probe from {from} without MessageID: dropped");
            return;
        };
        let types: Vec<String> = probe
            .types
            .iter()
            .map(|t| format!("{{{}}}{}", t.ns.as_deref().unwrap_or("?"), t.local))
            .collect();
        gst::debug!(
            CAT,
            "probe {} from {from} on {iface_name}: types [{}] scopes [{}]",
            discovery::shorten(&id, 80),
            discovery::shorten(&types.join(" "), 300),
            discovery::shorten(&probe.scopes.join(" "), 300),
        );
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let (xml, xaddr) = {
            let mut st = self.state.lock().unwrap();
            if !st.target.matches(&probe) {
                gst::debug!(
                    CAT,
                    "probe {} does not match us: not answered",
                    discovery::shorten(&id, 80)
                );
                return;
            }
            if st.answered.contains(&id) {
                gst::debug!(
                    CAT,
                    "probe {} repeated: answered already",
                    discovery::shorten(&id, 80)
                );
                return;
            }
            if !st.limit.allow(now_ms) {
                gst::debug!(
                    CAT,
                    "probe {} from {from} over {} answers per second: not answered",
                    discovery::shorten(&id, 80),
                    self.config.answers_per_second
                );
                return;
            }
            st.answered.insert(&id);
            let mid = new_message_id();
            st.sent.insert(&mid);
            let seq = st.seq.next_seq();
            let xaddr = self.xaddr(local_ip);
            (
                discovery::build_probe_matches(&st.target, &xaddr, &id, &mid, seq),
                xaddr,
            )
        };
        let delay = if d.dst.is_multicast() && self.config.max_delay_ms > 0 {
            glib::random_int_range(0, self.config.max_delay_ms as i32 + 1) as u64
        } else {
            0
        };
        gst::debug!(
            CAT,
            "probe {} matches: answering {from} in {delay} ms with XAddr {xaddr}",
            discovery::shorten(&id, 80)
        );
        let weak: Weak<Inner> = Arc::downgrade(self);
        let send = move || {
            let Some(inner) = weak.upgrade() else { return };
            if inner.state.lock().unwrap().stopped {
                return;
            }
            match send_pktinfo(inner.socket.as_raw_fd(), xml.as_bytes(), from, 0, local_ip) {
                Ok(_) => gst::debug!(CAT, "answered {from} with XAddr {xaddr}"),
                Err(e) => gst::debug!(CAT, "answering {from}: {e}"),
            }
        };
        if delay == 0 {
            send();
        } else {
            let mut send = Some(send);
            let src = glib::timeout_source_new(
                Duration::from_millis(delay),
                Some("onvifbackchannel-discovery-answer"),
                glib::Priority::DEFAULT,
                move || {
                    if let Some(f) = send.take() {
                        f();
                    }
                    glib::ControlFlow::Break
                },
            );
            src.attach(Some(&self.ctx));
        }
    }
}

/// A datagram read with its IP_PKTINFO.
struct Datagram {
    len: usize,
    from: SocketAddrV4,
    /// Interface it arrived on.
    ifindex: u32,
    /// Its destination address (the group for a multicast probe).
    dst: Ipv4Addr,
    truncated: bool,
}

fn ipv4(a: libc::in_addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_be(a.s_addr))
}

/// One datagram without blocking; None when nothing is waiting.
fn recv_pktinfo(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Option<Datagram>> {
    let mut control = [0u64; 16];
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msg points at `from`, `iov` (into `buf`) and `control`, all
    // alive for the call with their true sizes; control messages are walked
    // with the libc macros within msg_controllen, and IP_PKTINFO's data is
    // read unaligned.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as _;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock => Ok(None),
                std::io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let mut ifindex = 0;
        let mut dst = Ipv4Addr::UNSPECIFIED;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IP && (*cmsg).cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                ifindex = info.ipi_ifindex as u32;
                dst = ipv4(info.ipi_addr);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Ok(Some(Datagram {
            len: n as usize,
            from: SocketAddrV4::new(ipv4(from.sin_addr), u16::from_be(from.sin_port)),
            ifindex,
            dst,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        }))
    }
}

/// Sends `data` to `to` out of interface `ifindex` (0 = by route) from
/// source address `src`.
fn send_pktinfo(
    fd: RawFd,
    data: &[u8],
    to: SocketAddrV4,
    ifindex: u32,
    src: Ipv4Addr,
) -> std::io::Result<usize> {
    let mut control = [0u64; 8];
    let mut dest: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    dest.sin_family = libc::AF_INET as _;
    dest.sin_port = to.port().to_be();
    dest.sin_addr = libc::in_addr {
        s_addr: u32::from(*to.ip()).to_be(),
    };
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: msg points at `dest`, `iov` (into `data`, only read) and
    // `control`, alive for the call with their true sizes; the one control
    // message is written with the libc macros inside the space CMSG_SPACE
    // reserves for it.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut dest as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as _;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as _;
        let info = libc::in_pktinfo {
            ipi_ifindex: ifindex as _,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(src).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
        let n = libc::sendmsg(fd, &msg, 0);
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// Up, multicast-capable IPv4 interfaces (with `only`: just those holding
/// that address), sorted by index then address.
pub fn list_interfaces(only: Option<Ipv4Addr>) -> std::io::Result<Vec<Interface>> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs fills a list we only read and free once; each
    // entry's name is a NUL-terminated string and its addresses, when not
    // null, are sockaddr_in for AF_INET.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            p = ifa.ifa_next;
            let flags = ifa.ifa_flags;
            if ifa.ifa_addr.is_null()
                || (*ifa.ifa_addr).sa_family as i32 != libc::AF_INET
                || flags & libc::IFF_UP as u32 == 0
                || flags & libc::IFF_MULTICAST as u32 == 0
            {
                continue;
            }
            let addr = ipv4((*(ifa.ifa_addr as *const libc::sockaddr_in)).sin_addr);
            let netmask = if ifa.ifa_netmask.is_null() {
                Ipv4Addr::BROADCAST
            } else {
                ipv4((*(ifa.ifa_netmask as *const libc::sockaddr_in)).sin_addr)
            };
            if only.is_some_and(|o| o != addr) {
                continue;
            }
            let index = libc::if_nametoindex(ifa.ifa_name);
            if index == 0 {
                continue;
            }
            out.push(Interface {
                name: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                index,
                address: addr,
                netmask,
            });
        }
        libc::freeifaddrs(head);
    }
    out.sort_by_key(|i| (i.index, i.address));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses() {
        assert_eq!(parse_bind(None), Ok(None));
        assert_eq!(parse_bind(Some("0.0.0.0")), Ok(None));
        assert_eq!(parse_bind(Some("::")), Ok(None));
        assert_eq!(
            parse_bind(Some(" 10.0.0.2 ")),
            Ok(Some(Ipv4Addr::new(10, 0, 0, 2)))
        );
        assert!(parse_bind(Some("fe80::1")).is_err());
        assert!(parse_bind(Some("camera.local")).is_err());
    }

    #[test]
    fn subnets() {
        let i = Interface {
            name: "eth0".into(),
            index: 2,
            address: Ipv4Addr::new(192, 168, 1, 20),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
        };
        assert!(i.same_subnet(Ipv4Addr::new(192, 168, 1, 99)));
        assert!(!i.same_subnet(Ipv4Addr::new(192, 168, 2, 99)));
    }

    #[test]
    fn lists_interfaces_without_failing() {
        // Whatever this machine has; every entry is IPv4 with an index.
        for i in list_interfaces(None).unwrap() {
            assert!(i.index > 0 && !i.name.is_empty());
        }
    }
}

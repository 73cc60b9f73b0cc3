//! WS-Discovery over real multicast, inside network namespaces this test
//! makes (it needs root and iproute2):
//!
//! ```text
//!   ns CL1                 ns DEV                    ns CL2
//!   c1 10.231.1.2/24 <-veth-> d1 10.231.1.1/24
//!                            d2 10.231.2.1/24 <-veth-> c2 10.231.2.2/24
//! ```
//!
//! Nothing here runs in a separate process: a thread enters a namespace
//! with setns(2) and creates its sockets there (a socket stays in the
//! namespace it was made in, whichever thread uses it later). The device's
//! `Discovery` is started, and its main context run, by a thread in DEV, so
//! that getifaddrs lists DEV's interfaces; the clients are plain UDP sockets
//! made by threads in CL1 and CL2, one bound to 3702 (the port WS-Discovery
//! fixes, only inside our namespaces) to see Hello and Bye, one on a free
//! port to probe from. The namespaces are deleted when the test ends, also
//! when it fails.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gst::glib;
use gstonvifbackchannel::onvif::discovery::{self, ns, ScopeInfo};
use gstonvifbackchannel::onvif::discovery_socket::{Discovery, DiscoveryConfig};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
const HTTP_PORT: u16 = 18080;

/// The namespaces, deleted on drop (with their veth pairs).
struct Namespaces {
    dev: String,
    cl1: String,
    cl2: String,
}

/// Runs `ip args...`; `ip -n NS ...` runs through nsenter, which switches
/// only the network namespace: `ip -n` and `ip netns exec` also make a
/// mount namespace and remount /sys, which fails in a chroot whose / is no
/// mount point (the Debian 13 chroot of scripts/test-trixie.sh).
fn ip(args: &[&str]) {
    let mut command = match args {
        ["-n", ns, rest @ ..] => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{ns}"))
                .arg("--")
                .arg("ip")
                .args(rest);
            c
        }
        _ => {
            let mut c = Command::new("ip");
            c.args(args);
            c
        }
    };
    let out = command.output().expect("running ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Namespaces {
    fn new() -> Namespaces {
        let id = std::process::id();
        let n = Namespaces {
            dev: format!("obcdisc{id}dev"),
            cl1: format!("obcdisc{id}c1"),
            cl2: format!("obcdisc{id}c2"),
        };
        // Made one by one so that Drop removes whatever exists on failure.
        for name in [&n.dev, &n.cl1, &n.cl2] {
            ip(&["netns", "add", name]);
        }
        for (d, c, cl, net) in [("d1", "c1", &n.cl1, 1), ("d2", "c2", &n.cl2, 2)] {
            ip(&[
                "-n", &n.dev, "link", "add", d, "type", "veth", "peer", "name", c, "netns", cl,
            ]);
            ip(&[
                "-n",
                &n.dev,
                "addr",
                "add",
                &format!("10.231.{net}.1/24"),
                "dev",
                d,
            ]);
            ip(&["-n", &n.dev, "link", "set", d, "up"]);
            ip(&[
                "-n",
                cl,
                "addr",
                "add",
                &format!("10.231.{net}.2/24"),
                "dev",
                c,
            ]);
            ip(&["-n", cl, "link", "set", c, "up"]);
            // The client sends its probes to the group out of its veth.
            ip(&["-n", cl, "route", "add", "224.0.0.0/4", "dev", c]);
        }
        n
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in [&self.dev, &self.cl1, &self.cl2] {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Moves the calling thread into namespace `name`.
fn enter(name: &str) {
    let f = File::open(format!("/var/run/netns/{name}")).expect("namespace file");
    // SAFETY: setns on a descriptor we hold open; it only changes this
    // thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a thread inside namespace `name`.
fn in_ns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let name = name.to_owned();
    std::thread::spawn(move || {
        enter(&name);
        f()
    })
    .join()
    .expect("thread in namespace")
}

/// A client in namespace `name` with address `local`: a listener on
/// 3702 in the group, and a prober on a free port.
struct Client {
    listener: UdpSocket,
    prober: UdpSocket,
}

fn client(name: &str, local: Ipv4Addr) -> Client {
    in_ns(name, move || {
        let listener = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, discovery::PORT)).unwrap();
        listener.join_multicast_v4(&GROUP, &local).unwrap();
        let prober = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        Client { listener, prober }
    })
}

/// (namespace, local name, text, attributes) of an element.
type El = (String, String, String, Vec<(String, String)>);

/// Every element of a message, and who sent it.
#[derive(Debug)]
struct Msg {
    els: Vec<El>,
    from: std::net::SocketAddr,
}

impl Msg {
    fn text(&self, ns: &str, local: &str) -> Option<&str> {
        self.els
            .iter()
            .find(|e| e.0 == ns && e.1 == local)
            .map(|e| e.2.as_str())
    }
    fn action(&self) -> &str {
        self.text(ns::WSA, "Action").unwrap_or("")
    }
}

fn read_msg(data: &[u8], from: std::net::SocketAddr) -> Msg {
    let mut r = NsReader::from_reader(data);
    r.config_mut().expand_empty_elements = true;
    let mut els = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        // Others' datagrams (our garbage looping back) may be anything.
        let Ok(ev) = r.read_resolved_event() else {
            return Msg {
                els: Vec::new(),
                from,
            };
        };
        match ev {
            (res, Event::Start(e)) => {
                let ns = match res {
                    ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
                    _ => String::new(),
                };
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                els.push((ns, local, String::new(), attrs));
                open.push(els.len() - 1);
            }
            (_, Event::End(_)) => {
                open.pop();
            }
            (_, Event::Text(t)) => {
                if let Some(&i) = open.last() {
                    els[i].2.push_str(t.xml_content().unwrap().trim());
                }
            }
            (_, Event::Eof) => break,
            _ => {}
        }
    }
    Msg { els, from }
}

/// Reads datagrams until one satisfies `want` or `within` passes.
fn wait_for(sock: &UdpSocket, within: Duration, want: impl Fn(&Msg) -> bool) -> Option<Msg> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let m = read_msg(&buf[..n], from);
                if want(&m) {
                    return Some(m);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// Everything that arrives within `within`.
fn drain(sock: &UdpSocket, within: Duration) -> Vec<Msg> {
    let mut got = Vec::new();
    let deadline = Instant::now() + within;
    while let Some(m) = wait_for(
        sock,
        deadline.saturating_duration_since(Instant::now()),
        |_| true,
    ) {
        got.push(m);
    }
    got
}

fn probe_xml(id: &str, types: &str, scopes: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>{id}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Probe><d:Types>{types}</d:Types><d:Scopes>{scopes}</d:Scopes></d:Probe></s:Body></s:Envelope>"#
    )
}

fn send_probe(c: &Client, xml: &str) {
    c.prober
        .send_to(xml.as_bytes(), SocketAddrV4::new(GROUP, discovery::PORT))
        .unwrap();
}

/// A Discovery started in DEV, its context run by a thread there.
struct Device {
    discovery: Option<Discovery>,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Device {
    fn start(ns: &str, config: DiscoveryConfig) -> Device {
        let (tx, rx) = mpsc::channel();
        let ns = ns.to_owned();
        let thread = std::thread::spawn(move || {
            enter(&ns);
            let ctx = glib::MainContext::new();
            let main_loop = glib::MainLoop::new(Some(&ctx), false);
            let d = Discovery::start(&ctx, config);
            let ok = d.is_ok();
            tx.send((d, main_loop.clone())).unwrap();
            if ok {
                main_loop.run();
            }
        });
        let (d, main_loop) = rx.recv().unwrap();
        Device {
            discovery: Some(d.expect("Discovery::start")),
            main_loop,
            thread: Some(thread),
        }
    }

    /// Drops the Discovery (Bye) and stops the context's thread.
    fn stop(&mut self) {
        self.discovery.take();
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(endpoint: &str) -> DiscoveryConfig {
    let scopes = discovery::device_scopes(&ScopeInfo {
        name: "Test door".into(),
        hardware: "GStreamer".into(),
        profile_t: true,
        ..Default::default()
    });
    let mut c = DiscoveryConfig::new(endpoint, scopes, "http", HTTP_PORT);
    // Answers wait at most this long; the checks for silence below wait
    // ten times longer.
    c.max_delay_ms = 150;
    c
}

fn xaddr(ip: &str) -> String {
    format!("http://{ip}:{HTTP_PORT}/onvif/device_service")
}

const WAIT: Duration = Duration::from_secs(5);
const SILENCE: Duration = Duration::from_millis(1500);

#[test]
fn discovery_over_multicast_in_namespaces() {
    gst::init().unwrap();
    let nss = Namespaces::new();
    let c1 = client(&nss.cl1, Ipv4Addr::new(10, 231, 1, 2));
    let c2 = client(&nss.cl2, Ipv4Addr::new(10, 231, 2, 2));
    let endpoint = discovery::stable_uuid(b"tests/discovery.rs");

    let mut dev = Device::start(&nss.dev, config(&endpoint));
    let names: Vec<String> = dev
        .discovery
        .as_ref()
        .unwrap()
        .interfaces()
        .iter()
        .map(|i| i.name.clone())
        .collect();
    assert_eq!(names, ["d1", "d2"], "lo has no MULTICAST flag: not used");

    // Hello on each interface, with that interface's address.
    for (c, ip) in [(&c1, "10.231.1.1"), (&c2, "10.231.2.1")] {
        let hello = wait_for(&c.listener, WAIT, |m| m.action() == discovery::ACTION_HELLO)
            .unwrap_or_else(|| panic!("no Hello seen at {ip}"));
        assert_eq!(hello.text(ns::WSA, "Address"), Some(endpoint.as_str()));
        assert_eq!(hello.text(ns::WSD, "XAddrs"), Some(xaddr(ip).as_str()));
        assert_eq!(hello.text(ns::WSA, "To"), Some(discovery::TO_MULTICAST));
        assert_eq!(hello.from.ip().to_string(), ip);
    }

    // Garbage first: dropped, and the device keeps answering.
    c1.prober
        .send_to(b"<not xml", SocketAddrV4::new(GROUP, discovery::PORT))
        .unwrap();

    // Home Assistant's probe from CL1: answered unicast, XAddr on d1.
    let ha = probe_xml(
        "urn:uuid:00000000-0000-4000-8000-0000000000a1",
        "",
        "onvif://www.onvif.org/Profile/Streaming",
    );
    send_probe(&c1, &ha);
    let m = wait_for(&c1.prober, WAIT, |m| {
        m.action() == discovery::ACTION_PROBE_MATCHES
    })
    .expect("no ProbeMatches for Home Assistant's probe");
    assert_eq!(
        m.text(ns::WSA, "RelatesTo"),
        Some("urn:uuid:00000000-0000-4000-8000-0000000000a1")
    );
    assert_eq!(m.text(ns::WSA, "To"), Some(discovery::TO_ANONYMOUS));
    assert_eq!(m.text(ns::WSA, "Address"), Some(endpoint.as_str()));
    assert_eq!(
        m.text(ns::WSD, "XAddrs"),
        Some(xaddr("10.231.1.1").as_str())
    );
    assert_eq!(
        m.text(ns::WSD, "Types"),
        Some("dn:NetworkVideoTransmitter tds:Device")
    );
    assert!(m
        .text(ns::WSD, "Scopes")
        .unwrap()
        .split(' ')
        .any(|s| s == "onvif://www.onvif.org/name/Test%20door"));
    let first_id = m.text(ns::WSA, "MessageID").unwrap().to_owned();

    // The same kind of probe from CL2: XAddr on d2, a fresh MessageID.
    send_probe(
        &c2,
        &probe_xml(
            "uuid:00000000-0000-4000-8000-0000000000b2",
            "dn:NetworkVideoTransmitter",
            "",
        ),
    );
    let m = wait_for(&c2.prober, WAIT, |m| {
        m.action() == discovery::ACTION_PROBE_MATCHES
    })
    .expect("no ProbeMatches on the second interface");
    assert_eq!(
        m.text(ns::WSA, "RelatesTo"),
        Some("uuid:00000000-0000-4000-8000-0000000000b2")
    );
    assert_eq!(
        m.text(ns::WSD, "XAddrs"),
        Some(xaddr("10.231.2.1").as_str())
    );
    assert_ne!(m.text(ns::WSA, "MessageID"), Some(first_id.as_str()));

    // A directed (unicast) probe to the device's address: answered too.
    c1.prober
        .send_to(
            probe_xml("urn:uuid:directed", "", "").as_bytes(),
            ("10.231.1.1", discovery::PORT),
        )
        .unwrap();
    let m = wait_for(&c1.prober, WAIT, |m| {
        m.action() == discovery::ACTION_PROBE_MATCHES
    })
    .expect("no ProbeMatches for a directed probe");
    assert_eq!(m.text(ns::WSA, "RelatesTo"), Some("urn:uuid:directed"));

    // A probe for another scope, and a repeat of the first probe, then a
    // matching probe: only the last is answered. Any answer to the first
    // two would be sent within max_delay_ms of their arrival, before the
    // last one's arrives; we listen well past it.
    send_probe(
        &c1,
        &probe_xml("urn:uuid:not-us", "", "onvif://www.onvif.org/location/Mars"),
    );
    send_probe(&c1, &ha);
    send_probe(
        &c1,
        &probe_xml("urn:uuid:last", "dn:NetworkVideoTransmitter", ""),
    );
    let mut got = vec![wait_for(&c1.prober, WAIT, |m| {
        m.text(ns::WSA, "RelatesTo") == Some("urn:uuid:last")
    })
    .expect("no answer to the last probe")];
    got.extend(drain(&c1.prober, SILENCE));
    let relates: Vec<&str> = got
        .iter()
        .filter_map(|m| m.text(ns::WSA, "RelatesTo"))
        .collect();
    assert_eq!(relates, ["urn:uuid:last"], "answered what it should not");

    // Bye on both interfaces when stopped.
    dev.stop();
    for (c, ip) in [(&c1, "10.231.1.1"), (&c2, "10.231.2.1")] {
        let bye = wait_for(&c.listener, WAIT, |m| m.action() == discovery::ACTION_BYE)
            .unwrap_or_else(|| panic!("no Bye seen at {ip}"));
        assert_eq!(bye.text(ns::WSA, "Address"), Some(endpoint.as_str()));
        assert_eq!(bye.from.ip().to_string(), ip);
    }

    // Stopped: probes go unanswered.
    send_probe(&c1, &probe_xml("urn:uuid:after-stop", "", ""));
    assert!(
        drain(&c1.prober, SILENCE).is_empty(),
        "answered after it stopped"
    );

    // Bound to d2's address: Hello only there; CL1's probes unanswered.
    let mut cfg = config(&endpoint);
    cfg.bind_address = Some("10.231.2.1".into());
    let dev = Device::start(&nss.dev, cfg);
    assert!(wait_for(&c2.listener, WAIT, |m| m.action()
        == discovery::ACTION_HELLO)
    .is_some());
    send_probe(&c1, &probe_xml("urn:uuid:wrong-side", "", ""));
    send_probe(&c2, &probe_xml("urn:uuid:right-side", "", ""));
    let m = wait_for(&c2.prober, WAIT, |m| {
        m.action() == discovery::ACTION_PROBE_MATCHES
    })
    .expect("no answer on the bound interface");
    assert_eq!(m.text(ns::WSA, "RelatesTo"), Some("urn:uuid:right-side"));
    assert!(
        drain(&c1.prober, SILENCE).is_empty(),
        "answered on an interface it is not bound to"
    );
    let hellos_on_c1: Vec<Msg> = drain(&c1.listener, Duration::from_millis(100))
        .into_iter()
        .filter(|m| m.action() == discovery::ACTION_HELLO)
        .collect();
    assert!(
        hellos_on_c1.is_empty(),
        "Hello on an interface it is not bound to"
    );
    drop(dev);
    drop(nss);
}

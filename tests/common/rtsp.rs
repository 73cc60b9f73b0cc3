//! A small raw RTSP client over TCP, for what rtspsrc cannot do: send odd
//! headers, read the raw SDP, send data before PLAY, switch payload type or
//! SSRC, play two talkers at once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

pub const BACKCHANNEL: &str = "www.onvif.org/ver20/backchannel";

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

pub struct RtspClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    cseq: u32,
    pub session: Option<String>,
    pub url: String,
    /// User and password for digest authentication, answered on a 401.
    pub credentials: Option<(String, String)>,
    /// The digest challenge (realm, nonce) of the last 401.
    challenge: Option<(String, String)>,
}

fn md5_hex(text: &str) -> String {
    gst::glib::compute_checksum_for_string(gst::glib::ChecksumType::Md5, text)
        .unwrap()
        .to_string()
}

/// A quoted parameter of a WWW-Authenticate header.
fn auth_param(header: &str, name: &str) -> Option<String> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let end = header[start..].find('"')? + start;
    Some(header[start..end].to_string())
}

impl RtspClient {
    pub fn connect(port: u16) -> RtspClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Each interleaved packet leaves when it is written, not when the
        // server has acknowledged the previous one (Nagle): the tests decide
        // the timing.
        stream.set_nodelay(true).unwrap();
        RtspClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            cseq: 0,
            session: None,
            url: format!("rtsp://127.0.0.1:{port}/stream"),
            credentials: None,
            challenge: None,
        }
    }

    /// Sends a request and reads its response, skipping interleaved data.
    pub fn request(&mut self, method: &str, url: &str, headers: &[(&str, &str)]) -> Response {
        self.request_once(method, url, headers, true)
    }

    fn request_once(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        may_retry: bool,
    ) -> Response {
        self.cseq += 1;
        let mut req = format!(
            "{method} {url} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: raw-test\r\n",
            self.cseq
        );
        if let Some(s) = &self.session {
            req.push_str(&format!("Session: {s}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let (Some((user, pass)), Some((realm, nonce))) = (&self.credentials, &self.challenge) {
            let ha1 = md5_hex(&format!("{user}:{realm}:{pass}"));
            let ha2 = md5_hex(&format!("{method}:{url}"));
            let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
            req.push_str(&format!(
                "Authorization: Digest username=\"{user}\", realm=\"{realm}\", \
                 nonce=\"{nonce}\", uri=\"{url}\", response=\"{response}\"\r\n"
            ));
        }
        req.push_str("\r\n");
        self.writer.write_all(req.as_bytes()).unwrap();
        let resp = self.read_response();
        if let Some(s) = resp.header("session") {
            self.session = Some(s.split(';').next().unwrap().trim().to_string());
        }
        if resp.status == 401 {
            let challenge = resp.header("www-authenticate").and_then(|h| {
                h.starts_with("Digest")
                    .then(|| Some((auth_param(h, "realm")?, auth_param(h, "nonce")?)))
                    .flatten()
            });
            // Answer a new challenge once, as clients do.
            if may_retry && challenge.is_some() && self.credentials.is_some() {
                self.challenge = challenge;
                return self.request_once(method, url, headers, false);
            }
        }
        resp
    }

    fn read_response(&mut self) -> Response {
        loop {
            let first = self.reader.fill_buf().unwrap()[0];
            if first == b'$' {
                let mut hdr = [0u8; 4];
                self.reader.read_exact(&mut hdr).unwrap();
                let mut skip = vec![0u8; u16::from_be_bytes([hdr[2], hdr[3]]) as usize];
                self.reader.read_exact(&mut skip).unwrap();
                continue;
            }
            let mut status_line = String::new();
            self.reader.read_line(&mut status_line).unwrap();
            let status: u16 = status_line
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let mut headers = HashMap::new();
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
            let len: usize = headers
                .get("content-length")
                .map_or(0, |l| l.parse().unwrap());
            let mut body = vec![0u8; len];
            self.reader.read_exact(&mut body).unwrap();
            return Response {
                status,
                headers,
                body: String::from_utf8(body).unwrap(),
            };
        }
    }

    pub fn describe(&mut self, require: Option<&str>) -> Response {
        let url = self.url.clone();
        let mut headers = vec![("Accept", "application/sdp")];
        if let Some(r) = require {
            headers.push(("Require", r));
        }
        self.request("DESCRIBE", &url, &headers)
    }

    /// SETUP of `control` (relative to the URL) over TCP interleaved channels.
    pub fn setup_tcp(&mut self, control: &str, channel: u8, require: bool) -> Response {
        let transport = format!(
            "RTP/AVP/TCP;unicast;interleaved={}-{}",
            channel,
            channel + 1
        );
        self.setup(control, &transport, require)
    }

    pub fn setup(&mut self, control: &str, transport: &str, require: bool) -> Response {
        let url = format!("{}/{}", self.url, control);
        let mut headers = vec![("Transport", transport)];
        if require {
            headers.push(("Require", BACKCHANNEL));
        }
        self.request("SETUP", &url, &headers)
    }

    pub fn play(&mut self, require: bool) -> Response {
        let url = self.url.clone();
        let mut headers = vec![("Range", "npt=0-")];
        if require {
            headers.push(("Require", BACKCHANNEL));
        }
        self.request("PLAY", &url, &headers)
    }

    pub fn teardown(&mut self) -> Response {
        let url = self.url.clone();
        self.request("TEARDOWN", &url, &[])
    }

    /// Sends one interleaved frame.
    pub fn send_interleaved(&mut self, channel: u8, data: &[u8]) {
        let mut frame = vec![b'$', channel];
        frame.extend_from_slice(&(data.len() as u16).to_be_bytes());
        frame.extend_from_slice(data);
        self.writer.write_all(&frame).unwrap();
    }

    /// Counts the interleaved frames on `channel` that arrive within `window`
    /// (frames on other channels are skipped).
    #[allow(dead_code)]
    pub fn count_interleaved(&mut self, channel: u8, window: Duration) -> usize {
        let end = std::time::Instant::now() + window;
        let mut count = 0;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            self.writer.set_read_timeout(Some(left)).unwrap();
            let mut hdr = [0u8; 4];
            if self.reader.read_exact(&mut hdr).is_err() {
                break;
            }
            assert_eq!(hdr[0], b'$', "expected interleaved data");
            let mut skip = vec![0u8; u16::from_be_bytes([hdr[2], hdr[3]]) as usize];
            self.reader.read_exact(&mut skip).unwrap();
            if hdr[1] == channel {
                count += 1;
            }
        }
        self.writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        count
    }

    /// Reads (and drops) what the server sent, so its send queue never fills.
    pub fn drain_in_background(&self) -> std::thread::JoinHandle<()> {
        let mut stream = self.writer.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        })
    }

    /// Whether the server closes the connection within `timeout` (what it
    /// sends until then is dropped).
    pub fn closed_by_server(&mut self, timeout: Duration) -> bool {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match self.reader.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        };
        self.writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        closed
    }

    /// The connection's socket, e.g. to turn TCP_NODELAY off again or read
    /// its TCP_INFO.
    pub fn socket(&self) -> &TcpStream {
        &self.writer
    }

    pub fn shutdown(&self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

/// The sendonly m= section of an SDP: (formats, control, full section text).
pub fn backchannel_section(sdp: &str) -> Option<(Vec<String>, String, String)> {
    let sections: Vec<&str> = sdp.split("\r\nm=").skip(1).collect();
    let mut found = sections.iter().filter(|s| s.contains("a=sendonly"));
    let section = found.next()?;
    let first = section.lines().next()?;
    let formats = first
        .split_whitespace()
        .skip(3)
        .map(str::to_string)
        .collect();
    let control = section
        .lines()
        .find_map(|l| l.strip_prefix("a=control:"))?
        .to_string();
    Some((formats, control, format!("m={section}")))
}

/// Control of the first recvonly section.
pub fn forward_control(sdp: &str) -> String {
    let section = sdp
        .split("\r\nm=")
        .skip(1)
        .find(|s| s.contains("a=recvonly"))
        .unwrap();
    section
        .lines()
        .find_map(|l| l.strip_prefix("a=control:"))
        .unwrap()
        .to_string()
}

/// An RTP packet.
pub fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x80 | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Sends PCMU packets of a tone in real time (20 ms each) through `send`.
pub struct PcmuSender {
    pub pt: u8,
    pub ssrc: u32,
    pub packet_ms: u64,
    seq: u16,
    ts: u32,
    phase: usize,
    /// Time of the first packet; the others follow in real time.
    start: Option<std::time::Instant>,
    sent_ms: u64,
}

impl PcmuSender {
    pub fn new(ssrc: u32) -> Self {
        Self::with_packet_ms(ssrc, 20)
    }

    /// Packets of `packet_ms` of audio each (some clients bundle 160 ms).
    pub fn with_packet_ms(ssrc: u32, packet_ms: u64) -> Self {
        PcmuSender {
            pt: 0,
            ssrc,
            packet_ms,
            seq: 1,
            ts: 0,
            phase: 0,
            start: None,
            sent_ms: 0,
        }
    }

    /// Takes the next sequence number for a packet that is not audio (a
    /// telephone-event sharing the stream, RFC 4733); returns it and the
    /// current timestamp.
    pub fn take_seq(&mut self) -> (u16, u32) {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        (seq, self.ts)
    }

    /// Builds the next packet of `freq` (0: silence), waiting for its send time
    /// so that the server sees a real-time talker.
    pub fn next(&mut self, freq: f64) -> Vec<u8> {
        let start = *self.start.get_or_insert_with(std::time::Instant::now);
        let due = start + Duration::from_millis(self.sent_ms);
        let now = std::time::Instant::now();
        if due > now {
            std::thread::sleep(due - now); // pacing a real-time sender, not waiting for a result
        }
        let n = (self.packet_ms * 8) as usize;
        let samples = if freq > 0.0 {
            super::audio::tone(freq, 8000, 0.5, n, self.phase)
        } else {
            vec![0.0; n]
        };
        self.phase += n;
        let payload: Vec<u8> = samples.iter().map(|s| super::audio::mulaw(*s)).collect();
        let p = rtp_packet(self.pt, self.seq, self.ts, self.ssrc, &payload);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(n as u32);
        self.sent_ms += self.packet_ms;
        p
    }
}

/// A UDP socket pair for a client's back channel SETUP.
pub fn udp_pair() -> (UdpSocket, UdpSocket, String) {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 == 0 {
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
                let transport = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
                return (rtp, rtcp, transport);
            }
        }
    }
}

/// A client that has set up only the back channel over UDP (not yet
/// playing): the client, its RTP socket, the server's RTP port and the
/// SETUP reply.
pub fn udp_talker(port: u16) -> (RtspClient, UdpSocket, u16, Response) {
    let mut c = RtspClient::connect(port);
    let r = c.describe(Some(BACKCHANNEL));
    let (_, control, _) = backchannel_section(&r.body).unwrap();
    let (rtp, _rtcp, transport) = udp_pair();
    let r = c.setup(&control, &transport, true);
    assert_eq!(r.status, 200, "{r:?}");
    let server_port = server_rtp_port(r.header("transport").unwrap());
    (c, rtp, server_port, r)
}

/// `server_port=a-b` of a Transport reply: the server's RTP port.
pub fn server_rtp_port(transport: &str) -> u16 {
    transport
        .split(';')
        .find_map(|p| p.strip_prefix("server_port="))
        .and_then(|ports| ports.split('-').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no server_port in {transport}"))
}

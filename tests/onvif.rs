//! The element's ONVIF web side, over real sockets on 127.0.0.1: profiles
//! from the real forward streams, stream URIs that a DESCRIBE with the back
//! channel Require reaches, decoder options that match that SDP,
//! authentication (WS-UsernameToken and HTTP digest, user levels), bad HTTP
//! and SOAP input, and https.
//!
//! Requests are written by hand over TCP (tests/common/http.rs), and the
//! answers read with quick-xml by namespace and local name.

mod common;
use common::files::{certificate, TempDir};

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::{self, auth_params, HttpResponse};
use common::rtsp::{backchannel_section, RtspClient, BACKCHANNEL};
use gst::prelude::*;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

const ENV: &str = "http://www.w3.org/2003/05/soap-envelope";
const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
const TRT: &str = "http://www.onvif.org/ver10/media/wsdl";
const TR2: &str = "http://www.onvif.org/ver20/media/wsdl";
const TT: &str = "http://www.onvif.org/ver10/schema";
const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const PASSWORD_TEXT: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

const SOAP12: &str = "application/soap+xml; charset=utf-8";
const MEDIA: &str = "/onvif/media_service";
const MEDIA2: &str = "/onvif/media2_service";
const DEVICE: &str = "/onvif/device_service";

const TALKER_PW: &str = "onvif-Talk-Secret-3";
const VIEWER_PW: &str = "onvif-View-Secret-5";

/// H.264 video at a size, rate, GOP and bit rate the profile must report,
/// and a PCMU tone. (The GOP is not twice the rate: that is what a profile
/// says when it does not know.)
const H264_LAUNCH: &str = "( videotestsrc is-live=true \
    ! video/x-raw,width=352,height=288,framerate=12/1 \
    ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=300 \
    ! rtph264pay name=pay0 pt=96 \
    audiotestsrc is-live=true volume=0.1 ! audio/x-raw,rate=8000,channels=1 \
    ! mulawenc ! rtppcmupay name=pay1 pt=0 )";

const VP8_LAUNCH: &str = "( videotestsrc is-live=true \
    ! video/x-raw,width=320,height=240,framerate=10/1 \
    ! vp8enc deadline=1 target-bitrate=200000 keyframe-max-dist=25 \
    ! rtpvp8pay name=pay0 pt=96 )";

// ---------------------------------------------------------------------
// The element

/// onvifbackchannelsrc with its web side on any free port, in a pipeline.
struct Device {
    pipeline: gst::Pipeline,
    /// The web server's port.
    http: u16,
    /// The RTSP server's port.
    rtsp: u16,
}

impl Device {
    /// `props`: more properties of the element (`launch="..."` etc.).
    fn start(props: &str) -> Device {
        common::init();
        let pipeline = gst::parse::launch(&format!(
            "onvifbackchannelsrc name=bc address=127.0.0.1 port=0 http-port=-1 discovery=false \
             {props} ! fakesink sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let bc = pipeline.by_name("bc").unwrap();
        let rtsp = bc.property::<i32>("bound-port");
        let http = bc.property::<i32>("bound-http-port");
        assert!(
            rtsp > 0 && http > 0,
            "bound-port {rtsp}, bound-http-port {http}"
        );
        Device {
            pipeline,
            http: http as u16,
            rtsp: rtsp as u16,
        }
    }

    /// A SOAP 1.2 request with `header` (inside `s:Header`) and `body`.
    fn call(&self, path: &str, header: &str, body: &str) -> (HttpResponse, Node) {
        self.call_with(path, &[], header, body)
    }

    fn call_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        header: &str,
        body: &str,
    ) -> (HttpResponse, Node) {
        let mut all = vec![("Content-Type", SOAP12)];
        all.extend_from_slice(headers);
        let r = http::post(self.http, path, &all, &envelope(header, body));
        let xml = Node::parse(&r.body);
        (r, xml)
    }

    /// An anonymous call that must succeed.
    fn ok(&self, path: &str, body: &str) -> Node {
        let (r, xml) = self.call(path, "", body);
        assert_eq!(r.status, 200, "{body}:\n{}", r.body);
        xml
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn envelope(header: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{ENV}\" xmlns:tds=\"{TDS}\" xmlns:trt=\"{TRT}\" \
         xmlns:tr2=\"{TR2}\" xmlns:tt=\"{TT}\">\
         <s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

const GET_PROFILES: &str = "<trt:GetProfiles/>";
const GET_PROFILES2: &str = "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>";
const GET_DATE: &str = "<tds:GetSystemDateAndTime/>";

fn get_stream_uri1(profile: &str) -> String {
    format!(
        "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>\
         <tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>\
         <trt:ProfileToken>{profile}</trt:ProfileToken></trt:GetStreamUri>"
    )
}

fn get_stream_uri2(profile: &str) -> String {
    format!(
        "<tr2:GetStreamUri><tr2:Protocol>RTSP</tr2:Protocol>\
         <tr2:ProfileToken>{profile}</tr2:ProfileToken></tr2:GetStreamUri>"
    )
}

// ---------------------------------------------------------------------
// Reading answers

/// An XML element: namespace, local name, attributes (local names), text,
/// children. `Node::parse` returns a nameless root holding the document.
#[derive(Debug, Default)]
struct Node {
    ns: String,
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    /// Parses a whole document; panics with the text if it is not XML.
    fn parse(xml: &str) -> Node {
        let mut reader = NsReader::from_str(xml);
        reader.config_mut().expand_empty_elements = true;
        let mut stack = vec![Node::default()];
        loop {
            let event = reader
                .read_resolved_event()
                .unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{xml}"));
            match event {
                (res, Event::Start(e)) => {
                    let ns = match res {
                        ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into(),
                        _ => String::new(),
                    };
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                String::from_utf8_lossy(a.key.local_name().as_ref()).into(),
                                a.unescape_value().unwrap().into_owned(),
                            )
                        })
                        .collect();
                    stack.push(Node {
                        ns,
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into(),
                        attrs,
                        ..Default::default()
                    });
                }
                (_, Event::End(_)) => {
                    let node = stack.pop().unwrap();
                    stack.last_mut().unwrap().children.push(node);
                }
                (_, Event::Text(t)) => {
                    stack
                        .last_mut()
                        .unwrap()
                        .text
                        .push_str(t.xml_content().unwrap().trim());
                }
                (_, Event::GeneralRef(r)) => {
                    // quick-xml reports entity references apart.
                    let text = match r.decode().unwrap().as_ref() {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("entity {other}"),
                    };
                    stack.last_mut().unwrap().text.push_str(text);
                }
                (_, Event::Eof) => break,
                _ => {}
            }
        }
        assert_eq!(stack.len(), 1, "unclosed elements:\n{xml}");
        stack.pop().unwrap()
    }

    fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    fn child(&self, ns: &str, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// Every descendant with that name, in document order.
    fn all<'a>(&'a self, ns: &str, name: &str) -> Vec<&'a Node> {
        let mut found = Vec::new();
        for c in &self.children {
            if c.is(ns, name) {
                found.push(c);
            }
            found.extend(c.all(ns, name));
        }
        found
    }

    /// The first descendant with that name.
    fn find(&self, ns: &str, name: &str) -> Option<&Node> {
        self.all(ns, name).into_iter().next()
    }

    /// The element at a path of (namespace, name) steps below this one.
    fn at(&self, path: &[(&str, &str)]) -> Option<&Node> {
        path.iter()
            .try_fold(self, |node, (ns, name)| node.child(ns, name))
    }

    fn text_at(&self, path: &[(&str, &str)]) -> Option<&str> {
        self.at(path).map(|n| n.text.as_str())
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The SOAP Body's first child.
    fn body(&self) -> &Node {
        self.at(&[(ENV, "Envelope"), (ENV, "Body")])
            .and_then(|b| b.children.first())
            .expect("a SOAP 1.2 Body with content")
    }

    /// The values of a fault's Code and Subcodes, outermost first; empty if
    /// the answer is no fault.
    fn fault_codes(&self) -> Vec<String> {
        let mut codes = Vec::new();
        let body = self.body();
        if !body.is(ENV, "Fault") {
            return codes;
        }
        let mut code = body.child(ENV, "Code");
        while let Some(c) = code {
            codes.extend(c.child(ENV, "Value").map(|v| v.text.clone()));
            code = c.child(ENV, "Subcode");
        }
        codes
    }
}

/// The numbers of the `tt:Items` below `node` (decoder options).
fn items(node: Option<&Node>) -> Vec<u32> {
    node.map(|n| {
        n.children_named(TT, "Items")
            .map(|i| i.text.parse().unwrap())
            .collect()
    })
    .unwrap_or_default()
}

// ---------------------------------------------------------------------
// 1. Profiles from the real forward streams

#[test]
fn profiles_report_the_forward_streams_of_launch() {
    let device = Device::start(&format!("launch=\"{H264_LAUNCH}\""));

    let answer = device.ok(MEDIA, GET_PROFILES);
    let profiles = answer.body().all(TRT, "Profiles");
    assert_eq!(profiles.len(), 1, "{:?}", answer.body());
    let vec = profiles[0]
        .child(TT, "VideoEncoderConfiguration")
        .expect("a video encoder configuration");
    let text = |path: &[(&str, &str)]| vec.text_at(path).unwrap_or("").to_string();
    assert_eq!(text(&[(TT, "Encoding")]), "H264");
    assert_eq!(text(&[(TT, "Resolution"), (TT, "Width")]), "352");
    assert_eq!(text(&[(TT, "Resolution"), (TT, "Height")]), "288");
    assert_eq!(text(&[(TT, "RateControl"), (TT, "FrameRateLimit")]), "12");
    assert_eq!(text(&[(TT, "RateControl"), (TT, "BitrateLimit")]), "300");
    assert_eq!(text(&[(TT, "H264"), (TT, "GovLength")]), "30");
    // The PCMU tone is the audio encoder (Media1 calls it G711).
    assert_eq!(
        profiles[0].text_at(&[(TT, "AudioEncoderConfiguration"), (TT, "Encoding")]),
        Some("G711")
    );

    // Media2 says the same.
    let answer = device.ok(MEDIA2, GET_PROFILES2);
    let ve = answer
        .body()
        .find(TR2, "VideoEncoder")
        .expect("a Media2 video encoder");
    assert_eq!(ve.text_at(&[(TT, "Encoding")]), Some("H264"));
    assert_eq!(ve.attr("GovLength"), Some("30"));
    assert_eq!(
        ve.text_at(&[(TT, "Resolution"), (TT, "Width")]),
        Some("352")
    );
    assert_eq!(
        ve.text_at(&[(TT, "RateControl"), (TT, "FrameRateLimit")]),
        Some("12")
    );
    assert_eq!(
        ve.text_at(&[(TT, "RateControl"), (TT, "BitrateLimit")]),
        Some("300")
    );
}

#[test]
fn a_vp8_stream_is_not_claimed_as_h264() {
    let device = Device::start(&format!("launch=\"{VP8_LAUNCH}\""));

    // Media1 has no name for VP8: the profile leaves the encoder out rather
    // than call it something it is not.
    let answer = device.ok(MEDIA, GET_PROFILES);
    let profile = answer.body().find(TRT, "Profiles").expect("a profile");
    assert!(
        profile.child(TT, "VideoEncoderConfiguration").is_none(),
        "Media1 names an encoder for VP8: {profile:?}"
    );
    assert!(
        !answer.all(TT, "Encoding").iter().any(|e| e.text == "H264"),
        "VP8 claimed as H264: {profile:?}"
    );
    // The video source is still there, at the stream's size.
    let bounds = profile
        .at(&[(TT, "VideoSourceConfiguration"), (TT, "Bounds")])
        .expect("video source bounds");
    assert_eq!(bounds.attr("width"), Some("320"));

    let answer = device.ok(MEDIA2, GET_PROFILES2);
    let ve = answer
        .body()
        .find(TR2, "VideoEncoder")
        .expect("a Media2 video encoder");
    assert_eq!(ve.text_at(&[(TT, "Encoding")]), Some("VP8"));
    assert_eq!(
        ve.text_at(&[(TT, "Resolution"), (TT, "Height")]),
        Some("240")
    );
    assert_eq!(ve.attr("GovLength"), Some("25"));
    assert_eq!(
        ve.text_at(&[(TT, "RateControl"), (TT, "BitrateLimit")]),
        Some("200")
    );
}

/// Without `launch`, the default forward streams are H.264 (x264enc is a
/// dependency), which Home Assistant requires.
#[test]
fn the_default_launch_is_h264() {
    let device = Device::start("");
    let answer = device.ok(MEDIA, GET_PROFILES);
    let vec = answer
        .body()
        .find(TT, "VideoEncoderConfiguration")
        .expect("a video encoder configuration");
    assert_eq!(vec.text_at(&[(TT, "Encoding")]), Some("H264"), "{vec:?}");
    let width: u32 = vec
        .text_at(&[(TT, "Resolution"), (TT, "Width")])
        .unwrap()
        .parse()
        .unwrap();
    assert!(width > 0);
}

// ---------------------------------------------------------------------
// 2. Stream URI, the SDP behind it, and the decoder options

/// The back channel's encodings as the SDP lists them: (encoding name in
/// upper case, clock rate).
fn sdp_backchannel_encodings(sdp: &str) -> Vec<(String, u32)> {
    let (formats, _, section) = backchannel_section(sdp).expect("a sendonly audio section");
    assert!(section.starts_with("m=audio"), "{section}");
    formats
        .iter()
        .map(|pt| {
            let rtpmap = section
                .lines()
                .find_map(|l| l.strip_prefix(&format!("a=rtpmap:{pt} ")));
            let (name, rate) = match (rtpmap, pt.as_str()) {
                (Some(map), _) => {
                    let mut parts = map.split('/');
                    let name = parts.next().unwrap().to_ascii_uppercase();
                    (name, parts.next().unwrap().trim().parse().unwrap())
                }
                // Static payload types need no rtpmap.
                (None, "0") => ("PCMU".into(), 8000),
                (None, "8") => ("PCMA".into(), 8000),
                (None, pt) => panic!("payload type {pt} without rtpmap in {section}"),
            };
            (name, rate)
        })
        .collect()
}

#[test]
fn stream_uri_reaches_the_back_channel_the_decoder_options_describe() {
    let device = Device::start(&format!(
        "mount-point=/cam1 codecs=PCMU,G726-32,AAC-16000 launch=\"{H264_LAUNCH}\""
    ));
    let expected = format!("rtsp://127.0.0.1:{}/cam1", device.rtsp);
    let answer = device.ok(MEDIA, &get_stream_uri1("profile_0"));
    let uri = answer
        .body()
        .text_at(&[(TRT, "MediaUri"), (TT, "Uri")])
        .expect("a MediaUri")
        .to_string();
    assert_eq!(uri, expected);
    let answer = device.ok(MEDIA2, &get_stream_uri2("profile_0"));
    assert_eq!(
        answer.body().text_at(&[(TR2, "Uri")]),
        Some(expected.as_str())
    );

    // At the host name the client used.
    let (r, answer) = device.call_with(
        MEDIA,
        &[("Host", &format!("localhost:{}", device.http))],
        "",
        &get_stream_uri1("profile_0"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        answer.body().text_at(&[(TRT, "MediaUri"), (TT, "Uri")]),
        Some(format!("rtsp://localhost:{}/cam1", device.rtsp).as_str())
    );

    // The URI works, and has the back channel.
    let mut client = RtspClient::connect(device.rtsp);
    client.url = uri;
    let r = client.describe(Some(BACKCHANNEL));
    assert_eq!(r.status, 200, "{r:?}");
    let sdp = sdp_backchannel_encodings(&r.body);
    let has = |name: &str| sdp.iter().any(|(n, _)| n == name);
    assert!(
        has("PCMU") && has("G726-32") && has("MPEG4-GENERIC"),
        "{sdp:?}"
    );

    // Media1: G711 iff PCMU or PCMA; a G726 bit rate per G726-N; AAC at
    // the rates of the mpeg4-generic formats.
    let answer = device.ok(MEDIA, "<trt:GetAudioDecoderConfigurationOptions/>");
    let options = answer.body().child(TRT, "Options").expect("Options");
    let g711 = options.child(TT, "G711DecOptions");
    assert_eq!(g711.is_some(), has("PCMU") || has("PCMA"));
    assert_eq!(items(g711.and_then(|o| o.child(TT, "Bitrate"))), [64]);
    assert_eq!(
        items(g711.and_then(|o| o.child(TT, "SampleRateRange"))),
        [8]
    );
    let mut g726_sdp: Vec<u32> = sdp
        .iter()
        .filter_map(|(n, _)| n.strip_prefix("G726-")?.parse().ok())
        .collect();
    g726_sdp.sort();
    let g726 = options.child(TT, "G726DecOptions");
    let mut g726_rates = items(g726.and_then(|o| o.child(TT, "Bitrate")));
    g726_rates.sort();
    assert_eq!(g726_rates, g726_sdp);
    assert_eq!(
        items(g726.and_then(|o| o.child(TT, "SampleRateRange"))),
        [8]
    );
    let mut aac_sdp: Vec<u32> = sdp
        .iter()
        .filter(|(n, _)| n == "MPEG4-GENERIC")
        .map(|(_, rate)| rate / 1000)
        .collect();
    aac_sdp.sort();
    let aac = options.child(TT, "AACDecOptions");
    let mut aac_rates = items(aac.and_then(|o| o.child(TT, "SampleRateRange")));
    aac_rates.sort();
    assert_eq!(aac_rates, aac_sdp);
    assert_eq!(
        options.children.len(),
        [g711, g726, aac].iter().filter(|o| o.is_some()).count(),
        "options for something the SDP lacks: {options:?}"
    );

    // Media2: one Options per encoding, by its IANA name; the SDP's G726-N
    // is G726 at N kbit/s.
    let answer = device.ok(MEDIA2, "<tr2:GetAudioDecoderConfigurationOptions/>");
    let mut media2: Vec<(String, Vec<u32>, Vec<u32>)> = answer
        .body()
        .children_named(TR2, "Options")
        .map(|o| {
            (
                o.text_at(&[(TT, "Encoding")]).unwrap().to_ascii_uppercase(),
                items(o.child(TT, "BitrateList")),
                items(o.child(TT, "SampleRateList")),
            )
        })
        .collect();
    media2.sort();
    let mut from_sdp: Vec<(String, Option<u32>, u32)> = sdp
        .iter()
        .map(|(name, rate)| match name.strip_prefix("G726-") {
            Some(kbps) => ("G726".to_string(), kbps.parse().ok(), rate / 1000),
            None if name == "PCMU" || name == "PCMA" => (name.clone(), Some(64), rate / 1000),
            None => (name.clone(), None, rate / 1000),
        })
        .collect();
    from_sdp.sort();
    assert_eq!(
        media2.len(),
        from_sdp.len(),
        "Media2 {media2:?} vs SDP {from_sdp:?}"
    );
    for ((enc, bitrates, rates), (sdp_enc, sdp_kbps, sdp_rate)) in media2.iter().zip(&from_sdp) {
        assert_eq!(enc, sdp_enc, "Media2 {media2:?} vs SDP {from_sdp:?}");
        assert_eq!(rates, &[*sdp_rate], "{enc}");
        if let Some(kbps) = sdp_kbps {
            assert_eq!(bitrates, &[*kbps], "{enc}");
        }
    }
}

// ---------------------------------------------------------------------
// 3. Authentication

fn random_nonce() -> Vec<u8> {
    (0..4)
        .flat_map(|_| glib::random_int().to_le_bytes())
        .collect()
}

/// A UTC time as WS-Security writes it, `seconds_ago` in the past.
fn created(seconds_ago: i64) -> String {
    glib::DateTime::now_utc()
        .unwrap()
        .add_seconds(-seconds_ago as f64)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .unwrap()
        .to_string()
}

/// A WS-Security header with a UsernameToken PasswordDigest:
/// Base64(SHA-1(nonce + created + password)).
fn username_token(user: &str, password: &str, nonce: &[u8], created: &str) -> String {
    let mut checksum = glib::Checksum::new(glib::ChecksumType::Sha1).unwrap();
    checksum.update(nonce);
    checksum.update(created.as_bytes());
    checksum.update(password.as_bytes());
    let digest = glib::base64_encode(&checksum.digest());
    let nonce = glib::base64_encode(nonce);
    format!(
        "<wsse:Security xmlns:wsse=\"{WSSE}\" xmlns:wsu=\"{WSU}\" s:mustUnderstand=\"1\">\
         <wsse:UsernameToken><wsse:Username>{user}</wsse:Username>\
         <wsse:Password Type=\"{PASSWORD_DIGEST}\">{digest}</wsse:Password>\
         <wsse:Nonce>{nonce}</wsse:Nonce><wsu:Created>{created}</wsu:Created>\
         </wsse:UsernameToken></wsse:Security>"
    )
}

fn md5_hex(text: &str) -> String {
    glib::compute_checksum_for_string(glib::ChecksumType::Md5, text)
        .unwrap()
        .to_string()
}

/// An RFC 2617 digest `Authorization` answering `challenge` for a POST to
/// `uri`.
fn digest_authorization(challenge: &str, user: &str, password: &str, uri: &str) -> String {
    let params = auth_params(challenge);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let realm = param("realm").expect("a realm");
    let nonce = param("nonce").expect("a nonce");
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("POST:{uri}"));
    let cnonce = "0a4f113b";
    // Each answer to one challenge counts up (nc): the server refuses a
    // count it has seen (a replay).
    static NC: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let nc = format!(
        "{:08x}",
        NC.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let mut header =
        format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\"");
    let qop_auth = param("qop").is_some_and(|q| q.split(',').any(|q| q.trim() == "auth"));
    let response = if qop_auth {
        header.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
    } else {
        md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
    };
    header.push_str(&format!(", response=\"{response}\", algorithm=MD5"));
    if let Some(opaque) = param("opaque") {
        header.push_str(&format!(", opaque=\"{opaque}\""));
    }
    header
}

/// Whether a Media1 GetProfiles answer carries an audio output.
fn has_audio_output(answer: &Node) -> bool {
    answer.body().all(TRT, "Profiles").iter().any(|p| {
        p.at(&[(TT, "Extension"), (TT, "AudioOutputConfiguration")])
            .is_some()
    })
}

fn assert_not_authorized(r: &HttpResponse, xml: &Node, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(
        xml.fault_codes(),
        ["env:Sender", "ter:NotAuthorized"],
        "{what}: {}",
        r.body
    );
}

#[test]
fn usernametoken_and_http_digest_with_user_levels() {
    let dir = TempDir::new("users");
    let users = dir.write(
        "users",
        &format!("alice:{TALKER_PW}:talker\nbob:{VIEWER_PW}:viewer\n"),
    );
    // Everything our categories log, to check that no password is in it.
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = log.clone();
    common::init();
    gst::log::remove_default_log_function();
    gst::log::set_threshold_from_string("onvifbackchannel*:7", false);
    let log_fn = gst::log::add_log_function(move |cat, _, _, _, _, _, msg| {
        if cat.name().starts_with("onvifbackchannel") {
            if let Some(m) = msg.get() {
                sink.lock().unwrap().push(m.to_string());
            }
        }
    });
    let device = Device::start(&format!("users-file={users} launch=\"{H264_LAUNCH}\""));

    // Anonymous: the pre-auth operations only; others get 401 and a
    // digest challenge.
    let (r, xml) = device.call(DEVICE, "", GET_DATE);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(xml.body().is(TDS, "GetSystemDateAndTimeResponse"));
    let (r, xml) = device.call(MEDIA, "", GET_PROFILES);
    assert_not_authorized(&r, &xml, 401, "anonymous GetProfiles");
    let challenge = r
        .header("www-authenticate")
        .expect("a WWW-Authenticate header")
        .to_string();
    assert!(challenge.starts_with("Digest "), "{challenge}");

    // UsernameToken: a talker's profile carries the audio output, a
    // viewer's does not.
    let token = username_token("alice", TALKER_PW, &random_nonce(), &created(0));
    let (r, xml) = device.call(MEDIA, &token, GET_PROFILES);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        has_audio_output(&xml),
        "talker without audio output: {}",
        r.body
    );
    let token = username_token("bob", VIEWER_PW, &random_nonce(), &created(0));
    let (r, xml) = device.call(MEDIA, &token, GET_PROFILES);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!xml.body().all(TRT, "Profiles").is_empty());
    assert!(
        !has_audio_output(&xml),
        "viewer with audio output: {}",
        r.body
    );
    let token = username_token("bob", VIEWER_PW, &random_nonce(), &created(0));
    let (r, xml) = device.call(MEDIA2, &token, GET_PROFILES2);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(xml.body().find(TR2, "VideoEncoder").is_some());
    assert!(xml.body().find(TR2, "AudioOutput").is_none(), "{}", r.body);

    // Refused with 400 and ter:NotAuthorized: a wrong password, a Created
    // an hour old, a nonce used again, a user nobody knows.
    let token = username_token("alice", "wrong", &random_nonce(), &created(0));
    let (r, xml) = device.call(MEDIA, &token, GET_PROFILES);
    assert_not_authorized(&r, &xml, 400, "wrong password");
    let token = username_token("alice", TALKER_PW, &random_nonce(), &created(3600));
    let (r, xml) = device.call(MEDIA, &token, GET_PROFILES);
    assert_not_authorized(&r, &xml, 400, "Created an hour old");
    let token = username_token("alice", TALKER_PW, &random_nonce(), &created(-3600));
    let (r, xml) = device.call(MEDIA, &token, GET_PROFILES);
    assert_not_authorized(&r, &xml, 400, "Created an hour ahead");
    let nonce = random_nonce();
    let token = username_token("alice", TALKER_PW, &nonce, &created(0));
    let (r, _) = device.call(MEDIA, &token, GET_PROFILES);
    assert_eq!(r.status, 200, "first use of a nonce: {}", r.body);
    let (r, xml) = device.call(MEDIA, &token, GET_PROFILES);
    assert_not_authorized(&r, &xml, 400, "the same token again");
    let token = username_token("mallory", TALKER_PW, &random_nonce(), &created(0));
    let (r, xml) = device.call(MEDIA, &token, GET_PROFILES);
    assert_not_authorized(&r, &xml, 400, "unknown user");
    // A bad token is refused even for a pre-auth operation.
    let token = username_token("alice", "wrong", &random_nonce(), &created(0));
    let (r, xml) = device.call(DEVICE, &token, GET_DATE);
    assert_not_authorized(&r, &xml, 400, "wrong password, GetSystemDateAndTime");
    // PasswordText carries the password itself: refused without TLS (and
    // it must not reach the log).
    let text_token = format!(
        "<wsse:Security xmlns:wsse=\"{WSSE}\" xmlns:wsu=\"{WSU}\"><wsse:UsernameToken>\
         <wsse:Username>alice</wsse:Username>\
         <wsse:Password Type=\"{PASSWORD_TEXT}\">{TALKER_PW}</wsse:Password>\
         <wsu:Created>{}</wsu:Created></wsse:UsernameToken></wsse:Security>",
        created(0)
    );
    let (r, xml) = device.call(MEDIA, &text_token, GET_PROFILES);
    assert_not_authorized(&r, &xml, 400, "PasswordText over http");

    // HTTP digest, answering the server's challenge.
    let authorization = digest_authorization(&challenge, "alice", TALKER_PW, MEDIA);
    let (r, xml) = device.call_with(
        MEDIA,
        &[("Authorization", &authorization)],
        "",
        GET_PROFILES,
    );
    assert_eq!(r.status, 200, "HTTP digest as a talker: {}", r.body);
    assert!(has_audio_output(&xml), "{}", r.body);
    let authorization = digest_authorization(&challenge, "bob", VIEWER_PW, MEDIA);
    let (r, xml) = device.call_with(
        MEDIA,
        &[("Authorization", &authorization)],
        "",
        GET_PROFILES,
    );
    assert_eq!(r.status, 200, "HTTP digest as a viewer: {}", r.body);
    assert!(!has_audio_output(&xml), "{}", r.body);
    let authorization = digest_authorization(&challenge, "alice", "wrong", MEDIA);
    let (r, _) = device.call_with(
        MEDIA,
        &[("Authorization", &authorization)],
        "",
        GET_PROFILES,
    );
    assert!(
        (400..500).contains(&r.status),
        "wrong HTTP digest: {} {}",
        r.status,
        r.body
    );

    drop(device);
    gst::log::remove_log_function(log_fn);
    let log = log.lock().unwrap();
    // The log tells who was refused (else this check would prove nothing).
    assert!(
        log.iter()
            .any(|m| m.contains("alice") && m.contains("not authorized")),
        "no refusal of alice in the log"
    );
    for line in log.iter() {
        assert!(
            !line.contains(TALKER_PW) && !line.contains(VIEWER_PW),
            "password in the log: {line}"
        );
    }
}

// ---------------------------------------------------------------------
// 4. Bad HTTP and SOAP input

/// Whether the server closed `stream` (end of stream or reset) without
/// answering, within the read timeout.
fn closed_without_answer(stream: &mut std::net::TcpStream) -> Result<(), String> {
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("answered: {}", String::from_utf8_lossy(&buf[..n]))),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("still open: {e}")),
    }
}

#[test]
fn bad_http_and_soap_input_gets_4xx_or_faults_and_never_hangs() {
    let device = Device::start(&format!("launch=\"{VP8_LAUNCH}\""));
    let port = device.http;

    // A client that sends half a request and stays, and one that vanishes.
    let mut staying = http::connect(port);
    staying
        .write_all(
            b"POST /onvif/device_service HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/soap+xml\r\nContent-Length: 1000\r\n\r\n<s:Envel",
        )
        .unwrap();
    {
        let mut vanishing = http::connect(port);
        vanishing
            .write_all(b"POST /onvif/device_service HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            .unwrap();
    }

    // GET: 405.
    let r = http::exchange(
        port,
        b"GET /onvif/device_service HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 405, "{}", r.body);
    // A content type that is not SOAP: 415.
    let r = http::post(
        port,
        DEVICE,
        &[("Content-Type", "text/plain")],
        &envelope("", GET_DATE),
    );
    assert_eq!(r.status, 415, "{}", r.body);
    // Malformed XML: 400 and a well-formed ter:WellFormed fault.
    let (r, xml) = device.call(DEVICE, "", "<tds:GetSystemDateAndTime>");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(xml.fault_codes(), ["env:Sender", "ter:WellFormed"]);
    // Not even XML, or nothing.
    for body in ["\u{1}\u{2}garbage\u{ff}", ""] {
        let r = http::post(port, DEVICE, &[("Content-Type", SOAP12)], body);
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        assert!(!Node::parse(&r.body).fault_codes().is_empty(), "{}", r.body);
    }
    // An operation nobody implements: ter:ActionNotSupported, 500; in a
    // service we do not have, too.
    for body in [
        "<tds:GetMagic/>",
        "<tds:DoMagic/>",
        "<tev:GetEventProperties xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\"/>",
    ] {
        let (r, xml) = device.call(DEVICE, "", body);
        assert_eq!(r.status, 500, "{body}: {}", r.body);
        assert_eq!(
            xml.fault_codes(),
            ["env:Receiver", "ter:ActionNotSupported"],
            "{body}"
        );
    }
    // A path that is no service: 404.
    let r = http::post(
        port,
        "/nothing/here",
        &[("Content-Type", SOAP12)],
        &envelope("", GET_DATE),
    );
    assert_eq!(r.status, 404, "{}", r.body);

    // A body declared 10 MB: 413 at once, before it is sent.
    let start = Instant::now();
    let mut big = http::connect(port);
    big.write_all(
        format!(
            "POST {DEVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {SOAP12}\r\n\
             Content-Length: {}\r\n\r\n",
            10 * 1024 * 1024
        )
        .as_bytes(),
    )
    .unwrap();
    // (The server may already have answered: a failed write is no failure.)
    let _ = big.write_all(&[b' '; 64 * 1024]);
    let r = http::read_response(&big).expect("an answer before the body is sent");
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    drop(big);

    // A chunked body that goes on past 256 KiB: the connection is closed
    // (writes fail, or the read finds it closed), with no answer.
    let mut chunked = http::connect(port);
    chunked
        .write_all(
            format!(
                "POST {DEVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {SOAP12}\r\n\
                 Transfer-Encoding: chunked\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let chunk = [
        format!("{:x}\r\n", 16 * 1024).into_bytes(),
        vec![b' '; 16 * 1024],
        b"\r\n".to_vec(),
    ]
    .concat();
    let mut sent = 0;
    while sent < 8 * 1024 * 1024 {
        if chunked.write_all(&chunk).is_err() {
            break;
        }
        sent += 16 * 1024;
    }
    closed_without_answer(&mut chunked)
        .unwrap_or_else(|e| panic!("chunked body past the limit ({sent} bytes sent): {e}"));

    // Through all this, the server still answers promptly; the half
    // request still waits.
    let start = Instant::now();
    let xml = device.ok(DEVICE, GET_DATE);
    assert!(xml.body().is(TDS, "GetSystemDateAndTimeResponse"));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    drop(staying);
    let xml = device.ok(MEDIA2, GET_PROFILES2);
    assert!(xml.body().find(TR2, "Profiles").is_some());
}

// ---------------------------------------------------------------------
// 5. https

/// A SOAP call over https with libsoup's client (the certificate is
/// self-signed: accepted as it is).
fn https_call(port: u16, path: &str, body: &str) -> (u32, Node) {
    let session = soup::Session::new();
    soup::prelude::SessionExt::set_timeout(&session, 5);
    let msg = soup::Message::new("POST", &format!("https://127.0.0.1:{port}{path}")).unwrap();
    msg.connect_accept_certificate(|_, _, _| true);
    msg.set_request_body_from_bytes(
        Some(SOAP12),
        Some(&glib::Bytes::from_owned(envelope("", body).into_bytes())),
    );
    let answer =
        soup::prelude::SessionExt::send_and_read(&session, &msg, soup::gio::Cancellable::NONE)
            .expect("an https answer");
    (
        msg.status_code(),
        Node::parse(std::str::from_utf8(&answer).unwrap()),
    )
}

#[test]
fn https_with_tls_certificate_advertises_https_and_rtsps() {
    let dir = TempDir::new("tls");
    let pem = certificate(&dir);
    let device = Device::start(&format!("tls-certificate={pem} launch=\"{VP8_LAUNCH}\""));
    let port = device.http;

    let (status, xml) = https_call(
        port,
        DEVICE,
        "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>",
    );
    assert_eq!(status, 200);
    let xaddrs: Vec<&str> = xml
        .body()
        .all(TDS, "XAddr")
        .iter()
        .map(|x| x.text.as_str())
        .collect();
    assert!(xaddrs.len() >= 3, "{xaddrs:?}");
    for x in &xaddrs {
        assert!(
            x.starts_with(&format!("https://127.0.0.1:{port}/onvif/")),
            "{x}"
        );
    }
    let (status, xml) = https_call(port, MEDIA, &get_stream_uri1("profile_0"));
    assert_eq!(status, 200);
    assert_eq!(
        xml.body().text_at(&[(TRT, "MediaUri"), (TT, "Uri")]),
        Some(format!("rtsps://127.0.0.1:{}/stream", device.rtsp).as_str())
    );
    let (status, xml) = https_call(port, MEDIA2, &get_stream_uri2("profile_0"));
    assert_eq!(status, 200);
    assert!(xml
        .body()
        .text_at(&[(TR2, "Uri")])
        .is_some_and(|u| u.starts_with("rtsps://")));

    // Plain http on the https port gets no SOAP answer.
    let mut plain = http::connect(port);
    plain
        .write_all(
            format!(
                "POST {DEVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {SOAP12}\r\n\
                 Content-Length: 10\r\n\r\n0123456789"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "plain http answered on the https port"
    );
}

//! HTTP digest on the element's web server, end to end: onvifbackchannelsrc
//! with `users-file`, GetProfiles over real sockets, the responses computed
//! here (not by the code under test), and curl as a client no one here
//! wrote.

mod common;
use common::files::TempDir;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use gst::prelude::*;

#[path = "common/element.rs"]
mod element;
use element::serve;

const TALKER_PW: &str = "talk \"Secret\":9";
const VIEWER_PW: &str = "view-Secret-7";
const MEDIA: &str = "/onvif/media_service";

const GET_PROFILES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/></s:Body></s:Envelope>"#;

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn not_authorized(&self) -> bool {
        self.body.contains("NotAuthorized")
    }
}

/// One POST on a connection of its own.
fn post(port: u16, path: &str, body: &str, authorization: Option<&str>) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/soap+xml; charset=utf-8\r\n\
         {auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A quoted parameter of a challenge (ours are plain: no escapes in nonce
/// or algorithm).
fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    for part in challenge
        .trim_start_matches("Digest")
        .split(',')
        .map(str::trim)
    {
        if let Some((k, v)) = part.split_once('=') {
            if k.trim().eq_ignore_ascii_case(name) {
                return Some(v.trim().trim_matches('"'));
            }
        }
    }
    None
}

fn hash(algorithm: &str, text: &str) -> String {
    let kind = match algorithm {
        "MD5" => glib::ChecksumType::Md5,
        "SHA-256" => glib::ChecksumType::Sha256,
        other => panic!("unexpected algorithm {other}"),
    };
    let mut c = glib::Checksum::new(kind).unwrap();
    c.update(text.as_bytes());
    c.string().unwrap().to_string()
}

/// The Authorization header answering `challenge` (RFC 7616, qop=auth).
fn authorization(challenge: &str, user: &str, password: &str, nonce: &str, nc: u32) -> String {
    let algorithm = param(challenge, "algorithm").unwrap_or("MD5");
    let realm = param(challenge, "realm").unwrap();
    let cnonce = format!("cn{nc}x");
    let nc = format!("{nc:08x}");
    let ha1 = hash(algorithm, &format!("{user}:{realm}:{password}"));
    let ha2 = hash(algorithm, &format!("POST:{MEDIA}"));
    let response = hash(
        algorithm,
        &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
    );
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{MEDIA}\", \
         algorithm={algorithm}, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
    )
}

/// A 401 with our two challenges, MD5 first; the challenges.
fn expect_challenge(a: &Answer, what: &str) -> Vec<String> {
    assert_eq!(a.status, 401, "{what}: {}", a.body);
    assert!(
        a.not_authorized(),
        "{what}: no NotAuthorized fault: {}",
        a.body
    );
    let challenges: Vec<String> = a
        .all("WWW-Authenticate")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(challenges.len(), 2, "{what}: {challenges:?}");
    assert!(challenges.iter().all(|c| c.starts_with("Digest ")));
    assert_eq!(param(&challenges[0], "algorithm"), Some("MD5"));
    assert_eq!(param(&challenges[1], "algorithm"), Some("SHA-256"));
    assert_eq!(param(&challenges[0], "qop"), Some("auth"));
    challenges
}

fn is_stale(challenges: &[String]) -> bool {
    challenges
        .iter()
        .all(|c| param(c, "stale").is_some_and(|v| v.eq_ignore_ascii_case("true")))
}

fn start(dir: &TempDir) -> (gst::Pipeline, u16) {
    let users = dir.write(
        "users",
        &format!("talker:{TALKER_PW}:talker\nviewer:{VIEWER_PW}:viewer\n"),
    );
    let (pipeline, _capture, _rtsp_port) = serve(&format!(
        "http-port=-1 discovery=false users-file=\"{users}\""
    ));
    let port = pipeline
        .by_name("bc")
        .unwrap()
        .property::<i32>("bound-http-port");
    assert!(port > 0, "bound-http-port {port}");
    (pipeline, port as u16)
}

#[test]
fn digest_answers_replays_and_forgeries() {
    let dir = TempDir::new("digest");
    let (pipeline, port) = start(&dir);

    // No credentials: 401, a challenge per algorithm, one nonce.
    let a = post(port, MEDIA, GET_PROFILES, None);
    let challenges = expect_challenge(&a, "no credentials");
    assert!(!is_stale(&challenges));
    let nonce = param(&challenges[0], "nonce").unwrap().to_string();
    assert_eq!(param(&challenges[1], "nonce"), Some(nonce.as_str()));

    // The answer (SHA-256, the second): a talker's profiles with the audio
    // output.
    let first = authorization(&challenges[1], "talker", TALKER_PW, &nonce, 1);
    let a = post(port, MEDIA, GET_PROFILES, Some(&first));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("AudioOutputConfiguration"), "{}", a.body);

    // The same header again: a replay, refused; the right password on a used
    // nc makes the new challenge stale=true (a client retries by itself).
    let a = post(port, MEDIA, GET_PROFILES, Some(&first));
    let again = expect_challenge(&a, "the same header again");
    assert!(is_stale(&again), "{again:?}");

    // The next nc on the same nonce: fine; then that one again is not.
    let second = authorization(&challenges[1], "talker", TALKER_PW, &nonce, 2);
    assert_eq!(post(port, MEDIA, GET_PROFILES, Some(&second)).status, 200);
    assert_eq!(post(port, MEDIA, GET_PROFILES, Some(&second)).status, 401);

    // MD5, the first challenge, with its nonce (a fresh one).
    let nonce2 = param(&again[0], "nonce").unwrap().to_string();
    assert_ne!(nonce2, nonce);
    let md5 = authorization(&again[0], "talker", TALKER_PW, &nonce2, 1);
    let a = post(port, MEDIA, GET_PROFILES, Some(&md5));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("AudioOutputConfiguration"));

    // A made-up nonce, with the right password: refused, not stale.
    let forged = authorization(&challenges[1], "talker", TALKER_PW, "xx0123456789", 1);
    let a = post(port, MEDIA, GET_PROFILES, Some(&forged));
    assert!(!is_stale(&expect_challenge(&a, "a made-up nonce")));
    // A wrong password.
    let wrong = authorization(&again[1], "talker", "talk", &nonce2, 7);
    let a = post(port, MEDIA, GET_PROFILES, Some(&wrong));
    assert!(!is_stale(&expect_challenge(&a, "a wrong password")));
    // A digest of another path.
    let other = authorization(&again[0], "talker", TALKER_PW, &nonce2, 8);
    let a = post(port, "/onvif/device_service", GET_PROFILES, Some(&other));
    expect_challenge(&a, "a digest of another path");

    // A viewer: profiles without the audio output.
    let c = expect_challenge(&post(port, MEDIA, GET_PROFILES, None), "viewer");
    let n = param(&c[0], "nonce").unwrap();
    let a = post(
        port,
        MEDIA,
        GET_PROFILES,
        Some(&authorization(&c[0], "viewer", VIEWER_PW, n, 1)),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Profiles"));
    assert!(!a.body.contains("AudioOutputConfiguration"), "{}", a.body);

    // A bad WS-UsernameToken still gets HTTP 400 and ter:NotAuthorized.
    let token = GET_PROFILES.replace(
        "<s:Body>",
        "<s:Header><wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\" \
         xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\">\
         <wsse:UsernameToken><wsse:Username>talker</wsse:Username>\
         <wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest\">AAAAAAAAAAAAAAAAAAAAAAAAAAA=</wsse:Password>\
         <wsse:Nonce>AAAAAAAAAAAAAAAAAAAAAA==</wsse:Nonce><wsu:Created>2020-01-01T00:00:00Z</wsu:Created>\
         </wsse:UsernameToken></wsse:Security></s:Header><s:Body>",
    );
    let a = post(port, MEDIA, &token, None);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.not_authorized(), "{}", a.body);
    assert!(a.all("WWW-Authenticate").is_empty());

    pipeline.set_state(gst::State::Null).unwrap();
}

/// curl, a client no one here wrote, with `--digest`.
#[test]
fn curl_digest() {
    let Ok(out) = std::process::Command::new("curl").arg("--version").output() else {
        eprintln!("curl not installed: skipped");
        return;
    };
    assert!(out.status.success());
    let dir = TempDir::new("curl");
    let (pipeline, port) = start(&dir);
    let body = dir.write("body.xml", GET_PROFILES);
    let url = format!("http://127.0.0.1:{port}{MEDIA}");
    let curl = |password: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-v", "--max-time", "20", "--digest", "-u"])
            .arg(format!("talker:{password}"))
            .args([
                "-H",
                "Content-Type: application/soap+xml; charset=utf-8",
                "--data-binary",
            ])
            .arg(format!("@{body}"))
            .args(["-w", "\n%{http_code}"])
            .arg(&url)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let (body, code) = stdout.rsplit_once('\n').unwrap();
        (code.trim().to_string(), body.to_string(), stderr)
    };
    let (code, body, trace) = curl(TALKER_PW);
    assert_eq!(code, "200", "{body}\n{trace}");
    assert!(body.contains("AudioOutputConfiguration"), "{body}");
    let sent = trace
        .lines()
        .find(|l| l.starts_with("> Authorization: Digest"))
        .unwrap_or_default();
    eprintln!("curl sent: {sent}");
    assert!(sent.contains("qop=auth"), "{trace}");

    let (code, body, _) = curl("wrong");
    assert_eq!(code, "401", "{body}");
    assert!(body.contains("NotAuthorized"), "{body}");

    pipeline.set_state(gst::State::Null).unwrap();
}

/// Python's urllib (the standard library's HTTPDigestAuthHandler), another
/// client no one here wrote: it answers the first challenge only and knows
/// no SHA-256, so it needs MD5 first.
#[test]
fn python_urllib_digest() {
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| std::process::Command::new(p).arg("-V").output().is_ok());
    let Some(python) = python else {
        eprintln!("python3 not installed: skipped");
        return;
    };
    let dir = TempDir::new("urllib");
    let (pipeline, port) = start(&dir);
    let script = r#"
import sys, urllib.request, urllib.error
url, user, password, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
pm = urllib.request.HTTPPasswordMgrWithDefaultRealm()
pm.add_password(None, url, user, password)
opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(pm))
request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/soap+xml"})
try:
    with opener.open(request, timeout=20) as r:
        print(r.status)
        print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
    print(e.read().decode())
"#;
    let url = format!("http://127.0.0.1:{port}{MEDIA}");
    let run = |password: &str| {
        let out = std::process::Command::new(python)
            .args(["-c", script, &url, "talker", password, GET_PROFILES])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let (code, body) = stdout.split_once('\n').unwrap_or(("", ""));
        (code.trim().to_string(), body.to_string(), stderr)
    };
    let (code, body, err) = run(TALKER_PW);
    assert_eq!(code, "200", "{body}\n{err}");
    assert!(body.contains("AudioOutputConfiguration"), "{body}");
    let (code, body, err) = run("wrong");
    assert_eq!(code, "401", "{body}\n{err}");

    pipeline.set_state(gst::State::Null).unwrap();
}

//! The push-to-talk page in Debian's headless Chromium (a browser no one
//! here wrote), driven by tests/webrtc/browser.py through chromedriver,
//! with a fake microphone playing a 440 Hz WAV: the page is loaded from the
//! element, the button held, and 440 Hz must come out of the element for
//! about as long; released, silence, and the floor is free for an RTSP
//! talker. Chromium's candidates reach only the element's 127.0.0.1 one
//! (the element gathers on the address the page was loaded from).
//!
//! The two tests run one after the other (one Chromium at a time on a
//! 2-core machine).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::audio::heard;
use common::rtsp::{backchannel_section, PcmuSender, RtspClient, BACKCHANNEL};
use common::Capture;
use gst::prelude::*;

#[path = "common/element.rs"]
mod element;
use element::talk_event;

/// One Chromium at a time.
static BROWSER: Mutex<()> = Mutex::new(());

/// A 16-bit mono 48 kHz WAV of 440 Hz, 0.5 s on and 0.5 s off (Chromium's
/// noise suppression fades a steady tone within 2 s; a pulsed one keeps
/// its level), 10 s, looped by Chromium.
fn pulsed_tone_wav(dir: &common::files::TempDir) -> String {
    let rate = 48000u32;
    let mut samples = Vec::new();
    for i in 0..rate * 10 {
        let on = (i / (rate / 2)) % 2 == 0;
        let v = if on {
            (0.5 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate as f64).sin() * 32767.0)
                as i16
        } else {
            0
        };
        samples.extend_from_slice(&v.to_le_bytes());
    }
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    let path = dir.0.join("tone.wav");
    std::fs::write(&path, wav).unwrap();
    path.to_string_lossy().into_owned()
}

/// browser.py running Chromium; its JSON lines come through `lines`.
struct Browser {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Browser {
    fn start(args: &[&str]) -> Browser {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webrtc/browser.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            // Closing our end (the test ends or dies) stops Chromium.
            .arg("--quit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 tests/webrtc/browser.py");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("browser: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Browser { child, lines }
    }

    /// Waits for the event `kind` (a JSON line with `"event": "<kind>"`);
    /// panics on `done` before it or after `timeout`.
    fn wait(&self, kind: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no '{kind}' from the browser in {timeout:?}"));
            let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.contains(&format!("\"event\":\"{kind}\"")) {
                return line;
            }
            if compact.contains("\"event\":\"done\"") && kind != "done" {
                panic!("the browser ended before '{kind}': {line}");
            }
        }
    }

    /// Waits for the script's last line and its end; its exit status.
    fn finish(mut self) -> i32 {
        self.wait("done", Duration::from_secs(60));
        drop(self.child.stdin.take());
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `"key":` in a JSON line.
fn json_number(line: &str, key: &str) -> u64 {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    let at = compact
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    compact[at + key.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn http_port(pipeline: &gst::Pipeline) -> u16 {
    pipeline
        .by_name("bc")
        .unwrap()
        .property::<i32>("bound-http-port") as u16
}

/// What came out of `capture` between two marks: loud ms and frequency.
fn heard_between(capture: &Capture, from: usize, to: usize) -> (usize, f64) {
    heard(&capture.since(from)[..to - from])
}

#[test]
fn hold_to_talk_in_chromium_then_the_floor_is_free_for_rtsp() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::files::TempDir::new("browser");
    let wav = pulsed_tone_wav(&dir);
    let (pipeline, capture, rtsp) =
        element::serve("http-port=-1 discovery=false codecs=PCMU,PCMA,G722,OPUS webrtc-timeout=7");
    let url = format!("http://127.0.0.1:{}/", http_port(&pipeline));
    let browser = Browser::start(&[
        "--wav",
        &wav,
        "--url",
        &url,
        "--hold-seconds",
        "3",
        "--end",
        "stay",
        "--linger",
        "8",
    ]);
    browser.wait("pressed", Duration::from_secs(60));
    let started = talk_event(&pipeline, "started", Duration::from_secs(30)).expect("talk started");
    assert_eq!(started.get::<String>("codec").unwrap(), "OPUS");
    let from = capture.mark();
    let released = browser.wait("released", Duration::from_secs(30));
    let to = capture.mark();
    let (loud_ms, f) = heard_between(&capture, from, to);
    println!(
        "held: {} ms of output, {loud_ms} ms loud at {f:.1} Hz; {released}",
        (to - from) / 16
    );
    // 0.5 s on, 0.5 s off for about 3 s: about 1.5 s of tone.
    assert!((f - 440.0).abs() <= 10.0, "{f} Hz");
    assert!((1000..=2400).contains(&loud_ms), "{loud_ms} ms of 440 Hz");

    // Released: silence (replaceTrack(null): no RTP), the talk spurt ends.
    talk_event(&pipeline, "stopped", Duration::from_secs(5)).expect("the talk spurt ended");
    let from = capture.mark();
    assert!(capture.wait_for(from, 16000, Duration::from_secs(5)));
    let (loud_ms, _) = heard_between(&capture, from, from + 16000);
    assert_eq!(loud_ms, 0, "sound after the button went up");

    // The browser is still connected; an RTSP talker has the floor.
    let mut client = RtspClient::connect(rtsp);
    let d = client.describe(Some(BACKCHANNEL));
    let (_, control, _) = backchannel_section(&d.body).unwrap();
    assert_eq!(client.setup_tcp(&control, 0, true).status, 200);
    assert_eq!(client.play(true).status, 200);
    client.drain_in_background();
    let mut sender = PcmuSender::new(9);
    let from = capture.mark();
    let start = Instant::now();
    for i in 0..50u64 {
        // Pacing a real-time sender.
        std::thread::sleep(
            (start + Duration::from_millis(i * 20)).saturating_duration_since(Instant::now()),
        );
        let p = sender.next(1000.0);
        client.send_interleaved(0, &p);
    }
    assert!(capture.wait_for(from, 16000, Duration::from_secs(5)));
    let (loud_ms, f) = heard_between(&capture, from, from + 16000);
    assert!(
        loud_ms >= 800 && (f - 1000.0).abs() <= 10.0,
        "RTSP talker: {loud_ms} ms at {f} Hz"
    );
    client.shutdown();

    // With the button up the page sends no RTP, but it is there (RTCP,
    // keepalive GETs): it has not been timed out.
    while let Some(left) = talk_event(&pipeline, "left", Duration::from_millis(1)) {
        // (The RTSP talker's own left is PCMU.)
        assert_ne!(
            left.get::<String>("codec").unwrap(),
            "OPUS",
            "a connected browser was hung up"
        );
    }
    // The browser vanishes (killed with the script, nothing sent): its
    // seat is freed after webrtc-timeout.
    browser.wait("ended", Duration::from_secs(30));
    let code = browser.finish();
    let gone = Instant::now();
    let left = loop {
        let left =
            talk_event(&pipeline, "left", Duration::from_secs(15)).expect("the browser left");
        if left.get::<String>("codec").unwrap() == "OPUS" {
            break left;
        }
    };
    let release = gone.elapsed();
    println!(
        "browser gone (exit {code}): released after {} ms; {left}",
        release.as_millis()
    );
    // Not before the timeout (7 s, counted from its last sign of life).
    assert!(release >= Duration::from_secs(2), "{release:?}");
    // The button up stopped the RTP (replaceTrack(null)): the element got
    // no more packets than the browser had sent when it was released.
    let sent = json_number(&released, "packets_sent");
    let received = left.get::<u64>("received").unwrap();
    assert!(
        received <= sent + 2 && received + 10 >= sent,
        "browser sent {sent} packets while held, the element received {received}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn the_page_signs_in_and_hangs_up_when_the_tab_closes() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::files::TempDir::new("browser-auth");
    let wav = pulsed_tone_wav(&dir);
    let users = dir.write_mode(
        "users",
        "alice:browser-Talk-Secret-7:talker\nbob:browser-View-Secret-8:viewer\n",
        0o600,
    );
    let (pipeline, capture, _) = element::serve(&format!(
        "http-port=-1 discovery=false codecs=OPUS users-file={users}"
    ));
    let url = format!("http://127.0.0.1:{}/", http_port(&pipeline));

    // A viewer is told it may not talk.
    let viewer = Browser::start(&[
        "--wav",
        &wav,
        "--url",
        &url,
        "--hold-seconds",
        "1",
        "--user",
        "bob",
        "--password",
        "browser-View-Secret-8",
        "--end",
        "hangup",
        "--connect-timeout",
        "30",
    ]);
    viewer.wait("credentials", Duration::from_secs(60));
    let done = viewer.wait("done", Duration::from_secs(60));
    assert!(done.contains("may not talk"), "{done}");
    drop(viewer);

    // A talker signs in (digest computed by the page), talks, and closes
    // the tab: the page's DELETE frees the seat at once.
    let talker = Browser::start(&[
        "--wav",
        &wav,
        "--url",
        &url,
        "--hold-seconds",
        "2",
        "--user",
        "alice",
        "--password",
        "browser-Talk-Secret-7",
        "--end",
        "close",
        "--linger",
        "2",
    ]);
    talker.wait("credentials", Duration::from_secs(60));
    talk_event(&pipeline, "started", Duration::from_secs(30)).expect("alice talks");
    let from = capture.mark();
    talker.wait("released", Duration::from_secs(30));
    let to = capture.mark();
    let (loud_ms, f) = heard_between(&capture, from, to);
    assert!(
        (f - 440.0).abs() <= 10.0 && loud_ms >= 500,
        "{loud_ms} ms at {f} Hz"
    );
    talker.wait("ended", Duration::from_secs(30));
    let closed = Instant::now();
    talk_event(&pipeline, "left", Duration::from_secs(5)).expect("the closed tab left at once");
    println!(
        "tab closed: released after {} ms",
        closed.elapsed().as_millis()
    );
    assert_eq!(talker.finish(), 0);
    pipeline.set_state(gst::State::Null).unwrap();
}

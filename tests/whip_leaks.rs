//! WebRTC talkers leave nothing behind: after sessions that hang up, vanish
//! or are cut by the element stopping, the process has the threads and file
//! descriptors it had before. One test in its own binary: the counts are
//! the whole process's.

mod common;

use std::time::Duration;

use common::webrtc::{Codec, WhipSender};
use gst::prelude::*;

#[path = "common/element.rs"]
mod element;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Waits until a talk event `kind` is posted.
fn wait_event(pipeline: &gst::Pipeline, kind: &str) {
    element::talk_event(pipeline, kind, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no {kind} event"));
}

/// One session: POST, talk until `started`, then end it by `end`.
fn session(pipeline: &gst::Pipeline, http: u16, end: &str) {
    let mut sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(sender.post(http, &[]).status, 201);
    wait_event(pipeline, "started");
    match end {
        "delete" => assert_eq!(sender.delete(http, &[]).status, 200),
        "vanish" => sender.vanish(),
        _ => unreachable!(),
    }
    wait_event(pipeline, "left");
}

#[test]
fn webrtc_sessions_leave_no_threads_or_descriptors_behind() {
    let start = |props: &str| {
        let (pipeline, _capture, _) =
            element::serve(&format!("http-port=-1 discovery=false codecs=OPUS {props}"));
        let http = pipeline
            .by_name("bc")
            .unwrap()
            .property::<i32>("bound-http-port") as u16;
        (pipeline, http)
    };
    let (pipeline, http) = start("webrtc-timeout=1");
    // Warm up: the first session loads libnice, DTLS and the codecs.
    session(&pipeline, http, "delete");
    let settle = || std::thread::sleep(Duration::from_millis(300));
    settle();
    let (fds, threads) = (fd_count(), thread_count());
    for i in 0..6 {
        session(
            &pipeline,
            http,
            if i % 2 == 0 { "delete" } else { "vanish" },
        );
    }
    assert!(
        common::eventually(Duration::from_secs(5), || fd_count() <= fds
            && thread_count() <= threads),
        "fds {fds} -> {}, threads {threads} -> {}",
        fd_count(),
        thread_count()
    );
    // The element stops with a session still talking: no hang, and the
    // session's pipeline and threads go with it.
    let mut sender = WhipSender::new(Codec::Opus, 440.0, 0.3);
    assert_eq!(sender.post(http, &[]).status, 201);
    wait_event(&pipeline, "started");
    pipeline.set_state(gst::State::Null).unwrap();
    drop(sender);
    drop(pipeline);
    let (pipeline, _http) = start("");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        common::eventually(Duration::from_secs(5), || fd_count() <= fds
            && thread_count() <= threads),
        "after stop: fds {fds} -> {}, threads {threads} -> {}",
        fd_count(),
        thread_count()
    );
}

#!/usr/bin/python3
"""Talker benchmark: `onvifbackchannelsink` against rtspsrc `backchannel=onvif`.

Both talkers send PCMU into one receiving server in the same run: this
plugin's GstOnvifBackchannelMediaFactory on a GstRTSPOnvifServer (as in
benches/latency.py), whose `output` is a clock-synced udpsink on loopback
whose datagrams this script reads.  The peer is GStreamer's own rtspsrc with
`backchannel=onvif` and the `push-backchannel-sample` action signal, the way
examples/talk.rs (examples/common/talkback.rs) uses it.

Latency trials run each talker in a child process (this script with
--child), interleaved, a fresh RTSP session each trial.  The child sends a
1 kHz tone from its start for 0.3 s, 1 s of silence, the tone again for
0.3 s, then silence, from a live audiotestsrc (8 kHz mono S16LE, 20 ms
buffers) whose `volume` is switched at known running times.  It reports on
stdout (CLOCK_MONOTONIC, shared with this process):
- `start`: just before the talker pipeline is set to PLAYING (for rtspsrc
  the rtspsrc pipeline; its sender pipeline starts once PLAY is answered,
  as in talkback.rs);
- `onset`: each loud buffer after a quiet one at the talker's mouth: for
  ours entering onvifbackchannelsink (a probe on its sink pad), for rtspsrc
  the RTP packet pushed into the back channel.
Measured:
1. connect to first audio: `start` to the first loud datagram out of the
   server;
2. mouth to sink, steady state: the second `onset` (after 1 s of silence
   on a running stream) to the first loud datagram after it.

CPU trials run the talker as its user would, for --cpu-seconds once it is
connected: ours as `gst-launch-1.0 audiotestsrc is-live=true ...
! onvifbackchannelsink`, the peer as target/release/examples/talk (a 440 Hz
tone, 48 kHz mono in 10 ms buffers, for both).  CPU is the process's
utime+stime from /proc/PID/stat over that window, memory its peak RSS
(VmHWM).  The audio that came out of the server in the window is counted.

Run with Debian's interpreter after `cargo build --release --lib --examples`:

    /usr/bin/python3 benches/sink.py [--trials N] [--cpu-seconds S]
                                     [--transports udp,tcp] [--json FILE]
"""

import argparse
import bisect
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402
from rtsp_common import has_loud_sample  # noqa: E402

HOST = "127.0.0.1"
LOUD_THRESHOLD = 8000
RATE = 8000
BUFFER_SAMPLES = 160  # 20 ms buffers at the talker's source
TONE_HZ = 1000
# The talker's schedule, in seconds of its stream: tone, silence, tone, silence.
TONE1_END = 0.3
TONE2_START = TONE1_END + 1.0
TONE2_END = TONE2_START + 0.3
STREAM_END = TONE2_END + 0.3
CHILD_TIMEOUT = 20.0  # a latency trial's child must be done by then
CONNECT_TIMEOUT = 10.0  # RTSP set-up, both talkers
DETECT_WAIT = 1.0  # after a child ends, for the last datagrams
STOP_TIMEOUT = 5.0  # SIGINT to exit, before SIGKILL

TALKERS = ("ours", "rtspsrc")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def loud_s16(data):
    """True if S16LE `data` holds a sample beyond LOUD_THRESHOLD."""
    return has_loud_sample(data, LOUD_THRESHOLD)


def ulaw_to_linear(byte):
    """Decode one G.711 mu-law byte to a signed 16-bit sample."""
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 0x07)
    return 0x84 - magnitude if byte & 0x80 else magnitude - 0x84


ULAW_LOUD = bytes(1 if abs(ulaw_to_linear(b)) > LOUD_THRESHOLD else 0 for b in range(256))


# --------------------------------------------------------------------------
# The child: one talker, one trial
# --------------------------------------------------------------------------


def emit(event, value=None):
    """One line to the parent: event, monotonic time, optional text."""
    line = f"{event} {time.monotonic():.6f}"
    if value is not None:
        line += " " + str(value).replace("\n", " ")
    print(line, flush=True)


class Schedule:
    """Switches a `volume` element by the stream time of the buffers going
    into it (tone, silence, tone, silence), and calls `done` at the end."""

    def __init__(self, volume, done):
        self.volume = volume
        self.done = done
        self.first_pts = None
        self.ended = False
        volume.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._probe)

    def _probe(self, _pad, info):
        pts = info.get_buffer().pts
        if self.first_pts is None:
            self.first_pts = pts
        t = (pts - self.first_pts) / Gst.SECOND
        loud = t < TONE1_END or TONE2_START <= t < TONE2_END
        self.volume.set_property("volume", 1.0 if loud else 0.0)
        if t >= STREAM_END and not self.ended:
            self.ended = True
            GLib.idle_add(self.done)
        return Gst.PadProbeReturn.OK


class OnsetWatch:
    """Reports each loud buffer that follows a quiet one."""

    def __init__(self, is_loud):
        self.is_loud = is_loud
        self.was_loud = False

    def see(self, data):
        loud = self.is_loud(data)
        if loud and not self.was_loud:
            emit("onset")
        self.was_loud = loud


SOURCE = (f"audiotestsrc is-live=true wave=sine freq={TONE_HZ} samplesperbuffer={BUFFER_SAMPLES} "
          f"! audio/x-raw,format=S16LE,rate={RATE},channels=1 ! volume name=vol volume=0")


def child_finish(pipelines, code):
    """Stop the pipelines (TEARDOWN) and leave without finalizing anything:
    rtspsrc 1.22.0 may abort when finalized right after NULL (see
    examples/common/talkback.rs)."""
    for pipeline in pipelines:
        pipeline.set_state(Gst.State.NULL)
    emit("done" if code == 0 else "failed")
    sys.stdout.flush()
    os._exit(code)


def child_ours(url, transport, done):
    """audiotestsrc ! volume ! onvifbackchannelsink, mouth at the sink pad."""
    pipeline = Gst.parse_launch(
        f"{SOURCE} ! onvifbackchannelsink name=sink location={url} transport={transport} codecs=PCMU")
    watch = OnsetWatch(loud_s16)

    def mouth(_pad, info):
        buf = info.get_buffer()
        watch.see(buf.extract_dup(0, buf.get_size()))
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, mouth)
    bus = pipeline.get_bus()
    bus.enable_sync_message_emission()

    def on_element(_bus, msg):
        s = msg.get_structure()
        if s and s.get_name() == "onvifbackchannelsink" and s.get_string("event") == "connected":
            emit("connected", s.get_string("transport"))

    bus.connect("sync-message::element", on_element)
    Schedule(pipeline.get_by_name("vol"), done)
    emit("start")
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        emit("error", msg.parse_error()[0].message if msg else "PLAYING failed")
        child_finish([pipeline], 1)
    return [pipeline]


def child_rtspsrc(url, transport, done):
    """rtspsrc backchannel=onvif, as examples/common/talkback.rs; mouth at
    the push into the back channel."""
    rtsp = Gst.Pipeline.new("rtsp")
    src = Gst.ElementFactory.make("rtspsrc")
    src.set_property("location", url)
    src.set_property("latency", 100)
    Gst.util_set_object_arg(src, "backchannel", "onvif")
    if transport == "tcp":
        Gst.util_set_object_arg(src, "protocols", "tcp")
    rtsp.add(src)
    state = {"stream": None, "pt": None}
    playing = threading.Event()

    def select_stream(_src, num, caps):
        s = caps.get_structure(0)
        if s.has_field("a-sendonly"):
            state["stream"] = num
            state["pt"] = s.get_value("payload")
        return True

    def pad_added(_src, pad):
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("async", False)
        rtsp.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))

        def first(_pad, _info):
            if not playing.is_set():
                playing.set()
                emit("connected", transport)
            return Gst.PadProbeReturn.REMOVE

        pad.add_probe(Gst.PadProbeType.BUFFER, first)

    src.connect("select-stream", select_stream)
    src.connect("pad-added", pad_added)
    emit("start")
    rtsp.set_state(Gst.State.PLAYING)
    if not playing.wait(CONNECT_TIMEOUT) or state["stream"] is None:
        emit("error", "rtspsrc: no back channel or no data after PLAY")
        child_finish([rtsp], 1)

    sender = Gst.parse_launch(
        f"{SOURCE} ! mulawenc ! rtppcmupay pt={state['pt'] or 0} "
        "min-ptime=20000000 max-ptime=20000000 ! appsink name=rtp sync=true emit-signals=true")
    # rtspsrc 1.22.0 takes the caller's reference of the sample (fixed in
    # 1.22.1, gst-plugins-good commit 3ce43c8): give it one more there.
    leak = src.get_factory().get_plugin().get_version() == "1.22.0"
    if leak:
        import ctypes
        libgst = ctypes.CDLL("libgstreamer-1.0.so.0")
        libgst.gst_mini_object_ref.argtypes = [ctypes.c_void_p]
        libgst.gst_mini_object_ref.restype = ctypes.c_void_p
    pointer = re.compile(r"GstSample at (0x[0-9a-fA-F]+)")
    watch = OnsetWatch(lambda payload: any(ULAW_LOUD[b] for b in payload))

    def new_sample(appsink):
        sample = appsink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.EOS
        buf = sample.get_buffer()
        watch.see(buf.extract_dup(12, buf.get_size() - 12))  # no CSRC/extension here
        if leak:
            libgst.gst_mini_object_ref(int(pointer.search(repr(sample)).group(1), 16))
        return src.emit("push-backchannel-sample", state["stream"], sample)

    sender.get_by_name("rtp").connect("new-sample", new_sample)
    Schedule(sender.get_by_name("vol"), done)
    sender.set_state(Gst.State.PLAYING)
    return [sender, rtsp]


def child_main(talker, url, transport):
    """One trial of one talker; reports on stdout, exits when done."""
    Gst.init(None)
    loop = GLib.MainLoop()
    pipelines = (child_ours if talker == "ours" else child_rtspsrc)(url, transport, loop.quit)

    def on_message(_bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            emit("error", f"{err.message} ({debug})")
            loop.quit()
            child_finish(pipelines, 1)
        return True

    for pipeline in pipelines:
        pipeline.get_bus().add_watch(GLib.PRIORITY_DEFAULT, on_message)
    GLib.timeout_add_seconds(int(CHILD_TIMEOUT), lambda: (emit("error", "child timeout"),
                                                          child_finish(pipelines, 1)))
    loop.run()
    child_finish(pipelines, 0)


# --------------------------------------------------------------------------
# The parent: server, sink detector, trials
# --------------------------------------------------------------------------


class LoudLog:
    """Owns the UDP socket the server's output sends to; logs the receive
    time and sample count of every loud datagram."""

    def __init__(self):
        import socket
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.times, self.samples = [], []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="udp-rx", daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                data = self.sock.recv(65536)
            except OSError:
                continue
            now = time.monotonic()
            if loud_s16(data):
                self.times.append(now)
                self.samples.append(len(data) // 2)

    def first_after(self, t):
        """Receive time of the first loud datagram at or after `t`, or None."""
        i = bisect.bisect_left(self.times, t)
        return self.times[i] if i < len(self.times) else None

    def loud_seconds(self, start, end):
        """Seconds of audio in the loud datagrams received in [start, end)."""
        lo, hi = bisect.bisect_left(self.times, start), bisect.bisect_left(self.times, end)
        return sum(self.samples[lo:hi]) / RATE

    def close(self):
        self.stopped.set()
        self.thread.join(timeout=1.0)
        self.sock.close()


class Child:
    """A child process whose stdout lines are queued; stderr kept in a file."""

    def __init__(self, argv, env=None):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL, env=env, text=True)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))
        self.lines.put((time.monotonic(), None))

    def wait_line(self, match, deadline):
        """The first line satisfying match(line) before the deadline, with its
        arrival time; (None, None) at EOF or timeout."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            try:
                at, line = self.lines.get(timeout=left)
            except queue.Empty:
                return None, None
            if line is None:
                return None, None
            if match(line):
                return at, line

    def stop(self, sig=signal.SIGINT):
        """Signal it, then kill it if it does not exit in time."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.reader.join(timeout=1.0)

    def stderr_tail(self, n=400):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-n:].strip()


def latency_trial(url, talker, transport, log, plugin_dir):
    """Run one child trial; return (connect_to_audio_s, mouth_to_sink_s,
    start_to_connected_s, error)."""
    env = dict(os.environ, GST_PLUGIN_PATH=plugin_dir)
    child = Child([sys.executable, os.path.abspath(__file__), "--child", talker,
                   "--url", url, "--transport", transport], env)
    events = {}
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT + 2.0
        while True:
            _, line = child.wait_line(lambda _l: True, deadline)
            if line is None:
                return None, None, None, f"child ended or timed out; stderr: {child.stderr_tail()}"
            name, _, rest = line.partition(" ")
            when, _, text = rest.partition(" ")
            if name == "error":
                return None, None, None, text
            if name in ("start", "connected", "onset", "done", "failed"):
                try:
                    events.setdefault(name, []).append(float(when))
                except ValueError:
                    continue
            if name in ("done", "failed"):
                break
    finally:
        child.stop()
    time.sleep(DETECT_WAIT)  # the last datagrams (the child sent silence after the tone)
    start = events.get("start", [None])[0]
    onsets = events.get("onset", [])
    if start is None or len(onsets) < 2:
        return None, None, None, f"incomplete trial: {events}"
    first = log.first_after(start)
    steady = log.first_after(onsets[1])
    connect = first - start if first is not None and first < onsets[1] else None
    mouth = steady - onsets[1] if steady is not None and steady - onsets[1] < DETECT_WAIT else None
    err = None if connect is not None and mouth is not None else "no loud datagram in time"
    setup = events["connected"][0] - start if events.get("connected") else None
    return connect, mouth, setup, err


def read_cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def read_status_kb(pid, key):
    """A kB field (VmRSS, VmHWM) of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def cpu_trial(url, talker, transport, seconds, log, plugin_dir, talk_bin):
    """Run the talker as a process for `seconds` once connected; return a dict."""
    env = dict(os.environ, GST_PLUGIN_PATH=plugin_dir)
    if talker == "ours":
        argv = ["gst-launch-1.0", "-m", "audiotestsrc", "is-live=true", "freq=440", "volume=0.5",
                "samplesperbuffer=480", "!", "audio/x-raw,rate=48000,channels=1", "!",
                "onvifbackchannelsink", f"location={url}", f"transport={transport}"]
        connected = lambda l: "onvifbackchannelsink" in l and "connected" in l  # noqa: E731
    else:
        argv = [talk_bin, url, "--codec", "PCMU", "--seconds", str(int(seconds) + 15)]
        if transport == "tcp":
            argv.append("--tcp")
        connected = lambda l: l.startswith("talking to")  # noqa: E731
    child = Child(argv, env)
    try:
        at, line = child.wait_line(connected, time.monotonic() + CONNECT_TIMEOUT)
        if line is None:
            return {"error": f"not connected; stderr: {child.stderr_tail()}"}
        pid = child.proc.pid
        ticks0, t0 = read_cpu_ticks(pid), time.monotonic()
        rss_max = 0
        while time.monotonic() < t0 + seconds:
            if child.proc.poll() is not None:
                return {"error": f"exited early; stderr: {child.stderr_tail()}"}
            rss_max = max(rss_max, read_status_kb(pid, "VmRSS") or 0)
            time.sleep(min(0.5, max(0.0, t0 + seconds - time.monotonic())))
        ticks1, t1 = read_cpu_ticks(pid), time.monotonic()
        hwm = read_status_kb(pid, "VmHWM")
    finally:
        child.stop()
    tck = os.sysconf("SC_CLK_TCK")
    return {"cpu_pct": round(100.0 * (ticks1 - ticks0) / tck / (t1 - t0), 2),
            "rss_max_mb": round(rss_max / 1024, 1), "vmhwm_mb": round((hwm or 0) / 1024, 1),
            "audio_out_s": round(log.loud_seconds(t0, t1), 2), "window_s": round(t1 - t0, 2)}


def percentile(values, pct):
    """Linear-interpolated percentile of a non-empty list."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stats(values):
    if not values:
        return {}
    return {"p50": round(percentile(values, 50), 2), "p90": round(percentile(values, 90), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}


def start_server(plugin_dir, udp_port):
    """Our factory on a GstRTSPOnvifServer (benches/latency.py's), PCMU."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import latency  # noqa: E402 (the same server and factory as the latency benchmark)
    gtype, why = latency.load_our_type(plugin_dir)
    if gtype is None:
        raise SystemExit(why)
    return latency.ServerThread(latency.our_factory(gtype, udp_port, "exclusive"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="latency trials per talker")
    parser.add_argument("--cpu-seconds", type=float, default=30.0,
                        help="CPU window per talker (0: skip the CPU measure)")
    parser.add_argument("--transports", default="udp,tcp",
                        help="comma-separated: udp, tcp (each talker over each)")
    parser.add_argument("--json", metavar="FILE", help="write every trial as JSON")
    parser.add_argument("--plugin-dir", default=os.path.join(REPO, "target", "release"))
    parser.add_argument("--talk-bin", default=os.path.join(REPO, "target", "release", "examples", "talk"))
    parser.add_argument("--child", choices=TALKERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--transport", default="udp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.url, args.transport)
        return 0

    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    if not set(transports) <= {"udp", "tcp"}:
        parser.error("--transports: udp and/or tcp")
    plugin_dir = os.path.abspath(args.plugin_dir)
    if args.cpu_seconds > 0 and not os.access(args.talk_bin, os.X_OK):
        parser.error(f"{args.talk_bin} missing: cargo build --release --examples")
    Gst.init(None)
    log = LoudLog()
    server = start_server(plugin_dir, log.port)
    url = f"rtsp://{HOST}:{server.port}/stream"
    print(f"server {url}, output to udp port {log.port}", flush=True)
    configs = [(talker, t) for t in transports for talker in TALKERS]
    results = {f"{talker}/{t}": {"talker": talker, "transport": t, "setup_ms": [],
                                  "connect_ms": [], "mouth_ms": [], "errors": [], "cpu": []}
               for talker, t in configs}
    try:
        for i in range(args.trials):
            # Alternate the order, so neither talker always follows the other.
            for talker, t in (configs if i % 2 == 0 else configs[::-1]):
                r = results[f"{talker}/{t}"]
                connect, mouth, setup, err = latency_trial(url, talker, t, log, plugin_dir)
                if setup is not None:
                    r["setup_ms"].append(round(setup * 1000, 2))
                if connect is not None:
                    r["connect_ms"].append(round(connect * 1000, 2))
                if mouth is not None:
                    r["mouth_ms"].append(round(mouth * 1000, 2))
                if err:
                    r["errors"].append(f"trial {i + 1}: {err}")
                print(f"  trial {i + 1:2d} {talker:>7}/{t}: connect to first audio "
                      + (f"{connect * 1000:7.1f} ms" if connect is not None else "   FAILED")
                      + (f" (connected at {setup * 1000:5.1f})" if setup is not None else "")
                      + ", mouth to sink "
                      + (f"{mouth * 1000:6.1f} ms" if mouth is not None else "FAILED")
                      + (f"  ({err})" if err else ""), flush=True)
        if args.cpu_seconds > 0:
            for talker, t in configs:
                r = results[f"{talker}/{t}"]
                cpu = cpu_trial(url, talker, t, args.cpu_seconds, log, plugin_dir, args.talk_bin)
                r["cpu"].append(cpu)
                print(f"  cpu {talker:>7}/{t}: {cpu}", flush=True)
                time.sleep(DETECT_WAIT)
    finally:
        server.stop()
        log.close()

    print()
    print(f"{'talker':<14} {'connected':>16} {'connect to first audio':>24} {'mouth to sink':>18} "
          f"{'CPU':>7} {'peak RSS':>9} {'audio out':>10}")
    print(f"{'':<14} {'p50 / p90 (ms)':>16} {'p50 / p90 (ms)':>24} {'p50 / p90 (ms)':>18} {'%':>7} {'MB':>9} {'s':>10}")
    for key, r in results.items():
        r["setup"] = stats(r["setup_ms"])
        r["connect"], r["mouth"] = stats(r["connect_ms"]), stats(r["mouth_ms"])
        u = f"{r['setup']['p50']:.1f} / {r['setup']['p90']:.1f}" if r["setup"] else "-"
        c = f"{r['connect']['p50']:.1f} / {r['connect']['p90']:.1f}" if r["connect"] else "-"
        m = f"{r['mouth']['p50']:.1f} / {r['mouth']['p90']:.1f}" if r["mouth"] else "-"
        cpu = r["cpu"][0] if r["cpu"] else {}
        print(f"{key:<14} {u:>16} {c:>24} {m:>18} {cpu.get('cpu_pct', '-'):>7} "
              f"{cpu.get('vmhwm_mb', '-'):>9} {cpu.get('audio_out_s', '-'):>10}")
    for key, r in results.items():
        for err in r["errors"] + [c["error"] for c in r["cpu"] if "error" in c]:
            print(f"  {key}: {err}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"trials": args.trials, "cpu_seconds": args.cpu_seconds,
                       "gstreamer": Gst.version_string(), "results": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

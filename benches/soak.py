#!/usr/bin/python3
"""Soak test: connect, talk, disconnect, many times, against ONE server.

One server process runs for the whole soak; raw RTSP clients (plain Python
sockets, one after the other) each DESCRIBE with the ONVIF back-channel
Require tag, SETUP every forward track and the back channel, PLAY, send
0.2-0.5 s of 20 ms PCMU RTP packets of a 440 Hz tone on the back channel and
disconnect.  Cycles rotate through four kinds:

    tcp-teardown  interleaved RTP on the back channel's channel, then TEARDOWN
    tcp-drop      the same, then the connection is closed without TEARDOWN
    udp-teardown  RTP from the bound client_port socket to the server_port of
                  the back channel's SETUP reply, then TEARDOWN
    udp-drop      the same, then the RTSP connection and UDP sockets are closed

After the first --baseline-after cycles (50) and after the last one (each
after --settle seconds with no client), the server's resident memory
(VmRSS), open file descriptors (/proc/PID/fd) and threads (/proc/PID/status)
are read.  The end figures must stay within the margins of the baseline
(RSS: the larger of +10 % and +8 MB; fds +5; threads +5), and a final client
must still be served and heard (ours: its talk-event `started` appears; for
upstream, which reports nothing, every request of a full talk must succeed).

Servers (`--impl`, default ours; `both` runs ours then upstream):
  ours      target/release/examples/embed with output "fakesink sync=false"
            (its stdout gives the port and every talk event, which shows
            which talkers were heard, refused, and when each one left)
  upstream  benches/serve.py --impl upstream: gst-rtsp-server's own
            GstRTSPOnvifMediaFactory with a PCMU back channel
Both serve the forward streams of examples/embed.rs (VP8 + PCMU).

Whether the sessions of clients that dropped are reaped, and when, is seen
twice.  The server runs with GST_DEBUG=rtspsession:5, whose "init session" and
"finalize session" lines give the GstRTSPSession objects alive, and per kind
how long after the disconnect each was finalized (gst-rtsp-server keeps a
dropped client's session in its pool until the application's
gst_rtsp_session_pool_cleanup() finds it timed out: embed calls it every 2 s,
serve.py never).  For ours, a talker's talk-event `left` comes when its media
is unprepared, which a dropped connection does at once.

Run with Debian's interpreter (serve.py needs python3-gi and
gir1.2-gst-rtsp-server-1.0; this script itself only needs the stdlib):

    cargo build --release --lib --examples
    /usr/bin/python3 benches/soak.py [--cycles 1000] [--impl ours|upstream|both]
                                     [--json out.json] [--quiet-ms 500]
                                     [--kinds tcp-teardown,udp-drop]

Upstream 1.22 can deadlock on a TEARDOWN that arrives while back-channel
audio still flows (the server then answers nobody): give it --quiet-ms 500.

Exits 1 if a server stopped serving, a margin was exceeded, a cycle failed
or (ours) a talker was not heard.
"""

import argparse
import json
import math
import os
import queue
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from rtsp_common import (RtspError, await_response, interleaved_channel, parse_responses,
                         linear_to_ulaw, request_text, sdp_tracks, server_rtp_port)

HOST = "127.0.0.1"
MOUNT = "/stream"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
SERVE_PY = os.path.join(BENCH_DIR, "serve.py")
SERVER_PYTHON = "/usr/bin/python3"
USER_AGENT = "onvif-backchannel-soak"

# The forward streams of examples/embed.rs, so both servers send the same.
FORWARD_LAUNCH = (
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 "
    "! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! rtpvp8pay name=pay0 pt=96 "
    "audiotestsrc is-live=true wave=sine freq=440 volume=0.1 "
    "! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0 )"
)
OUR_OUTPUT = "fakesink sync=false"

KINDS = ("tcp-teardown", "tcp-drop", "udp-teardown", "udp-drop")

CLOCK_RATE = 8000
PACKET_SAMPLES = 160  # 20 ms of 8 kHz PCMU
PACKET_SECONDS = PACKET_SAMPLES / CLOCK_RATE
TONE_HZ = 440
TONE_AMPLITUDE = 8000
TALK_MS = (200, 500)  # each cycle talks for a random multiple of 20 ms in this range
FINAL_TALK_MS = 1000

RTSP_TIMEOUT = 5.0  # any RTSP response
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 15.0
HEARD_TIMEOUT = 3.0  # final client: until its talk-event started
MAX_CONSECUTIVE_FAILURES = 10  # then the server counts as no longer serving
SAMPLE_EVERY = 50  # cycles between trend samples

# Margins: end figures against those after the baseline cycles.
RSS_MARGIN_PCT = 10.0
RSS_MARGIN_MB = 8.0
FD_MARGIN = 5
THREAD_MARGIN = 5


# --------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------


def tone_payloads():
    """One second of the tone as 50 PCMU payloads of 160 bytes (loops seamlessly)."""
    samples = bytes(
        linear_to_ulaw(round(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * n / CLOCK_RATE)))
        for n in range(CLOCK_RATE)
    )
    return [samples[i:i + PACKET_SAMPLES] for i in range(0, CLOCK_RATE, PACKET_SAMPLES)]


# --------------------------------------------------------------------------
# Server process and its /proc figures
# --------------------------------------------------------------------------


def socket_inodes():
    """{inode: 'tcp'|'udp'} of every IPv4/IPv6 TCP and UDP socket on the host."""
    kinds = {}
    for name in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/net/{name}") as table:
                next(table)
                for line in table:
                    fields = line.split()
                    kinds[fields[9]] = name.rstrip("6")
        except OSError:
            pass
    return kinds


def proc_figures(pid):
    """RSS (MB), peak RSS (MB), threads, fds and what the fds are, of `pid`."""
    figures = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                figures["rss_mb"] = round(int(value.split()[0]) / 1024, 1)
            elif key == "VmHWM":
                figures["peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
            elif key == "Threads":
                figures["threads"] = int(value)
    inodes = socket_inodes()
    counts = {"tcp": 0, "udp": 0, "other_sockets": 0, "pipes": 0, "eventfds": 0, "other": 0}
    fd_dir = f"/proc/{pid}/fd"
    names = os.listdir(fd_dir)
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            counts[inodes.get(target[8:-1], "other_sockets")] += 1
        elif target.startswith("pipe:"):
            counts["pipes"] += 1
        elif "eventfd" in target:
            counts["eventfds"] += 1
        else:
            counts["other"] += 1
    figures["fds"] = len(names)
    figures["fd_kinds"] = counts
    return figures


# A talk event line of examples/embed:
#   talk-event started: onvifbackchannel-talk, event=(string)started, talker=(guint64)3, ...
EVENT_LINE = re.compile(r"^talk-event (\w+): ")
EVENT_FIELD = re.compile(r'(\w+)=\((\w+)\)(?:"((?:[^"\\]|\\.)*)"|([^,;]*))')


def parse_event(line):
    """The fields of a talk event line, or None if `line` is not one."""
    if not EVENT_LINE.match(line):
        return None
    fields = {}
    for name, _type, quoted, plain in EVENT_FIELD.findall(line):
        fields[name] = quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted else plain
    return fields


# gst-rtsp-server's rtspsession debug category (level 5) on the server's stderr.
# Ours, onvifbackchannel-forward at level 4: the forward pipeline (re)starts.
FORWARD_START = "starting the forward pipeline"
SESSION_LINE = re.compile(
    r"gst_rtsp_session_(?:init|finalize):.* (init|finalize) session (0x[0-9a-f]+)")


class Server:
    """One server process; stdout and stderr read by threads.

    Talk events (ours) are kept with the monotonic time they were read.
    """

    def __init__(self, impl, target_dir, forward_linger_ms=None):
        env = dict(os.environ)
        if impl == "ours":
            plugin_dir = os.path.join(target_dir, "release")
            embed = os.path.join(plugin_dir, "examples", "embed")
            for path in (embed, os.path.join(plugin_dir, "libgstonvifbackchannel.so")):
                if not os.path.isfile(path):
                    raise RuntimeError(f"{path} does not exist "
                                       "(cargo build --release --lib --examples)")
            cmd = [embed, "--port", "0", OUR_OUTPUT]
            if forward_linger_ms is not None:
                cmd[3:3] = ["--forward-linger", str(forward_linger_ms)]
            env["GST_PLUGIN_PATH"] = plugin_dir
        else:
            cmd = [SERVER_PYTHON, SERVE_PY, "--impl", "upstream", "--launch", FORWARD_LAUNCH]
        # GstRTSPSession objects: "init session 0x..." / "finalize session 0x...".
        # Ours: "starting the forward pipeline" each time it (re)starts.
        env["GST_DEBUG"] = ",".join(filter(None, [env.get("GST_DEBUG"), "rtspsession:5",
                                                  "onvifbackchannel-forward:4"]))
        env["GST_DEBUG_NO_COLOR"] = "1"
        self.impl = impl
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines = queue.Queue()
        self.stderr = []
        self.lock = threading.Lock()
        self.events = []  # (time, fields)
        self.sessions = []  # (time, "init" | "finalize", pointer)
        self.forward_starts = 0  # ours: forward pipeline (re)starts
        self.threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        try:
            self.port = self._wait_port()
        except BaseException:
            self.stop()
            raise

    def _read_stdout(self):
        """Keep the talk events; hand every other line to _wait_port."""
        for line in self.proc.stdout:
            now = time.monotonic()
            fields = parse_event(line)
            if fields is not None:
                with self.lock:
                    self.events.append((now, fields))
            else:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self):
        """Keep session lifetimes, and the last other lines (for the report)."""
        for line in self.proc.stderr:
            if FORWARD_START in line:
                with self.lock:
                    self.forward_starts += 1
                continue
            match = SESSION_LINE.search(line)
            if match:
                with self.lock:
                    self.sessions.append((time.monotonic(), match.group(1), match.group(2)))
                continue
            self.stderr.append(line.rstrip("\n"))
            del self.stderr[:-50]

    def _wait_port(self):
        """Wait (bounded) for `PORT n` (serve.py) or `listening on ...:n/` (embed)."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise RuntimeError("server printed no port in time") from None
            if line is None:
                raise RuntimeError("server exited: " + " | ".join(self.stderr[-5:]))
            match = re.match(r"^(?:PORT (\d+)|listening on rtsp://[^:]+:(\d+)/)", line)
            if match:
                return int(match.group(1) or match.group(2))

    def live_sessions(self):
        """GstRTSPSession objects created and not finalized."""
        with self.lock:
            return sum(1 if what == "init" else -1 for _, what, _ in self.sessions)

    def session_log(self):
        with self.lock:
            return list(self.sessions)

    def alive(self):
        return self.proc.poll() is None

    def figures(self):
        figures = proc_figures(self.proc.pid)
        figures["rtsp_sessions"] = self.live_sessions()
        return figures

    def events_since(self, index):
        """Events from position `index` on, and the next position."""
        with self.lock:
            return self.events[index:], len(self.events)

    def wait_event(self, event, session, timeout):
        """Wait (bounded) for talk event `event` of `session`; its time or None."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                for when, fields in self.events:
                    if fields.get("event") == event and fields.get("session") == session:
                        return when
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def stop(self):
        """SIGTERM, bounded wait, SIGKILL if needed; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stderr.append("soak: no exit after SIGTERM, killed")
                self.proc.kill()
                self.proc.wait(timeout=5.0)
        for thread in self.threads:
            thread.join(timeout=2.0)
        return self.proc.returncode


# --------------------------------------------------------------------------
# One client
# --------------------------------------------------------------------------


def udp_pair():
    """Two bound UDP sockets on consecutive ports, the first even."""
    while True:
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((HOST, 0))
        port = rtp.getsockname()[1]
        if port % 2 == 0 and port < 65535:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind((HOST, port + 1))
                return rtp, rtcp
            except OSError:
                rtcp.close()
        rtp.close()


class Connection:
    """One RTSP connection; a thread reads it, queues the responses and
    drops interleaved frames (forward media)."""

    def __init__(self, port):
        self.url = f"rtsp://{HOST}:{port}{MOUNT}"
        self.sock = socket.create_connection((HOST, port), timeout=RTSP_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.responses = queue.Queue()
        self.closed = threading.Event()
        self.stopping = threading.Event()
        self.cseq = 0
        self.session = None
        self.reader = threading.Thread(target=self._read, name="rtsp-reader", daemon=True)
        self.reader.start()

    def _read(self):
        """Read and parse until the peer closes or close() is called."""
        buf = bytearray()
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        try:
            while not self.stopping.is_set():
                if not selector.select(timeout=0.05):
                    continue
                try:
                    chunk = self.sock.recv(65536)
                except (BlockingIOError, socket.timeout):
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                buf += chunk
                self._parse(buf)
        finally:
            selector.close()
            self.closed.set()

    def _parse(self, buf):
        """Consume complete messages from `buf`."""
        parse_responses(buf, self.responses)

    def request(self, method, url, extra=None):
        """Send a request and wait (bounded) for its response: (headers, body)."""
        self.cseq += 1
        self.sock.sendall(request_text(method, url, self.cseq, self.session, extra,
                                       USER_AGENT))
        _, headers, body = await_response(self.responses, self.closed, self.cseq, method,
                                          time.monotonic() + RTSP_TIMEOUT, RTSP_TIMEOUT)
        if "session" in headers:
            self.session = headers["session"].split(";")[0].strip()
        return headers, body

    def close(self):
        """Drop the connection (no TEARDOWN) and stop the reader."""
        self.stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.reader.join(timeout=2.0)
        self.sock.close()


class Talk:
    """One client: set up, play, talk, disconnect.  `session` is known after
    the first SETUP; `phase` says how far it got (for error messages)."""

    def __init__(self, port, kind, talk_ms, payloads, quiet_ms=0):
        self.port = port
        self.quiet_ms = quiet_ms
        self.transport, self.ending = kind.split("-")
        self.talk_ms = talk_ms
        self.payloads = payloads
        self.session = None
        self.phase = "connect"
        self.sent = 0
        # When the client ended the session: sent TEARDOWN, or dropped.
        self.disconnected_at = None

    def run(self):
        """The whole cycle; raises RtspError or OSError on failure."""
        conn = Connection(self.port)
        udp = []
        try:
            self.phase = "DESCRIBE"
            headers, sdp = conn.request("DESCRIBE", conn.url, {"Accept": "application/sdp"})
            base = headers.get("content-base", conn.url + "/")
            send = None
            for index, (control, backchannel) in enumerate(sdp_tracks(sdp, base)):
                self.phase = "SETUP"
                if self.transport == "tcp":
                    transport = f"RTP/AVP/TCP;unicast;interleaved={2 * index}-{2 * index + 1}"
                else:
                    rtp, rtcp = udp_pair()
                    udp += [rtp, rtcp]
                    transport = f"RTP/AVP;unicast;client_port={rtp.getsockname()[1]}-" \
                                f"{rtcp.getsockname()[1]}"
                headers, _ = conn.request("SETUP", control, {"Transport": transport})
                self.session = conn.session
                if backchannel:
                    reply = headers.get("transport", "")
                    if self.transport == "tcp":
                        send = self._interleaved_sender(conn.sock, interleaved_channel(reply))
                    else:
                        send = self._udp_sender(rtp, server_rtp_port(reply))
            self.phase = "PLAY"
            # No Range header: upstream 1.22 answers 503 to one on a media
            # with a back channel and a seekable forward source.
            conn.request("PLAY", conn.url)
            self.phase = "talk"
            self._talk(send)
            time.sleep(self.quiet_ms / 1000)
            self.phase = self.ending
            self.disconnected_at = time.monotonic()
            if self.ending == "teardown":
                conn.request("TEARDOWN", conn.url)
        finally:
            conn.close()
            for sock in udp:
                sock.close()
            if self.disconnected_at is None:
                self.disconnected_at = time.monotonic()

    @staticmethod
    def _interleaved_sender(sock, channel):
        return lambda packet: sock.sendall(
            struct.pack("!cBH", b"$", channel, len(packet)) + packet)

    @staticmethod
    def _udp_sender(sock, server_port):
        return lambda packet: sock.sendto(packet, (HOST, server_port))

    def _talk(self, send):
        """talk_ms of the tone in 20 ms packets, paced in real time."""
        ssrc = random.getrandbits(32)
        seq = random.getrandbits(16)
        rtp_ts = random.getrandbits(32)
        start = time.monotonic()
        for n in range(self.talk_ms // 20):
            delay = start + n * PACKET_SECONDS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            header = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, seq, rtp_ts, ssrc)
            send(header + self.payloads[n % len(self.payloads)])
            seq = (seq + 1) & 0xFFFF
            rtp_ts = (rtp_ts + PACKET_SAMPLES) & 0xFFFFFFFF
            self.sent += 1


# --------------------------------------------------------------------------
# The soak
# --------------------------------------------------------------------------


def settle_figures(server, seconds):
    """Figures after `seconds` with no client (the server finishes cleaning up)."""
    time.sleep(seconds)
    return server.figures()


def margins_report(base, end):
    """[(name, base, end, limit, ok)] for RSS, fds, threads."""
    rss_limit = base["rss_mb"] + max(base["rss_mb"] * RSS_MARGIN_PCT / 100, RSS_MARGIN_MB)
    return [
        ("RSS MB", base["rss_mb"], end["rss_mb"], round(rss_limit, 1),
         end["rss_mb"] <= rss_limit),
        ("fds", base["fds"], end["fds"], base["fds"] + FD_MARGIN,
         end["fds"] <= base["fds"] + FD_MARGIN),
        ("threads", base["threads"], end["threads"], base["threads"] + THREAD_MARGIN,
         end["threads"] <= base["threads"] + THREAD_MARGIN),
    ]


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def talker_analysis(cycles, events):
    """Per kind, from the talk events: heard (started), refused, left and how
    long after the disconnect `left` came.  `cycles` are the records of the
    cycles that got a session."""
    by_session = {}
    for when, fields in events:
        session = fields.get("session", "")
        if session:
            by_session.setdefault(session, []).append((when, fields.get("event")))
    per_kind = {}
    for kind in KINDS:
        mine = [c for c in cycles if c["kind"] == kind and c["session"]]
        heard = refused = left = 0
        delays = []
        lingering = []
        for cycle in mine:
            seen = by_session.get(cycle["session"], [])
            kinds_seen = {event for _, event in seen}
            heard += "started" in kinds_seen
            refused += "refused" in kinds_seen
            left_times = [when for when, event in seen if event == "left"]
            if left_times:
                left += 1
                delays.append(1000 * (left_times[0] - cycle["disconnected_at"]))
            else:
                lingering.append(cycle["session"])
        per_kind[kind] = {
            "cycles": len(mine), "heard": heard, "refused": refused, "left": left,
            "left_delay_ms_p50": round(percentile(delays, 0.5), 1) if delays else None,
            "left_delay_ms_p99": round(percentile(delays, 0.99), 1) if delays else None,
            "left_delay_ms_max": round(max(delays), 1) if delays else None,
            "not_left": lingering[:10], "not_left_count": len(lingering),
        }
    return per_kind


def session_analysis(cycles, log):
    """Per kind, from the rtspsession log: GstRTSPSession objects created by
    the cycles, how many were finalized, and how long after the disconnect.

    A session belongs to the cycle during which it was created (cycles run one
    after the other); a finalize belongs to the last init of its pointer.
    """
    windows = [(c["started_at"], c["disconnected_at"], c) for c in cycles]
    owner = {}  # pointer -> cycle record
    created = {}  # id(cycle record) -> count
    finalized = {kind: [] for kind in KINDS}
    position = 0
    for when, what, pointer in log:
        if what == "init":
            while position < len(windows) and windows[position][1] < when:
                position += 1
            if position < len(windows) and windows[position][0] <= when:
                cycle = windows[position][2]
                owner[pointer] = cycle
                created[id(cycle)] = created.get(id(cycle), 0) + 1
            else:
                owner.pop(pointer, None)  # e.g. the final client's
        else:
            cycle = owner.pop(pointer, None)
            if cycle is not None:
                finalized[cycle["kind"]].append(1000 * (when - cycle["disconnected_at"]))
    per_kind = {}
    for kind in KINDS:
        made = sum(created.get(id(c), 0) for c in cycles if c["kind"] == kind)
        delays = finalized[kind]
        per_kind[kind] = {
            "created": made, "finalized": len(delays),
            "alive_at_end": sum(1 for c in owner.values() if c["kind"] == kind),
            "finalize_ms_p50": round(percentile(delays, 0.5), 1) if delays else None,
            "finalize_ms_max": round(max(delays), 1) if delays else None,
        }
    return per_kind


def run_soak(impl, args, payloads):
    """Run one server through the cycles; returns its result record."""
    record = {"impl": impl, "cycles_requested": args.cycles, "cycles_done": 0,
              "failures": 0, "errors": [], "samples": [], "serving_at_end": False,
              "ok": False}
    print(f"== {impl}: {args.cycles} cycles ({', '.join(args.kinds)} in turn)", flush=True)
    try:
        server = Server(impl, args.target_dir,
                        args.forward_linger_ms if impl == "ours" else None)
    except RuntimeError as exc:
        record["errors"].append(f"server did not start: {exc}")
        print(f"   server did not start: {exc}", flush=True)
        return record
    rng = random.Random(args.seed)
    cycles = []
    consecutive = 0
    record["start"] = server.figures()
    started = time.monotonic()
    soak_seconds = 0.0
    try:
        for i in range(args.cycles):
            if not server.alive():
                record["errors"].append(f"server exited before cycle {i + 1}")
                break
            kind = args.kinds[i % len(args.kinds)]
            talk = Talk(server.port, kind, 20 * rng.randint(TALK_MS[0] // 20, TALK_MS[1] // 20),
                        payloads, args.quiet_ms)
            cycle_start = time.monotonic()
            try:
                talk.run()
                consecutive = 0
            except (RtspError, OSError, KeyError, ValueError) as exc:
                record["failures"] += 1
                consecutive += 1
                if len(record["errors"]) < 20:
                    record["errors"].append(f"cycle {i + 1} ({kind}, {talk.phase}): {exc}")
            soak_seconds += time.monotonic() - cycle_start
            cycles.append({"index": i + 1, "kind": kind, "session": talk.session,
                           "started_at": cycle_start,
                           "talk_ms": talk.talk_ms, "disconnected_at": talk.disconnected_at})
            record["cycles_done"] = i + 1
            if consecutive >= MAX_CONSECUTIVE_FAILURES:
                record["errors"].append(f"{consecutive} failed cycles in a row; stopped")
                break
            if i + 1 == args.baseline_after:
                soak_seconds_before = soak_seconds
                record["baseline"] = settle_figures(server, args.settle)
                record["baseline"]["cycle"] = i + 1
                print(f"   baseline after {i + 1} cycles: {brief(record['baseline'])}",
                      flush=True)
                soak_seconds = soak_seconds_before
            elif (i + 1) % SAMPLE_EVERY == 0:
                sample = server.figures()
                sample["cycle"] = i + 1
                record["samples"].append(sample)
                if (i + 1) % (4 * SAMPLE_EVERY) == 0:
                    print(f"   {i + 1:5d} cycles, {record['failures']} failed: "
                          f"{brief(sample)}", flush=True)
        record["elapsed_s"] = round(time.monotonic() - started, 1)
        record["forward_starts"] = server.forward_starts
        record["cycles_per_s"] = round(record["cycles_done"] / soak_seconds, 2) \
            if soak_seconds else None
        if server.alive():
            record["end"] = settle_figures(server, args.settle)
            record["end"]["cycle"] = record["cycles_done"]
            print(f"   end after {record['cycles_done']} cycles: {brief(record['end'])}",
                  flush=True)
        final_check(server, payloads, record, args.quiet_ms)
        if args.linger > 0 and server.alive():
            linger(server, args.linger, record)
        done = [c for c in cycles if c["disconnected_at"]]
        record["sessions"] = session_analysis(done, server.session_log())
        if impl == "ours":
            events, _ = server.events_since(0)
            record["talkers"] = talker_analysis(
                [c for c in cycles if c["disconnected_at"]], events)
            record["events"] = len(events)
    finally:
        record["server_exit"] = server.stop()
        record["server_stderr"] = server.stderr[-20:]
    judge(record)
    return record


def linger(server, seconds, record):
    """With no client, wait (bounded) until the server holds no RTSP session."""
    start = time.monotonic()
    before = server.live_sessions()
    while server.live_sessions() > 0 and time.monotonic() - start < seconds:
        time.sleep(0.5)
    record["linger"] = {"sessions_before": before, "sessions_after": server.live_sessions(),
                        "waited_s": round(time.monotonic() - start, 1),
                        "figures": server.figures()}
    print(f"   lingered {record['linger']['waited_s']} s: RTSP sessions alive {before} -> "
          f"{record['linger']['sessions_after']}; {brief(record['linger']['figures'])}",
          flush=True)


def final_check(server, payloads, record, quiet_ms):
    """A new client's full talk must still work (ours: and be heard)."""
    if not server.alive():
        record["errors"].append("server exited during the soak")
        return
    talk = Talk(server.port, "tcp-teardown", FINAL_TALK_MS, payloads, quiet_ms)
    try:
        talk.run()
    except (RtspError, OSError, KeyError, ValueError) as exc:
        record["errors"].append(f"final client ({talk.phase}): {exc}")
        return
    record["final_session"] = talk.session
    if server.impl == "ours":
        if server.wait_event("started", talk.session, HEARD_TIMEOUT) is None:
            record["errors"].append(f"final client (session {talk.session}) was not heard: "
                                    "no talk-event started")
            return
        record["final_heard"] = True
    record["serving_at_end"] = True


def judge(record):
    """Set record['ok'] and record['margins']."""
    ok = record["serving_at_end"] and record["failures"] == 0 \
        and record["cycles_done"] == record["cycles_requested"]
    if "baseline" in record and "end" in record:
        record["margins"] = [
            {"figure": name, "baseline": base, "end": end, "limit": limit, "ok": within}
            for name, base, end, limit, within in margins_report(record["baseline"],
                                                                 record["end"])]
        ok = ok and all(m["ok"] for m in record["margins"])
    else:
        ok = False
    for kind, talkers in record.get("talkers", {}).items():
        if talkers["heard"] < talkers["cycles"]:
            record["errors"].append(f"{kind}: {talkers['cycles'] - talkers['heard']} of "
                                    f"{talkers['cycles']} talkers never heard")
            ok = False
    record["ok"] = ok


def brief(figures):
    """One line of figures."""
    kinds = figures["fd_kinds"]
    return (f"RSS {figures['rss_mb']} MB, {figures['fds']} fds "
            f"(tcp {kinds['tcp']}, udp {kinds['udp']}), {figures['threads']} threads, "
            f"{figures['rtsp_sessions']} RTSP sessions alive")


def print_table(results):
    """The summary table, the talkers per kind (ours) and the errors."""
    print()
    head = (f"{'impl':<9}{'cycles':>7}{'failed':>7}{'cyc/s':>7}  {'figure':<8}"
            f"{'after base':>11}{'end':>9}{'limit':>9}  ok")
    print(head)
    print("-" * len(head))
    for r in results:
        first = f"{r['impl']:<9}{r['cycles_done']:>7}{r['failures']:>7}" \
                f"{r.get('cycles_per_s') or '-':>7}"
        margins = r.get("margins") or []
        if not margins:
            print(f"{first}  (no figures)")
        for n, m in enumerate(margins):
            lead = first if n == 0 else " " * len(first)
            print(f"{lead}  {m['figure']:<8}{m['baseline']:>11}{m['end']:>9}{m['limit']:>9}"
                  f"  {'yes' if m['ok'] else 'NO'}")
        base, end = r.get("baseline"), r.get("end")
        if base and end:
            print(f"{'':<30}udp sockets {base['fd_kinds']['udp']} -> {end['fd_kinds']['udp']}, "
                  f"tcp sockets {base['fd_kinds']['tcp']} -> {end['fd_kinds']['tcp']}, "
                  f"peak RSS {end['peak_rss_mb']} MB")
            print(f"{'':<30}GstRTSPSession objects alive {base['rtsp_sessions']} -> "
                  f"{end['rtsp_sessions']}")
        if r["impl"] == "ours":
            print(f"{'':<30}forward pipeline (re)starts: {r.get('forward_starts')}")
        print(f"{'':<30}new client served at the end: "
              f"{'yes' if r['serving_at_end'] else 'NO'}"
              + (" (heard)" if r.get("final_heard") else ""))
    for r in results:
        if "sessions" not in r:
            continue
        print(f"\n{r['impl']}: GstRTSPSession objects by kind (rtspsession debug log)")
        print(f"{'kind':<14}{'created':>8}{'finalized':>10}{'alive at end':>13}"
              f"{'finalized after disconnect p50/max ms':>40}")
        for kind, t in r["sessions"].items():
            delays = "/".join("-" if t[k] is None else f"{t[k]:.0f}"
                              for k in ("finalize_ms_p50", "finalize_ms_max"))
            print(f"{kind:<14}{t['created']:>8}{t['finalized']:>10}{t['alive_at_end']:>13}"
                  f"{delays:>40}")
    for r in results:
        if "talkers" not in r:
            continue
        print(f"\n{r['impl']}: talkers by kind (from talk events; left = media unprepared)")
        print(f"{'kind':<14}{'cycles':>7}{'heard':>7}{'refused':>8}{'left':>6}"
              f"{'left after disconnect p50/p99/max ms':>40}")
        for kind, t in r["talkers"].items():
            delays = "/".join("-" if t[k] is None else f"{t[k]:.0f}"
                              for k in ("left_delay_ms_p50", "left_delay_ms_p99",
                                        "left_delay_ms_max"))
            print(f"{kind:<14}{t['cycles']:>7}{t['heard']:>7}{t['refused']:>8}{t['left']:>6}"
                  f"{delays:>40}")
    for r in results:
        for err in r["errors"]:
            print(f"  {r['impl']}: {err}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--impl", choices=("ours", "upstream", "both"), default="ours")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--baseline-after", type=int, default=50,
                        help="cycles before the baseline figures (default 50)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds with no client before reading the baseline and "
                             "end figures (default 5)")
    parser.add_argument("--quiet-ms", type=int, default=0,
                        help="pause between the last RTP packet and the TEARDOWN or drop "
                             "(default 0; upstream 1.22 can deadlock on a TEARDOWN that "
                             "arrives while back-channel audio still flows: 500 avoids it)")
    parser.add_argument("--linger", type=float, default=0.0, metavar="SECONDS",
                        help="at the end, wait up to this long for the server to hold no "
                             "RTSP session (dropped clients' sessions go when they time out "
                             "and the application cleans its pool; default 0: no wait)")
    parser.add_argument("--forward-linger", dest="forward_linger_ms", type=int,
                        metavar="MS", help="ours: the factory's forward-linger (0 stops the "
                        "forward pipeline as each client leaves, so that every cycle "
                        "restarts it; default: the factory's)")
    parser.add_argument("--seed", type=int, default=1, help="talk lengths")
    parser.add_argument("--target-dir", default=os.path.join(REPO, "target"),
                        help="cargo target directory holding release/examples/embed and "
                             "release/libgstonvifbackchannel.so (ours)")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="comma-separated kinds of cycle, taken in turn (default: all "
                             "four); fewer kinds help to find which one leaks")
    args = parser.parse_args()
    args.kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    if not args.kinds or set(args.kinds) - set(KINDS):
        parser.error(f"--kinds takes some of {', '.join(KINDS)}")
    if args.cycles <= args.baseline_after:
        parser.error("--cycles must be larger than --baseline-after")

    impls = ["ours", "upstream"] if args.impl == "both" else [args.impl]
    payloads = tone_payloads()
    results = []
    try:
        for impl in impls:
            results.append(run_soak(impl, args, payloads))
    except KeyboardInterrupt:
        print("\ninterrupted")
    print_table(results)
    print(f"\nmargins: RSS +max({RSS_MARGIN_PCT:g} %, {RSS_MARGIN_MB:g} MB), "
          f"fds +{FD_MARGIN}, threads +{THREAD_MARGIN}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"cycles": args.cycles, "settle_s": args.settle, "quiet_ms": args.quiet_ms,
                       "kinds": args.kinds,
                       "margins": {"rss_pct": RSS_MARGIN_PCT, "rss_mb": RSS_MARGIN_MB,
                                   "fds": FD_MARGIN, "threads": THREAD_MARGIN},
                       "results": results}, out, indent=2)
    ok = bool(results) and len(results) == len(impls) and all(r["ok"] for r in results)
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

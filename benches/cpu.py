#!/usr/bin/python3
"""Server CPU benchmark: this crate's back channel vs upstream gst-rtsp-server.

For every scenario and implementation, benches/serve.py runs one RTSP server
in its own process.  N raw RTSP clients (plain Python sockets, TCP
interleaved) DESCRIBE with the ONVIF back-channel Require tag, SETUP every
track, PLAY, then all talk at once: 20 ms PCMU RTP packets of a 440 Hz tone,
paced in real time, while everything the server sends is read and dropped.
With all N talking, after a warm-up, the server process's CPU time
(utime+stime from /proc/<pid>/stat) is measured over a window and reported
as % of one core, with its peak RSS (VmHWM).

Scenarios (add --upstream-decode 48k to make upstream also convert its
decoded audio to F32 48 kHz, the work ours does to feed its output):
  A  VP8 640x360 15 fps forward stream, N = 1, 2, 4, 8 (plotted to SVG)
  B  PCMU forward stream, N = 64 talkers

Ours runs with talk-policy mix; its talk-event::left counters (printed by
serve.py) check that every talker's audio was delivered: received >= 95 %
of the packets sent and none dropped.

Run with Debian's interpreter (serve.py needs python3-gi and
gir1.2-gst-rtsp-server-1.0; this script itself only needs the stdlib):

    /usr/bin/python3 benches/cpu.py [--scenario A|B|all] [--seconds 10]
                                    [--json out.json] [--svg benches/cpu.svg]
"""

import argparse
import json
import math
import os
import queue
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from rtsp_common import (RtspError, await_response, interleaved_channel, parse_responses,
                         linear_to_ulaw, request_text, sdp_tracks)

HOST = "127.0.0.1"
MOUNT = "/stream"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SERVE_PY = os.path.join(BENCH_DIR, "serve.py")
SERVER_PYTHON = "/usr/bin/python3"

CLOCK_RATE = 8000
PACKET_SAMPLES = 160  # 20 ms of 8 kHz PCMU
PACKET_SECONDS = PACKET_SAMPLES / CLOCK_RATE
TONE_HZ = 440
TONE_AMPLITUDE = 8000

RTSP_TIMEOUT = 5.0  # any RTSP response, and any blocked socket write
SERVER_START_TIMEOUT = 30.0  # until serve.py prints PORT
SERVER_STOP_TIMEOUT = 15.0  # after SIGTERM, before SIGKILL
WARMUP_SECONDS = 2.0
UPSTREAM_DECODE = "bare"  # --upstream-decode
QUIET_SECONDS = 0.5  # no RTP sent for this long before TEARDOWN
SETTLE_SECONDS = 0.5  # after closing the clients, before SIGTERM
DELIVERED_FRACTION = 0.95

SCENARIOS = {
    "A": {
        "title": "VP8 640x360@15 forward",
        "launch": "( videotestsrc is-live=true "
                  "! video/x-raw,width=640,height=360,framerate=15/1 "
                  "! vp8enc deadline=1 ! rtpvp8pay name=pay0 pt=96 )",
        "clients": [1, 2, 4, 8],
    },
    "B": {
        "launch": "( audiotestsrc is-live=true "
                  "! audio/x-raw,rate=8000,channels=1 ! mulawenc "
                  "! rtppcmupay name=pay0 pt=0 )",
        "clients": [64],
    },
}
IMPLS = ("upstream", "ours")


# --------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------


def tone_payloads():
    """One second of the 440 Hz tone as 50 PCMU payloads of 160 bytes.

    440 whole periods fit in one second, so the list loops seamlessly.
    """
    samples = bytes(
        linear_to_ulaw(round(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * n / CLOCK_RATE)))
        for n in range(CLOCK_RATE)
    )
    return [samples[i:i + PACKET_SAMPLES] for i in range(0, CLOCK_RATE, PACKET_SAMPLES)]


# --------------------------------------------------------------------------
# RTSP clients
# --------------------------------------------------------------------------


class Client:
    """One RTSP connection with interleaved RTP, owned by the shared threads.

    The Reader thread parses what arrives (responses are queued for
    `request`, interleaved frames dropped); the Pacer thread sends the
    back-channel RTP.  RTSP requests and RTP never overlap in time (a client
    is handed to the Pacer after PLAY and taken back before TEARDOWN), so
    writes need no lock.
    """

    def __init__(self, port):
        self.url = f"rtsp://{HOST}:{port}{MOUNT}"
        self.sock = socket.create_connection((HOST, port), timeout=RTSP_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.responses = queue.Queue()
        self.closed = threading.Event()
        self.cseq = 0
        self.session = None
        self.channel = None
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.rtp_ts = random.getrandbits(32)
        self.sent = 0
        self.rx_bytes = 0

    # -- receiving (Reader thread) -----------------------------------------

    def on_readable(self):
        """Read what is available and parse it; False once the peer is gone."""
        try:
            chunk = self.sock.recv(262144)
        except (BlockingIOError, socket.timeout):
            return True
        except OSError:
            chunk = b""
        if not chunk:
            self.closed.set()
            return False
        self.rx_bytes += len(chunk)
        self.buf += chunk
        self._parse()
        return True

    def _parse(self):
        """Consume complete messages from the buffer."""
        parse_responses(self.buf, self.responses)

    # -- requests (main thread) -------------------------------------------

    def send_request(self, method, url, extra=None):
        """Write one request with the back-channel Require tag."""
        self.cseq += 1
        self.sock.sendall(request_text(method, url, self.cseq, self.session, extra,
                                       "onvif-backchannel-cpu-bench"))

    def wait_response(self, method, deadline):
        """Wait until `deadline` for the response to the last request.

        Returns (headers, body); raises RtspError on timeout, connection loss
        or a non-2xx status.
        """
        _, headers, body = await_response(self.responses, self.closed, self.cseq,
                                          method, deadline, RTSP_TIMEOUT)
        return headers, body

    def request(self, method, url, extra=None):
        """Send a request and wait (bounded) for its response."""
        self.send_request(method, url, extra)
        return self.wait_response(method, time.monotonic() + RTSP_TIMEOUT)

    def start_session(self):
        """DESCRIBE, SETUP every track (forward ones first), PLAY.

        Forward tracks get channels 0-1, 2-3, ... in SDP order and the back
        channel the last pair; its RTP channel is kept for `send_rtp`.
        """
        headers, sdp = self.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = headers.get("content-base", self.url + "/")
        tracks = sorted(sdp_tracks(sdp, base), key=lambda track: track[1])
        for index, (control, backchannel) in enumerate(tracks):
            headers, _ = self.request(
                "SETUP", control,
                {"Transport": "RTP/AVP/TCP;unicast;"
                              f"interleaved={2 * index}-{2 * index + 1}"})
            self.session = headers["session"].split(";")[0]
            if backchannel:
                self.channel = interleaved_channel(headers.get("transport", ""))
        self.request("PLAY", self.url)

    # -- sending (Pacer thread) --------------------------------------------

    def send_rtp(self, payload):
        """Send the next back-channel RTP packet (marker on the first)."""
        marker = 0x80 if self.sent == 0 else 0
        header = struct.pack("!cBHBBHII", b"$", self.channel, 12 + len(payload),
                             0x80, marker, self.seq, self.rtp_ts, self.ssrc)
        self.sock.sendall(header + payload)
        self.seq = (self.seq + 1) & 0xFFFF
        self.rtp_ts = (self.rtp_ts + PACKET_SAMPLES) & 0xFFFFFFFF
        self.sent += 1

    def close(self):
        """Close the connection."""
        self.closed.set()
        self.sock.close()


class Reader(threading.Thread):
    """One thread reading every client's socket (selectors) and parsing it."""

    def __init__(self):
        super().__init__(name="rtsp-reader", daemon=True)
        self.selector = selectors.DefaultSelector()
        self.stopping = threading.Event()

    def add(self, client):
        """Start reading `client` (epoll registration is thread-safe)."""
        self.selector.register(client.sock, selectors.EVENT_READ, client)

    def remove(self, client):
        """Stop reading `client`, if still registered."""
        try:
            self.selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass

    def run(self):
        """Dispatch readable sockets until stopped."""
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                if not key.data.on_readable():
                    self.remove(key.data)

    def stop(self):
        """Stop the thread (bounded wait)."""
        self.stopping.set()
        self.join(timeout=2.0)
        self.selector.close()


class Pacer(threading.Thread):
    """One thread sending a 20 ms packet to every talking client per tick.

    Ticks follow the monotonic clock (start + k * 20 ms); a late tick is
    caught up at once so every client sends in real time on average.  A
    client whose socket write fails stops talking and is recorded.
    """

    def __init__(self, payloads):
        super().__init__(name="rtp-pacer", daemon=True)
        self.payloads = payloads
        self.talking = []
        self.failed = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.max_lag = 0.0

    def add(self, client):
        """`client` talks from the next tick on."""
        with self.lock:
            self.talking.append(client)

    def silence_all(self):
        """Stop sending; when this returns no packet is being written."""
        with self.lock:
            self.talking = []

    def run(self):
        """Send one packet per talking client per tick until stopped."""
        tick = 0
        start = time.monotonic()
        while not self.stopping.is_set():
            with self.lock:
                payload = self.payloads[tick % len(self.payloads)]
                for client in list(self.talking):
                    try:
                        client.send_rtp(payload)
                    except OSError as exc:
                        self.talking.remove(client)
                        self.failed.append((client, exc))
            tick += 1
            delay = start + tick * PACKET_SECONDS - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
            else:
                self.max_lag = max(self.max_lag, -delay)

    def stop(self):
        """Stop the thread (bounded wait)."""
        self.stopping.set()
        self.join(timeout=RTSP_TIMEOUT + 1.0)


# --------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------


class Server:
    """benches/serve.py in its own process; stdout/stderr read by threads."""

    def __init__(self, impl, launch, plugin_dir):
        cmd = [SERVER_PYTHON, SERVE_PY, "--impl", impl, "--launch", launch]
        if impl == "upstream":
            cmd += ["--upstream-decode", UPSTREAM_DECODE]
        if impl == "ours":
            cmd += ["--policy", "mix"]
            if plugin_dir:
                cmd += ["--plugin-dir", plugin_dir]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = queue.Queue()
        self.stdout = []
        self.stderr = []
        self.threads = [
            threading.Thread(target=self._collect, args=(self.proc.stdout, self.stdout, True),
                             daemon=True),
            threading.Thread(target=self._collect, args=(self.proc.stderr, self.stderr, False),
                             daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        try:
            self.port = self._wait_port()
        except BaseException:
            self.stop()
            raise

    def _collect(self, stream, lines, notify):
        """Keep every line of `stream`; announce stdout lines on the queue."""
        for line in stream:
            lines.append(line.rstrip("\n"))
            if notify:
                self.lines.put(line)
        if notify:
            self.lines.put(None)

    def _wait_port(self):
        """Wait (bounded) for `PORT <n>`."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise RuntimeError("server printed no PORT line in time") from None
            if line is None:
                raise RuntimeError("server exited: " + " | ".join(self.stderr[-5:]))
            if line.startswith("PORT "):
                return int(line.split()[1])

    def cpu_seconds(self):
        """utime + stime of the server process, in seconds."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self):
        """VmHWM of the server process in MB."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self):
        """SIGTERM, bounded wait, SIGKILL if needed; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stderr.append("bench: no exit after SIGTERM, killed")
                self.proc.kill()
                self.proc.wait(timeout=5.0)
        for thread in self.threads:
            thread.join(timeout=2.0)
        return self.proc.returncode

    def talkers(self):
        """{session: (talker, received, dropped)} from the TALKER lines."""
        result = {}
        for line in self.stdout:
            if not line.startswith("TALKER "):
                continue
            words = line.split()
            fields = dict(word.split("=", 1) for word in words[2:])
            result[fields.get("session", "")] = (
                words[1], int(fields["received"]), int(fields["dropped"]))
        return result


# --------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------


def connect_clients(server, count, clients, reader, pacer, errors):
    """Connect `count` clients one after the other; each talks after PLAY.

    Clients are appended to `clients` as soon as they exist (so an
    interruption still tears them down); failed ones are recorded in
    `errors`, closed and taken out again.
    """
    for i in range(count):
        try:
            client = Client(server.port)
        except OSError as exc:
            errors.append(f"client {i + 1}: {exc}")
            continue
        clients.append(client)
        reader.add(client)
        try:
            client.start_session()
            if client.channel is None:
                raise RtspError("back channel SETUP returned no interleaved channel")
        except (RtspError, OSError, KeyError, ValueError) as exc:
            errors.append(f"client {i + 1}: {exc}")
            clients.remove(client)
            reader.remove(client)
            client.close()
            continue
        pacer.add(client)


def teardown_clients(clients, reader, pacer, errors):
    """Stop talking, let the server run dry, TEARDOWN all, close all.

    Upstream 1.22 can deadlock on a TEARDOWN that arrives while back-channel
    audio still flows, hence the quiet period first.  TEARDOWNs are sent to
    every client before waiting for the responses, so the total wait stays
    bounded by one RTSP timeout.
    """
    pacer.silence_all()
    time.sleep(QUIET_SECONDS)
    sent = []
    for client in clients:
        if client.closed.is_set():
            continue
        try:
            client.send_request("TEARDOWN", client.url)
            sent.append(client)
        except OSError as exc:
            errors.append(f"TEARDOWN session {client.session}: {exc}")
    deadline = time.monotonic() + RTSP_TIMEOUT
    for client in sent:
        try:
            client.wait_response("TEARDOWN", deadline)
        except RtspError as exc:
            errors.append(f"session {client.session}: {exc}")
    for client in clients:
        reader.remove(client)
        client.close()


def check_delivery(clients, talkers, errors, details):
    """Count clients whose talker received >= 95 % of the sent packets, 0 dropped.

    Appends {session, talker, sent, received, dropped} per client to `details`.
    """
    delivered = 0
    for client in clients:
        talker = talkers.get(client.session)
        if talker is None:
            errors.append(f"session {client.session}: no TALKER line")
            continue
        name, received, dropped = talker
        details.append({"session": client.session, "talker": name, "sent": client.sent,
                        "received": received, "dropped": dropped})
        if received >= DELIVERED_FRACTION * client.sent and dropped == 0:
            delivered += 1
        else:
            errors.append(f"talker {name} (session {client.session}): sent {client.sent}, "
                          f"received {received}, dropped {dropped}")
    return delivered


def measure(scenario, impl, count, seconds, payloads, plugin_dir):
    """Run one server with `count` talking clients; return its result record."""
    record = {"scenario": scenario, "impl": impl, "clients": count,
              "cpu_percent": None, "peak_rss_mb": None, "delivered": None,
              "errors": []}
    errors = record["errors"]
    print(f"[{scenario}] {impl:8s} N={count:<3d} ...", end=" ", flush=True)
    try:
        server = Server(impl, SCENARIOS[scenario]["launch"], plugin_dir)
    except RuntimeError as exc:
        errors.append(f"server did not start: {exc}")
        print("server did not start", flush=True)
        return record
    reader = Reader()
    pacer = Pacer(payloads)
    clients = []
    try:
        reader.start()
        pacer.start()
        connect_clients(server, count, clients, reader, pacer, errors)
        record["connected"] = len(clients)
        if clients:
            time.sleep(WARMUP_SECONDS)
            rx0 = sum(c.rx_bytes for c in clients)
            cpu0, own0, t0 = server.cpu_seconds(), time.process_time(), time.monotonic()
            time.sleep(seconds)
            cpu1, own1, t1 = server.cpu_seconds(), time.process_time(), time.monotonic()
            rx1 = sum(c.rx_bytes for c in clients)
            record["cpu_percent"] = round(100 * (cpu1 - cpu0) / (t1 - t0), 1)
            record["bench_cpu_percent"] = round(100 * (own1 - own0) / (t1 - t0), 1)
            record["forward_kbit_s_per_client"] = round(
                8 * (rx1 - rx0) / 1000 / (t1 - t0) / len(clients), 1)
            record["peak_rss_mb"] = round(server.peak_rss_mb(), 1)
            if server.proc.poll() is not None:
                errors.append("server exited during the measurement")
            lost = [c for c in clients if c.closed.is_set()]
            if lost:
                errors.append(f"{len(lost)} connection(s) closed by the server while talking")
    finally:
        teardown_clients(clients, reader, pacer, errors)
        pacer.stop()
        reader.stop()
        errors += [f"session {c.session}: send failed: {exc}" for c, exc in pacer.failed]
        record["pacer_max_lag_ms"] = round(pacer.max_lag * 1000, 1)
        time.sleep(SETTLE_SECONDS)
        record["server_exit"] = server.stop()
        record["server_stderr"] = server.stderr[-20:]
    if impl == "ours" and clients:
        record["talkers"] = []
        record["delivered"] = check_delivery(clients, server.talkers(), errors,
                                             record["talkers"])
    if record["server_exit"] != 0:
        errors.append(f"server exit code {record['server_exit']}")
    print(f"CPU {record['cpu_percent']} %, peak RSS {record['peak_rss_mb']} MB, "
          f"forward {record.get('forward_kbit_s_per_client')} kbit/s per client"
          + (f", {len(errors)} problem(s)" if errors else ""), flush=True)
    return record


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def print_table(results):
    """Print the summary table (ratio ours/upstream on the ours rows)."""
    upstream_cpu = {(r["scenario"], r["clients"]): r["cpu_percent"]
                    for r in results if r["impl"] == "upstream"}
    print()
    print(f"{'scenario':<9}{'impl':<10}{'N':>4}{'CPU % core':>12}{'peak RSS MB':>13}"
          f"{'delivered':>11}{'ours/upstream':>15}")
    for r in results:
        cpu = "-" if r["cpu_percent"] is None else f"{r['cpu_percent']:.1f}"
        rss = "-" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.1f}"
        delivered = "-" if r["delivered"] is None else f"{r['delivered']}/{r['clients']}"
        ratio = "-"
        base = upstream_cpu.get((r["scenario"], r["clients"]))
        if r["impl"] == "ours" and base and r["cpu_percent"] is not None:
            ratio = f"{r['cpu_percent'] / base:.2f}"
        print(f"{r['scenario']:<9}{r['impl']:<10}{r['clients']:>4}{cpu:>12}{rss:>13}"
              f"{delivered:>11}{ratio:>15}")
    for r in results:
        for err in r["errors"]:
            print(f"  [{r['scenario']}] {r['impl']} N={r['clients']}: {err}")


def tick_step(span):
    """A round tick step (1, 2, 2.5 or 5 x 10^k) giving at most 5 ticks over span."""
    magnitude = 10 ** math.floor(math.log10(span / 5))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10)
                if step * magnitude * 5 >= span)


def svg_plot(results, clients, seconds):
    """SVG (600x400) of scenario A: CPU % of one core vs number of clients."""
    width, height = 600, 400
    left, right, top, bottom = 70, 20, 55, 55
    plot_w, plot_h = width - left - right, height - top - bottom
    series = {impl: sorted((r["clients"], r["cpu_percent"]) for r in results
                           if r["scenario"] == "A" and r["impl"] == impl
                           and r["cpu_percent"] is not None)
              for impl in IMPLS}
    peak = 1.05 * max([cpu for points in series.values() for _, cpu in points] + [1])
    step = tick_step(peak)
    ticks = math.ceil(peak / step)
    y_max = step * ticks
    x_max = max(clients)

    def x_of(n):
        return left + plot_w * n / x_max

    def y_of(cpu):
        return top + plot_h * (1 - cpu / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15" '
           f'font-weight="bold">Server CPU vs clients: {SCENARIOS["A"]["title"]} '
           f'+ PCMU talk-back</text>',
           f'<text x="{width / 2}" y="40" text-anchor="middle" font-size="11" fill="#555">'
           f'{seconds:g} s window, all N clients talking at once (TCP interleaved, '
           f'127.0.0.1)</text>']
    for i in range(ticks + 1):
        value = step * i
        y = y_of(value)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for n in clients:
        x = x_of(n)
        out.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" '
                   f'y2="{top + plot_h + 5}" stroke="black"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 19}" text-anchor="middle">{n}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
               f'y2="{top + plot_h}" stroke="black"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">'
               'clients talking (N)</text>')
    out.append(f'<text transform="translate(18 {top + plot_h / 2}) rotate(-90)" '
               'text-anchor="middle">server CPU, % of one core</text>')
    colors = {"upstream": "#d62728", "ours": "#1f77b4"}
    labels = {"upstream": "upstream RTSPOnvifMediaFactory",
              "ours": "ours (OnvifBackchannelMediaFactory, mix)"}
    for impl, points in series.items():
        if not points:
            continue
        path = " ".join(f"{x_of(n):.1f},{y_of(cpu):.1f}" for n, cpu in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colors[impl]}" '
                   'stroke-width="2"/>')
        out += [f'<circle cx="{x_of(n):.1f}" cy="{y_of(cpu):.1f}" r="4" '
                f'fill="{colors[impl]}"/>' for n, cpu in points]
    for i, impl in enumerate(IMPLS):
        y = top + 14 + 20 * i
        out.append(f'<line x1="{left + 14}" y1="{y}" x2="{left + 40}" y2="{y}" '
                   f'stroke="{colors[impl]}" stroke-width="2"/>')
        out.append(f'<circle cx="{left + 27}" cy="{y}" r="4" fill="{colors[impl]}"/>')
        out.append(f'<text x="{left + 48}" y="{y + 4}">{labels[impl]}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main():
    """Parse options, run every scenario and implementation, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=("A", "B", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="CPU measurement window (default 10)")
    parser.add_argument("--json", metavar="FILE", help="write results as JSON")
    parser.add_argument("--svg", metavar="FILE", default=os.path.join(BENCH_DIR, "cpu.svg"),
                        help="plot of scenario A (default benches/cpu.svg)")
    parser.add_argument("--plugin-dir", help="passed to serve.py for ours")
    parser.add_argument("--upstream-decode", choices=("bare", "48k"), default="bare",
                        help="upstream's back channel stops at the decoder (bare, "
                             "default) or also converts to F32 48 kHz like ours (48k)")
    args = parser.parse_args()
    global UPSTREAM_DECODE
    UPSTREAM_DECODE = args.upstream_decode

    scenarios = ["A", "B"] if args.scenario == "all" else [args.scenario]
    payloads = tone_payloads()
    results = []
    started = time.monotonic()
    try:
        for scenario in scenarios:
            for count in SCENARIOS[scenario]["clients"]:
                for impl in IMPLS:
                    results.append(measure(scenario, impl, count, args.seconds,
                                           payloads, args.plugin_dir))
    except KeyboardInterrupt:
        print("\ninterrupted; partial results:")
    elapsed = time.monotonic() - started

    print_table(results)
    print(f"\ntotal time {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"seconds": args.seconds, "elapsed_s": round(elapsed, 1),
                       "results": results}, out, indent=2)
    if "A" in scenarios and any(r["scenario"] == "A" for r in results):
        with open(args.svg, "w") as out:
            out.write(svg_plot(results, SCENARIOS["A"]["clients"], args.seconds))
        print(f"plot: {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

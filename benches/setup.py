#!/usr/bin/python3
"""Setup time under load: this crate's back channel vs upstream gst-rtsp-server.

For each implementation, benches/serve.py runs one RTSP server in its own
process, serving a PCMU forward stream made of 128 ms buffers (the launch of
issue 10: `audiotestsrc is-live=true wave=silence ! mulawenc ! rtppcmupay`).

Burst: N raw RTSP clients start 20 ms apart. Each connects, sends DESCRIBE
with the ONVIF back channel Require tag, SETUPs every track (TCP
interleaved) and sends PLAY. Its setup time runs from the DESCRIBE to PLAY's
200 OK. Reported: p50 and max over the N clients, for N = 1, 8, 32, 64.

Sequential: 200 clients one after another, each DESCRIBE and SETUP of every
track, then TEARDOWN and close. Reported: the total time.

    /usr/bin/python3 benches/setup.py [--clients 1,8,32,64] [--sequential 200]
                                      [--only ours|upstream] [--json out.json]

Run with Debian's interpreter: serve.py needs python3-gi and
gir1.2-gst-rtsp-server-1.0 (this script itself needs only the stdlib).
"""

import argparse
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

from rtsp_common import (RtspError, await_response, interleaved_channel, parse_responses,
                         request_text, sdp_tracks)

HOST = "127.0.0.1"
MOUNT = "/stream"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SERVE_PY = os.path.join(BENCH_DIR, "serve.py")
SERVER_PYTHON = "/usr/bin/python3"
# 1024 samples at 8 kHz: 128 ms buffers, as in the measurement.
LAUNCH = ("( audiotestsrc is-live=true wave=silence samplesperbuffer=1024 "
          "! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay0 pt=0 )")
RTSP_TIMEOUT = 20.0
START_GAP = 0.020  # between two clients of a burst
SERVER_START_TIMEOUT = 30.0
IMPLS = ("upstream", "ours")


class Client:
    """One RTSP connection; a reader thread queues the responses."""

    def __init__(self, port):
        self.url = f"rtsp://{HOST}:{port}{MOUNT}"
        self.sock = socket.create_connection((HOST, port), timeout=RTSP_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cseq = 0
        self.session = None
        self.responses = queue.Queue()
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = bytearray()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                parse_responses(buf, self.responses)
        except OSError:
            pass
        self.closed.set()

    def request(self, method, url, extra=None):
        self.cseq += 1
        self.sock.sendall(request_text(method, url, self.cseq, self.session, extra,
                                       "setup-bench"))
        return await_response(self.responses, self.closed, self.cseq, method,
                              time.monotonic() + RTSP_TIMEOUT, RTSP_TIMEOUT)

    def setup_all(self):
        """DESCRIBE and SETUP every track; returns nothing, raises RtspError."""
        _, headers, body = self.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = headers.get("content-base", self.url + "/")
        channel = 0
        for url, _backchannel in sdp_tracks(body, base):
            transport = f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}"
            _, headers, _ = self.request("SETUP", url, {"Transport": transport})
            self.session = headers["session"].split(";")[0]
            channel = interleaved_channel(headers["transport"]) + 2

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def burst(port, n):
    """N clients started START_GAP apart; their DESCRIBE to PLAY-200 times (s)."""
    times = [None] * n
    errors = []
    clients = []
    lock = threading.Lock()

    def run(i):
        try:
            client = Client(port)
            with lock:
                clients.append(client)
            start = time.monotonic()
            client.setup_all()
            client.request("PLAY", client.url)
            times[i] = time.monotonic() - start
        except (OSError, RtspError, KeyError) as err:
            errors.append(f"client {i}: {err}")

    threads = []
    for i in range(n):
        thread = threading.Thread(target=run, args=(i,))
        thread.start()
        threads.append(thread)
        time.sleep(START_GAP)
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    return [t for t in times if t is not None], errors


def sequential(port, n):
    """N clients one after another: DESCRIBE, SETUP, TEARDOWN. Total seconds."""
    start = time.monotonic()
    for _ in range(n):
        client = Client(port)
        try:
            client.setup_all()
            client.request("TEARDOWN", client.url)
        finally:
            client.close()
    return time.monotonic() - start


def start_server(impl, plugin_dir, launch=LAUNCH):
    """serve.py for `impl` in its own process; returns (process, port)."""
    cmd = [SERVER_PYTHON, SERVE_PY, "--impl", impl, "--launch", launch,
           "--plugin-dir", plugin_dir]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("PORT "):
            return proc, int(line.split()[1])
    proc.kill()
    raise SystemExit(f"{impl}: server did not start")


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,8,32,64",
                        help="comma-separated burst sizes")
    parser.add_argument("--sequential", type=int, default=200,
                        help="clients one after another (0: skip)")
    parser.add_argument("--only", choices=IMPLS)
    parser.add_argument("--plugin-dir",
                        default=os.path.join(os.path.dirname(BENCH_DIR), "target", "release"))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    sizes = [int(n) for n in args.clients.split(",") if n]
    results = {}
    for impl in IMPLS:
        if args.only and impl != args.only:
            continue
        results[impl] = {}
        for n in sizes:
            # A fresh server for each burst: nobody left over from the last.
            proc, port = start_server(impl, os.path.abspath(args.plugin_dir))
            try:
                # One client first, so both servers have started their
                # pipelines before the measured burst.
                burst(port, 1)
                times, errors = burst(port, n)
            finally:
                stop_server(proc)
            ms = sorted(1000 * t for t in times)
            row = {"ok": len(ms), "errors": errors,
                   "p50_ms": statistics.median(ms) if ms else None,
                   "max_ms": ms[-1] if ms else None}
            results[impl][f"burst_{n}"] = row
            p50 = f"{row['p50_ms']:.1f}" if ms else "-"
            mx = f"{row['max_ms']:.1f}" if ms else "-"
            print(f"{impl:8} {n:3} clients at once: setup p50 {p50} ms, max {mx} ms, "
                  f"{len(ms)} ok, {len(errors)} failed", flush=True)
            for err in errors[:3]:
                print(f"    {err}", flush=True)
        if args.sequential:
            proc, port = start_server(impl, os.path.abspath(args.plugin_dir))
            try:
                burst(port, 1)
                total = sequential(port, args.sequential)
            finally:
                stop_server(proc)
            results[impl]["sequential"] = {"clients": args.sequential, "seconds": total}
            print(f"{impl:8} {args.sequential} clients one after another "
                  f"(DESCRIBE, SETUP, TEARDOWN): {total:.2f} s", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

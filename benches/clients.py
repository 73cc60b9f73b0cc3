#!/usr/bin/python3
"""What half-open RTSP sessions cost a server, and what max-clients bounds.

Raw RTSP clients (plain Python sockets) connect one after the other and each
DESCRIBEs with the ONVIF back-channel Require tag and SETUPs the forward
track and the back channel (TCP interleaved), and never PLAYs: a VMS that
prepares streams it does not show, or a client that hangs. All stay
connected. The server's threads and open file descriptors (/proc/PID) are
read before the first client, after the last one, and after all have
closed; then one more client must still be able to DESCRIBE and SETUP.

Servers, each its own process (benches/serve.py), all serving the same
forward launch:
  upstream         gst-rtsp-server's GstRTSPOnvifMediaFactory (no limit)
  element-0        onvifbackchannelsrc max-clients=0 (no limit, as before
                   max-clients existed)
  element          onvifbackchannelsrc with its default max-clients

    cargo build --release
    /usr/bin/python3 benches/clients.py [--clients 200]
        [--servers upstream,element-0,element] [--json out.json]

A client beyond max-clients gets 503 Service Unavailable (counted as
refused); any other failure is counted as failed and makes the exit status 1.
"""

import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

from rtsp_common import (RtspError, await_response, parse_responses, request_text,
                         sdp_tracks)

HOST = "127.0.0.1"
MOUNT = "/stream"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SERVE_PY = os.path.join(BENCH_DIR, "serve.py")
USER_AGENT = "onvif-backchannel-clients-bench"
LAUNCH = "( audiotestsrc is-live=true wave=silence ! mulawenc ! rtppcmupay name=pay0 pt=0 )"
TIMEOUT = 10.0
SETTLE = 2.0  # seconds before figures are read


class Refused(Exception):
    """The server answered 503 or closed the connection."""


class Client:
    """One RTSP connection that DESCRIBEs and SETUPs, and then stays open."""

    def __init__(self, port):
        self.url = f"rtsp://{HOST}:{port}{MOUNT}"
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.cseq = 0
        self.session = None
        self.buf = bytearray()
        self.responses = queue.Queue()

    def request(self, method, url, extra=None):
        """Send a request and read until its response; raises Refused on 503
        or a closed connection, RtspError on other failures."""
        self.cseq += 1
        self.sock.sendall(request_text(method, url, self.cseq, self.session, extra,
                                       USER_AGENT))
        deadline = time.monotonic() + TIMEOUT
        while self.responses.empty():
            if time.monotonic() > deadline:
                raise RtspError(f"{method}: no response within {TIMEOUT} s")
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise Refused(f"{method}: connection reset") from exc
            if not chunk:
                raise Refused(f"{method}: connection closed")
            self.buf += chunk
            parse_responses(self.buf, self.responses)
        if self.responses.queue[0][0] == 503:
            raise Refused(f"{method}: 503")
        return await_response(self.responses, threading.Event(), self.cseq, method,
                              deadline, TIMEOUT)[1:]

    def half_open(self):
        """DESCRIBE, then SETUP every track (TCP interleaved), no PLAY."""
        headers, sdp = self.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = headers.get("content-base", self.url + "/")
        for index, (control, _) in enumerate(sdp_tracks(sdp, base)):
            headers, _ = self.request(
                "SETUP", control,
                {"Transport": f"RTP/AVP/TCP;unicast;interleaved={2 * index}-{2 * index + 1}"})
            self.session = headers["session"].split(";")[0]

    def close(self):
        self.sock.close()


def proc_figures(pid):
    """(threads, open file descriptors) of a process."""
    with open(f"/proc/{pid}/status") as status:
        threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


def start_server(name, plugin_dir):
    """serve.py for `name`; returns (process, port)."""
    if name == "upstream":
        args = ["--impl", "upstream"]
    elif name == "element-0":
        args = ["--impl", "element", "--max-clients", "0"]
    else:
        args = ["--impl", "element"]
    proc = subprocess.Popen(["/usr/bin/python3", SERVE_PY, *args, "--launch", LAUNCH,
                             "--plugin-dir", plugin_dir],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"{name}: server did not start")
    return proc, int(line.split()[1])


def run(name, clients, plugin_dir):
    """The figures of one server with `clients` half-open sessions."""
    proc, port = start_server(name, plugin_dir)
    record = {"server": name, "clients": clients}
    try:
        time.sleep(SETTLE)
        record["start"] = proc_figures(proc.pid)
        held, ok, refused, failed, errors = [], 0, 0, 0, []
        started = time.monotonic()
        for i in range(clients):
            client = Client(port)
            held.append(client)
            try:
                client.half_open()
                ok += 1
            except Refused:
                refused += 1
            except (RtspError, OSError, KeyError) as exc:
                failed += 1
                errors.append(f"client {i + 1}: {exc!r}")
        record["seconds"] = round(time.monotonic() - started, 1)
        time.sleep(SETTLE)
        record["held"] = proc_figures(proc.pid)
        record.update(ok=ok, refused=refused, failed=failed, errors=errors[:5])
        for client in held:
            client.close()
        time.sleep(SETTLE)
        record["closed"] = proc_figures(proc.pid)
        # A slot must be free again for the next client.
        last = Client(port)
        try:
            last.half_open()
            record["next_client"] = "ok"
        except (Refused, RtspError, OSError, KeyError) as exc:
            record["next_client"] = repr(exc)
        finally:
            last.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--servers", default="upstream,element-0,element")
    parser.add_argument("--plugin-dir",
                        default=os.path.join(os.path.dirname(BENCH_DIR), "target", "release"))
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    results = []
    for name in args.servers.split(","):
        print(f"{name}: {args.clients} clients, DESCRIBE + SETUP, no PLAY ...", flush=True)
        results.append(run(name, args.clients, os.path.abspath(args.plugin_dir)))
    print()
    print(f"{'server':<12} {'ok':>4} {'503':>4} {'fail':>4} {'threads':>17} {'fds':>17} "
          f"{'after close':>14} {'next':>5}")
    for r in results:
        threads = f"{r['start'][0]} -> {r['held'][0]}"
        fds = f"{r['start'][1]} -> {r['held'][1]}"
        closed = f"{r['closed'][0]} / {r['closed'][1]}"
        print(f"{r['server']:<12} {r['ok']:>4} {r['refused']:>4} {r['failed']:>4} "
              f"{threads:>17} {fds:>17} {closed:>14} {r['next_client']:>5}")
        for err in r["errors"]:
            print(f"  {r['server']}: {err}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 1 if any(r["failed"] or r["next_client"] != "ok" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

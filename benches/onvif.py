#!/usr/bin/python3
"""ONVIF web side: time from Probe to stream URI, and the CPU and RSS it adds.

Runs in two network namespaces joined by a veth pair (tests/onvif/lab.py):
the elements in one, the clients (this script, re-executed there) in the
other, so WS-Discovery multicast stays between them. Standard library only
(tests/onvif/rawsoap.py is the client); needs root.

Discovery to URI, --runs times against one element (http-port, users-file):
a WS-Discovery Probe for dn:NetworkVideoTransmitter sent to 239.255.255.250
until the first ProbeMatches (its XAddr; runs --gap s apart, as the element
caps its discovery answers per second), then GetCapabilities, Media
GetProfiles and GetStreamUri, each a new HTTP connection with a
UsernameToken PasswordDigest (what Home Assistant, go2rtc and Scrypted send).
Reported: p50 and max of the total and of each step.

CPU and RSS: two elements started together, `http-port` off and on (with
WS-Discovery), both idle (no RTSP client), their CPU time
(utime+stime, /proc/PID/stat) over --seconds and RSS; then --clients
clients poll GetProfiles on the second one, each once a second on its own
keep-alive connection with a fresh UsernameToken, for --seconds: its CPU,
RSS and peak RSS (VmHWM), and the answers' p50/max time.

    sudo /usr/bin/python3 benches/onvif.py [--runs 20] [--clients 50] [--seconds 20]
"""

import argparse
import http.client
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(ROOT, "tests", "onvif"))
import lab  # noqa: E402
import rawsoap  # noqa: E402
from rawsoap import q  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_mb(pid, key):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def gst_pid(popen):
    """The gst-launch-1.0 process (nsenter execs it in place)."""
    with open(f"/proc/{popen.pid}/comm", encoding="ascii") as f:
        comm = f.read().strip()
    assert comm.startswith("gst-launch"), f"pid {popen.pid} is {comm}"
    return popen.pid


def measure(pids, seconds):
    """% of one core used by each pid over `seconds` (one common window)."""
    start = [cpu_seconds(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    return [100 * (cpu_seconds(p) - s) / wall for p, s in zip(pids, start)]


def ms(values):
    return f"{1000 * statistics.median(values):7.1f} {1000 * max(values):7.1f}"


# ---- Probe to stream URI ------------------------------------------------------

def probe_to_uri(user, password):
    steps = {}
    t0 = time.monotonic()
    xaddr = None
    for _peer, root, _data in rawsoap.probe_udp("239.255.255.250", types="dn:NetworkVideoTransmitter",
                                                timeout=5):
        if root is not None:
            xaddr = root.findtext(f".//{q('d', 'XAddrs')}")
            break
    if not xaddr:
        raise RuntimeError("no ProbeMatches within 5 s")
    steps["probe"] = time.monotonic() - t0
    m = re.match(r"http://([^/:]+):(\d+)(/.*)", xaddr.split()[0])
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    c = rawsoap.Client(host, port, user, password)
    t = time.monotonic()
    a = c.call("device", "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>",
               path=path)
    why = rawsoap.ok_response(a, "tds", "GetCapabilities")
    if why:
        raise RuntimeError(why)
    media_xaddr = a.root.findtext(f".//{q('tt', 'Media')}/{q('tt', 'XAddr')}")
    media_path = "/" + media_xaddr.split("/", 3)[3]
    steps["GetCapabilities"] = time.monotonic() - t
    t = time.monotonic()
    a = c.call("media", "<trt:GetProfiles/>", path=media_path)
    why = rawsoap.ok_response(a, "trt", "GetProfiles")
    if why:
        raise RuntimeError(why)
    token = a.body_child().find(q("trt", "Profiles")).get("token")
    steps["GetProfiles"] = time.monotonic() - t
    t = time.monotonic()
    a = c.call("media", "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
               "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
               f"<trt:ProfileToken>{token}</trt:ProfileToken></trt:GetStreamUri>", path=media_path)
    why = rawsoap.ok_response(a, "trt", "GetStreamUri")
    if why:
        raise RuntimeError(why)
    steps["GetStreamUri"] = time.monotonic() - t
    steps["total"] = time.monotonic() - t0
    return steps, a.root.findtext(f".//{q('tt', 'Uri')}")


# ---- pollers --------------------------------------------------------------------

def poller(host, port, user, password, stop, times, errors, offset):
    """GetProfiles once a second on one keep-alive connection."""
    time.sleep(offset)  # spread the clients over the second
    conn = http.client.HTTPConnection(host, port, timeout=10)
    next_at = time.monotonic()
    while not stop.is_set():
        body = rawsoap.envelope("<trt:GetProfiles/>", rawsoap.Token(user, password).header())
        t = time.monotonic()
        try:
            conn.request("POST", "/onvif/media_service", body=body,
                         headers={"Content-Type": rawsoap.SOAP12})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 or b"GetProfilesResponse" not in data:
                errors.append(f"HTTP {resp.status}")
            else:
                times.append(time.monotonic() - t)
        except (OSError, http.client.HTTPException) as e:
            errors.append(type(e).__name__)
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=10)
        next_at += 1.0
        stop.wait(max(0.0, next_at - time.monotonic()))
    conn.close()


# ---- main -----------------------------------------------------------------------

def start_camera(camera_ns, plugin_dir, work, name, **props):
    cam = lab.Camera(_Names(camera_ns), plugin_dir, None, os.path.join(work, f"{name}.log"),
                     tail="fakesink sync=false", **props)
    return cam.start()


class _Names:
    def __init__(self, camera_ns):
        self.camera_ns = camera_ns

    @staticmethod
    def argv(ns, argv):
        return lab.nsenter(ns, argv)


def inside(args):
    user, password = "operator", secrets.token_hex(8)
    work = args.work
    users = os.path.join(work, "users")
    with open(users, "w", encoding="utf-8") as f:
        f.write(f"{user}:{password}:talker\n")

    off = start_camera(args.camera_ns, args.plugin_dir, work, "off", port=0, users_file=users)
    on = start_camera(args.camera_ns, args.plugin_dir, work, "on", port=0, users_file=users,
                      http_port=-1)
    cams = [off, on]
    try:
        for cam in cams:
            if cam.bound("bound-port") is None:
                sys.exit(f"an element did not start:\n{cam.output()}")
        http_port = on.bound("bound-http-port")
        if not (http_port and http_port > 0 and
                lab.wait_port(lab.CAMERA_ADDR, http_port, time.monotonic() + 20)):
            sys.exit(f"no HTTP on {lab.CAMERA_ADDR} (bound-http-port {http_port}):\n{on.output()}")
        pids = [gst_pid(c.proc) for c in cams]

        print(f"Probe to stream URI, {args.runs} runs (ms, p50 and max):")
        results = []
        for _ in range(args.runs):
            steps, uri = probe_to_uri(user, password)
            results.append(steps)
            # Runs paced: the element caps its WS-Discovery answers per second.
            time.sleep(args.gap)
        print(f"  {'step':<16}{'p50':>8}{'max':>8}")
        for step in ("probe", "GetCapabilities", "GetProfiles", "GetStreamUri", "total"):
            print(f"  {step:<16}{ms([r[step] for r in results])}")
        print(f"  (stream URI {uri})")

        idle = measure(pids, args.seconds)
        idle_rss = [status_mb(p, "VmRSS") for p in pids]
        idle_threads = [threads(p) for p in pids]

        stop = threading.Event()
        times, errors = [], []
        workers = [threading.Thread(target=poller, daemon=True,
                                    args=(lab.CAMERA_ADDR, http_port, user, password, stop,
                                          times, errors, i / args.clients))
                   for i in range(args.clients)]
        for w in workers:
            w.start()
        time.sleep(2)  # all connected and polling before the window opens
        n_before = len(times)
        loaded = measure(pids, args.seconds)
        n_window = len(times) - n_before
        loaded_rss = [status_mb(p, "VmRSS") for p in pids]
        hwm = [status_mb(p, "VmHWM") for p in pids]
        loaded_threads = [threads(p) for p in pids]
        stop.set()
        for w in workers:
            w.join()

        print(f"\nElement CPU (% of one core) and RSS, idle over {args.seconds} s, then "
              f"{args.clients} clients polling GetProfiles once a second over {args.seconds} s:")
        print(f"  {'':<40}{'CPU':>7}{'RSS':>9}{'peak':>9}{'threads':>9}")
        print(f"  {'http-port off, idle':<40}{idle[0]:>6.1f}%{idle_rss[0]:>7.1f}MB{'':>9}{idle_threads[0]:>9}")
        print(f"  {'http-port on (discovery on), idle':<40}{idle[1]:>6.1f}%{idle_rss[1]:>7.1f}MB{'':>9}{idle_threads[1]:>9}")
        print(f"  {f'on, {args.clients} clients GetProfiles 1/s':<40}{loaded[1]:>6.1f}%"
              f"{loaded_rss[1]:>7.1f}MB{hwm[1]:>7.1f}MB{loaded_threads[1]:>9}")
        print(f"  ({n_window} GetProfiles answered in the window, {n_window / args.seconds:.1f}/s; "
              f"answer time p50 {1000 * statistics.median(times):.1f} ms, max {1000 * max(times):.1f} ms; "
              f"{len(errors)} errors"
              + (f": {sorted(set(errors))}" if errors else "") + ")")
    finally:
        for cam in cams:
            cam.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plugin-dir", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--gap", type=float, default=0.5, help="seconds between two Probe runs")
    p.add_argument("--inside", nargs=2, metavar=("CAMERA_NS", "WORK"), help=argparse.SUPPRESS)
    args = p.parse_args()
    args.plugin_dir = os.path.abspath(args.plugin_dir)
    if args.inside:
        args.camera_ns, args.work = args.inside
        return inside(args)
    if os.geteuid() != 0:
        sys.exit("benches/onvif.py: needs root (network namespaces)")
    with tempfile.TemporaryDirectory(prefix="onvif-bench-") as work, lab.Lab() as net:
        argv = [sys.executable, os.path.abspath(__file__), "--plugin-dir", args.plugin_dir,
                "--runs", str(args.runs), "--clients", str(args.clients),
                "--seconds", str(args.seconds), "--gap", str(args.gap),
                "--inside", net.camera_ns, work]
        return subprocess.run(net.argv(net.client_ns, argv), preexec_fn=lab.die_with_parent).returncode


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Idle cost: server CPU and RSS before any client, and after one came and went.

For each implementation, benches/serve.py runs one RTSP server in its own
process with the forward streams of `onvifbackchannelsrc`'s default launch
(VP8 320x240 15 fps test pattern and a PCMU tone). The server's CPU time
(utime+stime from /proc/PID/stat) is measured over --seconds:

  before   the server is up, no client has come yet;
  after    one client set up every track and the back channel, played for
           2 s and sent TEARDOWN; then --wait seconds passed (ours stops its
           forward pipeline forward-linger, 5 s by default, after the last
           client left).

    /usr/bin/python3 benches/idle.py [--seconds 10] [--wait 7] [--only ours|upstream]
"""

import argparse
import os
import sys
import time

from setup import BENCH_DIR, IMPLS, Client, start_server, stop_server

# onvifbackchannelsrc's default launch (src/onvifbackchannelsrc/imp.rs).
LAUNCH = ("( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 "
          "! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! rtpvp8pay name=pay0 pt=96 "
          "audiotestsrc is-live=true wave=sine freq=440 volume=0.1 "
          "! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0 )")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_percent(pid, seconds):
    """% of one core used by `pid` over the next `seconds`."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


def one_client(port):
    client = Client(port)
    try:
        client.setup_all()
        client.request("PLAY", client.url)
        time.sleep(2)
        client.request("TEARDOWN", client.url)
    finally:
        client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--wait", type=float, default=7.0,
                        help="after the client left, before measuring (default 7)")
    parser.add_argument("--only", choices=IMPLS)
    parser.add_argument("--plugin-dir",
                        default=os.path.join(os.path.dirname(BENCH_DIR), "target", "release"))
    args = parser.parse_args()
    print(f"{'server':<10}{'before: CPU':>12}{'RSS':>9}{'threads':>9}"
          f"{'after: CPU':>12}{'RSS':>9}{'threads':>9}")
    for impl in IMPLS:
        if args.only and impl != args.only:
            continue
        proc, port = start_server(impl, os.path.abspath(args.plugin_dir), LAUNCH)
        try:
            time.sleep(1)
            before = (cpu_percent(proc.pid, args.seconds), rss_mb(proc.pid), threads(proc.pid))
            one_client(port)
            time.sleep(args.wait)
            after = (cpu_percent(proc.pid, args.seconds), rss_mb(proc.pid), threads(proc.pid))
        finally:
            stop_server(proc)
        print(f"{impl:<10}{before[0]:>11.1f}%{before[1]:>7.1f}MB{before[2]:>9}"
              f"{after[0]:>11.1f}%{after[1]:>7.1f}MB{after[2]:>9}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

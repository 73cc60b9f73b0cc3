"""A two-host network made of Linux network namespaces, and the camera in it.

    camera namespace (CAMERA_ADDR) ---- veth ---- client namespace (CLIENT_ADDR)

The camera namespace runs `gst-launch-1.0 onvifbackchannelsrc ... ! wavenc !
filesink`; the client namespace runs the ONVIF clients. Multicast
(239.255.255.250, WS-Discovery) is routed onto the veth in both, so a Probe
sent in one reaches the other and nothing else: no packet of these tests
leaves the two namespaces. Every name carries this process's pid
(obc<pid>cam, obc<pid>cli), so concurrent runs do not meet, and namespaces
left behind by a run that was killed (its pid gone) are removed by the next.

Needs root (ip netns). Standard library only: runs under Debian's python3 or
the venv of scripts/onvif-venv.sh.
"""

import ctypes
import os
import re
import signal
import socket
import subprocess
import threading
import time

# TEST-NET-1 (RFC 5737): documentation addresses, on a link that exists only
# between the two namespaces.
CAMERA_ADDR = "192.0.2.1"
CLIENT_ADDR = "192.0.2.2"
PREFIX = "obc"

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when this process dies, however it
    dies (nsenter keeps it across its exec)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _ip(*args, check=True, ns=None):
    argv = ["ip", *args] if ns is None else nsenter(ns, ["ip", *args])
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def nsenter(ns, argv):
    """argv run in network namespace `ns`. nsenter switches only the network
    namespace; `ip netns exec` and `ip -n` also make a mount namespace and
    fail inside a chroot whose / is no mount point (scripts/test-trixie.sh)."""
    return ["nsenter", f"--net=/run/netns/{ns}", "--", *argv]


def _netns_pids(name):
    out = _ip("netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split()]


def _delete_netns(name):
    # Processes still in it keep it alive: end them first (they are ours: the
    # namespace was made by a run of this file).
    for pid in _netns_pids(name):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _ip("netns", "del", name, check=False)


def prune_stale():
    """Removes the namespaces of runs whose process is gone."""
    out = _ip("netns", "list", check=False).stdout
    for line in out.splitlines():
        m = re.match(rf"({PREFIX}(\d+)(cam|cli))\b", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            _delete_netns(m.group(1))


class Lab:
    """The two namespaces; a context manager that removes them on exit."""

    def __init__(self):
        pid = os.getpid()
        self.camera_ns = f"{PREFIX}{pid}cam"
        self.client_ns = f"{PREFIX}{pid}cli"
        # Interface names: at most 15 bytes.
        self.camera_if = f"{PREFIX}{pid}c"
        self.client_if = f"{PREFIX}{pid}l"

    def __enter__(self):
        prune_stale()
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()

    def _up(self):
        _ip("netns", "add", self.camera_ns)
        _ip("netns", "add", self.client_ns)
        _ip("link", "add", self.camera_if, "netns", self.camera_ns,
            "type", "veth", "peer", "name", self.client_if, "netns", self.client_ns)
        for ns, ifname, addr in ((self.camera_ns, self.camera_if, CAMERA_ADDR),
                                 (self.client_ns, self.client_if, CLIENT_ADDR)):
            _ip("link", "set", "lo", "up", ns=ns)
            _ip("addr", "add", f"{addr}/24", "dev", ifname, ns=ns)
            _ip("link", "set", ifname, "up", ns=ns)
            # No default route in either: multicast goes onto the veth.
            _ip("route", "add", "224.0.0.0/4", "dev", ifname, ns=ns)

    def down(self):
        for ns in (self.client_ns, self.camera_ns):
            _delete_netns(ns)

    def argv(self, ns, argv):
        """argv run inside namespace `ns` (self.camera_ns or self.client_ns)."""
        return nsenter(ns, argv)


def wait_port(host, port, deadline):
    """Polls a TCP port until it accepts a connection or `deadline`
    (time.monotonic()) passes."""
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


class Camera:
    """`gst-launch-1.0 -e -v onvifbackchannelsrc PROPS ! ... wavenc ! filesink`
    in the camera namespace (or here, with camera_ns None). Reads gst-launch's
    -v notifications for bound-port and bound-http-port."""

    TAIL = ("audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 "
            "! wavenc ! filesink")

    def __init__(self, lab, plugin_dir, wav, log, tail=None, **props):
        """wav: where the element's output goes (TAIL), or None with `tail`
        another pipeline end (e.g. fakesink)."""
        self.lab = lab
        self.plugin_dir = plugin_dir
        self.wav = wav
        self.tail = tail.split() if tail else [*self.TAIL.split(), f"location={wav}"]
        self.log_path = log
        self.props = props
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()

    def start(self):
        props = [f"{k.replace('_', '-')}={v}" for k, v in self.props.items()]
        argv = ["gst-launch-1.0", "-e", "-v", "onvifbackchannelsrc", "name=cam", *props,
                "!", *self.tail]
        if self.lab is not None:
            argv = self.lab.argv(self.lab.camera_ns, argv)
        env = dict(os.environ, GST_PLUGIN_PATH=self.plugin_dir)
        self.log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, preexec_fn=die_with_parent, text=True,
                                     errors="replace")
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF
            self.cond.notify_all()

    def wait_line(self, pattern, timeout):
        """The first match of `pattern` in gst-launch's output, waiting up to
        `timeout` s; None on EOF or timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    if line is None:
                        return None
                    m = regex.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def bound(self, prop, timeout=20):
        m = self.wait_line(rf"cam: {prop} = (-?\d+)", timeout)
        return int(m.group(1)) if m else None

    def output(self, last=40):
        with self.cond:
            return "".join(l for l in self.lines[-last:] if l)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGINT (EOS, so wavenc writes its header); returns the exit status,
        or None when it had to be killed."""
        if self.proc is None:
            return None
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            rc = self.proc.returncode
        self.log.close()
        return rc

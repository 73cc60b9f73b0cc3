#!/usr/bin/python3
"""Run ONE ONVIF back-channel RTSP server for benches/cpu.py.

    /usr/bin/python3 benches/serve.py --impl ours|upstream|element --launch "( ... )"
                                      [--policy mix] [--plugin-dir DIR]
                                      [--max-clients N]

The server listens on 127.0.0.1, on a free port, at rtsp://127.0.0.1:<n>/stream
and prints `PORT <n>` on stdout as soon as it is bound.  It serves until
SIGTERM or SIGINT and then exits 0.

--impl ours:     this crate's GstOnvifBackchannelMediaFactory (codecs PCMU,
                 output "fakesink sync=false", talk-policy from --policy).
                 The forward `launch` runs once for all clients.
--impl upstream: gst-rtsp-server's GstRTSPOnvifMediaFactory with a PCMU
                 back-channel launch; every client gets its own copy of
                 `launch` (and of the back-channel pipeline).
--impl element:  the onvifbackchannelsrc element (its own server, codecs
                 PCMU, output into fakesink), with --max-clients if given.

For ours, on exit one line per talker that left is printed:

    TALKER <talker> received=<n> dropped=<n> session=<rtsp session id>

(from the factory's talk-event::left signal; the session lets the client
match talkers to its connections).
"""

import argparse
import os
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, GObject, Gst, GstRtspServer  # noqa: E402

HOST = "127.0.0.1"
MOUNT = "/stream"
PLUGIN_FILE = "libgstonvifbackchannel.so"
OUR_TYPE = "GstOnvifBackchannelMediaFactory"
OUR_OUTPUT = "fakesink sync=false"
UPSTREAM_BACKCHANNEL = (
    "( capsfilter caps=\"application/x-rtp,media=audio,payload=0,"
    "clock-rate=8000,encoding-name=PCMU\" name=depay_backchannel "
    "! rtppcmudepay ! mulawdec {} ! fakesink async=false )"
)
# --upstream-decode: "bare" stops at the decoder's 8 kHz S16; "48k" also
# converts to what ours hands its output (F32, 48 kHz), as a device would need.
UPSTREAM_DECODE = {
    "bare": "",
    "48k": "! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate=48000",
}
# After SIGTERM, how long to keep the loop running for talkers that have not
# reported `left` yet (their back channel is being torn down).
LEFT_GRACE_SECONDS = 3.0


def repo_root():
    """The repository root (parent of benches/)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def upstream_factory(launch, decode):
    """Upstream GstRTSPOnvifMediaFactory with a PCMU back channel.

    The element named depay_backchannel must be the capsfilter: upstream
    queries its sink pad for fixed RTP caps to build the SDP.
    """
    factory = GstRtspServer.RTSPOnvifMediaFactory.new()
    factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
    factory.set_launch(launch)
    factory.set_backchannel_launch(UPSTREAM_BACKCHANNEL.format(UPSTREAM_DECODE[decode]))
    return factory


def our_factory(launch, policy, plugin_dir):
    """Load the plugin from `plugin_dir` and build our factory."""
    path = os.path.join(plugin_dir, PLUGIN_FILE)
    if not os.path.isfile(path):
        raise SystemExit(f"{path} does not exist (cargo build --release first)")
    Gst.Registry.get().scan_path(plugin_dir)
    Gst.Plugin.load_file(path)
    factory = GObject.new(GObject.type_from_name(OUR_TYPE))
    factory.set_property("launch", launch)
    factory.set_property("codecs", "PCMU")
    factory.set_property("output", OUR_OUTPUT)
    Gst.util_set_object_arg(factory, "talk-policy", policy)
    return factory


class TalkerLog:
    """Collects the talk events of our factory.

    Every event marks its talker as seen (so shutdown can wait for the
    `left` of each); `left` events keep the talker's final counters.
    Signals arrive on streaming threads, hence the lock.
    """

    def __init__(self, factory):
        self.lock = threading.Lock()
        self.seen = set()
        self.left = {}
        factory.connect("talk-event", self._on_event)

    def _on_event(self, _factory, structure):
        """Remember the talker; on `left`, record its counters."""
        talker = structure.get_value("talker")
        with self.lock:
            self.seen.add(talker)
            if structure.get_value("event") == "left":
                self.left[talker] = (structure.get_value("received"),
                                     structure.get_value("dropped"),
                                     structure.get_value("session"))

    def pending(self):
        """Talkers seen that have not left yet."""
        with self.lock:
            return self.seen - self.left.keys()

    def print_lines(self):
        """One TALKER line per talker that left."""
        with self.lock:
            for talker, (received, dropped, session) in self.left.items():
                print(f"TALKER {talker} received={received} dropped={dropped} "
                      f"session={session}")


def run_server(factory, talkers):
    """Serve `factory` until SIGTERM/SIGINT (then wait, bounded, for `left`s)."""
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPOnvifServer.new()
    server.set_address(HOST)
    server.set_service("0")
    server.get_mount_points().add_factory(MOUNT, factory)
    if not server.attach(None):
        raise SystemExit("failed to attach the RTSP server")

    def quit_when_talkers_left(deadline):
        """Quit once every talker seen has left, or at `deadline`."""
        if talkers is None or not talkers.pending() or time.monotonic() > deadline:
            loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    def on_signal():
        """Start the bounded shutdown on the first SIGTERM/SIGINT."""
        deadline = time.monotonic() + LEFT_GRACE_SECONDS
        GLib.timeout_add(50, quit_when_talkers_left, deadline)
        return GLib.SOURCE_REMOVE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_signal)
    # Only now: a SIGTERM sent right after reading the port must be handled.
    print(f"PORT {server.get_bound_port()}", flush=True)
    loop.run()


def run_element(launch, plugin_dir, max_clients):
    """Serve with an onvifbackchannelsrc pipeline until SIGTERM/SIGINT."""
    Gst.Registry.get().scan_path(plugin_dir)
    src = Gst.ElementFactory.make("onvifbackchannelsrc", "bc")
    if src is None:
        raise SystemExit(f"no onvifbackchannelsrc in {plugin_dir} (cargo build --release first)")
    src.set_property("address", HOST)
    src.set_property("port", 0)
    src.set_property("launch", launch)
    src.set_property("codecs", "PCMU")
    if max_clients is not None:
        src.set_property("max-clients", max_clients)
    sink = Gst.ElementFactory.make("fakesink")
    sink.set_property("sync", False)
    pipeline = Gst.Pipeline.new()
    pipeline.add(src)
    pipeline.add(sink)
    src.link(sink)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        raise SystemExit("the element did not start")
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"PORT {src.get_property('bound-port')}", flush=True)
    loop.run()
    pipeline.set_state(Gst.State.NULL)


def main():
    """Parse options, build the factory, serve, report talkers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", choices=("ours", "upstream", "element"), required=True)
    parser.add_argument("--launch", required=True,
                        help="forward pipeline description, '( ... name=pay0 ... )'")
    parser.add_argument("--policy", default="mix",
                        choices=("exclusive", "latest", "mix"),
                        help="talk-policy (ours only)")
    parser.add_argument("--upstream-decode", default="bare", choices=tuple(UPSTREAM_DECODE),
                        help="upstream's back channel: decode only (bare), or also "
                             "convert to F32 48 kHz as ours does (48k)")
    parser.add_argument("--plugin-dir",
                        default=os.path.join(repo_root(), "target", "release"),
                        help="directory holding " + PLUGIN_FILE + " (ours only)")
    parser.add_argument("--max-clients", type=int, default=None,
                        help="the element's max-clients (element only; default: its own)")
    args = parser.parse_args()

    Gst.init(None)
    if args.impl == "element":
        run_element(args.launch, os.path.abspath(args.plugin_dir), args.max_clients)
        return 0
    if args.impl == "ours":
        factory = our_factory(args.launch, args.policy, os.path.abspath(args.plugin_dir))
        talkers = TalkerLog(factory)
    else:
        factory = upstream_factory(args.launch, args.upstream_decode)
        talkers = None
    run_server(factory, talkers)
    if talkers is not None:
        talkers.print_lines()
    return 0


if __name__ == "__main__":
    sys.exit(main())

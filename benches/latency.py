#!/usr/bin/python3
"""ONVIF back-channel "mouth-to-sink" latency benchmark.

Compares, in a single run, the back channel of upstream gst-rtsp-server
(GstRTSPOnvifMediaFactory + set_backchannel_launch) at its default latency
and at latency=0 with this crate's GstOnvifBackchannelMediaFactory.

For every trial a raw RTSP client (plain Python sockets, no GStreamer)
connects over TCP, DESCRIBEs with the ONVIF back-channel Require tag, SETUPs
the sendonly audio track (TCP interleaved, or UDP with --transport udp),
PLAYs and then streams PCMU RTP in real time: 1 s of silence, 0.5 s of a loud 1 kHz tone, then silence.  The server
pipeline decodes the audio and sends S16LE samples to a UDP socket owned by
this script.  Latency is the time between writing the first loud RTP packet
and receiving the first UDP datagram that contains a loud sample.

The client sets TCP_NODELAY on its RTSP connection unless
--client-nodelay off: most clients leave Nagle's algorithm on, and then
over TCP each small packet waits in the client's kernel until the server has
acknowledged the previous one.

Run with Debian's interpreter (needs python3-gi, gir1.2-gst-rtsp-server-1.0):

    /usr/bin/python3 benches/latency.py [--trials N] [--json out.json]
                                        [--only upstream|ours]
                                        [--transport tcp|udp]
                                        [--client-nodelay on|off]
                                        [--plugin-dir DIR]
"""

import argparse
import json
import math
import os
import queue
import random
import socket
import struct
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, GObject, Gst, GstRtspServer  # noqa: E402
from rtsp_common import (RtspError, await_response, has_loud_sample, interleaved_channel,
                         linear_to_ulaw, request_text, sdp_tracks, server_rtp_port)

HOST = "127.0.0.1"
MOUNT = "/stream"
PLUGIN_FILE = "libgstonvifbackchannel.so"
OUR_TYPE = "GstOnvifBackchannelMediaFactory"

CLOCK_RATE = 8000
PACKET_SAMPLES = 160  # 20 ms of 8 kHz PCMU
PACKET_SECONDS = PACKET_SAMPLES / CLOCK_RATE
SILENCE_SECONDS = 1.0
TONE_SECONDS = 0.5
TONE_HZ = 1000
TONE_AMPLITUDE = 24000
LOUD_THRESHOLD = 8000
DETECT_TIMEOUT = 2.0  # seconds after the loud start before a trial fails
RTSP_TIMEOUT = 5.0  # seconds to wait for any RTSP response
QUIET_SECONDS = 0.5  # no RTP sent for this long before TEARDOWN

# How the talker reaches the server, set from the command line.
TRANSPORT = "tcp"  # RTP interleaved in the RTSP connection, or "udp"
CLIENT_NODELAY = True  # TCP_NODELAY on the RTSP connection

FORWARD_LAUNCH = (
    "( audiotestsrc is-live=true wave=silence ! mulawenc "
    "! rtppcmupay name=pay0 pt=0 )"
)


# --------------------------------------------------------------------------
# Audio helpers
# --------------------------------------------------------------------------


def make_payloads():
    """Return (silence, tone) PCMU payloads of one 20 ms packet each.

    1 kHz divides 8 kHz evenly, so a single packet of tone repeats seamlessly.
    """
    silence = bytes([0xFF]) * PACKET_SAMPLES
    tone = bytes(
        linear_to_ulaw(
            int(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * n / CLOCK_RATE))
        )
        for n in range(PACKET_SAMPLES)
    )
    return silence, tone


# --------------------------------------------------------------------------
# UDP receiver (the "sink" end)
# --------------------------------------------------------------------------


class LoudDetector:
    """Owns the UDP socket the server pipeline sends decoded audio to."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]

    def drain(self):
        """Discard datagrams left over from earlier trials."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65536)
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(0.05)

    def start(self, armed_at, deadline):
        """Start a thread looking for the first loud datagram.

        `armed_at` is a one-element list filled in by the sender just before
        the first loud packet goes out; datagrams received before that are
        ignored.  Returns (thread, found_event, result_list); result_list gets
        the monotonic receive time appended when a loud datagram arrives.
        """
        found = threading.Event()
        result = []

        def run():
            while time.monotonic() < deadline[0]:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                now = time.monotonic()
                if armed_at and now >= armed_at[0] and has_loud_sample(data, LOUD_THRESHOLD):
                    result.append(now)
                    found.set()
                    return

        thread = threading.Thread(target=run, name="udp-rx", daemon=True)
        thread.start()
        return thread, found, result

    def close(self):
        """Close the UDP socket."""
        self.sock.close()


# --------------------------------------------------------------------------
# Minimal RTSP client
# --------------------------------------------------------------------------


class RtspClient:
    """Tiny RTSP/1.0 client over one TCP connection, RTP interleaved in it or
    over UDP (TRANSPORT).

    A reader thread parses everything the server sends: RTSP responses are
    queued for `request()`, interleaved ($) frames are discarded.
    """

    def __init__(self, port):
        self.port = port
        self.url = f"rtsp://{HOST}:{port}{MOUNT}"
        self.sock = socket.create_connection((HOST, port), timeout=RTSP_TIMEOUT)
        if CLIENT_NODELAY:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(0.2)
        # UDP: one RTP/RTCP socket pair per track; forward data is never read
        # (the kernel drops it once the buffer is full).
        self.udp_sockets = []
        self.rtp_target = None  # interleaved channel, or (udp socket, address)
        self.cseq = 0
        self.session = None
        self.responses = queue.Queue()
        self.closed = threading.Event()
        self.reader = threading.Thread(target=self._read_loop, name="rtsp-rx",
                                       daemon=True)
        self.reader.start()

    def _read_loop(self):
        """Read from the socket until EOF/close, dispatching what arrives."""
        buf = b""
        while not self.closed.is_set():
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            buf = self._parse(buf)
        self.closed.set()

    def _parse(self, buf):
        """Consume complete messages from `buf`; return the unparsed rest."""
        while buf:
            if buf[0:1] == b"$":
                if len(buf) < 4:
                    break
                length = struct.unpack("!H", buf[2:4])[0]
                if len(buf) < 4 + length:
                    break
                buf = buf[4 + length:]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].decode("utf-8", "replace").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body_len = int(headers.get("content-length", "0"))
            if len(buf) < end + 4 + body_len:
                break
            body = buf[end + 4:end + 4 + body_len].decode("utf-8", "replace")
            buf = buf[end + 4 + body_len:]
            if head[0].startswith("RTSP/"):
                status = int(head[0].split()[1])
                self.responses.put((status, headers, body))
        return buf

    def request(self, method, url, extra=None):
        """Send a request and wait (bounded) for its response.

        Returns (status, headers, body); raises RtspError on timeout,
        connection loss or a non-2xx status.
        """
        self.cseq += 1
        self.sock.sendall(request_text(method, url, self.cseq, self.session, extra,
                                       "onvif-backchannel-latency-bench"))
        return await_response(self.responses, self.closed, self.cseq, method,
                              time.monotonic() + RTSP_TIMEOUT, RTSP_TIMEOUT)

    def send_interleaved(self, channel, payload):
        """Write one interleaved frame ($, channel, 16-bit length, data)."""
        self.sock.sendall(struct.pack("!cBH", b"$", channel, len(payload)) + payload)

    def udp_pair(self):
        """Bind an RTP/RTCP socket pair on consecutive ports; return the pair."""
        for _ in range(50):
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtp.bind((HOST, 0))
            port = rtp.getsockname()[1]
            if port % 2 == 0 and port < 65535:
                rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    rtcp.bind((HOST, port + 1))
                except OSError:
                    rtcp.close()
                else:
                    self.udp_sockets += [rtp, rtcp]
                    return rtp, rtcp
            rtp.close()
        raise RtspError("no free UDP port pair")

    def send_rtp(self, packet):
        """Send one RTP packet on the back channel set up by start_session()."""
        if isinstance(self.rtp_target, int):
            self.send_interleaved(self.rtp_target, packet)
        else:
            sock, address = self.rtp_target
            sock.sendto(packet, address)

    def close(self):
        """Stop the reader thread and close the connection."""
        self.closed.set()
        self.reader.join(timeout=1.0)
        self.sock.close()
        for sock in self.udp_sockets:
            sock.close()


# --------------------------------------------------------------------------
# One trial
# --------------------------------------------------------------------------


def start_session(client):
    """OPTIONS/DESCRIBE/SETUP/PLAY; sets client.rtp_target to the back
    channel (TRANSPORT: interleaved channel, or UDP to its server port) and
    returns it, or None if there is none."""
    client.request("OPTIONS", client.url)
    _, headers, sdp = client.request("DESCRIBE", client.url,
                                     {"Accept": "application/sdp"})
    base = headers.get("content-base", client.url + "/")
    # Forward tracks are set up too (first): otherwise upstream's unused
    # payloader can stop with "not-linked" and take the whole media down.
    tracks = sorted(sdp_tracks(sdp, base), key=lambda track: track[1])
    for index, (control, backchannel) in enumerate(tracks):
        if TRANSPORT == "udp":
            rtp, _ = client.udp_pair()
            port = rtp.getsockname()[1]
            transport = f"RTP/AVP;unicast;client_port={port}-{port + 1}"
        else:
            rtp = None
            transport = f"RTP/AVP/TCP;unicast;interleaved={2 * index}-{2 * index + 1}"
        _, headers, _ = client.request("SETUP", control, {"Transport": transport})
        client.session = headers["session"].split(";")[0]
        if backchannel:
            reply = headers.get("transport", "")
            client.rtp_target = (
                (rtp, (HOST, server_rtp_port(reply))) if rtp is not None
                else interleaved_channel(reply))
    client.request("PLAY", client.url)
    return client.rtp_target


def stream_and_measure(client, channel, detector, payloads):
    """Send silence, then the tone, in real time; return latency in s or None.

    Sending stops as soon as the loud audio is detected at the UDP socket or
    DETECT_TIMEOUT after the first loud packet was written.
    """
    silence, tone = payloads
    detector.drain()
    armed_at = []
    deadline = [time.monotonic() + SILENCE_SECONDS + DETECT_TIMEOUT + 1.0]
    rx_thread, found, received = detector.start(armed_at, deadline)

    ssrc = random.getrandbits(32)
    seq = random.getrandbits(16)
    rtp_ts = random.getrandbits(32)
    silence_packets = round(SILENCE_SECONDS / PACKET_SECONDS)
    tone_packets = round(TONE_SECONDS / PACKET_SECONDS)
    start = time.monotonic()
    loud_sent = None
    n = 0
    while not found.is_set():
        if loud_sent is not None and time.monotonic() > loud_sent + DETECT_TIMEOUT:
            break
        is_tone = silence_packets <= n < silence_packets + tone_packets
        marker = 0x80 if n == 0 else 0
        packet = struct.pack("!BBHII", 0x80, marker, seq & 0xFFFF,
                             rtp_ts & 0xFFFFFFFF, ssrc)
        packet += tone if is_tone else silence
        if is_tone and loud_sent is None:
            armed_at.append(time.monotonic())
            client.send_rtp(packet)
            loud_sent = time.monotonic()
            deadline[0] = loud_sent + DETECT_TIMEOUT
        else:
            client.send_rtp(packet)
        seq += 1
        rtp_ts += PACKET_SAMPLES
        n += 1
        due = start + n * PACKET_SECONDS
        now = time.monotonic()
        if due > now:
            found.wait(due - now)

    rx_thread.join(timeout=DETECT_TIMEOUT + 1.0)
    if received and loud_sent is not None:
        return received[0] - loud_sent
    return None


def run_trial(rtsp_port, detector, payloads):
    """Run one connect/stream/teardown cycle; return latency in s or None."""
    client = RtspClient(rtsp_port)
    try:
        channel = start_session(client)
        if channel is None:
            raise RtspError("back channel SETUP returned no RTP target")
        latency = stream_and_measure(client, channel, detector, payloads)
        # Let the server's back-channel pipeline run dry before TEARDOWN:
        # upstream gst-rtsp-server 1.22 can deadlock when a TEARDOWN arrives
        # while back-channel buffers are still flowing into the sink.
        time.sleep(QUIET_SECONDS)
        try:
            client.request("TEARDOWN", client.url)
        except (RtspError, OSError):
            pass
        return latency
    finally:
        client.close()


class BackgroundTalkers:
    """Clients that talk quietly (a 440 Hz tone far below LOUD_THRESHOLD) the
    whole time, so that under talk-policy mix the measured talker is one of
    several being mixed."""

    AMPLITUDE = 600

    def __init__(self, rtsp_port, count):
        self.stop_event = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self._talk, args=(rtsp_port, i),
                                         name=f"talker-{i}", daemon=True)
                        for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _talk(self, rtsp_port, index):
        """Connect, then send quiet PCMU in real time until stopped."""
        client = RtspClient(rtsp_port)
        try:
            channel = start_session(client)
            ssrc, seq, rtp_ts, phase = random.getrandbits(32), 0, 0, 0
            start = time.monotonic()
            n = 0
            while not self.stop_event.is_set():
                payload = bytes(
                    linear_to_ulaw(int(self.AMPLITUDE * math.sin(
                        2 * math.pi * 440 * (phase + k) / CLOCK_RATE)))
                    for k in range(PACKET_SAMPLES))
                packet = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF,
                                     rtp_ts & 0xFFFFFFFF, ssrc) + payload
                client.send_rtp(packet)
                seq, rtp_ts, phase, n = seq + 1, rtp_ts + PACKET_SAMPLES, phase + PACKET_SAMPLES, n + 1
                self.stop_event.wait(max(0.0, start + n * PACKET_SECONDS - time.monotonic()))
            time.sleep(QUIET_SECONDS)
            client.request("TEARDOWN", client.url)
        except (RtspError, OSError, KeyError) as exc:
            self.errors.append(f"background talker {index}: {exc!r}")
        finally:
            client.close()

    def stop(self):
        """Stop talking and disconnect."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=RTSP_TIMEOUT + QUIET_SECONDS + 1.0)


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


class ServerThread:
    """An RTSPOnvifServer on 127.0.0.1 (any free port) with its own loop."""

    def __init__(self, factory):
        self.context = GLib.MainContext()
        self.loop = GLib.MainLoop(self.context)
        self.server = GstRtspServer.RTSPOnvifServer.new()
        self.server.set_address(HOST)
        self.server.set_service("0")
        self.server.get_mount_points().add_factory(MOUNT, factory)
        self.source_id = self.server.attach(self.context)
        if not self.source_id:
            raise RuntimeError("failed to attach RTSP server")
        self.port = self.server.get_bound_port()
        self.thread = threading.Thread(target=self._run, name="rtsp-server",
                                       daemon=True)
        self.thread.start()

    def _run(self):
        """Run the main loop with our context as the thread default."""
        self.context.push_thread_default()
        try:
            self.loop.run()
        finally:
            self.context.pop_thread_default()

    def stop(self):
        """Stop serving and end the loop thread (bounded wait)."""
        source = self.context.find_source_by_id(self.source_id)
        if source:
            source.destroy()
        self.loop.quit()
        self.thread.join(timeout=5.0)


def upstream_factory(udp_port, latency):
    """Upstream GstRTSPOnvifMediaFactory with a back-channel launch line.

    The capsfilter is named depay_backchannel because the caps query on that
    element's sink pad must return fixed RTP caps (payload, clock-rate,
    encoding-name); a depayloader's sink pad would only return its templates.
    """
    factory = GstRtspServer.RTSPOnvifMediaFactory.new()
    factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
    factory.set_launch(FORWARD_LAUNCH)
    factory.set_backchannel_launch(
        "( capsfilter caps=\"application/x-rtp,media=audio,payload=0,"
        "clock-rate=8000,encoding-name=PCMU\" name=depay_backchannel "
        "! rtppcmudepay ! mulawdec ! audioconvert "
        "! audio/x-raw,format=S16LE,rate=8000,channels=1 "
        f"! udpsink host={HOST} port={udp_port} sync=true async=false )")
    if latency is not None:
        factory.set_latency(latency)
    return factory


def default_plugin_dir():
    """target/release or target/debug (first holding the plugin), repo-relative."""
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for profile in ("release", "debug"):
        candidate = os.path.join(repo_root, "target", profile)
        if os.path.isfile(os.path.join(candidate, PLUGIN_FILE)):
            return candidate
    return os.path.join(repo_root, "target", "release")


def load_our_type(plugin_dir):
    """Scan `plugin_dir`, load our plugin and return (gtype, None) or (None, why).

    Also checks that the type has the properties this benchmark sets.
    """
    path = os.path.join(plugin_dir, PLUGIN_FILE)
    if not os.path.isfile(path):
        return None, f"{path} does not exist (build the plugin first)"
    Gst.Registry.get().scan_path(plugin_dir)
    try:
        Gst.Plugin.load_file(path)
    except GLib.Error as exc:
        return None, f"cannot load {path}: {exc.message}"
    try:
        gtype = GObject.type_from_name(OUR_TYPE)
    except RuntimeError:
        return None, f"type {OUR_TYPE} is not registered by {path}"
    probe = GObject.new(gtype)
    missing = [name for name in ("launch", "latency", "codecs", "output")
               if probe.find_property(name) is None]
    if missing:
        return None, f"{OUR_TYPE} lacks properties: {', '.join(missing)}"
    return gtype, None


def our_factory(gtype, udp_port, policy, latency=None):
    """Our GstOnvifBackchannelMediaFactory decoding into the UDP socket."""
    factory = GObject.new(gtype)
    factory.set_property("talk-policy", policy)
    if latency is not None:
        factory.set_latency(latency)
    factory.set_property("launch", FORWARD_LAUNCH)
    factory.set_property("codecs", "PCMU")
    factory.set_property(
        "output",
        "audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=8000,channels=1 "
        f"! udpsink host={HOST} port={udp_port} sync=true")
    return factory


# --------------------------------------------------------------------------
# Statistics / reporting
# --------------------------------------------------------------------------


def percentile(values, pct):
    """Linear-interpolated percentile of a non-empty list."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(name, latencies_ms, failures, errors):
    """Build the result record of one server configuration."""
    record = {"name": name, "trials": len(latencies_ms) + failures,
              "failures": failures, "errors": errors,
              "latencies_ms": [round(v, 2) for v in latencies_ms]}
    if latencies_ms:
        record.update(p50_ms=round(percentile(latencies_ms, 50), 2),
                      p90_ms=round(percentile(latencies_ms, 90), 2),
                      min_ms=round(min(latencies_ms), 2),
                      max_ms=round(max(latencies_ms), 2))
    return record


def benchmark(name, make_factory, trials, payloads, background=0):
    """Run `trials` trials against a fresh server built by make_factory(port),
    with `background` other clients talking quietly all along."""
    detector = LoudDetector()
    server = ServerThread(make_factory(detector.port))
    latencies, failures, errors = [], 0, []
    print(f"{name}: rtsp://{HOST}:{server.port}{MOUNT}, udp sink port "
          f"{detector.port}", flush=True)
    talkers = BackgroundTalkers(server.port, background) if background else None
    try:
        for i in range(trials):
            try:
                latency = run_trial(server.port, detector, payloads)
            except (RtspError, OSError, KeyError) as exc:
                latency = None
                errors.append(f"trial {i + 1}: {exc!r}")
            if latency is None:
                failures += 1
                print(f"  trial {i + 1:2d}: FAILED", flush=True)
            else:
                latencies.append(latency * 1000)
                print(f"  trial {i + 1:2d}: {latency * 1000:7.1f} ms", flush=True)
    finally:
        if talkers:
            talkers.stop()
            errors.extend(talkers.errors)
        server.stop()
        detector.close()
    return summarize(name, latencies, failures, errors)


def print_table(results):
    """Print the summary table."""
    print()
    print(f"{'server':<32} {'ok':>3} {'fail':>4} {'p50':>8} {'p90':>8} "
          f"{'min':>8} {'max':>8}   (ms)")
    for r in results:
        ok = r["trials"] - r["failures"]
        if "p50_ms" in r:
            stats = " ".join(f"{r[k]:8.1f}" for k in
                             ("p50_ms", "p90_ms", "min_ms", "max_ms"))
        else:
            stats = " ".join(f"{'-':>8}" for _ in range(4))
        print(f"{r['name']:<32} {ok:>3} {r['failures']:>4} {stats}")
    for r in results:
        for err in r["errors"]:
            print(f"  {r['name']}: {err}")


def main():
    """Parse options, run the selected configurations, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--json", metavar="FILE", help="write results as JSON")
    parser.add_argument("--only", choices=("upstream", "ours"))
    parser.add_argument("--plugin-dir", default=None,
                        help="directory holding " + PLUGIN_FILE)
    parser.add_argument("--talk-policy", default="exclusive",
                        choices=("exclusive", "latest", "mix"),
                        help="our factory's talk-policy")
    parser.add_argument("--background-talkers", type=int, default=0,
                        help="other clients talking quietly all along (ours only; "
                             "use with --talk-policy mix)")
    parser.add_argument("--ours-latency-0", action="store_true",
                        help="also measure ours with latency=0 (no start delay for new talkers)")
    parser.add_argument("--lead-in-ms", type=int, default=1000,
                        help="silence sent before the tone (0: the tone starts "
                             "the talk, so stream set-up counts too)")
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp",
                        help="how the talker sends RTP: interleaved in the RTSP "
                             "connection (tcp) or over UDP")
    parser.add_argument("--client-nodelay", choices=("on", "off"), default="on",
                        help="TCP_NODELAY on the client's RTSP connection (off: "
                             "Nagle's algorithm, as most clients leave it)")
    args = parser.parse_args()
    global SILENCE_SECONDS, TRANSPORT, CLIENT_NODELAY
    SILENCE_SECONDS = args.lead_in_ms / 1000
    TRANSPORT = args.transport
    CLIENT_NODELAY = args.client_nodelay == "on"
    print(f"lead-in: {args.lead_in_ms} ms of silence before the tone; talker "
          f"over {TRANSPORT}, client TCP_NODELAY {args.client_nodelay}", flush=True)

    Gst.init(None)
    payloads = make_payloads()
    results = []
    notes = []

    if args.only in (None, "upstream"):
        results.append(benchmark("upstream (latency=200 default)",
                                 lambda port: upstream_factory(port, None),
                                 args.trials, payloads))
        results.append(benchmark("upstream (latency=0)",
                                 lambda port: upstream_factory(port, 0),
                                 args.trials, payloads))

    if args.only in (None, "ours"):
        plugin_dir = os.path.abspath(args.plugin_dir or default_plugin_dir())
        gtype, why = load_our_type(plugin_dir)
        if gtype is None:
            notes.append(f"ours: SKIPPED - {why}")
            print(notes[-1], flush=True)
        else:
            label = f"ours (defaults, {args.talk_policy}"
            if args.background_talkers:
                label += f", +{args.background_talkers} talking"
            results.append(benchmark(label + ")",
                                     lambda port: our_factory(gtype, port, args.talk_policy),
                                     args.trials, payloads, args.background_talkers))
            if args.ours_latency_0:
                results.append(benchmark(
                    f"ours (latency=0, {args.talk_policy})",
                    lambda port: our_factory(gtype, port, args.talk_policy, 0),
                    args.trials, payloads, args.background_talkers))

    print_table(results)
    for note in notes:
        print(note)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"results": results, "notes": notes}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

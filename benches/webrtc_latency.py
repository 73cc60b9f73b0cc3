#!/usr/bin/python3
"""Mouth-to-sink latency of WebRTC (WHIP) talkers against an RTSP talker.

One GstOnvifBackchannelMediaFactory of this crate, mounted on a
GstRTSPOnvifServer on 127.0.0.1, takes three kinds of talkers in the same
run, on the same talk floor and into the same output (the clock-synced
`udpsink sync=true` of benches/latency.py, S16LE 8 kHz to a UDP socket owned
by this script):

  rtsp-pcmu    the raw RTSP client of benches/latency.py: PCMU RTP
               interleaved in the RTSP connection (TCP, TCP_NODELAY);
  webrtc-pcmu  a GStreamer webrtcbin sender sending PCMU, its offer answered
               through the factory's `webrtc-offer` action signal;
  webrtc-opus  the same sending Opus (opusenc defaults, 20 ms frames).

Trials are interleaved (rtsp-pcmu, webrtc-pcmu, webrtc-opus, rtsp-pcmu, ...),
each a fresh session: TEARDOWN, or `webrtc-hang-up`, and the talker's
talk-event::left awaited before the next one. Every talker sends 20 ms frames
in real time:

  1. a loud 1 kHz tone from the start of the session (RTSP: the PLAY reply;
     WebRTC: the answer applied to the sender) until it comes out of the
     output: "session start -> first audio out";
  2. 1.5 s of digital silence (longer than the 1 s after which a talk spurt
     ends, so the next tone starts a new spurt, as after latency.py's lead-in);
  3. the tone again until it comes out: the mouth-to-sink latency.

The mouth is, for the RTSP talker, the instant its first loud RTP packet was
written to the socket (as in benches/latency.py); for the WebRTC talkers the
instant the first loud RTP packet leaves the sender's payloader (a pad probe
on rtppcmupay's or rtpopuspay's src pad), so the sender's rtpbin, SRTP and
ICE are counted, its encoder is not (a packet leaves once its 20 ms frame is
complete). Opus's lookahead (6.5 ms with opusenc's default audio-type) still
shows at the sink: the decoded tone starts that far into the first loud
packet, after a short quiet ramp, so its first loud sample usually falls
into the output's next 10 ms block. The sink is the arrival of the first UDP
datagram holding a loud sample.

For the WebRTC talkers it also reports the offer -> answer time (the
blocking action signal), and splits "session start -> first audio out" at
the sender's webrtcbin becoming `connected` (ICE and DTLS done): the first
words' packets sent before that are dropped by the sender, the ones after
it meet the receiver's jitter buffer, which holds a stream's first packet
for its latency.

Run with Debian's interpreter (python3-gi, gir1.2-gst-rtsp-server-1.0,
gir1.2-gst-plugins-bad-1.0, gstreamer1.0-nice), after cargo build --release:

    /usr/bin/python3 benches/webrtc_latency.py [--trials N] [--latency MS]
                                               [--json out.json]
                                               [--plugin-dir DIR]

Everything stays on 127.0.0.1: the sender gathers candidates on it only
(libnice's UPnP off), its offer keeps only 127.0.0.1 candidates, and there is
no STUN or TURN server.
"""

import argparse
import ctypes
import json
import math
import os
import queue
import random
import struct
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GObject, Gst, GstSdp, GstWebRTC  # noqa: E402

import latency as rtsp  # noqa: E402  benches/latency.py: its client, server, sink
from rtsp_common import RtspError  # noqa: E402

HOST = rtsp.HOST
FRAME_SECONDS = 0.02
TONE_HZ = 1000  # whole periods in 20 ms at 8 and 48 kHz: frames repeat seamlessly
TONE_AMPLITUDE = rtsp.TONE_AMPLITUDE
SETTLE_SECONDS = 1.5  # silence between the first words and the measured tone
SETUP_TIMEOUT = 5.0  # session start -> first audio out, before the trial fails
DETECT_TIMEOUT = 2.0  # loud tone sent -> heard, before the trial fails
QUIET_SECONDS = 0.5  # silence sent after the measured tone, before hanging up
PROMISE_TIMEOUT = 10.0  # any webrtcbin promise, ICE gathering
LEFT_TIMEOUT = 5.0  # hang-up/TEARDOWN -> talk-event::left
STATE_TIMEOUT = 5.0  # sender pipeline to NULL

KINDS = ("rtsp-pcmu", "webrtc-pcmu", "webrtc-opus")
# encoder, payloader, encoding-name, clock-rate (= sample rate sent), payload type
WEBRTC_CODECS = {
    "PCMU": ("mulawenc", "rtppcmupay", "PCMU", 8000, 0),
    "OPUS": ("opusenc", "rtpopuspay", "OPUS", 48000, 111),
}


class TrialError(Exception):
    """A trial could not be run or measured."""


# --------------------------------------------------------------------------
# Talkers: each sends the n-th 20 ms frame, loud or silent, and tells when
# the first loud frame of the measured tone left its mouth.
# --------------------------------------------------------------------------


class RtspTalker:
    """The raw RTSP client of benches/latency.py sending PCMU interleaved."""

    kind = "rtsp-pcmu"

    def __init__(self, rtsp_port, payloads):
        self.silence, self.tone = payloads
        self.client = rtsp.RtspClient(rtsp_port)
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.watched = None
        self.mouth_at = None
        self.setup = {}

    def start(self):
        """DESCRIBE/SETUP/PLAY; returns the instant the session can talk."""
        if rtsp.start_session(self.client) is None:
            raise TrialError("back channel SETUP returned no RTP target")
        return time.monotonic()

    def watch(self, n):
        """Record when frame n is sent."""
        self.watched, self.mouth_at = n, None

    def frame(self, n, loud):
        """Send frame n."""
        marker = 0x80 if n == 0 else 0
        packet = struct.pack("!BBHII", 0x80, marker, (self.seq + n) & 0xFFFF,
                             (self.ts + n * rtsp.PACKET_SAMPLES) & 0xFFFFFFFF, self.ssrc)
        self.client.send_rtp(packet + (self.tone if loud else self.silence))
        if n == self.watched:
            self.mouth_at = time.monotonic()

    def mouth(self):
        """When the watched frame was written, or None."""
        return self.mouth_at

    def stop(self):
        """TEARDOWN and close."""
        try:
            self.client.request("TEARDOWN", self.client.url)
        except (RtspError, OSError):
            pass
        finally:
            self.client.close()


def wait_promise(emit):
    """Call emit(promise) and wait (bounded) for the promise's reply."""
    done = threading.Event()
    promise = Gst.Promise.new_with_change_func(lambda _p: done.set())
    emit(promise)
    if not done.wait(PROMISE_TIMEOUT):
        raise TrialError(f"webrtcbin promise not answered in {PROMISE_TIMEOUT} s")
    reply = promise.get_reply()
    if reply is not None and reply.has_field("error"):
        raise TrialError(f"webrtcbin: {reply.get_value('error')}")
    return reply


def ice_agent(webrtc):
    """webrtcbin's ICE object, keeping webrtcbin's reference to it.

    webrtcbin 1.22 holds its ICE object (a GstObject, created floating) by
    that floating reference alone: g_object_get(webrtcbin, "ice-agent")
    returns it with the floating flag still set (checked in C on 1.22.0;
    Rust's glib takes it with g_value_dup_object and is not affected).
    PyGObject sinks a floating reference when
    it wraps the object and drops it with the wrapper: webrtcbin is then left
    with a freed object (GStreamer-WebRTC-CRITICAL "GST_IS_WEBRTC_ICE (ice)"
    at set-remote-description, no connection). So when the wrapper holds
    the only reference, which only happens with that floating reference, one
    is added back for webrtcbin; a webrtcbin that holds a reference of its own
    is left alone.
    """
    ice = webrtc.get_property("ice-agent")
    if ice.__grefcount__ == 1:
        libgobject = ctypes.CDLL("libgobject-2.0.so.0")
        libgobject.g_object_ref.argtypes = [ctypes.c_void_p]
        libgobject.g_object_ref.restype = ctypes.c_void_p
        capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        capsule_pointer.restype = ctypes.c_void_p
        libgobject.g_object_ref(capsule_pointer(ice.__gpointer__, None))
    return ice


def loopback_candidates(sdp):
    """Keep only candidates on 127.0.0.1: no packet may leave loopback."""
    return "".join(line for line in sdp.splitlines(keepends=True)
                   if not line.startswith("a=candidate:") or " 127.0.0.1 " in line)


class WebRtcTalker:
    """A webrtcbin WHIP sender: appsrc (S16LE at the codec's rate) ! encoder !
    payloader ! webrtcbin, sendonly, its offer answered by the factory."""

    def __init__(self, factory, codec, payloads):
        self.factory = factory
        encoder, payloader, name, rate, pt = WEBRTC_CODECS[codec]
        self.kind = "webrtc-" + codec.lower()
        self.rate = rate
        self.silence = bytes(2 * rate // 50)
        self.tone = payloads
        self.session = None
        self.setup = {}
        self.watched_pts = None
        self.mouth_at = None
        self.mouth_seen = threading.Event()
        self.connected_at = None
        self.connected = threading.Event()
        self.pts_base = None
        self.pipeline = Gst.parse_launch(
            f"appsrc name=src is-live=true format=time do-timestamp=false "
            f"caps=audio/x-raw,format=S16LE,rate={rate},channels=1,layout=interleaved "
            f"! {encoder} ! {payloader} name=pay pt={pt} "
            f"! application/x-rtp,media=audio,encoding-name={name},"
            f"clock-rate={rate},payload={pt} "
            "! webrtcbin name=send bundle-policy=max-bundle")
        self.appsrc = self.pipeline.get_by_name("src")
        self.webrtc = self.pipeline.get_by_name("send")
        self.pipeline.get_by_name("pay").get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER, self._on_rtp)
        self.webrtc.connect("notify::connection-state", self._on_connection_state)
        self.codec_caps = Gst.Caps.from_string(
            f"application/x-rtp,media=audio,encoding-name={name},"
            f"clock-rate={rate},payload={pt}")

    def _on_rtp(self, _pad, info):
        """Payloader src probe: the mouth is the first packet of the watched frame."""
        if self.watched_pts is not None and not self.mouth_seen.is_set():
            pts = info.get_buffer().pts
            if pts != Gst.CLOCK_TIME_NONE and pts + Gst.MSECOND >= self.watched_pts:
                self.mouth_at = time.monotonic()
                self.mouth_seen.set()
        return Gst.PadProbeReturn.OK

    def _on_connection_state(self, webrtc, _pspec):
        if (webrtc.get_property("connection-state")
                == GstWebRTC.WebRTCPeerConnectionState.CONNECTED
                and not self.connected.is_set()):
            self.connected_at = time.monotonic()
            self.connected.set()

    def _offer(self):
        """Gather (127.0.0.1 only, no UPnP) and return the offer SDP."""
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise TrialError("sender pipeline does not start")
        ice = ice_agent(self.webrtc)
        if not ice.emit("add-local-ip-address", HOST):
            raise TrialError("sender: cannot gather on 127.0.0.1")
        if ice.find_property("agent") is not None:
            ice.get_property("agent").set_property("upnp", False)
        transceiver = self.webrtc.emit("get-transceiver", 0)
        transceiver.set_property("direction",
                                 GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        transceiver.set_property("codec-preferences", self.codec_caps)
        reply = wait_promise(lambda p: self.webrtc.emit("create-offer", None, p))
        offer = reply.get_value("offer")
        gathered = threading.Event()

        def on_gathering(webrtc, _pspec):
            if (webrtc.get_property("ice-gathering-state")
                    == GstWebRTC.WebRTCICEGatheringState.COMPLETE):
                gathered.set()

        handler = self.webrtc.connect("notify::ice-gathering-state", on_gathering)
        try:
            wait_promise(lambda p: self.webrtc.emit("set-local-description", offer, p))
            if (self.webrtc.get_property("ice-gathering-state")
                    != GstWebRTC.WebRTCICEGatheringState.COMPLETE
                    and not gathered.wait(PROMISE_TIMEOUT)):
                raise TrialError("sender: ICE gathering did not complete")
        finally:
            self.webrtc.disconnect(handler)
        sdp = self.webrtc.get_property("local-description").sdp.as_text()
        return loopback_candidates(sdp)

    def start(self):
        """Offer, answer through the factory's action signal, apply the answer;
        returns the instant the answer was applied."""
        offer = self._offer()
        asked = time.monotonic()
        reply = self.factory.emit("webrtc-offer", offer, f"{HOST}:9", HOST)
        self.setup["offer_to_answer_ms"] = (time.monotonic() - asked) * 1000
        if reply is None or reply.get_value("status") != 201:
            reason = reply.get_value("reason") if reply is not None else "no reply"
            raise TrialError(f"webrtc-offer refused: {reason}")
        self.session = reply.get_value("session")
        ok, sdp = GstSdp.SDPMessage.new_from_text(reply.get_value("sdp"))
        if ok != GstSdp.SDPResult.OK:
            raise TrialError("the answer is not SDP")
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        wait_promise(lambda p: self.webrtc.emit("set-remote-description", answer, p))
        return time.monotonic()

    def watch(self, n):
        """Record when the first RTP packet of frame n leaves the payloader."""
        self.mouth_seen.clear()
        self.mouth_at = None
        self.watched_pts = self.pts_base + n * int(FRAME_SECONDS * Gst.SECOND)

    def frame(self, n, loud):
        """Push frame n, timestamped on a 20 ms grid from the first frame's
        running time."""
        if self.pts_base is None:
            clock = self.pipeline.get_clock()
            self.pts_base = clock.get_time() - self.pipeline.get_base_time()
        buf = Gst.Buffer.new_wrapped(self.tone if loud else self.silence)
        buf.pts = self.pts_base + n * int(FRAME_SECONDS * Gst.SECOND)
        buf.duration = int(FRAME_SECONDS * Gst.SECOND)
        if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            raise TrialError("sender: push-buffer failed")

    def mouth(self):
        """When the watched frame left the payloader (waits a little), or None."""
        self.mouth_seen.wait(1.0)
        return self.mouth_at

    def stop(self):
        """Hang up through the factory, then stop the sender (bounded)."""
        if self.session is not None:
            self.factory.emit("webrtc-hang-up", self.session)
        bus = self.pipeline.get_bus()
        message = bus.pop_filtered(Gst.MessageType.ERROR)
        error = message.parse_error()[0].message if message else None
        stopper = threading.Thread(target=self.pipeline.set_state, args=(Gst.State.NULL,),
                                   daemon=True)
        stopper.start()
        stopper.join(STATE_TIMEOUT)
        if stopper.is_alive():
            raise TrialError("sender pipeline did not stop in time")
        if error:
            raise TrialError(f"sender: {error}")


def tone_frame(rate):
    """20 ms of the loud tone as S16LE at `rate`."""
    samples = [int(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * k / rate))
               for k in range(rate // 50)]
    return struct.pack(f"<{len(samples)}h", *samples)


# --------------------------------------------------------------------------
# One trial
# --------------------------------------------------------------------------


def listen(detector, armed_at, timeout):
    """Start looking for the first loud datagram after armed_at[0]."""
    detector.drain()
    return detector.start(armed_at, [time.monotonic() + timeout])


def run_trial(talker, detector, events):
    """Start the talker's session, run the three phases, hang up and wait for
    it to leave the floor. Returns a dict of measurements (ms)."""
    result = {}
    started = False
    try:
        start = talker.start()
        started = True
        result.update(talker.setup)
        n = 0
        t0 = time.monotonic()

        def send(loud):
            nonlocal n
            talker.frame(n, loud)
            n += 1
            delay = t0 + n * FRAME_SECONDS - time.monotonic()
            if delay > 0:
                time.sleep(delay)

        # 1. First words: loud from the session's start until heard.
        thread, found, heard = listen(detector, [start], SETUP_TIMEOUT)
        while not found.is_set() and time.monotonic() < start + SETUP_TIMEOUT:
            send(True)
        thread.join(1.0)
        if not heard:
            raise TrialError(f"no audio out within {SETUP_TIMEOUT} s of the session start")
        result["start_to_first_audio_ms"] = (heard[0] - start) * 1000
        connected_at = getattr(talker, "connected_at", None)
        if connected_at is not None:
            result["answer_to_connected_ms"] = (connected_at - start) * 1000
            result["connected_to_first_audio_ms"] = (heard[0] - connected_at) * 1000

        # 2. Silence: the first words' spurt ends.
        for _ in range(round(SETTLE_SECONDS / FRAME_SECONDS)):
            send(False)

        # 3. The measured tone.
        armed_at = []
        thread, found, heard = listen(detector, armed_at, DETECT_TIMEOUT + 1.0)
        talker.watch(n)
        armed_at.append(time.monotonic())
        tone_start = time.monotonic()
        while not found.is_set() and time.monotonic() < tone_start + DETECT_TIMEOUT:
            send(True)
        thread.join(1.0)
        mouth = talker.mouth()
        if not heard:
            raise TrialError(f"tone not heard within {DETECT_TIMEOUT} s")
        if mouth is None:
            raise TrialError("the tone's first packet was not seen leaving the talker")
        result["mouth_to_sink_ms"] = (heard[0] - mouth) * 1000
        for _ in range(round(QUIET_SECONDS / FRAME_SECONDS)):
            send(False)
    finally:
        drain_queue(events)
        try:
            talker.stop()
        finally:
            if started and not wait_left(events):
                # The floor may still be held: the next trial would be refused.
                raise TrialError(f"no talk-event::left within {LEFT_TIMEOUT} s")
    return result


def drain_queue(q):
    """Discard what the queue holds."""
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def wait_left(events):
    """Wait for a talk-event::left."""
    deadline = time.monotonic() + LEFT_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            if events.get(timeout=remaining) == "left":
                return True
        except queue.Empty:
            return False


# --------------------------------------------------------------------------
# Statistics / reporting
# --------------------------------------------------------------------------


METRICS = ("mouth_to_sink_ms", "start_to_first_audio_ms", "offer_to_answer_ms",
           "answer_to_connected_ms", "connected_to_first_audio_ms")


def stats(values):
    """p50/p90/min/max of a non-empty list, rounded."""
    return {"p50": round(rtsp.percentile(values, 50), 2),
            "p90": round(rtsp.percentile(values, 90), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}


def summarize(records):
    """Per kind: every metric's values and statistics, failures and errors."""
    summary = {}
    for kind in KINDS:
        rows = [r for r in records if r["kind"] == kind]
        entry = {"trials": len(rows), "failures": sum(1 for r in rows if "error" in r),
                 "errors": [f"trial {r['trial']}: {r['error']}" for r in rows if "error" in r]}
        for metric in METRICS:
            values = [r[metric] for r in rows if metric in r]
            if values:
                entry[metric] = {"values": [round(v, 2) for v in values], **stats(values)}
        summary[kind] = entry
    # WebRTC minus RTSP: of the p50s, and the median of the per-round
    # differences (trials of one round ran within seconds of each other).
    for kind in KINDS[1:]:
        diffs = {}
        for metric in ("mouth_to_sink_ms", "start_to_first_audio_ms"):
            a, b = summary[KINDS[0]].get(metric), summary[kind].get(metric)
            if not (a and b):
                continue
            by_round = {r["trial"]: r[metric] for r in records
                        if r["kind"] == KINDS[0] and metric in r}
            paired = [r[metric] - by_round[r["trial"]] for r in records
                      if r["kind"] == kind and metric in r and r["trial"] in by_round]
            diffs[metric] = {"p50_minus_p50": round(b["p50"] - a["p50"], 2),
                             "p90_minus_p90": round(b["p90"] - a["p90"], 2)}
            if paired:
                diffs[metric]["median_paired"] = round(rtsp.percentile(paired, 50), 2)
        summary[kind]["minus_rtsp"] = diffs
    return summary


def print_summary(summary, latency_ms):
    """Print a table per metric and the differences."""
    print()
    print(f"factory latency {latency_ms} ms (webrtcbin's jitter buffer and the talk floor's hold)")
    for metric in METRICS:
        if not any(metric in summary[k] for k in KINDS):
            continue
        print(f"\n{metric}")
        print(f"  {'talker':<12} {'ok':>3} {'p50':>8} {'p90':>8} {'min':>8} {'max':>8}")
        for kind in KINDS:
            s = summary[kind].get(metric)
            if s:
                print(f"  {kind:<12} {len(s['values']):>3} {s['p50']:8.1f} {s['p90']:8.1f} "
                      f"{s['min']:8.1f} {s['max']:8.1f}")
    print()
    for kind in KINDS[1:]:
        for metric, d in summary[kind].get("minus_rtsp", {}).items():
            paired = f", median of paired rounds {d['median_paired']:+.1f}" \
                if "median_paired" in d else ""
            print(f"{kind} minus rtsp-pcmu, {metric}: p50 {d['p50_minus_p50']:+.1f}, "
                  f"p90 {d['p90_minus_p90']:+.1f}{paired} ms")
    for kind in KINDS:
        for error in summary[kind]["errors"]:
            print(f"  {kind}: {error}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def watchdog(seconds):
    """End the process if the run takes far longer than it should: a hang in
    GStreamer must not hold a CI job or a terminal."""
    def fire():
        print(f"webrtc_latency: no result after {seconds:.0f} s, giving up", file=sys.stderr,
              flush=True)
        os._exit(2)
    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def main():
    """Parse options, run the interleaved trials, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per talker kind")
    parser.add_argument("--latency", type=int, default=None, metavar="MS",
                        help="the factory's latency (default: its own, 20 ms)")
    parser.add_argument("--json", metavar="FILE", help="write results as JSON")
    parser.add_argument("--plugin-dir", default=None,
                        help="directory holding " + rtsp.PLUGIN_FILE)
    args = parser.parse_args()
    # Setup, three phases and hang-up take 3 to 4 s a trial; 20 s is far more.
    watchdog(60 + args.trials * len(KINDS) * 20)

    Gst.init(None)
    for element in ("webrtcbin", "nicesrc", "opusenc", "opusdec", "rtpopuspay"):
        if Gst.ElementFactory.find(element) is None:
            print(f"missing GStreamer element {element} (gstreamer1.0-plugins-bad, "
                  "gstreamer1.0-nice, gstreamer1.0-plugins-base/-good)", file=sys.stderr)
            return 1
    plugin_dir = os.path.abspath(args.plugin_dir or rtsp.default_plugin_dir())
    gtype, why = rtsp.load_our_type(plugin_dir)
    if gtype is None:
        print(why, file=sys.stderr)
        return 1
    if not GObject.signal_lookup("webrtc-offer", gtype):
        print(f"{rtsp.OUR_TYPE} in {plugin_dir} has no webrtc-offer signal", file=sys.stderr)
        return 1

    detector = rtsp.LoudDetector()
    factory = rtsp.our_factory(gtype, detector.port, "exclusive", args.latency)
    factory.set_property("codecs", "PCMU,OPUS")
    latency_ms = factory.get_latency()
    events = queue.Queue()
    factory.connect("talk-event", lambda _f, s: events.put(s.get_value("event")))
    server = rtsp.ServerThread(factory)
    print(f"rtsp://{HOST}:{server.port}{rtsp.MOUNT}, output udp port {detector.port}, "
          f"factory latency {latency_ms} ms", flush=True)

    pcmu_payloads = rtsp.make_payloads()
    makers = {
        "rtsp-pcmu": lambda: RtspTalker(server.port, pcmu_payloads),
        "webrtc-pcmu": lambda: WebRtcTalker(factory, "PCMU", tone_frame(8000)),
        "webrtc-opus": lambda: WebRtcTalker(factory, "OPUS", tone_frame(48000)),
    }
    records = []
    try:
        for trial in range(1, args.trials + 1):
            for kind in KINDS:
                record = {"kind": kind, "trial": trial}
                try:
                    record.update(run_trial(makers[kind](), detector, events))
                except (TrialError, RtspError, OSError, KeyError) as exc:
                    record["error"] = repr(exc)
                records.append({k: round(v, 2) if isinstance(v, float) else v
                                for k, v in record.items()})
                shown = ", ".join(f"{k.removesuffix('_ms')} {record[k]:.1f}"
                                  for k in METRICS if k in record)
                print(f"  {trial:2d} {kind:<12} "
                      f"{record['error'] if 'error' in record else shown + ' (ms)'}", flush=True)
    finally:
        server.stop()
        detector.close()

    summary = summarize(records)
    print_summary(summary, latency_ms)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"factory_latency_ms": latency_ms, "trials": records,
                       "summary": summary}, out, indent=2)
    failed = sum(summary[k]["failures"] for k in KINDS)
    return 1 if failed == len(records) else 0


if __name__ == "__main__":
    sys.exit(main())

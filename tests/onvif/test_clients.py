"""ONVIF clients that no one here wrote, against `onvifbackchannelsrc http-port=...`.

Two network namespaces joined by a veth pair (tests/onvif/lab.py): the camera
runs `gst-launch-1.0 onvifbackchannelsrc ... ! wavenc ! filesink` in one,
the clients run in the other (this script re-executes itself there).

Flows (each printed as ok/FAIL with its reasons):
  discovery   wsdiscovery (PyPI, Home Assistant's) sees the Hello at start,
              finds the camera by the Profile/Streaming scope with its XAddr
              at the camera's veth address and a urn:uuid EPR; go2rtc's probe
              (empty Types and Scopes, from an ephemeral port) gets the same
              answer unicast; the Bye is seen when the element stops
  zeep        onvif-zeep-async (PyPI, Home Assistant's library) as a talker,
              Home Assistant's sequence (update_xaddrs, GetCapabilities,
              GetSystemDateAndTime, GetDeviceInformation, GetNetworkInterfaces,
              Media GetServiceCapabilities, GetProfiles with an H264 encoder
              and a Resolution, GetStreamUri), then the audio output and
              decoder configurations in the profile's Extension, their
              options matching `codecs`, and DeviceIO through zeep
  talk        examples/talk (rtspsrc backchannel=onvif) talks 2 s of 440 Hz
              into the stream URI that zeep got; the WAV the element wrote
              must hold it
  go2rtc      go2rtc's onvif:// calls with its envelope (prefixed, Created
              with nanoseconds) and its regular expressions on the answers
  scrypted    Scrypted's (agsh onvif) calls: GetSystemDateAndTime without
              credentials, GetServices with capabilities, Media2 GetProfiles
              Type=All, GetVideoSources (source 0 must be some profile's
              SourceToken), Media2 GetStreamUri and decoder options; default
              namespaces and mustUnderstand in its Security header
  more        other implemented calls (ODM, Happytime, Milestone; SOAP 1.1):
              each a well-formed answer without a fault
  auth        wrong password, stale and future Created, a nonce used again,
              no credentials (pre-auth operations only), HTTP digest
  viewer      a viewer's profiles (Media1 and Media2) carry no audio output
  badinput    unknown operation, malformed XML, entity expansion, a wrong
              content type, a 10 MB body, a client that vanishes mid-body, a
              stalled request: each gets a fault or 4xx, and the element keeps
              answering (a final GetSystemDateAndTime) and does not crash

    test_clients.py --plugin-dir DIR --talk TALK [--only a,b] [--keep DIR]

TALK_FREQ=HZ makes examples/talk send another tone, CAMERA_EXTRA="prop=value ..."
sets more element properties (e.g. discovery=false): checks that must then fail.

Run as root with the venv's Python (scripts/onvif-venv.sh); scripts/onvif-check.sh
does all that. Exit status 0 when every flow passed.
"""

import argparse
import asyncio
import datetime
import itertools
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
import rawsoap  # noqa: E402
from rawsoap import NS, q, ok_response, local  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOWS = ["discovery", "zeep", "talk", "go2rtc", "scrypted", "more", "auth", "viewer", "badinput"]
CODECS = "PCMU,PCMA,G726-32,AAC-16000"
DEVICE_NAME = "Test Door 1"
DEVICE_HARDWARE = "GstIntercom"
STREAMING_SCOPE = "onvif://www.onvif.org/Profile/Streaming"


class Flow:
    """Collects a flow's failures; `check(cond, msg)` goes on after one."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.step = None

    def check(self, cond, msg):
        if not cond:
            self.failures.append(msg)
        return bool(cond)

    def ok(self, why_not):
        """For ok_response(): None is success."""
        if why_not:
            self.failures.append(why_not)
        return why_not is None


class Ctx:
    pass


# ---- discovery ---------------------------------------------------------------

class Watcher:
    """wsdiscovery's ThreadedWSDiscovery, as Home Assistant runs it, with its
    Hello and Bye callbacks recorded."""

    def __init__(self):
        from wsdiscovery.discovery import ThreadedWSDiscovery

        self.cond = threading.Condition()
        self.hellos = []
        self.byes = []
        self.wsd = ThreadedWSDiscovery(ttl=4)
        self.wsd.setRemoteServiceHelloCallback(self._hello)
        self.wsd.setRemoteServiceByeCallback(self._bye)
        self.wsd.start()

    def _hello(self, service):
        with self.cond:
            self.hellos.append(service)
            self.cond.notify_all()

    def _bye(self, epr):
        with self.cond:
            self.byes.append(epr)
            self.cond.notify_all()

    def wait(self, what, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for item in getattr(self, what):
                    if pred(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def search(self, scopes, want, timeout):
        """Home Assistant's searchServices(scopes=[Profile/Streaming]), with a
        1 s wait each (HA waits 3 s once), repeated until `want(service)`
        matches one or `timeout` passes."""
        from wsdiscovery.scope import Scope

        deadline = time.monotonic() + timeout
        found = []
        while time.monotonic() < deadline:
            found = self.wsd.searchServices(scopes=[Scope(s) for s in scopes], timeout=1)
            match = [s for s in found if want(s)]
            if match:
                return match[0], found
        return None, found

    def stop(self):
        self.wsd.stop()


def check_service(flow, service, ctx, source):
    xaddrs = service.getXAddrs()
    want = f"http://{lab.CAMERA_ADDR}:{ctx.http_port}/onvif/device_service"
    flow.check(xaddrs == [want], f"{source}: XAddrs {xaddrs}, want [{want}]")
    epr = service.getEPR()
    flow.check(re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                            epr or ""), f"{source}: EPR {epr!r} is not a urn:uuid")
    types = [(t.getNamespace(), t.getLocalname()) for t in service.getTypes()]
    flow.check((NS["dn"], "NetworkVideoTransmitter") in types,
               f"{source}: Types {types} lack dn:NetworkVideoTransmitter")
    # wsdiscovery turns %20 into spaces; getQuotedValue() gives the wire form.
    scopes = [s.getQuotedValue() for s in service.getScopes()]
    for want_scope in (STREAMING_SCOPE, "onvif://www.onvif.org/Profile/T",
                       "onvif://www.onvif.org/name/" + DEVICE_NAME.replace(" ", "%20"),
                       "onvif://www.onvif.org/hardware/" + DEVICE_HARDWARE):
        flow.check(want_scope in scopes, f"{source}: scope {want_scope} missing from {scopes}")
    return epr


def flow_discovery_start(flow, ctx):
    """After the camera started: its Hello, then HA's search, then go2rtc's."""
    hello = ctx.watcher.wait("hellos", lambda s: True, 15)
    if flow.check(hello is not None, "no Hello within 15 s of the start"):
        ctx.epr = check_service(flow, hello, ctx, "Hello")
    service, found = ctx.watcher.search(
        [STREAMING_SCOPE],
        lambda s: any(lab.CAMERA_ADDR in x for x in s.getXAddrs()), timeout=10)
    if flow.check(service is not None,
                  f"wsdiscovery found no camera with scope {STREAMING_SCOPE} "
                  f"(found {[s.getXAddrs() for s in found]})"):
        epr = check_service(flow, service, ctx, "ProbeMatch")
        flow.check(ctx.epr in (None, epr), f"EPR of Hello {ctx.epr} != EPR of ProbeMatch {epr}")
        ctx.epr = epr
    # go2rtc: empty Types and Scopes, from an ephemeral port; the reply comes
    # unicast from the camera, its XAddrs first, "onvif" somewhere in it.
    answers = list(itertools.islice(rawsoap.probe_udp("239.255.255.250", timeout=3), 1))
    flow.check(answers, "go2rtc's probe (empty Types/Scopes, ephemeral port) got no ProbeMatches")
    for peer, root, data in answers[:1]:
        flow.check(peer[0] == lab.CAMERA_ADDR, f"ProbeMatches came from {peer}")
        if not flow.check(root is not None, f"ProbeMatches is not XML: {data[:300]!r}"):
            continue
        flow.check(b"onvif" in data, "no 'onvif' in the ProbeMatches (go2rtc skips it)")
        m = re.search(rb"(?s)<(?:\w+:)?XAddrs\b[^>]*>([^<]+)", data)
        flow.check(m and m.group(1).decode().strip() ==
                   f"http://{lab.CAMERA_ADDR}:{ctx.http_port}/onvif/device_service",
                   f"go2rtc's XAddrs regex found {m and m.group(1)!r}")
        m = re.search(rb"(?s)<(?:\w+:)?Scopes\b[^>]*>([^<]+)", data)
        scopes = m.group(1).decode() if m else ""
        # go2rtc's findScope: from the prefix to the next space.
        name = scopes.split("onvif://www.onvif.org/name/", 1)[-1].split(" ")[0] \
            if "onvif://www.onvif.org/name/" in scopes else ""
        from urllib.parse import unquote
        flow.check(unquote(name) == DEVICE_NAME, f"go2rtc reads the name {unquote(name)!r}")
        action = root.findtext(f".//{q('wsa', 'Action')}")
        flow.check(action == "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches",
                   f"Action {action}")
        mid = root.findtext(f".//{q('wsa', 'MessageID')}") or ""
        flow.check(mid.startswith("urn:uuid:"), f"MessageID {mid!r}")
        seq = root.find(f".//{q('d', 'AppSequence')}")
        flow.check(seq is not None and seq.get("InstanceId", "").isdigit(),
                   "AppSequence with an integer InstanceId missing")
    # A Probe for another type gets no answer.
    answers = list(rawsoap.probe_udp("239.255.255.250", timeout=1.5, types="dn:Nothing"))
    flow.check(not answers, f"a Probe for dn:Nothing was answered: {answers[:1]}")


def flow_discovery_stop(flow, ctx):
    """After the camera stopped: its Bye."""
    if ctx.epr is None:
        flow.check(False, "no EPR known: cannot wait for the Bye")
        return
    bye = ctx.watcher.wait("byes", lambda epr: epr == ctx.epr, 10)
    flow.check(bye is not None, f"no Bye for {ctx.epr} within 10 s of the stop "
               f"(Byes seen: {ctx.watcher.byes})")


# ---- onvif-zeep-async (Home Assistant) ----------------------------------------

def flow_zeep(flow, ctx):
    asyncio.run(_zeep(flow, ctx))


def ext_item(ext, name, has):
    """`ext.name`, or the item of `ext._value_1` that has the field `has`:
    zeep puts the known elements of an extension whose schema starts with
    xs:any (tt:ProfileExtension, tt:CapabilitiesExtension) into _value_1,
    as a zeep object or a dict (after to_dict)."""
    if ext is None:
        return None
    get = (lambda o, k: o.get(k)) if isinstance(ext, dict) else getattr
    direct = get(ext, name) if (name in ext if isinstance(ext, dict) else hasattr(ext, name)) else None
    if direct is not None:
        return direct
    for item in get(ext, "_value_1") or []:
        if hasattr(item, "tag"):  # left unparsed (lxml): its children's text
            if item.tag.rsplit("}", 1)[-1] == name:
                return {c.tag.rsplit("}", 1)[-1]: int(c.text) if (c.text or "").isdigit() else c.text
                        for c in item}
            continue
        try:
            if (item.get(has) if isinstance(item, dict) else getattr(item, has, None)) is not None:
                return item
        except (AttributeError, KeyError, TypeError):
            continue
    return None


async def z(flow, service, op, params=None):
    """One zeep call; the flow remembers which, for the report of a failure."""
    flow.step = op
    return await getattr(service, op)(params)


async def _zeep(flow, ctx):
    import onvif
    from onvif import ONVIFCamera

    # HA's get_device(): the bundled WSDLs, no cache.
    cam = ONVIFCamera(lab.CAMERA_ADDR, ctx.http_port, ctx.talker, ctx.talker_pw,
                      f"{os.path.dirname(onvif.__file__)}/wsdl/", no_cache=True)
    try:
        flow.step = "update_xaddrs (GetServices)"
        await cam.update_xaddrs()
        media_ns = "http://www.onvif.org/ver10/media/wsdl"
        flow.check(cam.xaddrs.get(media_ns) ==
                   f"http://{lab.CAMERA_ADDR}:{ctx.http_port}/onvif/media_service",
                   f"xaddrs: media {cam.xaddrs.get(media_ns)} ({cam.xaddrs})")
        flow.step = "get_capabilities (GetCapabilities)"
        caps = await cam.get_capabilities()
        flow.check(caps and caps.get("Media") and caps["Media"].get("XAddr"),
                   f"GetCapabilities: no Media XAddr ({caps})")
        ext = (caps or {}).get("Extension")
        dio = ext_item(ext, "DeviceIO", "AudioOutputs") or {}
        flow.check(dio.get("XAddr") and (dio.get("AudioOutputs") or 0) >= 1,
                   f"GetCapabilities: no Extension/DeviceIO with AudioOutputs ({ext})")
        devmgmt = await cam.create_devicemgmt_service()
        now = datetime.datetime.now(datetime.timezone.utc)
        dt = await z(flow, devmgmt, "GetSystemDateAndTime")
        utc = dt.UTCDateTime
        if flow.check(utc is not None, f"GetSystemDateAndTime: no UTCDateTime ({dt})"):
            cam_time = datetime.datetime(utc.Date.Year, utc.Date.Month, utc.Date.Day,
                                         utc.Time.Hour, utc.Time.Minute, utc.Time.Second,
                                         tzinfo=datetime.timezone.utc)
            flow.check(abs((cam_time - now).total_seconds()) < 5,
                       f"GetSystemDateAndTime: {cam_time} vs {now}")
        info = await z(flow, devmgmt, "GetDeviceInformation")
        flow.check(info.Manufacturer and info.Model and info.SerialNumber,
                   f"GetDeviceInformation: {info}")
        nics = await z(flow, devmgmt, "GetNetworkInterfaces")
        macs = [n.Info.HwAddress for n in nics if n.Enabled and n.Info is not None]
        flow.check(macs and re.fullmatch(r"([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}", macs[0]),
                   f"GetNetworkInterfaces: no enabled interface with a HwAddress ({nics})")
        media = await cam.create_media_service()
        mcaps = await z(flow, media, "GetServiceCapabilities")
        flow.check(mcaps is not None, "Media GetServiceCapabilities: empty")
        profiles = await z(flow, media, "GetProfiles")
        h264 = [p for p in profiles
                if p.VideoEncoderConfiguration and p.VideoEncoderConfiguration.Encoding == "H264"]
        if not flow.check(h264, "GetProfiles: no profile with an H264 VideoEncoderConfiguration "
                          f"(encodings: {[getattr(p.VideoEncoderConfiguration, 'Encoding', None) for p in profiles]})"):
            return
        profile = h264[0]
        res = profile.VideoEncoderConfiguration.Resolution
        flow.check(res is not None and res.Width > 0 and res.Height > 0,
                   f"GetProfiles: Resolution {res}")
        req = media.create_type("GetStreamUri")
        req.ProfileToken = profile.token
        req.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        uri = (await z(flow, media, "GetStreamUri", req)).Uri
        want = f"rtsp://{lab.CAMERA_ADDR}:{ctx.rtsp_port}/stream"
        flow.check(uri == want, f"GetStreamUri: {uri}, want {want}")
        ctx.stream_uri = uri
        ctx.profile_token = profile.token

        # The back channel: what Home Assistant never asks, apps and NVRs do.
        ext = profile.Extension
        aoc = ext_item(ext, "AudioOutputConfiguration", "OutputToken")
        adc = ext_item(ext, "AudioDecoderConfiguration", "UseCount")
        if adc is aoc:  # an item of _value_1 with UseCount but no OutputToken
            adc = next((i for i in (getattr(ext, "_value_1", None) or [])
                        if getattr(i, "OutputToken", None) is None), None)
        flow.check(aoc is not None and aoc.OutputToken,
                   f"profile {profile.token}: no AudioOutputConfiguration in Extension ({ext})")
        flow.check(adc is not None and adc.token,
                   f"profile {profile.token}: no AudioDecoderConfiguration in Extension ({ext})")
        outputs = await z(flow, media, "GetAudioOutputs")
        tokens = [o.token for o in outputs or []]
        flow.check(aoc is None or aoc.OutputToken in tokens,
                   f"Media GetAudioOutputs {tokens} lack the profile's OutputToken")
        aocs = await z(flow, media, "GetAudioOutputConfigurations")
        flow.check(aoc is None or aoc.token in [c.token for c in aocs or []],
                   "GetAudioOutputConfigurations lacks the profile's")
        adcs = await z(flow, media, "GetAudioDecoderConfigurations")
        flow.check(adc is None or adc.token in [c.token for c in adcs or []],
                   "GetAudioDecoderConfigurations lacks the profile's")
        if adc is not None:
            opts = await z(flow, media, "GetAudioDecoderConfigurationOptions",
                {"ConfigurationToken": adc.token, "ProfileToken": profile.token})
            check_media1_options(flow, opts, "zeep")
        compat = await z(flow, media, "GetCompatibleAudioOutputConfigurations",
            {"ProfileToken": profile.token})
        flow.check(compat, "GetCompatibleAudioOutputConfigurations: empty")

        # DeviceIO: zeep has its WSDL; its XAddr came from GetServices.
        dio_ns = "http://www.onvif.org/ver10/deviceIO/wsdl"
        if flow.check(dio_ns in cam.xaddrs, f"GetServices lacks {dio_ns} ({list(cam.xaddrs)})"):
            deviceio = await cam.create_deviceio_service()
            dcaps = await z(flow, deviceio, "GetServiceCapabilities")
            flow.check(dcaps is not None and dcaps.AudioOutputs >= 1,
                       f"DeviceIO GetServiceCapabilities: {dcaps}")
            douts = await z(flow, deviceio, "GetAudioOutputs")
            # zeep's deviceio.wsdl is an old one: its answer is Media's
            # trt:GetAudioOutputsResponse (trt:AudioOutputs token=...); the
            # current WSDL's is tmd:GetAudioOutputsResponse with tmd:Token
            # items, which zeep leaves in _raw_elements.
            items = douts if isinstance(douts, list) else getattr(douts, "AudioOutputs", None) or []
            dtokens = [getattr(o, "token", o) for o in items]
            dtokens += [e.text for e in getattr(douts, "_raw_elements", None) or []
                        if e.tag == q("tmd", "Token")]
            flow.check(aoc is None or aoc.OutputToken in dtokens,
                       f"DeviceIO GetAudioOutputs {douts} lack {getattr(aoc, 'OutputToken', None)}")
    finally:
        await cam.close()


def media1_options(opts):
    """{'G711': ([bitrates], [rates]), ...} from a Media1
    AudioDecoderConfigurationOptions (zeep object or ElementTree element)."""
    out = {}
    for name in ("AACDecOptions", "G711DecOptions", "G726DecOptions"):
        if isinstance(opts, ET.Element):
            el = opts.find(q("tt", name))
            if el is None:
                continue
            out[name[:-10]] = ([int(x.text) for x in el.iterfind(f"{q('tt', 'Bitrate')}/{q('tt', 'Items')}")],
                               [int(x.text) for x in el.iterfind(f"{q('tt', 'SampleRateRange')}/{q('tt', 'Items')}")])
        else:
            el = getattr(opts, name, None)
            if el is None:
                continue
            out[name[:-10]] = (list(el.Bitrate.Items), list(el.SampleRateRange.Items))
    return out


def check_media1_options(flow, opts, source):
    """CODECS = PCMU,PCMA,G726-32,AAC-16000: G711 64 kbit/s 8 kHz, G726 32
    kbit/s 8 kHz, AAC at 16 kHz."""
    got = media1_options(opts)
    g711 = got.get("G711")
    flow.check(g711 and 64 in g711[0] and 8 in g711[1], f"{source}: G711DecOptions {g711}")
    g726 = got.get("G726")
    flow.check(g726 and 32 in g726[0] and 8 in g726[1] and not {16, 24, 40} & set(g726[0]),
               f"{source}: G726DecOptions {g726} (codecs has G726-32 only)")
    aac = got.get("AAC")
    flow.check(aac and aac[1] == [16], f"{source}: AACDecOptions {aac} (codecs has AAC-16000 only)")


def check_media2_options(flow, answer, source):
    child = answer.body_child()
    encodings = {}
    for o in child.iterfind(q("tr2", "Options")) if child is not None else []:
        enc = o.findtext(q("tt", "Encoding"), "")
        rates = [int(x.text) for x in o.iterfind(f"{q('tt', 'SampleRateList')}/{q('tt', 'Items')}")]
        encodings[enc.upper()] = rates
    for enc in ("PCMU", "PCMA", "G726", "MPEG4-GENERIC"):
        flow.check(enc in encodings, f"{source}: Media2 decoder options lack {enc} ({encodings})")
    flow.check(encodings.get("MPEG4-GENERIC") in (None, [16]),
               f"{source}: mpeg4-generic rates {encodings.get('MPEG4-GENERIC')} (want [16])")
    flow.check(not {"OPUS", "G722", "L16"} & set(encodings),
               f"{source}: codecs not in `codecs` offered: {encodings}")


# ---- talk ---------------------------------------------------------------------

def flow_talk(flow, ctx):
    uri = getattr(ctx, "stream_uri", None) or \
        f"rtsp://{lab.CAMERA_ADDR}:{ctx.rtsp_port}/stream"
    flow.check(getattr(ctx, "stream_uri", None), "no stream URI from zeep: talking to the mount")
    # Home Assistant puts the credentials into the URI.
    with_creds = uri.replace("rtsp://", f"rtsp://{ctx.talker}:{ctx.talker_pw}@", 1)
    # TALK_FREQ=HZ talks another frequency: the check must then fail.
    freq = os.environ.get("TALK_FREQ", "440")
    r = subprocess.run([ctx.talk, with_creds, "--seconds", "2", "--freq", freq],
                       capture_output=True, text=True, timeout=40)
    flow.check(r.returncode == 0, f"talk exited {r.returncode}: {(r.stdout + r.stderr)[-800:]}")
    ctx.talked = r.returncode == 0


def flow_tone(flow, ctx):
    """After the camera stopped: the WAV holds the 2 s of 440 Hz."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/check_tone.py"), ctx.wav,
                        "--freq", "440", "--tolerance", "15", "--min-seconds", "1.8",
                        "--max-seconds", "2.3", "--label", "element output"],
                       capture_output=True, text=True)
    flow.check(r.returncode == 0, (r.stdout + r.stderr).strip())
    print("      " + (r.stdout + r.stderr).strip())


# ---- go2rtc -------------------------------------------------------------------

def flow_go2rtc(flow, ctx):
    # go2rtc: its own clock, Created with nanoseconds, envelope with prefixes;
    # it takes only the path of the XAddrs it gets (defaults when absent) and
    # uses the host of the URL it was given.
    c = rawsoap.Client(lab.CAMERA_ADDR, ctx.http_port, ctx.talker, ctx.talker_pw, style="ns")
    a = c.call("device", "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>")
    if not flow.ok(ok_response(a, "tds", "GetCapabilities")):
        return
    m = re.search(rb"(?s)<(?:\w+:)?Media.+?XAddr\b[^>]*>([^<]+)", a.body)
    flow.check(m and m.group(1).decode() ==
               f"http://{lab.CAMERA_ADDR}:{ctx.http_port}/onvif/media_service",
               f"go2rtc's Media XAddr regex found {m and m.group(1)!r}")
    a = c.call("media", "<trt:GetProfiles/>")
    if not flow.ok(ok_response(a, "trt", "GetProfiles")):
        return
    # go2rtc's own regular expression ('.' does not cross lines in Go).
    tokens = re.findall(r'Profiles[^\n]+?token="([^"]+)', a.body.decode())[:10]
    et_tokens = [p.get("token") for p in a.body_child().iterfind(q("trt", "Profiles"))]
    flow.check(tokens and tokens == et_tokens,
               f"go2rtc's profile regex finds {tokens}, the XML has {et_tokens}")
    if not tokens:
        return
    a = c.call("media", "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
               "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
               f"<trt:ProfileToken>{tokens[0]}</trt:ProfileToken></trt:GetStreamUri>")
    if flow.ok(ok_response(a, "trt", "GetStreamUri")):
        m = re.search(rb"(?s)<(?:\w+:)?Uri\b[^>]*>([^<]+)", a.body)
        uri = m and m.group(1).decode().strip()
        flow.check(uri == f"rtsp://{lab.CAMERA_ADDR}:{ctx.rtsp_port}/stream",
                   f"go2rtc's Uri regex found {uri!r}")
    # Its name: GetDeviceInformation; its snapshot probe: Media GetServiceCapabilities.
    a = c.call("device", "<tds:GetDeviceInformation/>")
    flow.ok(ok_response(a, "tds", "GetDeviceInformation"))
    a = c.call("media", "<trt:GetServiceCapabilities/>")
    flow.ok(ok_response(a, "trt", "GetServiceCapabilities"))


# ---- Scrypted (agsh onvif) ------------------------------------------------------

def dev(xml_local, body=""):
    return f'<{xml_local} xmlns="{NS["tds"]}">{body}</{xml_local}>'


def flow_scrypted(flow, ctx):
    anon = rawsoap.Client(lab.CAMERA_ADDR, ctx.http_port)
    a = anon.call("device", dev("GetSystemDateAndTime"))
    if not flow.ok(ok_response(a, "tds", "GetSystemDateAndTime")):
        return
    utc = a.root.find(f".//{q('tt', 'UTCDateTime')}")
    if not flow.check(utc is not None, "GetSystemDateAndTime: no UTCDateTime"):
        return
    def g(path):
        return int(utc.findtext("/".join(q("tt", part) for part in path.split("/"))))

    cam_time = datetime.datetime(g("Date/Year"), g("Date/Month"), g("Date/Day"), g("Time/Hour"),
                                 g("Time/Minute"), g("Time/Second"), tzinfo=datetime.timezone.utc)
    # agsh shifts its Created by the device's clock, writes milliseconds,
    # default namespaces and mustUnderstand.
    c = rawsoap.Client(lab.CAMERA_ADDR, ctx.http_port, ctx.talker, ctx.talker_pw, style="ms",
                       default_ns=True, time_offset=cam_time - rawsoap.utc_now())
    a = c.call("device", dev("GetServices", "<IncludeCapability>true</IncludeCapability>"))
    if not flow.ok(ok_response(a, "tds", "GetServices")):
        return
    services = {s.findtext(q("tds", "Namespace")): s for s in a.body_child().iterfind(q("tds", "Service"))}
    media2 = services.get(NS["tr2"])
    if not flow.check(media2 is not None, f"GetServices lacks {NS['tr2']} ({list(services)})"):
        return
    media2_xaddr = media2.findtext(q("tds", "XAddr"))
    flow.check(media2_xaddr == f"http://{lab.CAMERA_ADDR}:{ctx.http_port}/onvif/media2_service",
               f"Media2 XAddr {media2_xaddr}")
    for ns_, service in services.items():
        flow.check(service.find(q("tds", "Capabilities")) is not None,
                   f"GetServices IncludeCapability=true: no Capabilities for {ns_}")
    mcap = media2.find(f".//{q('tr2', 'Capabilities')}")
    if flow.check(mcap is not None, "GetServices: Media2 without tr2:Capabilities"):
        pcap = mcap.find(q("tr2", "ProfileCapabilities"))
        supported = ((pcap.get("ConfigurationsSupported") if pcap is not None else None) or "").split()
        flow.check({"AudioOutput", "AudioDecoder"} <= set(supported) and "All" not in supported,
                   f"Media2 ConfigurationsSupported {supported}")
        streaming = mcap.find(q("tr2", "StreamingCapabilities"))
        flow.check(streaming is not None and streaming.get("RTSPStreaming") == "true",
                   "Media2 StreamingCapabilities RTSPStreaming is not true")
    dio = services.get(NS["tmd"])
    if flow.check(dio is not None, f"GetServices lacks {NS['tmd']}"):
        dcap = dio.find(f".//{q('tmd', 'Capabilities')}")
        flow.check(dcap is not None and dcap.get("AudioOutputs") == "1",
                   f"DeviceIO capabilities: {dcap is not None and dcap.attrib}")
    path2 = "/" + media2_xaddr.split("/", 3)[3] if media2_xaddr else None
    a = c.call("media2", f'<GetProfiles xmlns="{NS["tr2"]}"><Type>All</Type></GetProfiles>',
               path=path2)
    if not flow.ok(ok_response(a, "tr2", "GetProfiles")):
        return
    profiles = list(a.body_child().iterfind(q("tr2", "Profiles")))
    if not flow.check(profiles, "Media2 GetProfiles Type=All: no profile"):
        return
    configs = profiles[0].find(q("tr2", "Configurations"))
    names = [e.tag.rsplit("}", 1)[-1] for e in configs] if configs is not None else []
    for want in ("VideoSource", "VideoEncoder", "AudioOutput", "AudioDecoder"):
        flow.check(want in names, f"Media2 profile 0 Configurations lack {want} ({names})")
    order = ["VideoSource", "AudioSource", "VideoEncoder", "AudioEncoder", "Analytics", "PTZ",
             "Metadata", "AudioOutput", "AudioDecoder", "Receiver"]
    known = [n for n in names if n in order]
    flow.check(known == sorted(known, key=order.index), f"Media2 Configurations order {names}")
    venc = configs.find(q("tr2", "VideoEncoder")) if configs is not None else None
    flow.check(venc is not None and venc.findtext(q("tt", "Encoding")) == "H264",
               "Media2 VideoEncoder is not H264")
    source_tokens = [p.findtext(f"{q('tr2', 'Configurations')}/{q('tr2', 'VideoSource')}/{q('tt', 'SourceToken')}")
                     for p in profiles]
    a = c.call("media", f'<GetVideoSources xmlns="{NS["trt"]}"/>')
    if flow.ok(ok_response(a, "trt", "GetVideoSources")):
        sources = [s.get("token") for s in a.body_child().iterfind(q("trt", "VideoSources"))]
        flow.check(sources and sources[0] in source_tokens,
                   f"GetVideoSources: source 0 {sources[:1]} is no profile's SourceToken "
                   f"{source_tokens} (agsh: 'Unrecognized configuration')")
    token = profiles[0].get("token")
    a = c.call("media2", f'<GetStreamUri xmlns="{NS["tr2"]}"><Protocol>RTSP</Protocol>'
               f"<ProfileToken>{token}</ProfileToken></GetStreamUri>", path=path2)
    if flow.ok(ok_response(a, "tr2", "GetStreamUri")):
        uri = a.body_child().findtext(q("tr2", "Uri"))
        flow.check(uri == f"rtsp://{lab.CAMERA_ADDR}:{ctx.rtsp_port}/stream" and len(uri) <= 128,
                   f"Media2 GetStreamUri {uri!r}")
    a = c.call("media2", f'<GetAudioDecoderConfigurationOptions xmlns="{NS["tr2"]}">'
               f"<ProfileToken>{token}</ProfileToken></GetAudioDecoderConfigurationOptions>",
               path=path2)
    if flow.ok(ok_response(a, "tr2", "GetAudioDecoderConfigurationOptions")):
        check_media2_options(flow, a, "Media2")


# ---- other implemented calls ----------------------------------------------------

MORE_CALLS = [
    # (service, prefix, operation, inner body): the notes' lists for ODM,
    # Happytime, Milestone, rtsp-backchannel, and the PRE_AUTH operations.
    ("device", "tds", "GetScopes", ""),
    ("device", "tds", "GetHostname", ""),
    ("device", "tds", "GetEndpointReference", ""),
    ("device", "tds", "GetWsdlUrl", ""),
    ("device", "tds", "GetServiceCapabilities", ""),
    ("device", "tds", "GetCapabilities", "<tds:Category>Media</tds:Category>"),
    ("device", "tds", "GetServices", "<tds:IncludeCapability>false</tds:IncludeCapability>"),
    ("media", "trt", "GetVideoSourceConfigurations", ""),
    ("media", "trt", "GetVideoEncoderConfigurations", ""),
    ("media", "trt", "GetProfile", "<trt:ProfileToken>{token}</trt:ProfileToken>"),
    ("media", "trt", "GetAudioOutputs", ""),
    ("media", "trt", "GetAudioOutputConfigurations", ""),
    ("media", "trt", "GetAudioDecoderConfigurations", ""),
    ("media", "trt", "GetAudioOutputConfigurationOptions", "<trt:ProfileToken>{token}</trt:ProfileToken>"),
    ("media", "trt", "GetAudioDecoderConfigurationOptions", "<trt:ProfileToken>{token}</trt:ProfileToken>"),
    ("media", "trt", "GetCompatibleAudioDecoderConfigurations", "<trt:ProfileToken>{token}</trt:ProfileToken>"),
    ("media2", "tr2", "GetServiceCapabilities", ""),
    ("media2", "tr2", "GetProfiles", ""),
    ("media2", "tr2", "GetAudioOutputConfigurations", ""),
    ("media2", "tr2", "GetAudioDecoderConfigurations", ""),
    ("deviceio", "tmd", "GetServiceCapabilities", ""),
    ("deviceio", "tmd", "GetAudioOutputs", ""),
]


def flow_more(flow, ctx):
    c = rawsoap.Client(lab.CAMERA_ADDR, ctx.http_port, ctx.talker, ctx.talker_pw, style="offset")
    a = c.call("media", "<trt:GetProfiles/>")
    if not flow.ok(ok_response(a, "trt", "GetProfiles")):
        return
    profiles = list(a.body_child().iterfind(q("trt", "Profiles")))
    token = profiles[0].get("token")
    ext = profiles[0].find(q("tt", "Extension"))
    flow.check(ext is not None and ext.find(q("tt", "AudioOutputConfiguration")) is not None
               and ext.find(q("tt", "AudioDecoderConfiguration")) is not None,
               "Media1 profile 0: no AudioOutput/AudioDecoderConfiguration in tt:Extension")
    for service, prefix, op, inner in MORE_CALLS:
        a = c.call(service, f"<{prefix}:{op}>{inner.format(token=token)}</{prefix}:{op}>")
        flow.ok(ok_response(a, prefix, op))
        if op == "GetAudioDecoderConfigurationOptions" and a.status == 200:
            opts = a.body_child().find(q("trt", "Options"))
            if flow.check(opts is not None, "Media1 GetAudioDecoderConfigurationOptions: no Options"):
                check_media1_options(flow, opts, "raw Media1")
        if op == "GetProfiles" and prefix == "tr2" and a.status == 200:
            # No Type: the profiles without their configurations.
            flow.check(all(p.find(q("tr2", "Configurations")) is None or
                           len(p.find(q("tr2", "Configurations"))) == 0
                           for p in a.body_child().iterfind(q("tr2", "Profiles"))),
                       "Media2 GetProfiles without Type returned configurations")
    # SOAP 1.1 (text/xml): a SOAP 1.1 answer.
    body = rawsoap.envelope("<tds:GetSystemDateAndTime/>", soap11=True)
    a = rawsoap.http_post(lab.CAMERA_ADDR, ctx.http_port, "/onvif/device_service", body,
                          content_type="text/xml; charset=utf-8",
                          headers={"SOAPAction": '"http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"'})
    flow.check(a.status == 200 and a.root is not None and a.root.tag == q("s11", "Envelope"),
               f"SOAP 1.1 GetSystemDateAndTime: {a.describe()[:300]}")


# ---- authentication ---------------------------------------------------------------

def expect_not_authorized(flow, a, what):
    f = a.fault()
    flow.check(a.status == 400 and f and local(f[0]) == "Sender"
               and "NotAuthorized" in [local(s) for s in f[1]],
               f"{what}: want HTTP 400 env:Sender/ter:NotAuthorized, got {a.describe()[:400]}")


PRE_AUTH = [
    ("device", "tds", "GetSystemDateAndTime", ""),
    ("device", "tds", "GetCapabilities", "<tds:Category>All</tds:Category>"),
    ("device", "tds", "GetServices", "<tds:IncludeCapability>true</tds:IncludeCapability>"),
    ("device", "tds", "GetServiceCapabilities", ""),
    ("device", "tds", "GetWsdlUrl", ""),
    ("device", "tds", "GetHostname", ""),
    ("device", "tds", "GetEndpointReference", ""),
    ("media", "trt", "GetServiceCapabilities", ""),
    ("media2", "tr2", "GetServiceCapabilities", ""),
    ("deviceio", "tmd", "GetServiceCapabilities", ""),
]
PROTECTED = [
    ("device", "tds", "GetDeviceInformation", ""),
    ("device", "tds", "GetNetworkInterfaces", ""),
    ("device", "tds", "GetScopes", ""),
    ("media", "trt", "GetProfiles", ""),
    ("media", "trt", "GetStreamUri", "<trt:ProfileToken>{token}</trt:ProfileToken>"),
    ("media", "trt", "GetAudioOutputs", ""),
    ("media2", "tr2", "GetProfiles", "<tr2:Type>All</tr2:Type>"),
    ("deviceio", "tmd", "GetAudioOutputs", ""),
]


def flow_auth(flow, ctx):
    host, port = lab.CAMERA_ADDR, ctx.http_port
    op = "<tds:GetDeviceInformation/>"

    def send(token):
        return rawsoap.http_post(host, port, "/onvif/device_service",
                                 rawsoap.envelope(op, token.header() if token else ""))

    # The right password in each Created form works; every one of these is a
    # fresh nonce.
    for style in ("z", "ms", "ns", "offset"):
        a = send(rawsoap.Token(ctx.talker, ctx.talker_pw, style=style))
        flow.ok(ok_response(a, "tds", "GetDeviceInformation") and
                f"Created form {style!r}: " + ok_response(a, "tds", "GetDeviceInformation"))
    expect_not_authorized(flow, send(rawsoap.Token(ctx.talker, "wrong" + ctx.talker_pw)),
                          "wrong password")
    expect_not_authorized(flow, send(rawsoap.Token("nobody", ctx.talker_pw)), "unknown user")
    hour = datetime.timedelta(hours=1)
    expect_not_authorized(flow, send(rawsoap.Token(
        ctx.talker, ctx.talker_pw, created=rawsoap.created_text(rawsoap.utc_now() - hour))),
        "Created 1 h old")
    expect_not_authorized(flow, send(rawsoap.Token(
        ctx.talker, ctx.talker_pw, created=rawsoap.created_text(rawsoap.utc_now() + hour))),
        "Created 1 h ahead")
    expect_not_authorized(flow, send(rawsoap.Token(
        ctx.talker, ctx.talker_pw, created="yesterday")), "Created not a time")
    token = rawsoap.Token(ctx.talker, ctx.talker_pw)
    first = send(token)
    flow.ok(ok_response(first, "tds", "GetDeviceInformation"))
    expect_not_authorized(flow, send(token), "the same nonce again")
    # A digest that does not match its own nonce.
    forged = rawsoap.Token(ctx.talker, ctx.talker_pw)
    forged.nonce = os.urandom(16)
    expect_not_authorized(flow, send(forged), "a digest of another nonce")

    # No credentials: only the pre-auth operations.
    anon = rawsoap.Client(host, port)
    for service, prefix, name, inner in PRE_AUTH:
        a = anon.call(service, f"<{prefix}:{name}>{inner}</{prefix}:{name}>")
        flow.ok(ok_response(a, prefix, name) and "no credentials: " + ok_response(a, prefix, name))
    for service, prefix, name, inner in PROTECTED:
        a = anon.call(service, f"<{prefix}:{name}>{inner.format(token='x')}</{prefix}:{name}>")
        challenge = a.header("WWW-Authenticate") or ""
        flow.check(a.status == 401 and challenge.lower().startswith("digest"),
                   f"no credentials, {name}: want 401 with a Digest challenge, got "
                   f"{a.describe()[:300]} (WWW-Authenticate: {challenge!r})")
    # HTTP digest instead of a UsernameToken (Core's preferred way; agsh does
    # it after a 401).
    body = rawsoap.envelope("<trt:GetProfiles/>")
    a = rawsoap.http_post(host, port, "/onvif/media_service", body)
    challenge = a.header("WWW-Authenticate") or ""
    if flow.check(a.status == 401 and challenge, "GetProfiles without credentials: no challenge"):
        auth = rawsoap.digest_authorization(challenge, ctx.talker, ctx.talker_pw, "POST",
                                            "/onvif/media_service")
        a = rawsoap.http_post(host, port, "/onvif/media_service", body,
                              headers={"Authorization": auth})
        if flow.ok(ok_response(a, "trt", "GetProfiles") and
                   "HTTP digest: " + ok_response(a, "trt", "GetProfiles")):
            flow.check(b"AudioOutputConfiguration" in a.body,
                       "HTTP digest as a talker: no AudioOutputConfiguration")
        bad = rawsoap.digest_authorization(challenge, ctx.talker, "wrong", "POST",
                                           "/onvif/media_service")
        a = rawsoap.http_post(host, port, "/onvif/media_service", body,
                              headers={"Authorization": bad})
        f = a.fault()
        flow.check(a.status == 401 or a.status == 400 and f and "NotAuthorized" in [local(x) for x in f[1]],
                   f"HTTP digest with a wrong password: {a.describe()[:200]}")


# ---- viewer -------------------------------------------------------------------------

def flow_viewer(flow, ctx):
    c = rawsoap.Client(lab.CAMERA_ADDR, ctx.http_port, ctx.viewer, ctx.viewer_pw)
    a = c.call("media", "<trt:GetProfiles/>")
    if flow.ok(ok_response(a, "trt", "GetProfiles")):
        profiles = list(a.body_child().iterfind(q("trt", "Profiles")))
        flow.check(profiles, "viewer: no Media1 profile")
        for p in profiles:
            flow.check(p.find(f".//{q('tt', 'AudioOutputConfiguration')}") is None
                       and p.find(f".//{q('tt', 'AudioDecoderConfiguration')}") is None,
                       f"viewer: Media1 profile {p.get('token')} carries an audio output")
        if profiles:
            a = c.call("media", "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
                       "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
                       f"<trt:ProfileToken>{profiles[0].get('token')}</trt:ProfileToken></trt:GetStreamUri>")
            flow.ok(ok_response(a, "trt", "GetStreamUri"))
    a = c.call("media2", "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>")
    if flow.ok(ok_response(a, "tr2", "GetProfiles")):
        for p in a.body_child().iterfind(q("tr2", "Profiles")):
            flow.check(p.find(f".//{q('tr2', 'AudioOutput')}") is None
                       and p.find(f".//{q('tr2', 'AudioDecoder')}") is None,
                       f"viewer: Media2 profile {p.get('token')} carries an audio output")
    # The talker, same call: it does carry one (so the check above can fail).
    t = rawsoap.Client(lab.CAMERA_ADDR, ctx.http_port, ctx.talker, ctx.talker_pw)
    a = t.call("media2", "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>")
    flow.check(a.status == 200 and a.root is not None
               and a.root.find(f".//{q('tr2', 'AudioOutput')}") is not None,
               "talker: Media2 profile without AudioOutput")


# ---- bad input -----------------------------------------------------------------------

def raw_exchange(host, port, data, shut=True, timeout=10):
    """Sends raw bytes on a new connection; returns (status or None, seconds,
    first bytes of the answer)."""
    start = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before all was sent
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
        return (int(m.group(1)) if m else None), time.monotonic() - start, buf[:300]
    finally:
        s.close()


def still_serving(flow, ctx, after):
    a = rawsoap.http_post(lab.CAMERA_ADDR, ctx.http_port, "/onvif/device_service",
                          rawsoap.envelope("<tds:GetSystemDateAndTime/>"), timeout=10)
    flow.check(a.status == 200, f"after {after}: GetSystemDateAndTime {a.describe()[:200]}")
    flow.check(ctx.camera.alive(), f"after {after}: the element exited")


def flow_badinput(flow, ctx):
    host, port = lab.CAMERA_ADDR, ctx.http_port
    c = rawsoap.Client(host, port, ctx.talker, ctx.talker_pw)

    for service, op in (("device", "tds:GetNoSuchThing"), ("media", "trt:GetNoSuchThing"),
                        ("media2", "tr2:GetNoSuchThing"), ("deviceio", "tmd:GetNoSuchThing")):
        a = c.call(service, f"<{op}/>")
        f = a.fault()
        flow.check(f and local(f[0]) == "Receiver" and "ActionNotSupported" in [local(x) for x in f[1]]
                   and a.status == 500,
                   f"unknown operation {op}: want HTTP 500 env:Receiver/ter:ActionNotSupported, "
                   f"got {a.describe()[:400]}")
    # Operations that are not getters need the Administrator level when
    # unknown (access.rs: unknown writes fail closed), but one we do not
    # implement does nothing at any level: an authenticated talker learns
    # that it is not supported (Core), not that it lacks the rights.
    for service, op in (("device", "tds:NoSuchOperation"),
                        ("media", "trt:CreateProfile><trt:Name>x</trt:Name></trt:CreateProfile")):
        a = c.call(service, f"<{op}/>" if "><" not in op else f"<{op}>")
        f = a.fault()
        flow.check(f and local(f[0]) == "Receiver" and "ActionNotSupported" in [local(x) for x in f[1]]
                   and a.status == 500,
                   f"{op.split('>')[0]} (not implemented): want HTTP 500 env:Receiver/"
                   f"ter:ActionNotSupported, got {a.describe()[:300]}")

    def bad(what, body, ctype=rawsoap.SOAP12, want_fault=True):
        try:
            a = rawsoap.http_post(host, port, "/onvif/device_service", body, content_type=ctype)
        except OSError as e:
            flow.check(False, f"{what}: {e}")
            return
        flow.check(400 <= a.status < 500 or a.status == 500 and a.fault(),
                   f"{what}: want a 4xx or a fault, got {a.describe()[:300]}")
        if want_fault and a.root is not None:
            flow.check(a.fault() is not None, f"{what}: XML answer without a fault: {a.describe()[:300]}")
        still_serving(flow, ctx, what)

    bad("malformed XML", b'<?xml version="1.0"?><s:Envelope xmlns:s="' + NS["s"].encode()
        + b'"><s:Body><tds:GetSystemDateAndTime></s:Body>')
    bad("not XML at all", b"\x00\xff garbage \x89PNG")
    bad("empty body", b"")
    bad("no Body", rawsoap.envelope("").replace(b"<s:Body></s:Body>", b""))
    bad("an undeclared prefix", b'<s:Envelope xmlns:s="' + NS["s"].encode()
        + b'"><s:Body><x:GetSystemDateAndTime/></s:Body></s:Envelope>')
    laughs = (b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa">'
              + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10)
                         for i in range(8))
              + b']><s:Envelope xmlns:s="' + NS["s"].encode() + b'"><s:Body>&i;</s:Body></s:Envelope>')
    bad("entity expansion (billion laughs)", laughs)
    deep = b'<s:Envelope xmlns:s="' + NS["s"].encode() + b'"><s:Body>' + b"<a>" * 100000 \
        + b"</a>" * 100000 + b"</s:Body></s:Envelope>"
    bad("100000 nested elements", deep)
    bad("a wrong content type (application/json)", rawsoap.envelope("<tds:GetSystemDateAndTime/>"),
        ctype="application/json", want_fault=False)

    # 10 MB: a 4xx (413) or a fault soon, and the server still answers.
    size = 10 * 1024 * 1024
    head = (f"POST /onvif/device_service HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: {rawsoap.SOAP12}\r\nContent-Length: {size}\r\n\r\n").encode()
    body = rawsoap.envelope("<tds:GetSystemDateAndTime/>").replace(b"<s:Body>", b"<s:Body>" + b" " * (size - 200), 1)
    body = body[:size].ljust(size, b" ")
    status, secs, first = raw_exchange(host, port, head + body)
    flow.check(status is not None and 400 <= status < 600 and secs < 10,
               f"10 MB body: want a 4xx or a fault within 10 s, got {first!r} after {secs:.1f} s")
    still_serving(flow, ctx, "a 10 MB body")

    # A client that sends half its body and vanishes.
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"POST /onvif/device_service HTTP/1.1\r\nHost: x\r\nContent-Type: "
              + rawsoap.SOAP12.encode() + b"\r\nContent-Length: 1000\r\n\r\n<s:Envelope")
    s.close()
    still_serving(flow, ctx, "a client that vanished mid-body")
    # One that stalls mid-body does not hold up the others.
    stalled = socket.create_connection((host, port), timeout=5)
    stalled.sendall(b"POST /onvif/device_service HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    + rawsoap.SOAP12.encode() + b"\r\nContent-Length: 1000\r\n\r\n<s:Env")
    still_serving(flow, ctx, "a stalled request (still open)")
    stalled.close()
    # Another path and another method.
    status, _, first = raw_exchange(host, port, b"GET /onvif/device_service HTTP/1.1\r\nHost: x\r\n\r\n")
    flow.check(status is not None and 400 <= status < 500, f"GET: {first!r}")
    status, _, first = raw_exchange(host, port, b"POST /nothing HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 0\r\n\r\n")
    flow.check(status == 404, f"POST /nothing: {first!r}")
    status, _, first = raw_exchange(host, port, b"\x16\x03\x01 not http at all\r\n\r\n")
    still_serving(flow, ctx, "a request that is not HTTP")


# ---- runner -------------------------------------------------------------------------

def run_flow(name, fn, ctx, results, label=None):
    if ctx.only and name not in ctx.only:
        return
    label = label or name
    flow = Flow(name)
    start = time.monotonic()
    try:
        fn(flow, ctx)
    except Exception as e:  # a client library's exception is a failure of the flow
        detail = str(e)
        if hasattr(e, "subcodes"):  # zeep.exceptions.Fault
            subcodes = [getattr(c, "text", c) for c in e.subcodes or []]
            detail = f"{e.code} {subcodes} {e.message!r}"
        step = f" in {flow.step}" if flow.step else ""
        flow.failures.append(f"{type(e).__name__}{step}: {detail}\n"
                             + traceback.format_exc(limit=-3))
    secs = time.monotonic() - start
    if flow.failures:
        print(f"FAIL  {label} ({secs:.1f} s)", flush=True)
        for f in flow.failures:
            print("      - " + f.replace("\n", "\n        "), flush=True)
    else:
        print(f"ok    {label} ({secs:.1f} s)", flush=True)
    results[name] = results.get(name, True) and not flow.failures
    if flow.failures:
        ctx.first_failures.append(f"{label}: {flow.failures[0].splitlines()[0][:240]}"
                                  + (f" (+{len(flow.failures) - 1} more)" if len(flow.failures) > 1 else ""))


def inside(args):
    """In the client namespace: start the camera, run the flows."""
    for name in ("onvif", "zeep", "wsdiscovery", "threading", "asyncio", "httpx", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)

    ctx = Ctx()
    ctx.only = set(args.only.split(",")) if args.only else None
    ctx.talk = args.talk
    ctx.talker, ctx.talker_pw = "operator", secrets.token_hex(8)
    ctx.viewer, ctx.viewer_pw = "guard", secrets.token_hex(8)
    ctx.epr = None
    ctx.first_failures = []
    work = args.work
    users = os.path.join(work, "users")
    with open(users, "w", encoding="utf-8") as f:
        f.write(f"{ctx.talker}:{ctx.talker_pw}:talker\n{ctx.viewer}:{ctx.viewer_pw}:viewer\n")
    os.chmod(users, 0o600)
    ctx.wav = os.path.join(work, "talk.wav")

    class Names:
        camera_ns = args.camera_ns

        @staticmethod
        def argv(ns, argv):
            return lab.nsenter(ns, argv)

    results = {}
    ctx.watcher = Watcher()  # listening before the camera starts: its Hello
    cam = lab.Camera(Names, args.plugin_dir, ctx.wav, os.path.join(work, "camera.log"),
                     port=0, http_port=-1, users_file=users, codecs=CODECS,
                     device_name=DEVICE_NAME, device_hardware=DEVICE_HARDWARE,
                     # CAMERA_EXTRA="prop=value ...": more element properties,
                     # e.g. discovery=false (the discovery flow must then fail).
                     **dict(kv.split("=", 1) for kv in os.environ.get("CAMERA_EXTRA", "").split()))
    ctx.camera = cam
    try:
        cam.start()
        ctx.rtsp_port = cam.bound("bound-port")
        ctx.http_port = cam.bound("bound-http-port") if ctx.rtsp_port else None
        if not (ctx.rtsp_port and ctx.rtsp_port > 0 and ctx.http_port and ctx.http_port > 0 and
                lab.wait_port(lab.CAMERA_ADDR, ctx.http_port, time.monotonic() + 20)):
            print(f"FAIL  start: the element did not serve RTSP and HTTP at "
                  f"{lab.CAMERA_ADDR} (bound-port {ctx.rtsp_port}, "
                  f"bound-http-port {ctx.http_port}):\n" + cam.output(), flush=True)
            return 1
        run_flow("discovery", flow_discovery_start, ctx, results)
        run_flow("zeep", flow_zeep, ctx, results)
        run_flow("talk", flow_talk, ctx, results)
        run_flow("go2rtc", flow_go2rtc, ctx, results)
        run_flow("scrypted", flow_scrypted, ctx, results)
        run_flow("more", flow_more, ctx, results)
        run_flow("auth", flow_auth, ctx, results)
        run_flow("viewer", flow_viewer, ctx, results)
        run_flow("badinput", flow_badinput, ctx, results)
        alive = cam.alive()
        rc = cam.stop()
        if not alive or rc != 0:
            print(f"FAIL  element: {'exited during the flows' if not alive else 'exit status %s' % rc}\n"
                  + cam.output(), flush=True)
            results["element"] = False
        run_flow("discovery", flow_discovery_stop, ctx, results, "discovery: Bye at the stop")
        if getattr(ctx, "talked", False):
            run_flow("talk", flow_tone, ctx, results, "talk: 440 Hz in the element's output")
    finally:
        cam.stop()
        ctx.watcher.stop()
    failed = [n for n, ok in results.items() if not ok]
    passed = [n for n, ok in results.items() if ok]
    if failed:
        # Short, last: scripts/test.sh shows the last 20 lines of a failed check.
        print("camera log (last lines):\n" + cam.output(8), flush=True)
        print("first failure of each flow:\n  " + "\n  ".join(ctx.first_failures), flush=True)
    print(f"onvif: {len(passed)} passed, {len(failed)} failed"
          + (f" ({', '.join(failed)})" if failed else ""), flush=True)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plugin-dir", required=True)
    p.add_argument("--talk", required=True, help="target/release/examples/talk")
    p.add_argument("--only", help="comma-separated flows: " + ",".join(FLOWS))
    p.add_argument("--keep", help="copy the camera log and WAV into this directory")
    p.add_argument("--inside", nargs=3, metavar=("CAMERA_NS", "CLIENT_NS", "WORK"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    args.plugin_dir = os.path.abspath(args.plugin_dir)
    args.talk = os.path.abspath(args.talk)
    if args.inside:
        args.camera_ns, _, args.work = args.inside
        return inside(args)
    if os.geteuid() != 0:
        print("test_clients.py: needs root (network namespaces)", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="onvif-clients-")
    os.chmod(work, 0o755)
    try:
        with lab.Lab() as net:
            argv = [sys.executable, os.path.abspath(__file__), "--plugin-dir", args.plugin_dir,
                    "--talk", args.talk, "--inside", net.camera_ns, net.client_ns, work]
            if args.only:
                argv += ["--only", args.only]
            proc = subprocess.Popen(net.argv(net.client_ns, argv), preexec_fn=lab.die_with_parent)
            try:
                return proc.wait(timeout=150)
            except subprocess.TimeoutExpired:
                print("test_clients.py: the flows took more than 150 s", flush=True)
                return 1
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    finally:
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for f in os.listdir(work):
                shutil.copy(os.path.join(work, f), args.keep)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

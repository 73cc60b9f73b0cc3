"""Pieces shared by the benchmarks' raw RTSP clients: PCMU encoding,
loudness of received PCM, and reading what a server's SDP and Transport
reply say."""

import array
import queue
import sys
import time
import urllib.parse

ONVIF_BACKCHANNEL = "www.onvif.org/ver20/backchannel"


def linear_to_ulaw(sample):
    """Encode one signed 16-bit linear sample as a G.711 mu-law byte."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def has_loud_sample(data, threshold):
    """True if S16LE `data` holds a sample with |value| > `threshold`."""
    samples = array.array("h")
    samples.frombytes(data[: len(data) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return bool(samples) and max(max(samples), -min(samples)) > threshold


class RtspError(Exception):
    """An RTSP request failed or timed out."""


def sdp_tracks(sdp, content_base):
    """Return [(control_url, is_backchannel)] for every SDP media section.

    The back channel is the m=audio section marked a=sendonly; control
    attributes are resolved against the Content-Base.
    """
    sections = [[]]
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    tracks = []
    for section in sections[1:]:
        control = next((line[len("a=control:"):] for line in section
                        if line.startswith("a=control:")), None)
        if control is None:
            continue
        url = content_base if control == "*" else urllib.parse.urljoin(
            content_base, control)
        backchannel = section[0].startswith("m=audio") and "a=sendonly" in section
        tracks.append((url, backchannel))
    if not any(backchannel for _, backchannel in tracks):
        raise RtspError("no m=audio section with a=sendonly and a=control in SDP")
    return tracks


def interleaved_channel(transport):
    """Extract the first interleaved channel from a Transport header."""
    for part in transport.split(";"):
        if part.startswith("interleaved="):
            return int(part.split("=")[1].split("-")[0])
    raise RtspError(f"no interleaved channel in Transport: {transport!r}")


def server_rtp_port(transport):
    """The server's RTP port: the first of `server_port=a-b` in a Transport reply."""
    for part in transport.split(";"):
        if part.startswith("server_port="):
            return int(part.split("=")[1].split("-")[0])
    raise RtspError(f"no server_port in Transport: {transport!r}")


def request_text(method, url, cseq, session, extra, user_agent):
    """An RTSP request with the back-channel Require header, as bytes."""
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}",
             f"User-Agent: {user_agent}", f"Require: {ONVIF_BACKCHANNEL}"]
    if session:
        lines.append(f"Session: {session}")
    lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_responses(buf, responses):
    """Consume the complete messages at the start of the bytearray `buf`:
    interleaved frames are dropped, RTSP responses are put on `responses` as
    (status, headers with lower-case names, body). An incomplete message is
    left in `buf` for the next read."""
    pos = 0
    while pos < len(buf):
        if buf[pos] == 0x24:  # '$': interleaved frame, dropped
            if len(buf) - pos < 4:
                break
            end = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
            if end > len(buf):
                break
            pos = end
            continue
        head_end = buf.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        lines = buf[pos:head_end].decode("utf-8", "replace").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_end = head_end + 4 + int(headers.get("content-length", "0"))
        if body_end > len(buf):
            break
        if lines[0].startswith("RTSP/"):
            body = bytes(buf[head_end + 4:body_end]).decode("utf-8", "replace")
            responses.put((int(lines[0].split()[1]), headers, body))
        pos = body_end
    del buf[:pos]


def await_response(responses, closed, cseq, method, deadline, timeout_s):
    """Take responses (status, headers, body) from the `responses` queue until
    the one for `cseq`; raises RtspError at `deadline`, when `closed` is set
    and nothing is left, or on a non-2xx status."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RtspError(f"{method}: no response within {timeout_s} s")
        try:
            status, headers, body = responses.get(timeout=min(remaining, 0.2))
        except queue.Empty:
            if closed.is_set():
                raise RtspError(f"{method}: connection closed by server") from None
            continue
        if headers.get("cseq") != str(cseq):
            continue
        if not 200 <= status < 300:
            raise RtspError(f"{method} failed with status {status}")
        return status, headers, body

"""Pieces shared by the benchmarks' raw RTSP clients: PCMU encoding and
reading what a server's SDP and Transport reply say."""

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

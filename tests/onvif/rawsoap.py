"""A small hand-written ONVIF SOAP client (standard library only): envelopes,
WS-UsernameToken PasswordDigest, HTTP digest, and answers parsed with
ElementTree. The scripted clients of tests/onvif/ (go2rtc's and Scrypted's
call sequences, the negative cases) and benches/onvif.py use it.
"""

import base64
import datetime
import hashlib
import http.client
import os
import re
import socket
import uuid
import xml.etree.ElementTree as ET

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "s11": "http://schemas.xmlsoap.org/soap/envelope/",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tmd": "http://www.onvif.org/ver10/deviceIO/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsa10": "http://www.w3.org/2005/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
}
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
                   "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
BASE64_BINARY = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-soap-message-security-1.0#Base64Binary")
SOAP12 = "application/soap+xml; charset=utf-8"

SERVICE_PATHS = {
    "device": "/onvif/device_service",
    "media": "/onvif/media_service",
    "media2": "/onvif/media2_service",
    "deviceio": "/onvif/deviceio_service",
}


def q(prefix, local):
    """ElementTree's {namespace}local name."""
    return "{%s}%s" % (NS[prefix], local)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def created_text(when, style="z"):
    """Created timestamps as the clients of onvif-notes section 6 send them:
    'z' 2024-01-01T00:00:00Z, 'ms' with milliseconds (agsh), 'ns' with
    nanoseconds (go2rtc), 'offset' with +00:00 (zeep)."""
    when = when.astimezone(datetime.timezone.utc)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    if style == "ms":
        return f"{base}.{when.microsecond // 1000:03d}Z"
    if style == "ns":
        return f"{base}.{when.microsecond:06d}123Z"
    if style == "offset":
        return f"{base}+00:00"
    return base + "Z"


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + Created + password)), WS-UsernameToken 1.0."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


class Token:
    """One UsernameToken's fields; `header()` is its wsse:Security header."""

    def __init__(self, user, password, nonce=None, created=None, style="z", digest=None):
        self.user = user
        self.nonce = nonce if nonce is not None else os.urandom(16)
        self.created = created if created is not None else created_text(utc_now(), style)
        self.digest = digest if digest is not None else password_digest(
            self.nonce, self.created, password)

    def header(self, default_ns=False):
        nonce = base64.b64encode(self.nonce).decode()
        if default_ns:
            # agsh (Scrypted's library) writes the Security header with default
            # namespaces and mustUnderstand.
            return (f'<Security s:mustUnderstand="1" xmlns="{NS["wsse"]}"><UsernameToken>'
                    f"<Username>{self.user}</Username>"
                    f'<Password Type="{PASSWORD_DIGEST}">{self.digest}</Password>'
                    f'<Nonce EncodingType="{BASE64_BINARY}">{nonce}</Nonce>'
                    f'<Created xmlns="{NS["wsu"]}">{self.created}</Created>'
                    f"</UsernameToken></Security>")
        return (f'<wsse:Security xmlns:wsse="{NS["wsse"]}" xmlns:wsu="{NS["wsu"]}">'
                f"<wsse:UsernameToken><wsse:Username>{self.user}</wsse:Username>"
                f'<wsse:Password Type="{PASSWORD_DIGEST}">{self.digest}</wsse:Password>'
                f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{nonce}</wsse:Nonce>'
                f"<wsu:Created>{self.created}</wsu:Created>"
                f"</wsse:UsernameToken></wsse:Security>")


def envelope(body, header="", soap11=False, extra_ns=""):
    env_ns = NS["s11"] if soap11 else NS["s"]
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return (f'<?xml version="1.0" encoding="utf-8"?>'
            f'<s:Envelope xmlns:s="{env_ns}" xmlns:tds="{NS["tds"]}" xmlns:trt="{NS["trt"]}" '
            f'xmlns:tr2="{NS["tr2"]}" xmlns:tmd="{NS["tmd"]}" xmlns:tt="{NS["tt"]}"{extra_ns}>'
            f"{head}<s:Body>{body}</s:Body></s:Envelope>").encode()


class Answer:
    """An HTTP answer; `root` is the parsed XML (None if it is not XML)."""

    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds
        self.root = None
        self.parse_error = None
        if body:
            try:
                self.root = ET.fromstring(body)
            except ET.ParseError as e:
                self.parse_error = str(e)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def body_child(self):
        """The first element of the SOAP Body (the response or the Fault)."""
        if self.root is None:
            return None
        for env in ("s", "s11"):
            body = self.root.find(q(env, "Body"))
            if body is not None:
                return next(iter(body), None)
        return None

    def fault(self):
        """(code, [subcodes], reason) when the answer is a SOAP 1.2 fault
        anywhere in the document, else None."""
        if self.root is None:
            return None
        f = next(self.root.iter(q("s", "Fault")), None)
        if f is None:
            f = next(self.root.iter(q("s11", "Fault")), None)
            if f is None:
                return None
            return (f.findtext("faultcode", ""), [], f.findtext("faultstring", ""))
        code = f.findtext(f"{q('s', 'Code')}/{q('s', 'Value')}", "").strip()
        subcodes = []
        node = f.find(q("s", "Code"))
        while node is not None:
            node = node.find(q("s", "Subcode"))
            if node is not None:
                subcodes.append(node.findtext(q("s", "Value"), "").strip())
        reason = " ".join(t.text or "" for t in f.iter(q("s", "Text")))
        return code, subcodes, reason

    def describe(self):
        """A short account of the answer: status, fault or Body content."""
        f = self.fault()
        if f:
            return f"HTTP {self.status}: fault {f[0]} {f[1]} {f[2]!r}"
        child = self.body_child()
        if child is not None:
            return f"HTTP {self.status}: {ET.tostring(child, encoding='unicode')[:600]}"
        text = self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) else str(self.body)
        return f"HTTP {self.status}: {text[:600]!r}"


def local(qname_text):
    """'ter:NotAuthorized' -> 'NotAuthorized' (prefixes are the server's)."""
    return qname_text.split(":")[-1]


def http_post(host, port, path, body, content_type=SOAP12, headers=None, timeout=10):
    """One POST on a fresh connection; an Answer."""
    start = datetime.datetime.now()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = {"Content-Type": content_type} if content_type else {}
        hdrs.update(headers or {})
        conn.request("POST", path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Answer(resp.status, resp.getheaders(), data,
                      (datetime.datetime.now() - start).total_seconds())
    finally:
        conn.close()


def digest_authorization(challenge, user, password, method, uri):
    """An HTTP Digest Authorization header (RFC 7616, MD5 or SHA-256, qop=auth)
    answering a WWW-Authenticate challenge."""
    params = {k.lower(): a or b
              for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', challenge)}
    algorithm = params.get("algorithm", "MD5")
    h = (lambda s: hashlib.sha256(s.encode()).hexdigest()) if algorithm.upper().startswith(
        "SHA-256") else (lambda s: hashlib.md5(s.encode()).hexdigest())
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    cnonce = uuid.uuid4().hex[:16]
    nc = "00000001"
    if "qop" in params:
        response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'algorithm={algorithm}, response="{response}"{opaque}{extra}')


class Client:
    """Calls ONVIF operations on one device with a UsernameToken (or none)."""

    def __init__(self, host, port, user=None, password=None, style="z", default_ns=False,
                 time_offset=None, paths=None):
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.style = style
        self.default_ns = default_ns
        self.time_offset = time_offset or datetime.timedelta()
        self.paths = dict(SERVICE_PATHS, **(paths or {}))
        self.log = []  # (service, operation, Answer)

    def token(self):
        if self.user is None:
            return None
        return Token(self.user, self.password,
                     created=created_text(utc_now() + self.time_offset, self.style))

    def call(self, service, body, token="auto", path=None):
        if token == "auto":
            token = self.token()
        header = token.header(self.default_ns) if token else ""
        answer = http_post(self.host, self.port, path or self.paths[service],
                           envelope(body, header))
        op = re.match(r"<(?:\w+:)?(\w+)", body).group(1)
        self.log.append((service, op, answer))
        return answer


def ok_response(answer, ns_prefix, operation):
    """Why `answer` is not a well-formed, fault-free <operation>Response in
    namespace `ns_prefix`; None when it is."""
    if answer.status != 200:
        return f"{operation}: {answer.describe()}"
    if answer.root is None:
        return f"{operation}: answer is not XML ({answer.parse_error}): {answer.describe()}"
    ctype = answer.header("Content-Type") or ""
    if "application/soap+xml" not in ctype:
        return f"{operation}: Content-Type {ctype!r}"
    if answer.fault():
        return f"{operation}: fault inside the answer: {answer.describe()}"
    child = answer.body_child()
    want = q(ns_prefix, operation + "Response")
    if child is None or child.tag != want:
        return f"{operation}: first Body child {getattr(child, 'tag', None)}, want {want}"
    return None


def probe_udp(target, port=3702, types="", scopes="", timeout=5, source=("", 0)):
    """go2rtc's WS-Discovery Probe (empty Types and Scopes unless given) from
    an ephemeral port; yields (peer, parsed root) of every ProbeMatches that
    relates to it, until `timeout` s pass without one."""
    mid = f"urn:uuid:{uuid.uuid4()}"
    types_el = f"<d:Types>{types}</d:Types>" if types else "<d:Types />"
    scopes_el = f"<d:Scopes>{scopes}</d:Scopes>" if scopes else "<d:Scopes />"
    msg = (f'<?xml version="1.0" ?><s:Envelope xmlns:s="{NS["s"]}" xmlns:dn="{NS["dn"]}" '
           f'xmlns:tds="{NS["tds"]}"><s:Header xmlns:a="{NS["wsa"]}">'
           f"<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"
           f"<a:MessageID>{mid}</a:MessageID>"
           f"<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
           f'<s:Body><d:Probe xmlns:d="{NS["d"]}">{types_el}{scopes_el}</d:Probe></s:Body>'
           f"</s:Envelope>").encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(source)
        sock.sendto(msg, (target, port))
        sock.settimeout(timeout)
        while True:
            try:
                data, peer = sock.recvfrom(65536)
            except socket.timeout:
                return
            try:
                root = ET.fromstring(data)
            except ET.ParseError:
                yield peer, None, data
                continue
            relates = root.findtext(f".//{q('wsa', 'RelatesTo')}")
            if relates == mid:
                yield peer, root, data
    finally:
        sock.close()

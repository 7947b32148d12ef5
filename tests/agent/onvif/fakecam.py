"""A tiny threaded ONVIF camera on 127.0.0.1 for unit tests of the poller (the simulator in
``simulator/`` is the integration truth). Answers come from ../shared/onvif-captures where one
exists; WS-Security is checked against the camera's own (offset) clock."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lxml import etree

from tests.conftest import CAPTURES, require_captures

HIK = "HIKVISION_DS-2CD2143G0-I_"
DIGEST_REALM = "IP Camera(12345)"
DIGEST_NONCE = "4e6f6e6365"
ENV = (
    '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">'
    "<env:Body>{}</env:Body></env:Envelope>"
)
NOT_AUTHORIZED = ENV.format(
    "<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>"
    '<env:Value xmlns:ter="http://www.onvif.org/ver10/error">ter:NotAuthorized</env:Value></env:Subcode>'
    '</env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized'
    "</env:Text></env:Reason></env:Fault>"
)


def _time_answer(now: datetime) -> str:
    return ENV.format(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
        "<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time>"
        f"<tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute><tt:Second>{now.second}</tt:Second>"
        f"</tt:Time><tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day>"
        "</tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


SIMPLE = {
    "GetHostname": "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
    "<tt:Name>cam-lobby</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>",
    "GetDNS": "<tds:GetDNSResponse><tds:DNSInformation><tt:FromDHCP>false</tt:FromDHCP><tt:DNSManual>"
    "<tt:Type>IPv4</tt:Type><tt:IPv4Address>192.0.2.53</tt:IPv4Address></tt:DNSManual></tds:DNSInformation>"
    "</tds:GetDNSResponse>",
    "GetNTP": "<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>false</tt:FromDHCP><tt:NTPManual>"
    "<tt:Type>DNS</tt:Type><tt:DNSname>time.windows.com</tt:DNSname></tt:NTPManual></tds:NTPInformation></tds:GetNTPResponse>",
    "GetUsers": "<tds:GetUsersResponse><tds:User><tt:Username>admin</tt:Username><tt:UserLevel>Administrator"
    "</tt:UserLevel></tds:User></tds:GetUsersResponse>",
}


RECORDER = {
    "GetServices": "<tds:GetServicesResponse>"
    + "".join(
        f"<tds:Service><tds:Namespace>http://www.onvif.org/ver10/{ns}/wsdl</tds:Namespace>"
        f"<tds:XAddr>http://192.0.2.99/onvif/{ns}_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major>"
        "<tt:Minor>0</tt:Minor></tds:Version></tds:Service>"
        for ns in ("device", "receiver", "recording")
    )
    + "</tds:GetServicesResponse>",
    "GetReceivers": '<trv:GetReceiversResponse xmlns:trv="http://www.onvif.org/ver10/receiver/wsdl">'
    + "".join(
        f"<trv:Receivers><tt:Token>ch{i}</tt:Token><tt:Configuration><tt:Mode>AlwaysConnect</tt:Mode>"
        f"<tt:MediaUri>rtsp://10.9.0.{i}:554/Streaming/Channels/101</tt:MediaUri></tt:Configuration>"
        "</trv:Receivers>"
        for i in (11, 12)
    )
    + "</trv:GetReceiversResponse>",
    "GetRecordings": '<trc:GetRecordingsResponse xmlns:trc="http://www.onvif.org/ver10/recording/wsdl">'
    "<trc:RecordingItem><trc:RecordingToken>r1</trc:RecordingToken><trc:Configuration><tt:Source>"
    "<tt:SourceId>x</tt:SourceId><tt:Name>Gate</tt:Name><tt:Location>yard</tt:Location>"
    "<tt:Description/><tt:Address>http://10.9.0.13/onvif/device_service</tt:Address></tt:Source>"
    "</trc:Configuration></trc:RecordingItem></trc:GetRecordingsResponse>",
}


@dataclass
class FakeCamera:
    username: str = "admin"
    password: str = "s3cret-pass"
    clock_offset_s: float = 0.0
    replay_flaw: bool = False
    open_access: bool = False  # answers protected operations whatever the credentials (a bypass)
    # Answered when no token is sent (anonymous access); a token that is sent is still checked.
    anonymous_ops: tuple[str, ...] = ()
    behaviour: str = "normal"  # normal | hang | drip | bomb | huge | malformed | close
    server_header: str = "App-webs/"
    http_digest: bool = False  # also demand HTTP Digest (401 + WWW-Authenticate) on protected calls
    recorder: bool = False  # answer GetServices as an NVR with Receiver and Recording services
    seen_nonces: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    port: int = 0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def _authorised(self, root: etree._Element) -> bool:
        token = root.find(".//{*}UsernameToken")
        if token is None:
            return False
        user = token.findtext("{*}Username") or ""
        digest = token.findtext("{*}Password") or ""
        nonce = token.findtext("{*}Nonce") or ""
        created = token.findtext("{*}Created") or ""
        expected = base64.b64encode(
            hashlib.sha1(  # noqa: S324 (the WS-Security digest is SHA-1 by spec)
                base64.b64decode(nonce) + created.encode() + self.password.encode()
            ).digest()
        ).decode()
        if user != self.username or digest != expected or not created.endswith("Z"):
            return False
        stamp = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if abs((stamp - self.now()).total_seconds()) > 300:
            return False
        if nonce in self.seen_nonces and not self.replay_flaw:
            return False
        self.seen_nonces.add(nonce)
        return True

    def _digest_ok(self, request: bytes) -> bool:
        head = request.split(b"\r\n\r\n", 1)[0].decode()
        auth = next(
            (
                line.split(":", 1)[1].strip()
                for line in head.split("\r\n")
                if line.lower().startswith("authorization:")
            ),
            "",
        )
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
        if not auth.startswith("Digest ") or fields.get("nonce") != DIGEST_NONCE:
            return False
        ha1 = hashlib.md5(f"{self.username}:{DIGEST_REALM}:{self.password}".encode()).hexdigest()  # noqa: S324
        ha2 = hashlib.md5(f"POST:{fields.get('uri')}".encode()).hexdigest()  # noqa: S324
        expected = hashlib.md5(  # noqa: S324
            f"{ha1}:{DIGEST_NONCE}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}".encode()
        ).hexdigest()
        return fields.get("response") == expected

    def answer(self, request: bytes) -> tuple[int, bytes]:
        if request.startswith(b"GET "):
            return 200, b"<html><head><title>Login</title></head></html>"
        self.paths.append(request.split(b" ", 2)[1].decode())
        body = request.split(b"\r\n\r\n", 1)[1]
        root = etree.fromstring(body)
        op = etree.QName(root.find(".//{*}Body")[0]).localname  # type: ignore[index]
        self.requests.append(op)
        if op == "GetSystemDateAndTime":
            return 200, _time_answer(self.now()).encode()
        if self.http_digest and not self._digest_ok(request):
            return 401, b""
        anonymous = op in self.anonymous_ops and root.find(".//{*}UsernameToken") is None
        if not (self.open_access or anonymous) and not self._authorised(root):
            return 400, NOT_AUTHORIZED.encode()
        if self.recorder and op in RECORDER:
            return 200, ENV.format(RECORDER[op]).encode()
        path = CAPTURES / f"{HIK}{op}.xml"
        if path.exists():
            return 200, path.read_bytes()
        if op in SIMPLE:
            return 200, ENV.format(SIMPLE[op]).encode()
        return 500, ENV.format(
            "<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code></env:Fault>"
        ).encode()

    def handle(self, conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(rest) < length:
                rest += conn.recv(65536)
            request = head + b"\r\n\r\n" + rest
            if self.behaviour == "hang" and not request.startswith(b"GET"):
                stop.wait(30)
                return
            if self.behaviour == "close":
                return
            status, payload = self.answer(request)
            if self.behaviour == "bomb":
                payload = (
                    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><l>&b;</l>'
                )
            elif self.behaviour == "huge":
                payload = b"<a>" + b"x" * 3_000_000 + b"</a>"
            elif self.behaviour == "malformed":
                payload = payload[: len(payload) // 2]
            challenge = (
                f'WWW-Authenticate: Digest realm="{DIGEST_REALM}", nonce="{DIGEST_NONCE}", qop="auth"\r\n'
            )
            head_out = (
                f"HTTP/1.1 {status} X\r\nServer: {self.server_header}\r\n{challenge if status == 401 else ''}"
                "Content-Type: application/soap+xml\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            ).encode()
            try:
                if self.behaviour == "drip":
                    for i in range(0, len(head_out + payload), 1):
                        if stop.wait(0.05):
                            return
                        conn.sendall((head_out + payload)[i : i + 1])
                else:
                    conn.sendall(head_out + payload)
            except OSError:
                return


@contextmanager
def running(camera: FakeCamera) -> Iterator[FakeCamera]:
    require_captures()  # it answers with a real Hikvision's recorded responses
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    camera.port = listener.getsockname()[1]
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if stop.is_set():
                conn.close()
                return
            t = threading.Thread(target=camera.handle, args=(conn, stop), daemon=True)
            threads.append(t)
            t.start()

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield camera
    finally:
        stop.set()
        # accept() is not woken by close(); one connection of our own wakes it.
        with socket.create_connection(("127.0.0.1", camera.port), timeout=2):
            pass
        acceptor.join(5)
        listener.close()
        for t in threads:
            t.join(5)

"""Polling one camera: a fixed, commented sequence that turns answers into an Observation.

1. GetSystemDateAndTime without credentials: the camera's clock offset (applied to every
   WS-Security ``Created`` afterwards; skew is the commonest authentication failure).
2. GetDeviceInformation and GetUsers without credentials: a camera that answers is open; an
   open camera is then asked GetNetworkInterfaces with a made-up user and password, and one that
   answers does not check credentials at all (authentication bypass).
3. With credentials (configured, or factory defaults when the site opts in): the inventory
   operations. A failure of one operation is recorded and the next one tried; a camera that
   times out, overflows or sends hostile XML is abandoned at once.
4. The replay check: the last accepted token sent again, byte for byte.
5. ``GET /``: the HTTP Server header and login-page title (identification evidence).

An https camera's certificate is checked against its pin before each request is sent; a
changed certificate abandons the camera at once, so no credential reaches the new peer.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import structlog

from agent.onvif.client import Credentials, DeviceSession
from agent.onvif.errors import AuthFailed, CameraError, FailureKind, SoapFault
from agent.onvif.http import build_request, exchange
from agent.onvif.models import (
    Channel,
    DeviceInfo,
    Hostname,
    NameServers,
    NetworkInterface,
    NetworkProtocol,
    NtpInfo,
    Service,
    SystemTime,
    User,
)
from agent.onvif.soap import (
    Element,
    parse_device_information,
    parse_dns,
    parse_hostname,
    parse_network_interfaces,
    parse_network_protocols,
    parse_ntp,
    parse_receiver_channels,
    parse_recording_channels,
    parse_scopes,
    parse_services,
    parse_system_date_and_time,
    parse_users,
)
from agent.onvif.targets import CameraTarget
from agent.onvif.tls import PinStore, TlsPeer
from agent.onvif.wsse import TokenValues

log = structlog.get_logger("agent.onvif.poll")

# Failures after which the camera is not asked anything else in this sweep.
# A changed TLS certificate: nothing more is sent to that peer, least of all credentials.
FATAL_KINDS = frozenset(
    {
        FailureKind.UNREACHABLE,
        FailureKind.TIMEOUT,
        FailureKind.TOO_LARGE,
        FailureKind.HOSTILE_XML,
        FailureKind.TLS,
        FailureKind.CERTIFICATE_CHANGED,
    }
)
BANNER_MAX_BYTES = 65_536  # a login page; real ones are 2-20 KB
BANNER_TIMEOUT_S = 2.0
_TITLE = re.compile(rb"<title[^>]*>([^<]{0,200})</title", re.IGNORECASE)


@dataclass(frozen=True)
class OpFailure:
    operation: str
    kind: FailureKind
    detail: str


@dataclass
class Observation:
    """Everything one sweep learnt about one camera (mutable while polling, then read-only)."""

    target: CameraTarget
    reachable: bool = False
    system_time: SystemTime | None = None
    clock_offset_s: float | None = None
    device: DeviceInfo | None = None
    interfaces: list[NetworkInterface] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    hostname: Hostname | None = None
    dns: NameServers | None = None
    ntp: NtpInfo | None = None
    protocols: list[NetworkProtocol] | None = None
    users: list[User] | None = None
    services: list[Service] = field(default_factory=list)
    http_server: str = ""
    login_title: str = ""
    failures: list[OpFailure] = field(default_factory=list)
    open_operations: list[str] = field(default_factory=list)  # answered without credentials
    authenticated: bool | None = None  # None: no credentials to try
    replay_accepted: bool | None = None
    bypass_accepted: bool | None = None  # a made-up user and password were accepted
    default_usernames_tried: list[str] = field(default_factory=list)
    default_username_accepted: str | None = None
    channels: list[Channel] = field(default_factory=list)  # a recorder's cameras
    abandoned: bool = False

    @property
    def mac(self) -> str:
        for nic in self.interfaces:
            if nic.mac:
                return nic.mac
        return ""


# (operation, parser, where the result goes) in the order ONVIF clients usually ask.
def _store_device(o: Observation, p: Element) -> None:
    o.device = parse_device_information(p)


def _store_interfaces(o: Observation, p: Element) -> None:
    o.interfaces = parse_network_interfaces(p)


def _store_scopes(o: Observation, p: Element) -> None:
    o.scopes = parse_scopes(p)


def _store_hostname(o: Observation, p: Element) -> None:
    o.hostname = parse_hostname(p)


def _store_dns(o: Observation, p: Element) -> None:
    o.dns = parse_dns(p)


def _store_ntp(o: Observation, p: Element) -> None:
    o.ntp = parse_ntp(p)


def _store_protocols(o: Observation, p: Element) -> None:
    o.protocols = parse_network_protocols(p)


def _store_users(o: Observation, p: Element) -> None:
    o.users = parse_users(p)


def _store_services(o: Observation, p: Element) -> None:
    o.services = parse_services(p)


INVENTORY_OPERATIONS: tuple[tuple[str, Callable[[Observation, Element], None]], ...] = (
    ("GetDeviceInformation", _store_device),
    ("GetNetworkInterfaces", _store_interfaces),
    ("GetScopes", _store_scopes),
    ("GetHostname", _store_hostname),
    ("GetDNS", _store_dns),
    ("GetNTP", _store_ntp),
    ("GetNetworkProtocols", _store_protocols),
    ("GetUsers", _store_users),
    ("GetServices", _store_services),
)
# A recorder lists the cameras it records from (ONVIF Receiver and Recording Control services).
RECORDER_SERVICES: dict[str, tuple[str, Callable[[Element], list[Channel]]]] = {
    "http://www.onvif.org/ver10/receiver/wsdl": ("GetReceivers", parse_receiver_channels),
    "http://www.onvif.org/ver10/recording/wsdl": ("GetRecordings", parse_recording_channels),
}
MAX_CHANNELS = 256  # a large NVR has 128 channels
# Protected operations (ONVIF Core 5.9.4 access classes READ_SYSTEM, READ_SYSTEM_SECRET).
PROTECTED_PROBES = ("GetDeviceInformation", "GetUsers")
# Asked with made-up credentials, only of a camera that already answered a protected probe
# without any: a wrong password sent to a healthy camera counts towards its lockout (Hikvision
# locks the client address after a few failures), so a camera that checks nothing is the only
# one that gets it.
BYPASS_PROBE = "GetNetworkInterfaces"
BYPASS_USERNAME = "camsentry-bypass-check"


class _Abandon(Exception):
    """The camera failed in a way that makes further requests pointless or risky."""


@dataclass(frozen=True)
class PollSettings:
    per_camera_timeout_s: float
    max_response_bytes: int
    try_default_credentials: bool
    default_credentials: Sequence[tuple[str, str]] = ()


class CameraPoller:
    """Runs the sequence above against one camera and never raises for what the camera does."""

    def __init__(
        self,
        target: CameraTarget,
        settings: PollSettings,
        *,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        pins: PinStore | None = None,
    ) -> None:
        """``pins``: the agent's TLS certificate pins, for https targets (``agent.onvif.tls``)."""
        self.target = target
        self.settings = settings
        self._pins = pins
        self._now = now
        self._monotonic = monotonic
        self.obs = Observation(target=target)
        self._login_token: TokenValues | None = None
        self._tls: TlsPeer | None = None

    def _fail(self, operation: str, exc: CameraError) -> None:
        self.obs.failures.append(OpFailure(operation, exc.kind, exc.detail[:300]))
        if exc.kind is FailureKind.CERTIFICATE_CHANGED:
            # It answered the handshake, with another certificate: a device is there (and the
            # collector must hold this record for the certificate_changed rule to see it).
            self.obs.reachable = True
        if exc.kind in FATAL_KINDS or (
            exc.kind == FailureKind.MALFORMED and operation == "GetSystemDateAndTime"
        ):
            self.obs.abandoned = True
            raise _Abandon from exc

    def _try(self, session: DeviceSession, operation: str, creds: Credentials | None) -> Element | None:
        try:
            payload = session.call(operation, creds)
        except CameraError as exc:
            self._fail(operation, exc)
            return None
        self.obs.reachable = True
        return payload

    def poll(self) -> Observation:
        deadline = self._monotonic() + self.settings.per_camera_timeout_s
        session = DeviceSession(
            self.target,
            max_response_bytes=self.settings.max_response_bytes,
            now=self._now,
            monotonic=self._monotonic,
            deadline=deadline,
            pins=self._pins,
        )
        self._tls = session.tls
        try:
            self._run(session)
        except _Abandon:
            log.info(
                "camera_abandoned",
                camera=self.target.host_port,
                kind=str(self.obs.failures[-1].kind),
                detail=self.obs.failures[-1].detail,
            )
        if not self.obs.abandoned or self.obs.reachable:
            self._banner(deadline)
        return self.obs

    def _clock(self, session: DeviceSession) -> None:
        before_wall, before = self._now(), self._monotonic()
        try:
            payload = session.call("GetSystemDateAndTime")
        except SoapFault as exc:  # some firmware wants credentials even here
            self.obs.reachable = True
            self.obs.failures.append(OpFailure("GetSystemDateAndTime", exc.kind, exc.detail[:300]))
            return
        except CameraError as exc:
            self._fail("GetSystemDateAndTime", exc)
            return
        self.obs.reachable = True
        elapsed = self._monotonic() - before
        self.obs.system_time = parse_system_date_and_time(payload)
        camera_utc = self.obs.system_time.utc
        if camera_utc is not None:
            # The camera read its clock about halfway through the round trip, and ONVIF carries
            # whole seconds (truncated): on average its clock is half a second later than sent.
            ours = before_wall.timestamp() + elapsed / 2 - 0.5
            session.offset_s = round(camera_utc.timestamp() - ours, 3)
            self.obs.clock_offset_s = session.offset_s

    def _run(self, session: DeviceSession) -> None:
        self._clock(session)
        for operation in PROTECTED_PROBES:
            try:
                payload = session.call(operation)
            except SoapFault:
                continue  # refused without credentials: as it should be
            except CameraError as exc:
                self._fail(operation, exc)
                continue
            self.obs.open_operations.append(operation)
            if operation == "GetDeviceInformation":
                _store_device(self.obs, payload)
            else:
                _store_users(self.obs, payload)
        if self.obs.open_operations:
            self._bypass(session)
        creds = self._credentials(session)
        for operation, store in INVENTORY_OPERATIONS:
            if operation in self.obs.open_operations and creds is None:
                continue
            if operation == "GetDeviceInformation" and creds is not None and self.obs.device is not None:
                continue  # the login answer was this operation's answer
            answer = self._try(session, operation, creds)
            if answer is not None:
                store(self.obs, answer)
        if self._login_token is not None and "GetDeviceInformation" not in self.obs.open_operations:
            # The login token was checked by a protected operation (refused without credentials
            # above); the same operation with the same token again must be refused.
            self._replay(session, self._login_token)
        self._recorder_channels(session, creds)

    def _recorder_channels(self, session: DeviceSession, creds: Credentials | None) -> None:
        """Where the device is a recorder, the cameras behind it (its own address excluded)."""
        seen = {c.host for c in self.obs.channels} | {self.target.address}
        for service in self.obs.services:
            entry = RECORDER_SERVICES.get(service.namespace)
            if entry is None:
                continue
            operation, parse = entry
            path = urlsplit(service.xaddr).path or self.target.path  # our host, their path
            try:
                payload = session.call_service(service.namespace, operation, path, creds)
            except CameraError as exc:
                self._fail(operation, exc)
                continue
            for channel in parse(payload):
                if channel.host not in seen and len(self.obs.channels) < MAX_CHANNELS:
                    seen.add(channel.host)
                    self.obs.channels.append(channel)

    def _credentials(self, session: DeviceSession) -> Credentials | None:
        """Configured credentials if they work; else factory defaults if the site opted in."""
        t = self.target
        if t.username is not None and t.password is not None:
            configured = Credentials(t.username, t.password)
            if self._login(session, configured):
                self.obs.authenticated = True
                if (t.username, t.password) in self.settings.default_credentials:
                    # The site's own configuration uses the factory password: no guessing needed.
                    self.obs.default_usernames_tried.append(t.username)
                    self.obs.default_username_accepted = t.username
                return configured
            self.obs.authenticated = False
        if not self.settings.try_default_credentials:
            return None
        for username, password in self.settings.default_credentials:
            if username not in self.obs.default_usernames_tried:
                self.obs.default_usernames_tried.append(username)
            candidate = Credentials(username, password)
            if self._login(session, candidate, record=False):
                self.obs.default_username_accepted = username
                self.obs.authenticated = True
                return candidate
        return None

    def _login(self, session: DeviceSession, creds: Credentials, *, record: bool = True) -> bool:
        try:
            payload = session.call("GetDeviceInformation", creds)
        except AuthFailed as exc:
            if record:
                self.obs.failures.append(OpFailure("login", exc.kind, exc.detail[:300]))
            return False
        except SoapFault:
            return True  # authenticated, the operation itself failed
        except CameraError as exc:
            self._fail("login", exc)
            return False
        self.obs.reachable = True
        self._login_token = session.last_token
        _store_device(self.obs, payload)
        return True

    def _accepts(self, check: str, call: Callable[[], object]) -> bool | None:
        """True when the camera answers ``call``, False when it refuses it with a SOAP fault
        (AuthFailed included), None when it could not be asked (the failure is recorded)."""
        try:
            call()
        except SoapFault:
            return False
        except CameraError as exc:
            self._fail(check, exc)
            return None
        return True

    def _replay(self, session: DeviceSession, token: TokenValues) -> None:
        accepted = self._accepts("replay-check", lambda: session.call("GetDeviceInformation", token=token))
        if accepted is not None:
            self.obs.replay_accepted = accepted

    def _bypass(self, session: DeviceSession) -> None:
        made_up = Credentials(BYPASS_USERNAME, secrets.token_urlsafe(18))
        accepted = self._accepts("bypass-check", lambda: session.call(BYPASS_PROBE, made_up))
        if accepted is not None:
            self.obs.bypass_accepted = accepted

    def _banner(self, deadline: float) -> None:
        timeout = min(BANNER_TIMEOUT_S, deadline - self._monotonic())
        if timeout <= 0:
            return
        t = self.target
        request = build_request("GET", t.address, t.port, "/", b"", {"Accept": "text/html"})
        try:
            response = exchange(
                t.address,
                t.port,
                request,
                timeout_s=timeout,
                max_bytes=BANNER_MAX_BYTES,
                monotonic=self._monotonic,
                tls=self._tls,
            )
        except CameraError:
            return  # evidence only; the ONVIF failures already say what is wrong
        self.obs.http_server = response.headers.get("server", "")[:200]
        match = _TITLE.search(response.body)
        if match:
            self.obs.login_title = match.group(1).decode("utf-8", "replace").strip()

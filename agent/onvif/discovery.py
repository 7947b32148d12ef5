"""WS-Discovery: multicast Probe on chosen interfaces, unicast Probe to configured ranges.

Matches are parsed by ``agent.onvif.soap.parse_probe_matches`` (pure). An XAddr is used only
for its scheme, port and path; the host is always the address the answer came from, because a
camera (or anything on the VLAN) can name any host in its XAddrs. A camera whose XAddrs are all
``https://`` is polled over TLS. The match's scopes and XAddrs travel on the target as
identification evidence.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from agent.onvif.errors import CameraError
from agent.onvif.soap import parse_probe_matches
from agent.onvif.targets import DEFAULT_PATH, SOURCE_WS_DISCOVERY, CameraTarget

log = structlog.get_logger("agent.onvif.discovery")

WSD_PORT = 3702  # WS-Discovery 1.1, section 2.4
WSD_MULTICAST_V4 = "239.255.255.250"
MAX_DATAGRAM_BYTES = 65_535
MAX_MATCHES = 4096  # answers kept per probe round, whatever the VLAN sends
MAX_UNICAST_HOSTS = 4096  # addresses probed per round across all configured ranges
DEFAULT_WAIT_S = 2.0  # ONVIF Core 7.3: devices answer within MATCH_TIMEOUT (default 1 s) plus jitter

_PROBE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
    "<s:Header><a:MessageID>uuid:{id}</a:MessageID>"
    "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
    "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>"
    "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"
)


def build_probe(message_id: str | None = None) -> bytes:
    """A WS-Discovery Probe for ONVIF NetworkVideoTransmitters."""
    return _PROBE.format(id=message_id or str(uuid.uuid4())).encode()


@dataclass(frozen=True)
class Discovered:
    """A device that answered a Probe; ``address`` is where the answer came from."""

    address: str
    port: int
    path: str
    endpoint: str
    scopes: tuple[str, ...]
    types: tuple[str, ...]
    xaddrs: tuple[str, ...]
    scheme: str = "http"

    def target(self, username: str | None = None, password: str | None = None) -> CameraTarget:
        return CameraTarget(
            self.address,
            self.port,
            username,
            password,
            self.path,
            scheme=self.scheme,
            source=SOURCE_WS_DISCOVERY,
            probe_scopes=self.scopes,
            xaddrs=self.xaddrs,
            probe_endpoint=self.endpoint,
        )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def choose_xaddr(sender: str, xaddrs: Sequence[str]) -> tuple[str, int, str]:
    """(scheme, port, path) to poll ``sender`` at: the XAddr naming the sender itself first, then
    plain HTTP before HTTPS (an HTTPS-only camera gets TLS), then the first listed (pure)."""
    best: tuple[tuple[bool, bool, int], tuple[str, int, str]] | None = None
    for i, xaddr in enumerate(xaddrs):
        try:
            parts = urlsplit(xaddr)
            scheme = parts.scheme.lower()
            if scheme not in _DEFAULT_PORTS:
                continue
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:  # "http://[::1" and ports out of range
            continue
        rank = (parts.hostname != sender, scheme != "http", i)
        if best is None or rank < best[0]:
            best = (rank, (scheme, port, parts.path or DEFAULT_PATH))
    return best[1] if best is not None else ("http", 80, DEFAULT_PATH)


def discovered_from(sender: str, data: bytes) -> list[Discovered]:
    """Parse one datagram from ``sender``; XAddrs lend only scheme, port and path (pure)."""
    found = []
    for match in parse_probe_matches(data):
        scheme, port, path = choose_xaddr(sender, match.xaddrs)
        found.append(
            Discovered(sender, port, path, match.endpoint, match.scopes, match.types, match.xaddrs, scheme)
        )
    return found


def expand_ranges(ranges: Iterable[str], limit: int = MAX_UNICAST_HOSTS) -> list[str]:
    """``10.0.0.0/28``, ``10.0.0.7`` into host addresses, at most ``limit`` of them."""
    hosts: list[str] = []
    for text in ranges:
        network = ipaddress.ip_network(text, strict=False)
        for host in network.hosts() if network.num_addresses > 1 else [network.network_address]:
            if len(hosts) >= limit:
                return hosts
            hosts.append(str(host))
    return hosts


@dataclass(frozen=True)
class ProbeError:
    """Where a probe could not be sent (an interface address, or ``unicast``) and why."""

    where: str
    error: str
    errno: int | None = None

    @classmethod
    def of(cls, where: str, exc: OSError) -> ProbeError:
        return cls(where, exc.strerror or str(exc), exc.errno)


@dataclass(frozen=True)
class ProbeReport:
    """One probe round: who answered, what could not be sent, datagrams read and rejected."""

    found: tuple[Discovered, ...]
    errors: tuple[ProbeError, ...] = ()
    datagrams: int = 0
    rejected: int = 0


class WsDiscovery:
    """One probe round; ``socket_factory`` and ``port`` are seams for loopback tests."""

    def __init__(
        self,
        *,
        wait_s: float = DEFAULT_WAIT_S,
        port: int = WSD_PORT,
        monotonic: Callable[[], float] = time.monotonic,
        socket_factory: Callable[[], socket.socket] | None = None,
    ) -> None:
        self.wait_s = wait_s
        self.port = port
        self._monotonic = monotonic
        self._socket_factory = socket_factory or (lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))

    def probe(self, *, interfaces: Sequence[str] = (), unicast: Sequence[str] = ()) -> list[Discovered]:
        """Multicast from each interface address, unicast to each range; deduplicated by address."""
        return list(self.probe_report(interfaces=interfaces, unicast=unicast).found)

    def probe_report(self, *, interfaces: Sequence[str] = (), unicast: Sequence[str] = ()) -> ProbeReport:
        """One round; an interface that cannot send (gone, no address, EPERM) is an error in the
        report and the other interfaces and ranges still run."""
        socks: list[socket.socket] = []
        errors: list[ProbeError] = []
        probe = build_probe()
        try:
            for local in interfaces:
                sock = self._socket_factory()
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
                    sock.bind((local, 0))
                    sock.sendto(probe, (WSD_MULTICAST_V4, self.port))
                except OSError as exc:
                    sock.close()
                    errors.append(ProbeError.of(local, exc))
                    continue
                socks.append(sock)
            hosts = expand_ranges(unicast)
            if hosts:
                sock = self._socket_factory()
                socks.append(sock)
                failed: OSError | None = None
                for host in hosts:
                    try:
                        sock.sendto(probe, (host, self.port))
                    except OSError as exc:
                        failed = failed or exc
                        log.debug("probe_send_failed", host=host, error=str(exc))
                if failed is not None:
                    errors.append(ProbeError.of("unicast", failed))
            found, datagrams, rejected = self._collect(socks)
            return ProbeReport(tuple(found), tuple(errors), datagrams, rejected)
        finally:
            for sock in socks:
                sock.close()

    def _collect(self, socks: list[socket.socket]) -> tuple[list[Discovered], int, int]:
        found: dict[tuple[str, int], Discovered] = {}
        deadline = self._monotonic() + self.wait_s
        datagrams = rejected = 0
        while socks and datagrams < MAX_MATCHES:
            left = deadline - self._monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select(socks, [], [], left)
            for sock in readable:
                try:
                    data, (sender, _port) = sock.recvfrom(MAX_DATAGRAM_BYTES)
                except OSError:
                    continue
                datagrams += 1
                try:
                    matches = discovered_from(sender, data)
                except CameraError as exc:
                    rejected += 1
                    log.debug("bad_probe_match", sender=sender, error=exc.detail)
                    continue
                for match in matches:
                    if len(found) < MAX_MATCHES:
                        found.setdefault((match.address, match.port), match)
        ordered = sorted(found.values(), key=lambda d: (ipaddress.ip_address(d.address), d.port))
        return ordered, datagrams, rejected

"""WS-Discovery (2005/04, as ONVIF cameras speak it): Probe in, ProbeMatches out.

Pure part: ``parse_probe`` and ``probe_matches``. Edge: one UDP socket per camera on ``address:3702``
(unicast probes, and the source of every answer, as a real camera answers from its own address), plus, in a
namespace, one socket joined to 239.255.255.250 that hands multicast probes to every camera.
"""

from __future__ import annotations

import asyncio
import functools
import random
import socket
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import structlog
from lxml import etree

from simulator.camera import Camera
from simulator.fleet import CameraSpec
from simulator.operations import probe_scope_values, scope_values
from simulator.wire import Layout, Node, WireStyle, el, envelope

log = structlog.get_logger("simulator.discovery")

WSD_PORT = 3702
WSD_GROUP = "239.255.255.250"
WSD_NS = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSA_NS = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
PROBE_ACTION = f"{WSD_NS}/Probe"
MATCHES_ACTION = f"{WSD_NS}/ProbeMatches"
MAX_PROBE_BYTES = 8 * 1024  # a Probe is a few hundred bytes; anything bigger is not one
# WS-Discovery 2005/04 §2.4 APP_MAX_DELAY: answers to a multicast Probe are spread over up to 500 ms so
# that a thousand devices do not answer in the same millisecond. Unicast probes are answered at once.
APP_MAX_DELAY_S = 0.5
DEVICE_TYPES = ("dn:NetworkVideoTransmitter", "tds:Device")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class Probe:
    message_id: str
    types: tuple[tuple[str, str], ...]  # (namespace, local name) wanted; empty = any
    scopes: tuple[str, ...]


def parse_probe(data: bytes) -> Probe | None:
    """A Probe message, or None for anything else (never raises on peer input)."""
    if len(data) > MAX_PROBE_BYTES or b"<!DOCTYPE" in data:
        return None
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return None
    probe = root.find(f".//{{{WSD_NS}}}Probe")
    if probe is None:
        return None
    msg = root.find(f".//{{{WSA_NS}}}MessageID")
    types: list[tuple[str, str]] = []
    types_el = probe.find(f"{{{WSD_NS}}}Types")
    if types_el is not None and types_el.text:
        for qname in types_el.text.split():
            prefix, _, local = qname.rpartition(":")
            ns = types_el.nsmap.get(prefix or None, "")
            types.append((ns or "", local))
    scopes_el = probe.find(f"{{{WSD_NS}}}Scopes")
    scopes = tuple(scopes_el.text.split()) if scopes_el is not None and scopes_el.text else ()
    return Probe(
        message_id=(msg.text or "").strip() if msg is not None else "", types=tuple(types), scopes=scopes
    )


_TYPE_NS = {
    "NetworkVideoTransmitter": "http://www.onvif.org/ver10/network/wsdl",
    "Device": "http://www.onvif.org/ver10/device/wsdl",
}


def matches(probe: Probe, spec: CameraSpec) -> bool:
    """WS-Discovery matching: every requested type offered, every requested scope a prefix of one of ours."""
    for ns, local in probe.types:
        if local not in _TYPE_NS or (ns and ns != _TYPE_NS[local]):
            return False
    ours = scope_values(spec)
    return all(any(s == want or s.startswith(want.rstrip("/") + "/") for s in ours) for want in probe.scopes)


WRAP_AT = 40  # pretty-printing firmware wraps a scope longer than this after its last "/"
_ITEM_INDENT = " " * 12


def pretty_scopes(scopes: list[str]) -> str:
    """One scope per line, indented, long ones wrapped inside the URI (pure)."""
    lines = []
    for scope in scopes:
        cut = scope.rfind("/") + 1
        if len(scope) > WRAP_AT and 0 < cut < len(scope) and "://" in scope[:cut]:
            scope = f"{scope[:cut]}\n{_ITEM_INDENT}  {scope[cut:]}"
        lines.append(f"{_ITEM_INDENT}{scope}")
    return "\n" + "\n".join(lines) + "\n" + " " * 8


def probe_matches(spec: CameraSpec, relates_to: str, message_id: str | None = None) -> bytes:
    """The ProbeMatches answer of one camera, in its vendor's envelope style."""
    style = spec.profile.wire.style
    pretty = spec.profile.probe_layout == "pretty"
    layout = style.layout if style.layout is not Layout.CRLF else Layout.COMPACT
    scopes = probe_scope_values(spec)
    wsd_style = WireStyle(
        envelope_prefix=style.envelope_prefix,
        ns_set="minimal",
        declaration=style.declaration,
        layout=Layout.INDENT if pretty else layout,
        extra_namespaces=(
            ("dn", "http://www.onvif.org/ver10/network/wsdl"),
            ("d", WSD_NS),
            ("a", WSA_NS),
        ),
    )
    header: list[Node] = [
        el("a:MessageID", message_id or f"uuid:{uuid.uuid4()}"),
        el("a:RelatesTo", relates_to),
        el("a:To", "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"),
        el("a:Action", MATCHES_ACTION),
    ]
    body = el(
        "d:ProbeMatches",
        el(
            "d:ProbeMatch",
            el("a:EndpointReference", el("a:Address", f"urn:uuid:{spec.uuid}")),
            el("d:Types", " ".join(DEVICE_TYPES)),
            el("d:Scopes", pretty_scopes(scopes) if pretty else " ".join(scopes)),
            el("d:XAddrs", spec.xaddr("device")),
            el("d:MetadataVersion", "1"),
        ),
    )
    return envelope(wsd_style, body, header)


class _CameraEndpoint(asyncio.DatagramProtocol):
    """A camera's own UDP socket: answers unicast probes, and sends its answers to multicast ones."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.answer(parse_probe(data), addr)

    def answer(self, probe: Probe | None, addr: tuple[str | object, int]) -> None:
        if probe is None or self.transport is None or not matches(probe, self.camera.spec):
            return
        self.transport.sendto(probe_matches(self.camera.spec, probe.message_id), addr)


class _MulticastListener(asyncio.DatagramProtocol):
    """Hands a multicast probe to every camera, each after its own random delay (WS-Discovery §3.1.3)."""

    def __init__(self, endpoints: list[_CameraEndpoint], max_delay_s: float) -> None:
        self.endpoints = endpoints
        self.max_delay_s = max_delay_s
        self._random = random.Random()  # noqa: S311 - timing jitter, not a secret

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        probe = parse_probe(data)
        if probe is None:
            log.debug("wsd_not_a_probe", peer=str(addr[0]), size=len(data))
            return
        loop = asyncio.get_running_loop()
        for endpoint in self.endpoints:
            if self.max_delay_s > 0:
                loop.call_later(self._random.uniform(0, self.max_delay_s), endpoint.answer, probe, addr)
            else:
                endpoint.answer(probe, addr)


def _multicast_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((WSD_GROUP, WSD_PORT))
    ifindex = socket.if_nametoindex(interface)
    # struct ip_mreqn: group, local address (any), interface index
    mreqn = struct.pack("4s4si", socket.inet_aton(WSD_GROUP), socket.inet_aton("0.0.0.0"), ifindex)  # noqa: S104
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    sock.setblocking(False)
    return sock


async def start_discovery(
    cameras: list[Camera], multicast_interface: str | None = None, max_delay_s: float = APP_MAX_DELAY_S
) -> list[Callable[[], None]]:
    """Open the discovery sockets; returns the callables that close them."""
    loop = asyncio.get_running_loop()
    endpoints: list[_CameraEndpoint] = []
    closers: list[Callable[[], None]] = []
    for cam in cameras:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((cam.spec.address, WSD_PORT))
        sock.setblocking(False)
        transport, proto = await loop.create_datagram_endpoint(
            functools.partial(_CameraEndpoint, cam), sock=sock
        )
        endpoints.append(proto)
        closers.append(transport.close)
    if multicast_interface:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _MulticastListener(endpoints, max_delay_s), sock=_multicast_socket(multicast_interface)
        )
        closers.append(transport.close)
    return closers

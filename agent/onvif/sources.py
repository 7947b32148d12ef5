"""Where a sweep's targets come from: the configured list, WS-Discovery and recorders' channels (pure).

The site scope bounds what discovery may add: answers and channels are polled only when their
address lies in a configured unicast range, on the subnet of a chosen interface, or in
``channel_ranges``. Anything on the VLAN can answer a multicast Probe with a forged source, and a
recorder's answer can name any host; without the scope either would point the agent (and the
discovery credentials) at a host of someone else's choosing.

The edges (the host's interface addresses, the probe sockets) are passed in by the caller.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from agent.onvif.discovery import DEFAULT_WAIT_S, Discovered
from agent.onvif.targets import DEFAULT_PATH, SOURCE_RECORDER, CameraTarget
from agent.wire.inventory import DeviceRecord

MAX_WAIT_S = 30.0  # a probe round holds the sweep; ONVIF devices answer within about 1 s
# Channels polled in one sweep's second pass: one large NVR (poll.MAX_CHANNELS is 256 per recorder).
MAX_CHANNEL_TARGETS = 256
IFNAMSIZ = 16  # Linux interface names are at most 15 characters

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddressMap = Mapping[str, Sequence[tuple[str, str]]]  # interface name -> [(IPv4 address, netmask)]


@dataclass(frozen=True)
class DiscoverySettings:
    """The ``[discovery]`` table: where to probe, with which credentials, what to follow."""

    interfaces: tuple[str, ...] = ()  # interface names or local IPv4 addresses (multicast Probe)
    unicast: tuple[str, ...] = ()  # CIDR ranges probed host by host
    channel_ranges: tuple[str, ...] = ()  # more ranges a recorder's channels may be followed into
    wait_s: float = DEFAULT_WAIT_S
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    follow_recorder_channels: bool = True

    @property
    def probing(self) -> bool:
        return bool(self.interfaces or self.unicast)


def parse_range(text: str) -> IPNetwork:
    """``10.1.2.0/28`` or one address; ValueError naming the problem (host bits set, not an address)."""
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not an address or CIDR range") from exc
        raise ValueError(f"{text!r} has host bits set; did you mean {loose}?") from exc


def check_interface(text: str) -> str:
    """A local IPv4 address or a Linux interface name; ValueError if it can be neither."""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    if not text or len(text) >= IFNAMSIZ or "/" in text or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is neither an IPv4 address nor an interface name")
    return text


def unicast_host_count(ranges: Iterable[str]) -> int:
    """Addresses the ranges would probe (network and broadcast excluded, as ``expand_ranges``)."""
    total = 0
    for text in ranges:
        network = ipaddress.ip_network(text, strict=False)
        total += network.num_addresses if network.num_addresses <= 2 else network.num_addresses - 2
    return total


@dataclass(frozen=True)
class LocalInterface:
    """A chosen interface resolved for this sweep: the address to send from and its subnet."""

    wanted: str
    address: str
    network: ipaddress.IPv4Network


def resolve_interfaces(
    wanted: Sequence[str], addresses: AddressMap
) -> tuple[list[LocalInterface], list[str]]:
    """Names and addresses into (interfaces, problems); names use their first IPv4 address."""
    found: list[LocalInterface] = []
    problems: list[str] = []
    for entry in wanted:
        is_address = _is_ipv4(entry)
        pairs = (
            [(a, m) for nic in addresses.values() for a, m in nic if a == entry]
            if is_address
            else list(addresses.get(entry, ()))
        )
        if not pairs:
            if is_address:
                problems.append(f"{entry}: not an address of this host")
            elif entry in addresses:
                problems.append(f"{entry}: no IPv4 address")
            else:
                problems.append(f"{entry}: no such interface")
            continue
        address, netmask = pairs[0]
        network = ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)
        found.append(LocalInterface(entry, address, network))
    return found, problems


def system_interface_addresses() -> dict[str, list[tuple[str, str]]]:
    """The host's IPv4 addresses per interface (psutil; the edge ``resolve_interfaces`` reads)."""
    import psutil

    return {
        name: [(a.address, a.netmask or "255.255.255.255") for a in addrs if a.family == socket.AF_INET]
        for name, addrs in psutil.net_if_addrs().items()
    }


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SiteScope:
    """The networks discovery may add targets from."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, settings: DiscoverySettings, interfaces: Sequence[LocalInterface]) -> SiteScope:
        ranges = [parse_range(r) for r in (*settings.unicast, *settings.channel_ranges)]
        return cls(tuple(ranges) + tuple(i.network for i in interfaces))

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in self.networks)


def merge_targets(
    configured: Sequence[CameraTarget],
    discovered: Sequence[Discovered],
    *,
    username: str | None = None,
    password: str | None = None,
) -> list[CameraTarget]:
    """Configured targets, then discovered ones at addresses not configured (the configured entry
    wins, with its port and credentials: a second record for the same device would only differ in
    its key); a configured camera that answered the probe keeps its ProbeMatch as evidence."""
    answers: dict[str, Discovered] = {}
    for found in discovered:
        answers.setdefault(found.address, found)
    targets = [
        replace(t, probe_scopes=d.scopes, xaddrs=d.xaddrs, probe_endpoint=d.endpoint)
        if (d := answers.get(t.address))
        else t
        for t in configured
    ]
    have = {t.address for t in configured}
    for address, found in answers.items():
        if address not in have:
            targets.append(found.target(username, password))
    return targets


@dataclass(frozen=True)
class Skipped:
    """A channel not followed: which recorder named it, the host, and why."""

    recorder: str
    host: str
    reason: str


def follow_channels(
    records: Sequence[DeviceRecord],
    *,
    known: Iterable[str],
    in_scope: Callable[[str], bool],
    username: str | None = None,
    password: str | None = None,
    limit: int = MAX_CHANNEL_TARGETS,
) -> tuple[list[CameraTarget], list[Skipped]]:
    """Targets for the recorders' channels not polled yet: IP literals in scope only, at most
    ``limit``; an ``http`` channel URI lends its port and path (never its host: that is the channel)."""
    have = set(known) | {r.address for r in records}
    targets: list[CameraTarget] = []
    skipped: list[Skipped] = []
    for record in records:
        recorder = record.address
        for channel in record.channels:
            host = channel.host
            if not host or host in have:
                continue
            have.add(host)
            reason = _refusal(host, in_scope) or ("over the limit" if len(targets) >= limit else "")
            if reason:
                skipped.append(Skipped(recorder, host, reason))
                continue
            scheme, port, path = _scheme_port_path(channel.uri)
            targets.append(
                CameraTarget(
                    host,
                    port,
                    username,
                    password,
                    path,
                    scheme=scheme,
                    source=f"{SOURCE_RECORDER}:{recorder}",
                )
            )
    return targets, skipped


def _refusal(host: str, in_scope: Callable[[str], bool]) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "not an IP address"  # a name would be resolved by whoever the recorder chose
    return "" if in_scope(host) else "outside the discovery scope"


def _scheme_port_path(uri: str) -> tuple[str, int, str]:
    try:
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https"):
            default = 443 if parts.scheme == "https" else 80
            return parts.scheme, parts.port or default, parts.path or DEFAULT_PATH
    except ValueError:
        pass
    return "http", 80, DEFAULT_PATH  # rtsp:// and the like: the ONVIF port is not in them

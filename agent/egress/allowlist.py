"""The site's egress allowlist and core-network ranges: parsed once, matched per flow (pure).

An entry matches a flow when every criterion it gives matches: ``cidr``, ``ports``,
``protocol`` and ``hostname`` (exact, or ``*.example.org`` for any subdomain). The same entry
shape as the collector's policy (``[egress.sites.<site>] allow = [...]``) so a signed policy push
can replace the config's list with ``Allowlist.from_document``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PROTOCOLS = ("tcp", "udp", "icmp", "ipv6-icmp", "sctp")
_ENTRY_KEYS = {"cidr", "ports", "port", "protocol", "hostname", "tag"}


def hostname_matches(pattern: str, names: Iterable[str]) -> bool:
    """``pattern`` is a name or ``*.suffix``; true if any of ``names`` matches."""
    for raw in names:
        name = raw.lower().rstrip(".")
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]):
                return True
        elif name == pattern:
            return True
    return False


@dataclass(frozen=True)
class AllowEntry:
    cidr: Network | None = None
    ports: tuple[int, ...] = ()
    protocol: str | None = None
    hostname: str | None = None
    tag: str | None = None

    def matches(
        self,
        destination: str,
        port: int,
        protocol: str,
        names: tuple[str, ...],
        tags: frozenset[str] = frozenset(),
    ) -> bool:
        if self.cidr is not None:
            try:
                if ipaddress.ip_address(destination) not in self.cidr:
                    return False
            except ValueError:
                return False
        if self.ports and port not in self.ports:
            return False
        if self.protocol is not None and protocol != self.protocol:
            return False
        if self.hostname is not None and not hostname_matches(self.hostname, names):
            return False
        return self.tag is None or self.tag in tags


def _network(text: Any, file: str, key: str) -> Network:
    if not isinstance(text, str):
        raise ConfigError(file, key, "must be a CIDR string like 192.0.2.0/24")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ConfigError(file, key, f"not a network: {exc}") from exc


def parse_entry(item: Any, file: str, key: str) -> AllowEntry:
    if not isinstance(item, Mapping):
        raise ConfigError(file, key, "must be a table like { cidr = ..., ports = [...] }")
    unknown = sorted(set(item) - _ENTRY_KEYS)
    if unknown:
        raise ConfigError(file, f"{key}.{unknown[0]}", "unknown key")
    if not set(item) & {"cidr", "hostname", "tag"}:
        raise ConfigError(file, key, "needs at least one of cidr, hostname, tag")
    cidr = _network(item["cidr"], file, f"{key}.cidr") if "cidr" in item else None
    ports_raw = item.get("ports", [item["port"]] if "port" in item else [])
    if not isinstance(ports_raw, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports_raw
    ):
        raise ConfigError(file, f"{key}.ports", "must be a list of port numbers 1-65535")
    protocol = item.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ConfigError(file, f"{key}.protocol", f"must be one of {', '.join(PROTOCOLS)}")
    hostname = item.get("hostname")
    if hostname is not None:
        if not isinstance(hostname, str) or not hostname.strip("*."):
            raise ConfigError(file, f"{key}.hostname", "must be a name or *.suffix")
        hostname = hostname.lower().rstrip(".")
    tag = item.get("tag")
    if tag is not None and not isinstance(tag, str):
        raise ConfigError(file, f"{key}.tag", "must be a string")
    return AllowEntry(cidr, tuple(ports_raw), protocol, hostname, tag)


def parse_networks(items: Any, file: str, key: str) -> tuple[Network, ...]:
    if not isinstance(items, list):
        raise ConfigError(file, key, "must be a list of CIDR strings")
    return tuple(_network(text, file, f"{key}[{i}]") for i, text in enumerate(items))


@dataclass(frozen=True)
class Allowlist:
    entries: tuple[AllowEntry, ...] = ()
    core_networks: tuple[Network, ...] = ()
    # Where the list came from: "config" or the policy version that replaced it.
    origin: str = "config"

    def allows(
        self,
        destination: str,
        port: int,
        protocol: str,
        names: tuple[str, ...],
        tags: frozenset[str] = frozenset(),
    ) -> bool:
        return any(e.matches(destination, port, protocol, names, tags) for e in self.entries)

    def is_core(self, destination: str) -> bool:
        try:
            addr = ipaddress.ip_address(destination)
        except ValueError:
            return False
        return any(addr in net for net in self.core_networks)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], origin: str = "policy") -> Allowlist:
        """``{"allow": [entry, ...], "core_networks": ["cidr", ...]}`` (e.g. from a verified policy
        push) → Allowlist. Raises ConfigError naming the key, so a bad push is refused whole."""
        if not isinstance(doc, Mapping):
            raise ConfigError(origin, "-", "must be a table")
        unknown = sorted(set(doc) - {"allow", "core_networks"})
        if unknown:
            raise ConfigError(origin, unknown[0], "unknown key")
        allow = doc.get("allow", [])
        if not isinstance(allow, list):
            raise ConfigError(origin, "allow", "must be a list of tables")
        entries = tuple(parse_entry(item, origin, f"allow[{i}]") for i, item in enumerate(allow))
        core = parse_networks(doc.get("core_networks", []), origin, "core_networks")
        return cls(entries, core, origin)

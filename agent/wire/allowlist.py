"""The site's egress allowlist and core-network ranges: validated once, matched per flow (pure).

An entry matches a flow when every criterion it gives matches: ``cidr``, ``ports`` (or ``port``),
``protocol``, ``hostname`` (exact, or ``*.example.org`` for any subdomain) and ``tag``. This
module is the one validator of that shape: the agent's ``[egress] allow``, a policy push
(``Allowlist.from_document``) and the collector's policy file (``[egress.sites.<site>] allow``)
all go through ``check_entry``, so the collector cannot push a document the agent refuses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.runtime.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# The protocols conntrack names.
PROTOCOLS = ("tcp", "udp", "icmp", "ipv6-icmp", "sctp")
ENTRY_KEYS = frozenset({"cidr", "ports", "port", "protocol", "hostname", "tag"})
# (key below the entry, e.g. ".cidr", or "" for the entry itself; the problem)
Problem = tuple[str, str]


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
        port: int | None,
        protocol: str | None,
        names: Iterable[str],
        tags: frozenset[str] = frozenset(),
    ) -> bool:
        """``names``: every name the site's DNS gave for the destination; one must match."""
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

    def as_document(self) -> dict[str, Any]:
        """The entry as ``check_entry`` reads it back (a policy push carries this)."""
        doc: dict[str, Any] = {}
        if self.cidr is not None:
            doc["cidr"] = str(self.cidr)
        if self.ports:
            doc["ports"] = list(self.ports)
        for key in ("protocol", "hostname", "tag"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        return doc


def check_network(text: Any) -> tuple[Network | None, str]:
    """A CIDR string → (network, ""), or (None, problem). Host bits set is a problem: an operator
    who wrote 10.1.2.3/8 meant something, and a silent 10.0.0.0/8 is rarely it."""
    if not isinstance(text, str):
        return None, "must be a CIDR string like 192.0.2.0/24"
    if "%" in text:
        return None, "scoped addresses (with %zone) are refused"
    try:
        return ipaddress.ip_network(text, strict=True), ""
    except ValueError as exc:
        return None, f"not a network: {exc}"


def check_entry(item: Any) -> tuple[AllowEntry | None, list[Problem]]:
    """Validate one allow entry (pure): the entry, or None and every problem found."""
    if not isinstance(item, Mapping):
        return None, [("", "must be a table like { cidr = ..., ports = [...] }")]
    problems: list[Problem] = [(f".{key}", "unknown key") for key in sorted(set(item) - ENTRY_KEYS)]
    if not set(item) & {"cidr", "hostname", "tag"}:
        problems.append(("", "needs at least one of cidr, hostname, tag"))
    cidr: Network | None = None
    if "cidr" in item:
        cidr, problem = check_network(item["cidr"])
        if cidr is None:
            problems.append((".cidr", problem))
    if "ports" in item and "port" in item:
        problems.append((".port", "give ports or port, not both"))
    ports_raw = item.get("ports", [item["port"]] if "port" in item else [])
    if not isinstance(ports_raw, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports_raw
    ):
        problems.append((".ports", "must be a list of port numbers 1-65535"))
        ports_raw = []
    protocol = item.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        problems.append((".protocol", f"must be one of {', '.join(PROTOCOLS)}"))
    hostname = item.get("hostname")
    if hostname is not None:
        if not isinstance(hostname, str) or not hostname.strip("*."):
            problems.append((".hostname", "must be a name or *.suffix"))
        else:
            hostname = hostname.lower().rstrip(".")
    tag = item.get("tag")
    if tag is not None and (not isinstance(tag, str) or not tag):
        problems.append((".tag", "must be a non-empty string"))
    if problems:
        return None, problems
    return AllowEntry(cidr, tuple(ports_raw), protocol, hostname, tag), []


def parse_entry(item: Any, file: str, key: str) -> AllowEntry:
    """``check_entry`` for a config file: the first problem as ConfigError(file, key...)."""
    entry, problems = check_entry(item)
    if entry is None:
        where, problem = problems[0]
        raise ConfigError(file, f"{key}{where}", problem)
    return entry


def parse_networks(items: Any, file: str, key: str) -> tuple[Network, ...]:
    if not isinstance(items, list):
        raise ConfigError(file, key, "must be a list of CIDR strings")
    out = []
    for i, text in enumerate(items):
        net, problem = check_network(text)
        if net is None:
            raise ConfigError(file, f"{key}[{i}]", problem)
        out.append(net)
    return tuple(out)


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

    def as_document(self) -> dict[str, Any]:
        """What ``from_document`` reads back."""
        return {
            "allow": [e.as_document() for e in self.entries],
            "core_networks": [str(n) for n in self.core_networks],
        }

    @classmethod
    def from_document(cls, doc: Any, origin: str = "policy") -> Allowlist:
        """``{"allow": [entry, ...], "core_networks": ["cidr", ...]}`` (e.g. from a verified policy
        push) → Allowlist. Raises ConfigError naming the key, so a bad push is refused whole."""
        if not isinstance(doc, Mapping):
            raise ConfigError(origin, "-", "must be a table with allow and core_networks")
        unknown = sorted(set(doc) - {"allow", "core_networks"})
        if unknown:
            raise ConfigError(origin, unknown[0], "unknown key")
        allow = doc.get("allow", [])
        if not isinstance(allow, list):
            raise ConfigError(origin, "allow", "must be a list of tables")
        entries = tuple(parse_entry(item, origin, f"allow[{i}]") for i, item in enumerate(allow))
        core = parse_networks(doc.get("core_networks", []), origin, "core_networks")
        return cls(entries, core, origin)

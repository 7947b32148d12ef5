"""The agent TOML's ``[egress]`` table → ``EgressConfig`` (frozen), every error by file and key.

The commented sample is in ``docs/egress.md`` (a test loads it); every key is optional.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from agent.runtime.configfile import Table
from agent.runtime.errors import ConfigError
from agent.wire.allowlist import Allowlist, Network, parse_entry, parse_networks

SOCKET_READERS = ("procnet", "psutil")
# Host sockets: 2 s keeps a recorder's phone-home visible (it holds connections open) at
# ~1 ms of CPU per poll with ProcNet; short flows are conntrack's job, not polling's.
DEFAULT_POLL_INTERVAL_S = 2.0
# A record's first sighting goes out at the next drain; later changes (count, bytes) at most
# this often, so 4,096 busy records cost at most ~140 messages/s, not one per connection.
DEFAULT_MIN_REPORT_INTERVAL_S = 30.0


@dataclass(frozen=True)
class EgressConfig:
    file: str = "-"
    conntrack: bool = True
    conntrack_hook: bool = True
    sockets: bool = True
    socket_reader: str = "procnet"
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    dns: bool = True
    interfaces: tuple[str, ...] = ()
    resolvers: tuple[str, ...] = ()
    device_networks: tuple[Network, ...] = ()
    report_allowed: bool = False
    max_flow_keys: int = 4096
    max_findings_per_drain: int = 500
    min_report_interval_s: float = DEFAULT_MIN_REPORT_INTERVAL_S
    allowlist: Allowlist = field(default_factory=Allowlist)


def _strings(table: Table, name: str) -> tuple[str, ...]:
    value = table.raw(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise table.error(name, "must be a list of non-empty strings")
    return tuple(value)


def parse_egress_config(table: dict[str, Any], file: str) -> EgressConfig:
    """Validate the ``[egress]`` table; raises ConfigError(file, "egress.<key>", problem)."""
    t = Table(table, file, "egress")
    allow_raw: Any = t.raw("allow")
    if allow_raw is None:
        allow_raw = []
    if not isinstance(allow_raw, list):
        raise t.error("allow", "must be a list of tables like { cidr = ..., ports = [...] }")
    entries = tuple(parse_entry(item, file, f"egress.allow[{i}]") for i, item in enumerate(allow_raw))
    core = parse_networks(t.raw("core_networks") or [], file, "egress.core_networks")
    devices = parse_networks(t.raw("device_networks") or [], file, "egress.device_networks")
    interfaces = _strings(t, "interfaces")
    for name in interfaces:
        if len(name) > 15 or "/" in name:
            raise t.error("interfaces", f"{name!r} is not an interface name")
    resolvers = _strings(t, "resolvers")
    for i, text in enumerate(resolvers):
        try:
            resolvers_norm = str(ipaddress.ip_address(text))
        except ValueError as exc:
            raise ConfigError(file, f"egress.resolvers[{i}]", f"not an address: {exc}") from exc
        if resolvers_norm != text:
            raise ConfigError(file, f"egress.resolvers[{i}]", f"write it as {resolvers_norm}")
    config = EgressConfig(
        file=file,
        conntrack=t.get_bool("conntrack", True),
        conntrack_hook=t.get_bool("conntrack_hook", True),
        sockets=t.get_bool("sockets", True),
        socket_reader=t.choice("socket_reader", SOCKET_READERS, "procnet"),
        poll_interval_s=t.get_float("poll_interval_s", DEFAULT_POLL_INTERVAL_S, minimum=0.1),
        dns=t.get_bool("dns", True),
        interfaces=interfaces,
        resolvers=resolvers,
        device_networks=devices,
        report_allowed=t.get_bool("report_allowed", False),
        max_flow_keys=t.get_int("max_flow_keys", 4096, minimum=16, maximum=1_000_000),
        max_findings_per_drain=t.get_int("max_findings_per_drain", 500, minimum=1, maximum=100_000),
        min_report_interval_s=t.get_float(
            "min_report_interval_s", DEFAULT_MIN_REPORT_INTERVAL_S, minimum=0.0
        ),
        allowlist=Allowlist(entries, core, "config"),
    )
    t.finish()
    return config


__all__ = ["ConfigError", "EgressConfig", "parse_egress_config"]

"""Render the agent's own nftables table for a set of quarantined devices. Pure.

The rendered text is one ``nft -f`` transaction: it creates the table if absent, deletes it and
declares it afresh, so applying it is atomic and idempotent and never touches other tables.
A quarantined device may talk to its recorders and nothing else: routed traffic (forward) and
traffic to or from this host (input/output) are both cut, in both directions, including
connections that were already established. Two exceptions on this host only, both so the
device stays addressable and observable rather than useful: DHCP with this host (a camera that
cannot renew its lease drops off the recorder's network too), and, with ``host_monitoring``,
connections this host opens to the device (the agent keeps polling it, so it is neither
reported as vanished nor silently unplugged; the device still cannot open any connection).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.wire.addresses import plain_address

DEFAULT_TABLE = "inet camsentry"
# Before the usual filter priority (0), so other tables' accepts cannot outrun our drops.
CHAIN_PRIORITY = -10


@dataclass(frozen=True)
class Quarantine:
    """One device cut off from everything but ``recorders``; ``command_id`` is why."""

    device: str
    recorders: tuple[str, ...]
    command_id: int

    def __post_init__(self) -> None:
        plain_address(self.device)
        for recorder in self.recorders:
            plain_address(recorder)


def _family(address: str) -> str:
    return "ip" if ipaddress.ip_address(address).version == 4 else "ip6"


def _sort_key(address: str) -> tuple[int, int]:
    parsed = ipaddress.ip_address(address)
    return (parsed.version, int(parsed))


def _same_family(device: str, addresses: Iterable[str]) -> list[str]:
    version = ipaddress.ip_address(device).version
    return sorted(
        {a for a in addresses if ipaddress.ip_address(a).version == version},
        key=ipaddress.ip_address,
    )


# DHCP client/server ports: v4 68 -> 67 (RFC 2131), v6 546 -> 547 (RFC 8415).
DHCP_PORTS = {"ip": (68, 67), "ip6": (546, 547)}


def _device_rules(q: Quarantine, chain: str, host_monitoring: bool) -> list[str]:
    fam = _family(q.device)
    client, server = DHCP_PORTS[fam]
    recorders = _same_family(q.device, q.recorders)
    peers = "{ " + ", ".join(recorders) + " }" if recorders else ""
    lines = [f"\t\t# {q.device}: command {q.command_id}, recorders {', '.join(recorders) or '-'}"]
    tag = f'comment "camsentry quarantine {q.device}"'
    if chain in ("forward", "input") and peers:
        lines.append(f"\t\t{fam} saddr {q.device} {fam} daddr {peers} accept {tag}")
    if chain in ("forward", "output") and peers:
        lines.append(f"\t\t{fam} daddr {q.device} {fam} saddr {peers} accept {tag}")
    if chain == "input":
        lines.append(f"\t\t{fam} saddr {q.device} udp sport {client} udp dport {server} accept {tag}")
        if host_monitoring:
            lines.append(f"\t\t{fam} saddr {q.device} ct direction reply accept {tag}")
    if chain == "output":
        lines.append(f"\t\t{fam} daddr {q.device} udp sport {server} udp dport {client} accept {tag}")
        if host_monitoring:
            lines.append(f"\t\t{fam} daddr {q.device} ct direction original accept {tag}")
    if chain in ("forward", "input"):
        lines.append(f"\t\t{fam} saddr {q.device} counter drop {tag}")
    if chain in ("forward", "output"):
        lines.append(f"\t\t{fam} daddr {q.device} counter drop {tag}")
    return lines


def render_quarantine(
    quarantines: Sequence[Quarantine], *, table: str = DEFAULT_TABLE, host_monitoring: bool = True
) -> str:
    """The complete ruleset for ``table``; with no quarantines it just removes the table."""
    header = [
        "# camsentry-agent quarantine ruleset; managed by the agent, do not edit",
        f"table {table}",
        f"delete table {table}",
    ]
    ordered = sorted(quarantines, key=lambda q: _sort_key(q.device))
    if not ordered:
        return "\n".join(header) + "\n"
    body = [f"table {table} {{"]
    for chain in ("forward", "input", "output"):
        body.append(f"\tchain {chain} {{")
        body.append(f"\t\ttype filter hook {chain} priority {CHAIN_PRIORITY}; policy accept;")
        for q in ordered:
            body.extend(_device_rules(q, chain, host_monitoring))
        body.append("\t}")
    body.append("}")
    return "\n".join(header + body) + "\n"

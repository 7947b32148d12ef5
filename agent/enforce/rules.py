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
CHAINS = ("forward", "input", "output")

# A match's right-hand side: an address, a port, a direction, or a set of addresses.
Value = str | int | tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One rule in one of the table's base chains: all ``matches`` (``("ip saddr", "10.0.0.9")``),
    then an optional counter, a verdict and the comment nft keeps with it."""

    chain: str
    matches: tuple[tuple[str, Value], ...]
    verdict: str
    comment: str
    counter: bool = False

    def text(self) -> str:
        parts = [f"{left} {_value_text(right)}" for left, right in self.matches]
        parts += ["counter"] if self.counter else []
        return " ".join([*parts, self.verdict, f'comment "{self.comment}"'])


def _value_text(value: Value) -> str:
    return "{ " + ", ".join(value) + " }" if isinstance(value, tuple) else str(value)


@dataclass(frozen=True)
class Ruleset:
    """What the agent's table should hold: its rules in chain order; none means no table."""

    table: str
    rules: tuple[Rule, ...]
    text: str


def _device_rules(q: Quarantine, chain: str, host_monitoring: bool) -> list[Rule]:
    fam = _family(q.device)
    client, server = DHCP_PORTS[fam]
    recorders = tuple(_same_family(q.device, q.recorders))
    src, dst = (f"{fam} saddr", q.device), (f"{fam} daddr", q.device)
    comment = f"camsentry quarantine {q.device}"
    plan: list[tuple[tuple[tuple[str, Value], ...], str, bool]] = []
    if chain in ("forward", "input") and recorders:
        plan.append(((src, (f"{fam} daddr", recorders)), "accept", False))
    if chain in ("forward", "output") and recorders:
        plan.append(((dst, (f"{fam} saddr", recorders)), "accept", False))
    if chain == "input":
        plan.append(((src, ("udp sport", client), ("udp dport", server)), "accept", False))
        if host_monitoring:
            plan.append(((src, ("ct direction", "reply")), "accept", False))
    if chain == "output":
        plan.append(((dst, ("udp sport", server), ("udp dport", client)), "accept", False))
        if host_monitoring:
            plan.append(((dst, ("ct direction", "original")), "accept", False))
    if chain in ("forward", "input"):
        plan.append(((src,), "drop", True))
    if chain in ("forward", "output"):
        plan.append(((dst,), "drop", True))
    return [Rule(chain, matches, verdict, comment, counter) for matches, verdict, counter in plan]


def plan_quarantine(
    quarantines: Sequence[Quarantine], *, table: str = DEFAULT_TABLE, host_monitoring: bool = True
) -> Ruleset:
    """The complete ruleset for ``table`` as rules and as ``nft -f`` text; with no quarantines
    the text just removes the table."""
    header = [
        "# camsentry-agent quarantine ruleset; managed by the agent, do not edit",
        f"table {table}",
        f"delete table {table}",
    ]
    ordered = sorted(quarantines, key=lambda q: _sort_key(q.device))
    if not ordered:
        return Ruleset(table, (), "\n".join(header) + "\n")
    rules: list[Rule] = []
    body = [f"table {table} {{"]
    for chain in CHAINS:
        body.append(f"\tchain {chain} {{")
        body.append(f"\t\ttype filter hook {chain} priority {CHAIN_PRIORITY}; policy accept;")
        for q in ordered:
            recorders = _same_family(q.device, q.recorders)
            body.append(f"\t\t# {q.device}: command {q.command_id}, recorders {', '.join(recorders) or '-'}")
            device_rules = _device_rules(q, chain, host_monitoring)
            rules += device_rules
            body += [f"\t\t{r.text()}" for r in device_rules]
        body.append("\t}")
    body.append("}")
    return Ruleset(table, tuple(rules), "\n".join(header + body) + "\n")


def render_quarantine(
    quarantines: Sequence[Quarantine], *, table: str = DEFAULT_TABLE, host_monitoring: bool = True
) -> str:
    """The ``nft -f`` text of ``plan_quarantine``."""
    return plan_quarantine(quarantines, table=table, host_monitoring=host_monitoring).text

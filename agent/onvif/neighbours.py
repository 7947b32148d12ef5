"""The kernel neighbour table (ARP/NDP): IP address -> MAC, for cameras that hide their MAC.

Reads ``<root>/proc/net/arp`` (IPv4) and, where a runner is given, ``ip -6 neigh`` output.
Parsers are pure; the root path and the command runner are seams for tests.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from pathlib import Path

from agent.onvif.soap import normalise_mac

ATF_COM = 0x2  # arp(7): entry complete
_BAD_STATES = {"FAILED", "INCOMPLETE", "NOARP"}


def parse_proc_net_arp(text: str) -> dict[str, str]:
    """``/proc/net/arp`` into {ip: mac}; incomplete entries and all-zero MACs skipped."""
    table: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        ip, flags, mac = fields[0], fields[2], fields[3]
        try:
            complete = int(flags, 16) & ATF_COM
        except ValueError:
            continue
        mac = normalise_mac(mac)
        if complete and mac and mac != "00:00:00:00:00:00":
            table[ip] = mac
    return table


def parse_ip_neigh(text: str) -> dict[str, str]:
    """``ip neigh`` output (``ADDR dev IF lladdr MAC STATE``) into {ip: mac}."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if "lladdr" not in fields or not fields or fields[-1] in _BAD_STATES:
            continue
        index = fields.index("lladdr")
        if index + 1 < len(fields) and (mac := normalise_mac(fields[index + 1])):
            table[fields[0]] = mac
    return table


def _run_ip_neigh() -> str:
    return subprocess.run(
        ["ip", "-6", "neigh"], capture_output=True, text=True, timeout=5, check=False
    ).stdout


class NeighbourTable:
    """Callable: the current {ip: mac} map (suits ``Sweeper(neighbour_macs=...)``)."""

    def __init__(self, root: Path = Path("/"), run_ip_neigh: Callable[[], str] | None = None) -> None:
        self.root = root
        self._run = run_ip_neigh

    def __call__(self) -> dict[str, str]:
        table: dict[str, str] = {}
        arp = self.root / "proc/net/arp"
        if arp.exists():
            table.update(parse_proc_net_arp(arp.read_text(encoding="ascii", errors="replace")))
        if self._run is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                table.update(parse_ip_neigh(self._run()))
        return table


def system_neighbour_table() -> NeighbourTable:
    return NeighbourTable(Path("/"), _run_ip_neigh)

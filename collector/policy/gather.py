"""What a policy pass reads: the store's projections, and after the first pass only what changed.

``FactCache.refresh()`` reads the change horizon, then the devices and flows changed at or after
the previous horizon (all of them the first time), and merges them into what it holds by key;
agent status is one row per agent and read whole. So a pass costs what changed since the last
one plus the size of the estate (devices, flows, agents' health), never the stored history. Facts are
built from the held rows every pass (time-based rules such as an agent gone silent need no new
rows to fire).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.wire.errors import BodyError
from agent.wire.flows import FlowFinding
from collector.policy.engine import EvidenceRef, FlowFact
from collector.policy.facts import Skipped

DeviceKey = tuple[str, str]  # site, device_key
FlowKey = tuple[str, str, str, str, str, str]  # site, agent, device, destination, port, protocol


class ProjectionSource(Protocol):
    """The collector store's projections, as ``collector.store.Store`` offers them."""

    def horizon(self) -> int: ...
    def devices(self, since: int = 0) -> list[dict[str, Any]]: ...
    def flows(self, since: int = 0) -> list[dict[str, Any]]: ...
    def agent_status(self) -> list[dict[str, Any]]: ...
    def agent_health(self, since: int = 0) -> list[dict[str, Any]]: ...


@dataclass
class Changes:
    devices: int = 0
    flows: int = 0


@dataclass
class FactCache:
    source: ProjectionSource
    devices: dict[DeviceKey, dict[str, Any]] = field(default_factory=dict)
    flows: dict[FlowKey, dict[str, Any]] = field(default_factory=dict)
    agents: list[dict[str, Any]] = field(default_factory=list)
    health: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    since: int = 0

    def refresh(self) -> Changes:
        """Merge in what changed since the last refresh; returns how many rows came."""
        horizon = self.source.horizon()  # before the rows: a write racing this read comes again
        devices = self.source.devices(since=self.since)
        flows = self.source.flows(since=self.since)
        self.agents = self.source.agent_status()
        for row in self.source.agent_health(since=self.since):
            self.health[(str(row["site"]), str(row["agent"]))] = row
        for row in devices:
            self.devices[(str(row["site"]), str(row["device_key"]))] = row
        for row in flows:
            self.flows[flow_key(row)] = row
        self.since = horizon
        return Changes(len(devices), len(flows))

    def device_rows(self) -> list[dict[str, Any]]:
        return [self.devices[k] for k in sorted(self.devices)]

    def health_rows(self) -> list[dict[str, Any]]:
        return [self.health[k] for k in sorted(self.health)]

    def flow_facts(self, skipped: Skipped | None = None) -> list[FlowFact]:
        """The held flows as facts; one whose finding does not decode is counted in ``skipped``."""
        out = []
        for k in sorted(self.flows):
            try:
                out.append(flow_fact(self.flows[k]))
            except BodyError as exc:
                if skipped is not None:
                    skipped.add("flow_record", f"{'/'.join(k)}: {exc.detail}")
        return out


def flow_key(row: Mapping[str, Any]) -> FlowKey:
    r = row["record"]
    device, destination, port, protocol = (
        str(r.get(k)) for k in ("device", "destination", "port", "protocol")
    )
    return (str(row["site"]), str(row["agent"]), device, destination, port, protocol)


def flow_fact(row: Mapping[str, Any]) -> FlowFact:
    """One ``flows`` projection row as the engine's fact: the newest finding, its evidence, and
    the earliest first_seen of every finding folded in; ``BodyError`` if the finding does not decode."""
    record = dict(row["record"]) if isinstance(row.get("record"), Mapping) else {}
    if row.get("first_seen"):
        record["first_seen"] = row["first_seen"]
    refs = tuple(
        EvidenceRef(str(e["agent"]), str(e["boot"]), int(e["seq"]))
        for e in row.get("evidence") or []
        if isinstance(e, Mapping)
    )
    return FlowFact(str(row["site"]), str(row["agent"]), FlowFinding.decode(record), refs)

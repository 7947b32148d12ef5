"""What an agent's newest health body says went wrong at the edge, for status and policy. Pure.

Read through the wire contract (``agent.wire.health.HealthBody``): a newer agent's extra fields
are ignored here, a body that does not decode is reported as such, never fatal.
``evidence_lost`` counts inventory and flow envelopes the agent could not keep: dropped from a
full outbox, or refused while its disk was full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.health import HealthBody

EVIDENCE_KINDS = ("inventory", "flow")
MAX_ITEMS = 50  # per list, for a table cell and the status JSON


@dataclass(frozen=True)
class HealthSummary:
    dropped: Mapping[str, int] = field(default_factory=dict)
    refused: Mapping[str, int] = field(default_factory=dict)
    disk_full: bool = False
    degradations: tuple[Mapping[str, Any], ...] = ()
    discovery_problems: tuple[Mapping[str, Any], ...] = ()
    clock: tuple[Mapping[str, Any], ...] = ()
    undecodable: str = ""  # why the body did not decode, when it did not

    @property
    def evidence_lost(self) -> dict[str, int]:
        lost = {k: self.dropped.get(k, 0) + self.refused.get(k, 0) for k in EVIDENCE_KINDS}
        return {k: n for k, n in lost.items() if n}

    @property
    def problems(self) -> list[str]:
        """One short line per thing wrong, for a table cell."""
        out = [f"health undecodable: {self.undecodable}"] if self.undecodable else []
        if self.disk_full:
            out.append("DISK FULL")
        if self.evidence_lost:
            out.append("evidence dropped " + ", ".join(f"{k} {n}" for k, n in self.evidence_lost.items()))
        out += [f"{d.get('component', '?')} {d.get('status', 'degraded')}" for d in self.degradations]
        out += [f"discovery: {p.get('problem', '?')}" for p in self.discovery_problems]
        out += [f"clock: {c.get('problem', '?')}" for c in self.clock]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "dropped": dict(self.dropped),
            "refused": dict(self.refused),
            "disk_full": self.disk_full,
            "evidence_lost": self.evidence_lost,
            "degradations": [dict(d) for d in self.degradations],
            "discovery_problems": [dict(p) for p in self.discovery_problems],
            "clock": [dict(c) for c in self.clock],
        }


def summarise(body: Any) -> HealthSummary:
    """The summary of one health body, read through the wire decoder (``HealthBody``); a body
    that does not decode is one problem of its own, never fatal."""
    try:
        health = HealthBody.decode(body)
    except BodyError as exc:
        return HealthSummary(undecodable=exc.detail)
    outbox = health.outbox
    return HealthSummary(
        dropped={k: n for k, n in outbox.dropped.items() if n > 0},
        refused={k: n for k, n in outbox.refused.items() if n > 0},
        disk_full=outbox.disk_full,
        degradations=tuple(d.to_json() for d in health.degradations if d.status != "ok")[:MAX_ITEMS],
        discovery_problems=tuple(p.to_json() for p in health.discovery_problems)[:MAX_ITEMS],
        clock=tuple(c.to_json() for c in health.clock)[:MAX_ITEMS],
    )

"""What an agent's newest health body says went wrong at the edge, for status and policy. Pure.

Read leniently: a field of the wrong shape (an older or newer agent) is left out, never fatal.
``evidence_lost`` counts inventory and flow envelopes the agent could not keep: dropped from a
full outbox, or refused while its disk was full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EVIDENCE_KINDS = ("inventory", "flow")


@dataclass(frozen=True)
class HealthSummary:
    dropped: Mapping[str, int] = field(default_factory=dict)
    refused: Mapping[str, int] = field(default_factory=dict)
    disk_full: bool = False
    degradations: tuple[Mapping[str, Any], ...] = ()
    discovery_problems: tuple[Mapping[str, Any], ...] = ()
    clock: tuple[Mapping[str, Any], ...] = ()

    @property
    def evidence_lost(self) -> dict[str, int]:
        lost = {k: self.dropped.get(k, 0) + self.refused.get(k, 0) for k in EVIDENCE_KINDS}
        return {k: n for k, n in lost.items() if n}

    @property
    def problems(self) -> list[str]:
        """One short line per thing wrong, for a table cell."""
        out = []
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


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if type(v) is int and v > 0}


def _table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _objects(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, Mapping))[:50]


def summarise(body: Any) -> HealthSummary:
    """The summary of one health body as the agent sent it."""
    if not isinstance(body, Mapping):
        return HealthSummary()
    outbox = _table(body.get("outbox"))
    sweep = _table(body.get("last_sweep"))
    egress = [d for d in _objects(body.get("egress")) if d.get("status", "degraded") != "ok"]
    return HealthSummary(
        dropped=_counts(outbox.get("dropped")),
        refused=_counts(outbox.get("refused")),
        disk_full=outbox.get("disk_full") is True or body.get("disk_full") is True,
        degradations=tuple(egress),
        discovery_problems=_objects(sweep.get("discovery_problems")),
        clock=_objects(body.get("clock")),
    )

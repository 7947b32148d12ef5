"""The agent's health body: outbox, delivery, degradations, discovery problems, clock (pure).

Published every ``health_interval_s`` and written to the status file ``camsentry-agent status``
reads. ``publisher`` and ``policy`` are informational counters kept as the agent sent them;
everything else is typed. Unknown fields are kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.fields import Fields, with_extra
from agent.wire.lifecycle import EnforcementCapability


@dataclass(frozen=True)
class OutboxHealth:
    depth: int = 0  # envelopes waiting for the collector's receipt
    bytes: int = 0
    unsent: int | None = None
    dropped: Mapping[str, int] = field(default_factory=dict)  # by envelope kind, since the outbox began
    disk_full: bool = False  # new envelopes refused while the disk is full ...
    refused: Mapping[str, int] = field(default_factory=dict)  # ... this many, by kind

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "depth": self.depth,
            "bytes": self.bytes,
            "dropped": dict(self.dropped),
            "disk_full": self.disk_full,
            "refused": dict(self.refused),
        }
        if self.unsent is not None:
            out["unsent"] = self.unsent
        return out

    @classmethod
    def decode(cls, obj: Any, where: str = "outbox") -> OutboxHealth:
        f = Fields(obj, where)
        return cls(
            f.integer("depth"),
            f.integer("bytes"),
            f.opt_integer("unsent"),
            _counts(f.obj("dropped"), f"{where}.dropped"),
            f.flag("disk_full"),
            _counts(f.obj("refused"), f"{where}.refused"),
        )


def _counts(obj: Mapping[str, Any] | None, where: str) -> dict[str, int]:
    counts = dict(obj or {})
    for kind, count in counts.items():
        if type(count) is not int or count < 0:
            raise BodyError(f"{where}.{kind}: expected a count")
    return counts


@dataclass(frozen=True)
class Degradation:
    """A part of the agent that runs degraded or not at all (``egress.conntrack`` ...)."""

    component: str
    status: str  # degraded | unavailable
    problem: str
    since: str = ""
    count: int | None = None  # for counted losses

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "component": self.component,
            "status": self.status,
            "problem": self.problem,
            "since": self.since,
        }
        if self.count is not None:
            out["count"] = self.count
        return out

    @classmethod
    def decode(cls, obj: Any, where: str = "degradation") -> Degradation:
        f = Fields(obj, where)
        return cls(
            f.text("component", required=True),
            f.text("status"),
            f.text("problem"),
            f.text("since"),
            f.opt_integer("count"),
        )


@dataclass(frozen=True)
class DiscoveryProblem:
    """Something that kept the last sweep from seeing all it should (missing interface ...)."""

    source: str
    problem: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "problem": self.problem, "detail": self.detail}

    @classmethod
    def decode(cls, obj: Any, where: str = "discovery_problem") -> DiscoveryProblem:
        f = Fields(obj, where)
        return cls(f.text("source"), f.text("problem", required=True), f.text("detail"))


@dataclass(frozen=True)
class SweepSummary:
    id: str
    devices: int = 0
    sent: int = 0
    duration_s: float = 0.0
    error: str | None = None
    discovery_problems: tuple[DiscoveryProblem, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "devices": self.devices,
            "sent": self.sent,
            "duration_s": self.duration_s,
            "error": self.error,
            "discovery_problems": [p.to_json() for p in self.discovery_problems],
        }

    @classmethod
    def decode(cls, obj: Any, where: str = "last_sweep") -> SweepSummary:
        f = Fields(obj, where)
        return cls(
            f.text("id"),
            f.integer("devices"),
            f.integer("sent"),
            f.number("duration_s"),
            f.opt_text("error"),
            f.items("discovery_problems", DiscoveryProblem.decode),
        )


@dataclass(frozen=True)
class ClockTrouble:
    """The agent's own clock stepped (boards without a real-time clock jump when NTP syncs)."""

    problem: str
    step_s: float
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem, "step_s": self.step_s, "at": self.at}

    @classmethod
    def decode(cls, obj: Any, where: str = "clock") -> ClockTrouble:
        f = Fields(obj, where)
        return cls(f.text("problem", required=True), f.number("step_s"), f.text("at"))


@dataclass(frozen=True)
class HealthBody:
    outbox: OutboxHealth = OutboxHealth()
    connected: bool = False
    last_sweep: SweepSummary | None = None
    errors: tuple[str, ...] = ()
    degradations: tuple[Degradation, ...] = ()
    clock: tuple[ClockTrouble, ...] = ()
    publisher: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] | None = None
    enforcement: EnforcementCapability | None = None  # None: the agent did not say
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def discovery_problems(self) -> tuple[DiscoveryProblem, ...]:
        return self.last_sweep.discovery_problems if self.last_sweep else ()

    def to_body(self) -> dict[str, Any]:
        return with_extra(
            {
                "outbox": self.outbox.to_json(),
                "disk_full": self.outbox.disk_full,  # also at the top, where an operator looks first
                "publisher": dict(self.publisher),
                "connected": self.connected,
                "last_sweep": self.last_sweep.to_json() if self.last_sweep else None,
                "errors": list(self.errors),
                "egress": [d.to_json() for d in self.degradations],
                "clock": [c.to_json() for c in self.clock],
                "policy": dict(self.policy) if self.policy is not None else None,
                "enforcement": self.enforcement.to_json() if self.enforcement else None,
            },
            self.extra,
        )

    @classmethod
    def decode(cls, body: Any) -> HealthBody:
        f = Fields(body, "health")
        outbox = f.obj("outbox")
        sweep = f.obj("last_sweep")
        policy = f.obj("policy")
        enforcement = f.obj("enforcement")
        f.opt_flag("disk_full")  # the outbox's own flag, repeated at the top
        return cls(
            outbox=OutboxHealth.decode(outbox) if outbox is not None else OutboxHealth(),
            connected=f.flag("connected"),
            last_sweep=SweepSummary.decode(sweep) if sweep is not None else None,
            errors=f.texts("errors"),
            degradations=f.items("egress", Degradation.decode),
            clock=f.items("clock", ClockTrouble.decode),
            publisher=dict(f.obj("publisher") or {}),
            policy=dict(policy) if policy is not None else None,
            enforcement=EnforcementCapability.decode(enforcement) if enforcement is not None else None,
            extra=f.extra(),
        )

"""An agent's health as its newest ``health`` envelope tells it (``Store.agent_health``), read
through the wire contract's ``HealthBody``: broker connection, outbox, last sweep, problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.health import HealthBody

MAX_PROBLEMS = 10


@dataclass(frozen=True)
class Health:
    at: str
    connected: bool
    outbox_depth: int
    outbox_dropped: int
    disk_full: bool
    last_sweep: str  # "12 devices in 3.2 s", or why it failed; "" before the first
    problems: tuple[str, ...]  # errors, degraded egress watching, discovery and clock trouble


def health_of(body: Any, at: str) -> Health:
    """A body that does not decode shows as one problem saying why. Pure."""
    try:
        h = HealthBody.decode(body)
    except BodyError as exc:
        return Health(at, False, 0, 0, False, "", (f"health body does not decode: {exc.detail}",))
    sweep = ""
    if h.last_sweep is not None:
        s = h.last_sweep
        sweep = f"failed: {s.error}" if s.error else f"{s.devices} devices in {s.duration_s:.1f} s"
    problems = [*h.errors]
    problems += [f"{d.component} {d.status}: {d.problem}" for d in h.degradations]
    problems += [f"discovery {p.source}: {p.problem}" for p in h.discovery_problems]
    problems += [f"clock {c.problem} ({c.step_s:+.0f} s at {c.at})" for c in h.clock]
    return Health(
        at=at,
        connected=h.connected,
        outbox_depth=h.outbox.depth,
        outbox_dropped=sum(h.outbox.dropped.values()),
        disk_full=h.outbox.disk_full,
        last_sweep=sweep,
        problems=tuple(p[:200] for p in problems[-MAX_PROBLEMS:]),
    )

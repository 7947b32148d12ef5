"""An agent's health as its newest ``health`` envelope tells it (``Store.agent_health``): outbox,
connection, last sweep, errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Health:
    at: str
    outbox_depth: int | None
    outbox_dropped: int | None
    disk_full: bool
    connected: bool | None
    last_sweep: str | None
    errors: tuple[str, ...]


def health_of(body: dict[str, Any], at: str) -> Health:
    """From a health body, read through the wire decoder (``HealthBody``); a body that does not
    decode shows as one error saying why. Pure."""
    try:
        health = HealthBody.decode(body)
    except BodyError as exc:
        return Health(at, None, None, False, None, None, (f"health body does not decode: {exc.detail}",))
    sweep = health.last_sweep
    return Health(
        at=at,
        outbox_depth=health.outbox.depth,
        outbox_dropped=sum(health.outbox.dropped.values()),
        disk_full=health.outbox.disk_full,
        connected=health.connected,
        last_sweep=f"{sweep.id}: {sweep.devices} devices, {sweep.duration_s:.1f} s" if sweep else None,
        errors=tuple(e[:200] for e in health.errors[-10:]),
    )

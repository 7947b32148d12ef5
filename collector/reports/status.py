"""Agent status: online/offline from status messages and Last Will, silence from last_seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.health import HealthBody
from agent.wire.lifecycle import BirthBody, EnforcementCapability
from agent.wire.timefmt import parse_utc
from collector.agenthealth import summarise
from collector.policy.commanding import last_enforcement
from collector.store import Store


def liveness(row: dict[str, Any], now: datetime, silent_after_s: float) -> str:
    if row.get("revoked_at"):
        return "revoked"
    last_seen = row.get("last_seen")
    if not last_seen:
        return "never seen"
    if row.get("state") == "offline":
        return "offline"
    age = (now - parse_utc(last_seen)).total_seconds()
    if age > silent_after_s:
        return "silent"
    return "online"


def status_rows(store: Store, *, now: datetime, silent_after_s: float) -> list[dict[str, Any]]:
    counters = store.counters()
    enforcement = last_enforcement(store.db)
    health = {(h["site"], h["agent"]): h for h in store.agent_health()}
    births = store.agent_births()
    rows = []
    for row in store.agent_status():
        counts = counters.get((row["site"], row["agent"]), {})
        key = (row["site"], row["agent"])
        last = enforcement.get(key)
        birth, born_with = _birth_fields(births.get(key))
        capability = _health_enforcement(health.get(key)) or born_with
        rejected = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("rejected:")}
        rows.append(
            {
                "site": row["site"],
                "agent": row["agent"],
                "liveness": liveness(row, now, silent_after_s),
                "state": row.get("state"),
                "state_reason": row.get("reason"),
                "last_seen": row.get("last_seen"),
                "accepted": counts.get("accepted", 0),
                "duplicate": counts.get("duplicate", 0),
                "rejected": sum(rejected.values()),
                "rejected_by_reason": rejected,
                # The last command's outcome; before any, whether this agent can enforce at all.
                "enforcement": last.summary() if last else (capability.summary() if capability else None),
                **birth,
                **_health_fields(health.get((row["site"], row["agent"]))),
            }
        )
    unattributed = counters.get(("?", "?"), {})
    if unattributed:
        rows.append(
            {
                "site": "?",
                "agent": "(not enrolled)",
                "liveness": "-",
                "rejected": sum(unattributed.values()),
                "rejected_by_reason": {k.split(":", 1)[1]: v for k, v in unattributed.items()},
            }
        )
    return rows


def _health_fields(row: dict[str, Any] | None) -> dict[str, Any]:
    """What the agent's newest health says went wrong: drops by kind, disk full, degradations,
    discovery and clock problems (``health`` in JSON; ``problems``, one line, for the table)."""
    if row is None:
        return {"health_ts": None, "health": None, "problems": ""}
    summary = summarise(row.get("body"))
    return {"health_ts": row.get("ts"), "health": summary.to_json(), "problems": "; ".join(summary.problems)}


def _birth_fields(row: dict[str, Any] | None) -> tuple[dict[str, Any], EnforcementCapability | None]:
    """The newest birth: version, start, capabilities (``birth`` is ``unknown: ...`` for a body
    that does not decode; it is still stored as evidence)."""
    if row is None:
        return {"birth": None}, None
    try:
        birth = BirthBody.decode(row.get("body"))
    except BodyError as exc:
        return {"birth": f"unknown: {exc.detail}"}, None
    caps = birth.capabilities
    fields = {
        "version": birth.version,
        "boot": birth.boot or row.get("boot"),
        "started_at": birth.started_at,
        "capabilities": caps.to_json() if caps else None,
    }
    return {"birth": fields}, caps.enforcement if caps else None


def _health_enforcement(row: dict[str, Any] | None) -> EnforcementCapability | None:
    if row is None:
        return None
    try:
        return HealthBody.decode(row.get("body")).enforcement
    except BodyError:
        return None  # summarise() reports the undecodable body as a problem of its own

"""An agent's health as its newest ``health`` envelope tells it: outbox, connection, last sweep, errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from collector.store.transaction import Database
from collector.store.values import as_time_text


@dataclass(frozen=True)
class Health:
    at: str
    outbox_depth: int | None
    outbox_dropped: int | None
    disk_full: bool
    connected: bool | None
    last_sweep: str | None
    errors: tuple[str, ...]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def health_of(body: dict[str, Any], at: str) -> Health:
    """From a health body (``agent.daemon``'s shape); missing or odd fields become None. Pure."""
    outbox = body.get("outbox") if isinstance(body.get("outbox"), dict) else {}
    assert isinstance(outbox, dict)
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    assert isinstance(errors, list)
    connected = body.get("connected")
    sweep = body.get("last_sweep")
    return Health(
        at=at,
        outbox_depth=_int(outbox.get("depth")),
        outbox_dropped=_int(outbox.get("dropped")),
        disk_full=body.get("disk_full") is True,
        connected=connected if isinstance(connected, bool) else None,
        last_sweep=sweep if isinstance(sweep, str) else None,
        errors=tuple(str(e)[:200] for e in errors[-10:]),
    )


def latest_health(db: Database, site: str, agent: str) -> Health | None:
    rows = db.read(
        "reading an agent's health",
        "SELECT ts, payload FROM envelopes WHERE site = ? AND agent = ? AND kind = 'health' "
        "ORDER BY ts DESC LIMIT 1",
        (site, agent),
    )
    if not rows:
        return None
    try:
        body = json.loads(rows[0][1]).get("body")
    except (ValueError, AttributeError):
        return None
    return health_of(body, as_time_text(rows[0][0]) or "") if isinstance(body, dict) else None

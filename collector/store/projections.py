"""Projections the store keeps at ingest, in the same transaction as the envelopes they come from.

``flows``: one row per (site, agent, device, destination, port, protocol) with the newest
finding (its counters are cumulative since ``first_seen``, so the newest replaces the older),
the earliest ``first_seen`` ever reported, and the newest envelopes that carried it.
``agent_health``: each agent's newest health body. (``devices``, the newest inventory record
per device, and ``agent_status`` are kept by ``Store.store_batch`` beside these.)

Every row carries the change mark of the write that last touched it (``Backend.change_mark``):
a reader that remembers the horizon it read at (``Backend.horizon_sql``) asks next time only
for rows marked at or after it. Records are kept as the agent sent them; they are judged
later through the wire contract's decoders. Only the key fields are read here, leniently: a
record without them gives no row (its envelope is stored all the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.wire.envelope import Envelope, Kind
from agent.wire.errors import BodyError
from agent.wire.flows import FlowBody
from collector.store.backend import log
from collector.store.transaction import Tx
from collector.store.values import as_json, as_time_text, json_text, normal_time

# A flow row refers to at most this many envelopes, the newest: enough to open the evidence.
FLOW_EVIDENCE_REFS = 20
# SQLite's default limit on bound parameters is 999 in old builds; stay well under it.
KEY_CHUNK = 200

FlowKey = tuple[str, str, str, str, int, str]  # site, agent, device, destination, port, protocol


@dataclass
class FlowRow:
    key: FlowKey
    first_seen: str | None
    last_seen: str | None
    record: dict[str, Any]
    evidence: list[dict[str, Any]]


def flow_records(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The findings of a flow body, read through the wire decoder (``FlowBody``); a body that does
    not decode gives none (the envelope itself is stored as evidence) and is logged."""
    try:
        return [f.to_json() for f in FlowBody.decode(body).flows]
    except BodyError as exc:
        log.warning("flow_body_undecodable", detail=exc.detail)
        return []


def _key(site: str, agent: str, record: Mapping[str, Any]) -> FlowKey | None:
    fields = [record.get(k) for k in ("device", "destination", "protocol")]
    port = record.get("port")
    if not all(isinstance(f, str) and f and "\x00" not in f for f in fields):
        return None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        return None
    device, destination, protocol = (str(f) for f in fields)
    return (site, agent, device, destination, port, protocol)


def _time_of(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    return normal_time(value) if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None


_FLOW_COLUMNS = (
    "site, agent, device, destination, port, protocol, first_seen, last_seen, count, bytes, record, "
    "evidence, changed"
)
_UPSERT_FLOW = (
    f"INSERT INTO flows ({_FLOW_COLUMNS}) VALUES ({', '.join('?' * 13)}) "
    "ON CONFLICT (site, agent, device, destination, port, protocol) DO UPDATE SET "
    "first_seen = excluded.first_seen, last_seen = excluded.last_seen, count = excluded.count, "
    "bytes = excluded.bytes, record = excluded.record, evidence = excluded.evidence, "
    "changed = excluded.changed"
)


def _newer(a: str | None, b: str | None) -> bool:
    """True when time ``a`` is at least ``b`` (an unreadable time loses to a readable one)."""
    return b is None or (a is not None and a >= b)


def update_flows(tx: Tx, envelopes: Iterable[Envelope], mark: int) -> int:
    """Fold the batch's flow findings into ``flows``; returns how many rows changed."""
    updates: dict[FlowKey, FlowRow] = {}
    for env in envelopes:
        if env.kind is not Kind.FLOW:
            continue
        ref = {"agent": env.agent, "boot": env.boot, "seq": env.seq}
        for record in flow_records(env.body):
            key = _key(env.site, env.agent, record)
            if key is None:
                continue
            first, last = _time_of(record, "first_seen"), _time_of(record, "last_seen")
            row = updates.get(key)
            if row is None:
                updates[key] = FlowRow(key, first, last, dict(record), [ref])
                continue
            _fold(row, FlowRow(key, first, last, dict(record), []))
            row.evidence.append(ref)  # ordered and capped once per row, below
    if not updates:
        return 0
    for key, stored in _stored_flows(tx, list(updates)).items():
        fresh = updates[key]
        _fold(stored, fresh)
        stored.evidence.extend(fresh.evidence)
        updates[key] = stored
    rows = []
    for row in sorted(updates.values(), key=lambda r: r.key):  # one lock order everywhere
        rows.append(
            (
                *row.key,
                row.first_seen,
                row.last_seen,
                _count(row.record.get("count")) or 0,
                _count(row.record.get("bytes")),
                json_text(row.record),
                json_text(_newest_refs(row.evidence)),
                mark,
            )
        )
    tx.executemany(_UPSERT_FLOW, rows)
    return len(rows)


def _fold(into: FlowRow, other: FlowRow) -> None:
    """Keep the newer finding and the earlier first_seen (evidence is the caller's)."""
    if _newer(other.last_seen, into.last_seen):
        into.record, into.last_seen = other.record, other.last_seen
    if other.first_seen is not None and (into.first_seen is None or other.first_seen < into.first_seen):
        into.first_seen = other.first_seen


def _newest_refs(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {(e["agent"], e["boot"], e["seq"]): e for e in refs}
    ordered = sorted(seen.values(), key=lambda e: (str(e["boot"]), int(e["seq"]), str(e["agent"])))
    return ordered[-FLOW_EVIDENCE_REFS:]


def _stored_flows(tx: Tx, keys: Sequence[FlowKey]) -> dict[FlowKey, FlowRow]:
    """The stored rows for these keys: one query per agent and chunk of devices."""
    by_agent: dict[tuple[str, str], set[FlowKey]] = {}
    for key in keys:
        by_agent.setdefault((key[0], key[1]), set()).add(key)
    found: dict[FlowKey, FlowRow] = {}
    for (site, agent), wanted in by_agent.items():
        devices = sorted({k[2] for k in wanted})
        for start in range(0, len(devices), KEY_CHUNK):
            chunk = devices[start : start + KEY_CHUNK]
            rows = tx.all(
                "SELECT device, destination, port, protocol, first_seen, last_seen, record, evidence "
                f"FROM flows WHERE site = ? AND agent = ? AND device IN ({', '.join('?' * len(chunk))})",
                (site, agent, *chunk),
            )
            for device, destination, port, protocol, first, last, record, evidence in rows:
                key = (site, agent, device, destination, int(port), protocol)
                if key in wanted:
                    found[key] = FlowRow(
                        key, as_time_text(first), as_time_text(last), as_json(record), list(as_json(evidence))
                    )
    return found


def update_health(tx: Tx, envelopes: Iterable[Envelope], mark: int) -> int:
    """Keep each agent's newest health body (by the envelope's time, then boot and seq)."""
    newest: dict[tuple[str, str], Envelope] = {}
    for env in envelopes:
        if env.kind is Kind.HEALTH:
            prior = newest.get((env.site, env.agent))
            if prior is None or (normal_time(env.ts) or "") >= (normal_time(prior.ts) or ""):
                newest[(env.site, env.agent)] = env
    rows = [
        (env.site, env.agent, normal_time(env.ts), env.boot, env.seq, json_text(env.body), mark)
        for _, env in sorted(newest.items())
    ]
    tx.executemany(
        "INSERT INTO agent_health (site, agent, ts, boot, seq, body, changed) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (site, agent) DO UPDATE SET ts = excluded.ts, boot = excluded.boot, "
        "seq = excluded.seq, body = excluded.body, changed = excluded.changed "
        "WHERE agent_health.ts IS NULL OR excluded.ts IS NOT NULL AND agent_health.ts <= excluded.ts",
        rows,
    )
    return len(rows)


# Envelopes read per query while rebuilding the projections from stored history.
REBUILD_CHUNK = 1000


def rebuild(tx: Tx, mark: int) -> int:
    """Fill the projections from every stored flow and health envelope (migration 5); returns
    how many envelopes were read. Payloads that do not decode any more are left out."""
    from agent.wire.envelope import decode
    from agent.wire.errors import WireError

    after: tuple[str, str, str, int] = ("", "", "", 0)
    total = 0
    while True:
        rows = tx.all(
            "SELECT site, agent, boot, seq, payload FROM envelopes WHERE kind IN ('flow', 'health') "
            "AND (site, agent, boot, seq) > (?, ?, ?, ?) ORDER BY site, agent, boot, seq LIMIT ?",
            (*after, REBUILD_CHUNK),
        )
        if not rows:
            return total
        envelopes = []
        for *_, payload in rows:
            try:
                envelopes.append(decode(str(payload).encode("utf-8"), max_bytes=len(str(payload)) * 4 + 1))
            except WireError:
                continue
        update_flows(tx, envelopes, mark)
        update_health(tx, envelopes, mark)
        total += len(rows)
        site, agent, boot, seq, _ = rows[-1]
        after = (site, agent, boot, int(seq))

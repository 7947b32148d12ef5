"""Retention: raw envelopes older than the configured age are deleted, evidence excepted.

Kept whatever their age: the envelope behind each device's newest record, the newest
envelopes of each flow and each agent's newest health (the projections point at them), every
envelope an unresolved violation cites, and every one in ``evidence_holds`` (a report or an
export that must stay verifiable puts its envelopes there with ``hold_evidence``). Deleting runs
in chunks, one short transaction each, so ingest goes on beside it. For each (site, agent, boot)
the highest deleted seq is remembered in ``pruned``, so a replay of a deleted envelope is
still a duplicate (``Store.store_batch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from agent.runtime.clock import Clock
from agent.wire.timefmt import format_utc
from collector.lifecycle import UNRESOLVED
from collector.store.transaction import Database
from collector.store.values import as_json, stored_time

log = structlog.get_logger("camsentry.collector.store")

Ref = tuple[str, str, str, int]  # site, agent, boot, seq: an envelope's identity
# Envelopes looked at per transaction.
PRUNE_CHUNK = 2000


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    kept: int  # old enough to go, but evidence


def _refs(site: str, refs: object) -> Iterable[Ref]:
    for ref in as_json(refs) if refs is not None else []:
        if isinstance(ref, dict):
            agent, boot, seq = ref.get("agent"), ref.get("boot"), ref.get("seq")
            if isinstance(agent, str) and isinstance(boot, str) and isinstance(seq, int):
                yield (site, agent, boot, seq)


def evidence_in_use(db: Database) -> set[Ref]:
    """Every envelope something points at."""
    kept: set[Ref] = set()
    read = db.read
    kept.update(
        (s, a, b, int(q))
        for s, a, b, q in read("devices", "SELECT site, agent, evidence_boot, evidence_seq FROM devices")
    )
    kept.update(
        (s, a, b, int(q)) for s, a, b, q in read("health", "SELECT site, agent, boot, seq FROM agent_health")
    )
    kept.update(
        (s, a, b, int(q)) for s, a, b, q in read("holds", "SELECT site, agent, boot, seq FROM evidence_holds")
    )
    for site, refs in read("flow evidence", "SELECT site, evidence FROM flows"):
        kept.update(_refs(site, refs))
    states = sorted(s.value for s in UNRESOLVED)
    for site, refs in read(
        "violation evidence",
        f"SELECT site, evidence FROM violations WHERE state IN ({', '.join('?' * len(states))})",
        states,
    ):
        kept.update(_refs(site, refs))
    return kept


def hold_evidence(db: Database, refs: Iterable[Ref], *, held_by: str, now: str) -> None:
    """Keep these envelopes whatever retention says (``held_by`` names who needs them)."""
    rows = [(*ref, held_by, stored_time(now)) for ref in sorted(set(refs))]
    with db.transaction("holding evidence") as tx:
        tx.executemany(
            "INSERT INTO evidence_holds (site, agent, boot, seq, held_by, held_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (site, agent, boot, seq, held_by) DO NOTHING",
            rows,
        )


def prune(
    db: Database, *, before: str, chunk: int = PRUNE_CHUNK, progress: Callable[[], object] = lambda: None
) -> PruneResult:
    """Delete envelopes received before ``before`` that are not evidence in use; ``progress``
    is called after each chunk (a first prune of a large store takes a while)."""
    cutoff = stored_time(before)
    kept_refs = evidence_in_use(db)
    deleted = kept = 0
    after: tuple[str, str, str, str, int] | None = None
    while True:
        with db.transaction("pruning envelopes") as tx:
            where = "received_at < ?"
            params: list[object] = [cutoff]
            if after is not None:
                where += " AND (received_at, site, agent, boot, seq) > (?, ?, ?, ?, ?)"
                params.extend(after)
            rows = tx.all(
                f"SELECT received_at, site, agent, boot, seq FROM envelopes WHERE {where} "
                "ORDER BY received_at, site, agent, boot, seq LIMIT ?",
                [*params, chunk],
            )
            if not rows:
                break
            last = rows[-1]
            after = (last[0], last[1], last[2], last[3], int(last[4]))
            gone = [(s, a, b, int(q)) for _, s, a, b, q in rows if (s, a, b, int(q)) not in kept_refs]
            kept += len(rows) - len(gone)
            tx.executemany(
                "DELETE FROM envelopes WHERE site = ? AND agent = ? AND boot = ? AND seq = ?", gone
            )
            tops: dict[tuple[str, str, str], int] = {}
            for s, a, b, q in gone:
                tops[(s, a, b)] = max(q, tops.get((s, a, b), 0))
            tx.executemany(
                "INSERT INTO pruned (site, agent, boot, up_to) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (site, agent, boot) DO UPDATE SET up_to = "
                "CASE WHEN excluded.up_to > pruned.up_to THEN excluded.up_to ELSE pruned.up_to END",
                [(*k, v) for k, v in sorted(tops.items())],
            )
            deleted += len(gone)
        progress()
    log.info("envelopes_pruned", before=cutoff, deleted=deleted, kept_as_evidence=kept)
    return PruneResult(deleted, kept)


# How often the service prunes (the first time soon after start).
PRUNE_INTERVAL_S = 3600.0


class Retention:
    """The service's periodic prune: ``tick()`` from a loop that may take the time it needs."""

    def __init__(
        self, db: Database, clock: Clock, *, days: int | None, interval_s: float = PRUNE_INTERVAL_S
    ) -> None:
        self._db = db
        self._clock = clock
        self._days = days
        self._interval = interval_s
        self._next = clock.monotonic()

    def tick(self, progress: Callable[[], object] = lambda: None) -> PruneResult | None:
        if self._days is None or self._clock.monotonic() < self._next:
            return None
        self._next = self._clock.monotonic() + self._interval
        before = format_utc(self._clock.now() - timedelta(days=self._days))
        return prune(self._db, before=before, progress=progress)

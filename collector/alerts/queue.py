"""The durable alert queue: one row per (alert, sink) in ``alert_queue``, in the collector's database.

The policy pass ``enqueue``s; the worker takes ``due`` rows, marks them ``sent``, reschedules them
(``retry``) or gives up (``dead``), and folds a storm into one ``digest`` row. Rows are written
once and moved between states, so nothing is lost when a sink is down or the process restarts.
The table is defined in ``collector.store.migrations`` (step 11).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.runtime.clock import Clock
from agent.wire.timefmt import format_utc
from collector.store.transaction import Database
from collector.store.values import as_json, as_time_text, json_text

# One digest summarises at most this many alerts; a bigger storm gives several digests.
MAX_DIGEST_ROWS = 20_000
MAX_ERROR_CHARS = 500


class RowState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    DIGESTED = "digested"


@dataclass(frozen=True)
class QueuedAlert:
    id: str
    sink: str
    kind: str
    document: dict[str, Any]
    attempts: int
    created_at: str


_COLUMNS = "id, sink, kind, payload, attempts, created_at"
_INSERT = (
    "INSERT INTO alert_queue (id, sink, kind, event, rule, site, severity, payload, created_at, "
    "state, attempts, due_at, ord) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _row(row: Sequence[Any]) -> QueuedAlert:
    rid, sink, kind, payload, attempts, created = row
    doc = as_json(payload)
    return QueuedAlert(
        str(rid),
        str(sink),
        str(kind),
        doc if isinstance(doc, dict) else {},
        int(attempts),
        as_time_text(created) or "",
    )


class AlertQueue:
    def __init__(self, db: Database, *, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def _new_rows(
        self, sinks: Sequence[str], kind: str, docs: Sequence[dict[str, Any]]
    ) -> list[tuple[Any, ...]]:
        now = self.clock.now()
        created, due = format_utc(now), now.timestamp()
        # Delivery order is queue order: microseconds of the enqueue, then position in the batch.
        base = int(due * 1_000_000) * 1000
        pairs = [(doc, sink) for doc in docs for sink in sinks]
        return [
            (
                uuid.uuid4().hex,
                sink,
                kind,
                str(doc.get("event", kind))[:16],
                str(doc.get("rule", ""))[:64],
                str(doc.get("site", ""))[:64],
                str(doc.get("severity", ""))[:16],
                json_text(doc),
                created,
                RowState.PENDING.value,
                0,
                due,
                base + i,
            )
            for i, (doc, sink) in enumerate(pairs)
        ]

    def enqueue(self, sinks: Sequence[str], docs: Sequence[dict[str, Any]]) -> int:
        """One row per document and sink, in one transaction; returns the rows written."""
        rows = self._new_rows(sinks, "alert", docs)
        with self.db.transaction("queueing alerts") as tx:
            tx.executemany(_INSERT, rows)
        return len(rows)

    def due(self, sink: str, limit: int) -> list[QueuedAlert]:
        """Pending rows of a sink whose time has come, in queue order."""
        rows = self.db.read(
            "reading due alerts",
            f"SELECT {_COLUMNS} FROM alert_queue WHERE state = ? AND sink = ? AND due_at <= ? "
            "ORDER BY ord LIMIT ?",
            (RowState.PENDING.value, sink, self.clock.now().timestamp(), limit),
        )
        return [_row(r) for r in rows]

    def fresh(self, sink: str, limit: int = MAX_DIGEST_ROWS) -> list[QueuedAlert]:
        """Pending alerts of a sink never tried yet: what a digest may stand for."""
        rows = self.db.read(
            "reading new alerts",
            f"SELECT {_COLUMNS} FROM alert_queue WHERE state = ? AND sink = ? AND kind = 'alert' "
            "AND attempts = 0 ORDER BY ord LIMIT ?",
            (RowState.PENDING.value, sink, limit),
        )
        return [_row(r) for r in rows]

    def sent(self, row: QueuedAlert) -> None:
        self._finish(row, RowState.SENT, None)

    def dead(self, row: QueuedAlert, error: str) -> None:
        self._finish(row, RowState.DEAD, error)

    def _finish(self, row: QueuedAlert, state: RowState, error: str | None) -> None:
        with self.db.transaction("recording an alert delivery") as tx:
            tx.execute(
                "UPDATE alert_queue SET state = ?, attempts = ?, last_error = ?, done_at = ? WHERE id = ?",
                (
                    state.value,
                    row.attempts + 1,
                    error[:MAX_ERROR_CHARS] if error else None,
                    format_utc(self.clock.now()),
                    row.id,
                ),
            )

    def retry(self, row: QueuedAlert, error: str, delay_s: float) -> None:
        with self.db.transaction("rescheduling an alert") as tx:
            tx.execute(
                "UPDATE alert_queue SET attempts = ?, last_error = ?, due_at = ? WHERE id = ?",
                (row.attempts + 1, error[:MAX_ERROR_CHARS], self.clock.now().timestamp() + delay_s, row.id),
            )

    def digest(self, sink: str, rows: Sequence[QueuedAlert], document: dict[str, Any]) -> QueuedAlert:
        """Replace ``rows`` by one digest row, in one transaction; returns the digest row."""
        (new,) = self._new_rows([sink], "digest", [document])
        done = format_utc(self.clock.now())
        with self.db.transaction("folding alerts into a digest") as tx:
            tx.execute(_INSERT, new)
            tx.executemany(
                "UPDATE alert_queue SET state = ?, done_at = ? WHERE id = ?",
                [(RowState.DIGESTED.value, done, r.id) for r in rows],
            )
        return QueuedAlert(new[0], sink, "digest", document, 0, new[8])

    def _count_by_sink(self, state: RowState) -> dict[str, int]:
        rows = self.db.read(
            "counting alerts",
            "SELECT sink, COUNT(*) FROM alert_queue WHERE state = ? GROUP BY sink",
            (state.value,),
        )
        return {str(sink): int(n) for sink, n in rows}

    def depth(self) -> dict[str, int]:
        """Pending rows per sink."""
        return self._count_by_sink(RowState.PENDING)

    def dead_letters(self) -> dict[str, int]:
        """Rows given up on, per sink (the dead-letter count)."""
        return self._count_by_sink(RowState.DEAD)

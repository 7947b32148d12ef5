"""The agent's durable outbox: every envelope is on disk before it is published.

An envelope leaves the outbox only when the collector's signed receipt says it was
stored. PUBACK merely marks it sent; a sent envelope with no receipt after the resend
timeout is due again. The outbox is bounded; when full it drops the oldest ``health``
first, then ``birth``, and only then the oldest evidence, counting every drop by kind.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.clock import Clock

# When full, tiers drop in this order; within a tier the oldest goes first.
DROP_TIERS: tuple[tuple[str, ...], ...] = (("health",), ("birth", "ack"), ("flow", "inventory"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    UNIQUE (boot, seq)
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS dropped (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    boot: str
    seq: int
    kind: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    bytes: int
    unsent: int
    dropped: dict[str, int]


class Outbox:
    """SQLite (WAL) queue of signed envelopes; safe to share between threads."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        max_messages: int = 100_000,
        max_bytes: int = 64 * 1024 * 1024,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self._clock = clock
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL + NORMAL survives a killed process; FULL also survives power loss, at a
        # cost per commit.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(SCHEMA)
        self._count = 0
        self._bytes = 0
        self._recount()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, boot: str, seq: int, kind: str, topic: str, payload: bytes) -> None:
        self.put_many([(boot, seq, kind, topic, payload)])

    def put_many(self, rows: Sequence[tuple[str, int, str, str, bytes]]) -> None:
        """Store envelopes in one transaction, making room first if the bound requires it."""
        if not rows:
            return
        now = self._clock.now().timestamp()
        incoming = sum(len(r[4]) for r in rows)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO outbox (boot, seq, kind, topic, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(b, s, k, t, p, now) for b, s, k, t, p in rows],
                )
                self._count += len(rows)
                self._bytes += incoming
                self._trim()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._recount()
                raise

    def _recount(self) -> None:
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
        ).fetchone()
        self._count, self._bytes = int(count), int(size)

    def _trim(self) -> None:
        for tier in DROP_TIERS:
            marks = ",".join("?" * len(tier))
            while self._count > self._max_messages or self._bytes > self._max_bytes:
                row = self._db.execute(
                    f"SELECT id, LENGTH(payload), kind FROM outbox WHERE kind IN ({marks}) "
                    "ORDER BY id LIMIT 1",
                    tier,
                ).fetchone()
                if row is None:
                    break
                kind = row[2]
                self._db.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
                self._db.execute(
                    "INSERT INTO dropped (kind, count) VALUES (?, 1) "
                    "ON CONFLICT (kind) DO UPDATE SET count = count + 1",
                    (kind,),
                )
                self._count -= 1
                self._bytes -= int(row[1])

    def due(self, limit: int, resend_after_s: float) -> list[OutboxItem]:
        """Oldest first: never sent, or sent longer ago than ``resend_after_s`` with no receipt."""
        if limit <= 0:
            return []
        cutoff = self._clock.now().timestamp() - resend_after_s
        with self._lock:
            overdue = self._db.execute(
                "SELECT id, boot, seq, kind, topic, payload FROM outbox "
                "WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY id LIMIT ?",
                (cutoff, limit),
            ).fetchall()
            unsent = self._db.execute(
                "SELECT id, boot, seq, kind, topic, payload FROM outbox "
                "WHERE sent_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        rows = sorted(overdue + unsent)[:limit]
        return [OutboxItem(*row) for row in rows]

    def mark_sent(self, ids: Iterable[int]) -> None:
        now = self._clock.now().timestamp()
        with self._lock:
            self._db.executemany("UPDATE outbox SET sent_at = ? WHERE id = ?", [(now, i) for i in ids])

    def mark_all_unsent(self) -> None:
        """After a reconnect or restart: everything unconfirmed goes again, in order."""
        with self._lock:
            self._db.execute("UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL")

    def confirm(self, boot: str, ranges: Iterable[tuple[int, int]]) -> int:
        """Delete what a receipt confirms; returns how many envelopes left the outbox."""
        removed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for lo, hi in ranges:
                    row = self._db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox "
                        "WHERE boot = ? AND seq BETWEEN ? AND ?",
                        (boot, lo, hi),
                    ).fetchone()
                    if row[0]:
                        self._db.execute(
                            "DELETE FROM outbox WHERE boot = ? AND seq BETWEEN ? AND ?",
                            (boot, lo, hi),
                        )
                        removed += int(row[0])
                        self._count -= int(row[0])
                        self._bytes -= int(row[1])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return removed

    def stats(self) -> OutboxStats:
        with self._lock:
            unsent = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()
            dropped = dict(self._db.execute("SELECT kind, count FROM dropped").fetchall())
        return OutboxStats(depth=self._count, bytes=self._bytes, unsent=int(unsent[0]), dropped=dropped)

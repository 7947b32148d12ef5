"""The agent's durable outbox: every envelope is on disk before it is published.

An envelope leaves the outbox only when the collector's signed receipt says it was
stored. A published envelope with no receipt after the resend timeout is due again.
The outbox is bounded; when full it drops the oldest ``health`` first, then ``birth``
and ``ack``, and only then the oldest evidence, counting every drop by kind.

Only the envelopes are durable. Which ones were published in this connection is kept
in memory: after a reconnect or a restart everything unconfirmed goes again, in order,
so there is nothing about "sent" worth an fsync.

A full disk is a state, not a crash: while SQLite cannot write, what the outbox holds stays,
new envelopes are refused and counted by kind (in memory: there is no room to write them
down), ``disk_full`` says so, and the next write that succeeds ends the state by itself.
Each change of state is logged once, with the counts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from agent.runtime.clock import Clock

log = structlog.get_logger("camsentry.agent.outbox")

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
    UNIQUE (boot, seq)
);
CREATE TABLE IF NOT EXISTS dropped (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""
_COLUMNS = "id, boot, seq, kind, topic, payload"


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
    # While the disk is full: new envelopes refused, by kind, since the state began.
    disk_full: bool = False
    refused: dict[str, int] = field(default_factory=dict)


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, or ENOSPC/EDQUOT from the file system."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc) or "disk I/O error" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


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
        self.disk_full = False
        self._refused: Counter[str] = Counter()
        # Dropping to stay within bounds: logged once when it starts, once (with counts) when it ends.
        self.dropping = False
        self._episode_drops: Counter[str] = Counter()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Envelopes map the site's cameras: created 0600 whatever the umask (WAL and SHM follow
        # the database file's mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL + NORMAL survives a killed process; FULL also survives power loss, at a
        # cost per commit.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(SCHEMA)
        # Published in this connection and awaiting a receipt: id -> when, oldest first.
        self._sent: OrderedDict[int, float] = OrderedDict()
        # Every id up to here has been published in this connection.
        self._cursor = 0
        self._count = 0
        self._bytes = 0
        self._recount()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, boot: str, seq: int, kind: str, topic: str, payload: bytes) -> None:
        self.put_many([(boot, seq, kind, topic, payload)])

    def put_many(self, rows: Sequence[tuple[str, int, str, str, bytes]]) -> bool:
        """Store envelopes in one transaction, trimming to the bound before it commits.

        False when the disk is full: nothing was stored, and the refusal is counted by kind."""
        if not rows:
            return True
        now = self._clock.now().timestamp()
        with self._lock:
            try:
                with self._immediate():
                    before = self._db.total_changes
                    self._db.executemany(
                        "INSERT OR IGNORE INTO outbox (boot, seq, kind, topic, payload, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [(b, s, k, t, p, now) for b, s, k, t, p in rows],
                    )
                    if self._db.total_changes - before == len(rows):
                        self._count += len(rows)
                        self._bytes += sum(len(r[4]) for r in rows)
                    else:  # some were already stored: count what the table holds
                        self._recount()
                    self._trim()
            except (sqlite3.Error, OSError) as exc:
                if not is_disk_full(exc):
                    raise
                self._refuse(rows, exc)
                return False
            self._space_back()
        return True

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite may already have rolled back on SQLITE_FULL; "no transaction is active" is fine.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.Error):
            self._recount()

    def _refuse(self, rows: Sequence[tuple[str, int, str, str, bytes]], exc: BaseException) -> None:
        for row in rows:
            self._refused[row[2]] += 1
        if not self.disk_full:
            self.disk_full = True
            log.error(
                "outbox_disk_full",
                error=str(exc)[:200],
                held=self._count,
                refused=dict(self._refused),
                what="new envelopes are refused and counted until space returns",
            )

    def _space_back(self) -> None:
        if self.disk_full:
            self.disk_full = False
            log.warning("outbox_disk_space_back", refused=dict(self._refused), held=self._count)
            self._refused.clear()

    def _recount(self) -> None:
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
        ).fetchone()
        self._count, self._bytes = int(count), int(size)

    def _trim(self) -> None:
        dropped: Counter[str] = Counter()
        self._drop_oldest(dropped)
        if dropped:
            self._episode_drops.update(dropped)
            if not self.dropping:
                self.dropping = True
                log.warning(
                    "outbox_full_dropping",
                    dropped=dict(dropped),
                    depth=self._count,
                    bytes=self._bytes,
                    what="oldest health first, then birth/ack, evidence last; counted by kind",
                )
        elif self.dropping:
            self.dropping = False
            log.info("outbox_dropping_ended", dropped=dict(self._episode_drops), depth=self._count)
            self._episode_drops.clear()

    def _drop_oldest(self, dropped: Counter[str]) -> None:
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
                self._db.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
                self._db.execute(
                    "INSERT INTO dropped (kind, count) VALUES (?, 1) "
                    "ON CONFLICT (kind) DO UPDATE SET count = count + 1",
                    (row[2],),
                )
                self._sent.pop(row[0], None)
                self._count -= 1
                self._bytes -= int(row[1])
                dropped[row[2]] += 1

    def due(self, limit: int, resend_after_s: float, *, new_limit: int | None = None) -> list[OutboxItem]:
        """Oldest first: published longer ago than ``resend_after_s`` with no receipt, then new.

        At most ``limit`` in all, of which at most ``new_limit`` never published in this
        connection: a resend does not add to what is unconfirmed, so a full window still resends.
        """
        if limit <= 0:
            return []
        new_limit = limit if new_limit is None else new_limit
        cutoff = self._clock.now().timestamp() - resend_after_s
        with self._lock:
            overdue: list[int] = []
            for item_id, sent_at in self._sent.items():
                if sent_at >= cutoff or len(overdue) >= limit:
                    break
                overdue.append(item_id)
            rows = []
            if overdue:
                marks = ",".join("?" * len(overdue))
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM outbox WHERE id IN ({marks})", overdue
                ).fetchall()
            fresh = min(limit - len(rows), new_limit)
            if fresh > 0:
                rows += self._db.execute(
                    f"SELECT {_COLUMNS} FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                    (self._cursor, fresh),
                ).fetchall()
        return [OutboxItem(*row) for row in sorted(rows)[:limit]]

    def mark_sent(self, ids: Iterable[int]) -> None:
        now = self._clock.now().timestamp()
        with self._lock:
            for item_id in ids:
                self._sent.pop(item_id, None)
                self._sent[item_id] = now
                self._cursor = max(self._cursor, item_id)

    def unconfirmed(self) -> int:
        """Published in this connection and still waiting for a receipt."""
        return len(self._sent)

    def mark_all_unsent(self) -> None:
        """After a reconnect or restart: everything unconfirmed goes again, in order."""
        with self._lock:
            self._sent.clear()
            self._cursor = 0

    def confirm(self, boot: str, ranges: Iterable[tuple[int, int]]) -> int:
        """Delete what a receipt confirms; returns how many envelopes left the outbox."""
        removed = 0
        with self._lock:
            gone: list[int] = []
            try:
                with self._immediate():
                    for lo, hi in ranges:
                        for item_id, size in self._db.execute(
                            "DELETE FROM outbox WHERE boot = ? AND seq BETWEEN ? AND ? "
                            "RETURNING id, LENGTH(payload)",
                            (boot, lo, hi),
                        ).fetchall():
                            gone.append(item_id)
                            removed += 1
                            self._count -= 1
                            self._bytes -= int(size)
            except (sqlite3.Error, OSError) as exc:
                if not is_disk_full(exc):
                    raise
                # Nothing deleted: these go again and are confirmed again once there is room.
                if not self.disk_full:
                    self._refuse((), exc)
                return 0
            for item_id in gone:
                self._sent.pop(item_id, None)
        return removed

    def stats(self) -> OutboxStats:
        with self._lock:
            unsent = self._db.execute("SELECT COUNT(*) FROM outbox WHERE id > ?", (self._cursor,)).fetchone()
            dropped = dict(self._db.execute("SELECT kind, count FROM dropped").fetchall())
        return OutboxStats(
            depth=self._count,
            bytes=self._bytes,
            unsent=int(unsent[0]),
            dropped=dropped,
            disk_full=self.disk_full,
            refused=dict(self._refused),
        )

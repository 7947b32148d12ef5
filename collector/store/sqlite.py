"""SQLite backend: WAL, ``BEGIN IMMEDIATE`` (one writer at a time serialises everything)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from collector.store.dbstore import Store
from collector.store.types import AgentRow, StoredBatch, StoreError

__all__ = ["AgentRow", "SqliteBackend", "SqliteStore", "StoreError", "StoredBatch"]

BUSY_TIMEOUT_S = 10.0
WAL_RETRY_S = 0.01


class SqliteBackend:
    engine = "sqlite"
    paramstyle = "qmark"
    # Takes the write lock at once: a read-then-write batch never fails to upgrade its lock.
    begin = "BEGIN IMMEDIATE"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.display = f"sqlite:///{path}"

    def connect(self, *, autocommit: bool) -> Any:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # The estate's map: created 0600 whatever the umask (SQLite gives WAL and SHM its mode).
            # Only when it is missing: closing any descriptor of the file drops every POSIX lock
            # this process holds on it (fcntl semantics), so another process's last close would
            # then delete the WAL under this process's open connections, which go stale.
            # ``sqlite:///:memory:`` is no file: creating one left an empty ':memory:' in the cwd.
            if str(self.path) != ":memory:":
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            conn = sqlite3.connect(
                self.path,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None if autocommit else "DEFERRED",
            )
            _set_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open database: {exc}") from exc
        return conn

    def is_broken(self, conn: Any) -> bool:
        return False

    def lock_migrations(self, conn: Any) -> None:
        """``BEGIN IMMEDIATE`` already holds the only write lock."""

    def lock_agents(self, conn: Any, agents: Sequence[tuple[str, str]]) -> None:
        """``BEGIN IMMEDIATE`` already holds the only write lock."""

    # Writers are serialised, so a counter bumped in each write transaction orders them.
    horizon_sql = "SELECT value + 1 FROM change_counter WHERE id = 1"

    def change_mark(self, conn: Any) -> int:
        conn.execute("UPDATE change_counter SET value = value + 1 WHERE id = 1")
        return int(conn.execute("SELECT value FROM change_counter WHERE id = 1").fetchone()[0])


def _set_wal(conn: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs it to itself, and SQLite reports "locked" at once instead
    # of waiting (two collectors starting together on a fresh file met this): retry until the timeout.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_S)


class SqliteStore(Store):
    """The store on one SQLite file."""

    def __init__(self, path: Path, *, migrate: bool = False) -> None:
        self.path = path
        super().__init__(SqliteBackend(path), migrate=migrate)

"""The one way the collector talks SQL: ``Database.transaction()`` and ``Database.read()``.

A ``Database`` owns one DB-API connection in autocommit mode and opens every write with the
backend's ``BEGIN`` (SQLite ``BEGIN IMMEDIATE``: a read-then-write never fails to upgrade its
lock). Inside ``transaction()`` the ``Tx`` rewrites the shared ``?`` placeholders for the
driver; a nested ``transaction()`` on the same thread joins the outer one, so a caller can
group several stores' writes (an envelope and its projections) into one commit. Driver
errors become ``StoreError``; anything else raised inside rolls back and passes through.

A connection the server dropped (a PostgreSQL restart) is replaced: a ``read`` is asked
again once on the new one; a transaction under way fails and the next one reconnects.
Each thread that writes concurrently with others takes its own ``Database``
(``Store.new_database()``); one ``Database`` serialises its users with a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from collector.sql import placeholders
from collector.store.backend import Backend, log
from collector.store.types import StoreError


class Tx:
    """One open transaction: statements with ``?`` placeholders, run on its connection."""

    def __init__(self, db: Any, backend: Backend) -> None:
        self.conn = db
        self.backend = backend

    @property
    def engine(self) -> str:
        return self.backend.engine

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the driver's cursor (``fetchone``, ``rowcount``...)."""
        return self.conn.execute(placeholders(sql, self.backend.paramstyle), tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        cur = self.conn.cursor()
        try:
            cur.executemany(placeholders(sql, self.backend.paramstyle), [tuple(r) for r in rows])
        finally:
            cur.close()


class Database:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.RLock()
        self._conn: Any = backend.connect(autocommit=True)
        self._open: Tx | None = None

    @property
    def engine(self) -> str:
        return self.backend.engine

    def _connection(self) -> Any:
        if self.backend.is_broken(self._conn):
            self._conn = self.backend.connect(autocommit=True)
            log.info("database_reconnected", database=self.backend.display)
        return self._conn

    @contextmanager
    def transaction(self, what: str) -> Iterator[Tx]:
        """Commit on leaving, roll back on any error; ``what`` names it in a StoreError."""
        with self._lock:
            if self._open is not None:  # nested: part of the caller's transaction
                yield self._open
                return
            db = self._connection()
            try:
                db.execute(self.backend.begin)
                self._open = Tx(db, self.backend)
                yield self._open
                self._open = None
                db.execute("COMMIT")
            except BaseException as exc:
                self._open = None
                self._rollback(db)
                if isinstance(exc, self.backend.errors):
                    raise StoreError(f"{what} failed: {str(exc).strip()}") from exc
                raise

    def read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One query outside any transaction; asked again once if the server dropped the connection."""
        with self._lock:
            if self._open is not None:
                return self._open.all(sql, params)
            for attempt in (1, 2):
                db = self._connection()
                try:
                    return list(
                        db.execute(placeholders(sql, self.backend.paramstyle), tuple(params)).fetchall()
                    )
                except self.backend.errors as exc:
                    if attempt == 2 or not self.backend.is_broken(db):
                        raise StoreError(f"{what} failed: {str(exc).strip()}") from exc
            raise AssertionError("unreachable")

    def _rollback(self, db: Any) -> None:
        if self.backend.is_broken(db):
            return
        try:
            db.execute("ROLLBACK")
        except self.backend.errors:
            log.debug("rollback_failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except self.backend.errors:
                log.debug("database_close_failed", exc_info=True)

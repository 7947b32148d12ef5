"""What differs between the engines, behind one small protocol; everything else is shared SQL.

A ``Backend`` opens DB-API connections and knows its engine's few differences: placeholder
style, the statement that opens a write transaction, how to keep two collectors from running
the same migration or storing the same agent's batch at once, how to tell a connection the
server has dropped, and how to mark rows so a reader can ask for what changed since it last
read (SQLite: a counter, writes being serialised; PostgreSQL: transaction ids against the
reader's snapshot, so concurrent collectors never wait on one counter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import structlog

log = structlog.get_logger("camsentry.collector.store")


class Backend(Protocol):
    engine: str
    # DB-API paramstyle of the driver; the shared SQL is written with ``?`` (qmark).
    paramstyle: str
    # Opens a write transaction on a connection in autocommit mode.
    begin: str
    # The driver's base error classes, translated into StoreError at the store's edge.
    errors: tuple[type[Exception], ...]
    # Where the database is, fit for logs and error messages (never a password).
    display: str

    def connect(self, *, autocommit: bool) -> Any:
        """A new DB-API connection; raises StoreError when the database cannot be reached."""
        ...

    def is_broken(self, conn: Any) -> bool:
        """True once the server has gone away under this connection (it will never work again)."""
        ...

    def lock_migrations(self, conn: Any) -> None:
        """Inside a write transaction: wait until no other process is migrating this database."""
        ...

    def lock_agents(self, conn: Any, agents: Sequence[tuple[str, str]]) -> None:
        """Inside a write transaction: wait until no other process is storing for these agents."""
        ...

    def change_mark(self, conn: Any) -> int:
        """Inside a write transaction: the mark its rows carry in their ``changed`` column. A
        transaction that commits after a reader took its horizon has a mark at or above it."""
        ...

    # One statement giving the reader's horizon: every row written by a transaction the reader
    # could not see yet will carry a mark at or above it. Read it before the rows.
    horizon_sql: str

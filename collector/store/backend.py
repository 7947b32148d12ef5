"""What differs between the engines, behind one small protocol; everything else is shared SQL.

A ``Backend`` opens DB-API connections and knows its engine's few differences: placeholder
style, the statement that opens a write transaction, how to keep two collectors from running
the same migration or storing the same agent's batch at once, and how to tell a connection the
server has dropped.
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

"""PostgreSQL backend (psycopg 3): the collector store for larger estates.

Connections run in autocommit mode with explicit ``BEGIN``; two collectors starting at once
migrate under a transaction-scoped advisory lock, and batches for the same agent are
serialised the same way, so a redelivery that reaches two collectors is stored once and
counted as a duplicate by the second, exactly as SQLite's ``BEGIN IMMEDIATE`` gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from collector.store.types import StoreError

# Advisory lock namespaces (the first of the two int4 keys): "camsentry migrate" / "... ingest".
# The second key hashes the schema, so databases shared by schema (tests) do not wait on each other.
MIGRATION_LOCK = 0x63730001
INGEST_LOCK = 0x63730002
CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "camsentry-collector"


class PostgresBackend:
    engine = "postgresql"
    paramstyle = "pyformat"
    begin = "BEGIN"
    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, url: str, *, password_file: Path | None = None) -> None:
        self.url = url
        self.display = url  # parse_database_url refuses URLs that carry a password
        self._password_file = password_file

    def _password(self) -> dict[str, Any]:
        # Read at every connect, so a rotated password is picked up on the next reconnection.
        if self._password_file is None:
            return {}
        try:
            text = self._password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"database_password_file {self._password_file}: {exc.strerror}") from None
        return {"password": text.rstrip("\r\n")}

    def connect(self, *, autocommit: bool) -> Any:
        try:
            return psycopg.connect(
                self.url,
                autocommit=autocommit,
                connect_timeout=CONNECT_TIMEOUT_S,
                fallback_application_name=APPLICATION_NAME,
                **self._password(),
            )
        except psycopg.Error as exc:
            raise StoreError(f"{self.display}: cannot connect: {str(exc).strip()}") from exc

    def is_broken(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def lock_migrations(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (MIGRATION_LOCK,))

    # Every transaction the reader's snapshot does not see has an id at or above its xmin. A
    # transaction left open anywhere on the server holds xmin back: readers then get rows
    # written since again (never fewer), bounded by what changed meanwhile.
    horizon_sql = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

    def change_mark(self, conn: Any) -> int:
        return int(conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0])

    def lock_agents(self, conn: Any, agents: Sequence[tuple[str, str]]) -> None:
        # In one order everywhere, so two collectors' batches cannot deadlock on each other.
        names = sorted({f"{site}/{agent}" for site, agent in agents})
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema() || '/' || name)) "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(name, n) ORDER BY n",
            (INGEST_LOCK, names),
        )

"""Applying ``collector.store.migrations``: which version a database is at, and bringing it up.

An empty database is created at the latest version by whoever opens it first. A database
at an older version is migrated only when asked (``camsentry-collector migrate``, or ``run``
with ``[store] migrate_on_start = true``): a migration can take a while on a large estate
and an operator should choose when; every other command stops with ``SchemaOutdated``
naming the command to run. A database newer than this collector stops it too.
"""

from __future__ import annotations

import structlog

from collector.store.migrations import LATEST_VERSION, MIGRATIONS, Migration
from collector.store.transaction import Database, Tx
from collector.store.types import StoreError

log = structlog.get_logger("camsentry.collector.store")

MIGRATE_COMMAND = "camsentry-collector migrate"


class SchemaOutdated(StoreError):
    """The database's schema is older (or newer) than this collector's."""

    def __init__(self, found: int, wanted: int, database: str) -> None:
        self.found = found
        self.wanted = wanted
        if found < wanted:
            text = (
                f"{database}: schema version {found}, this collector needs {wanted}; "
                f"run '{MIGRATE_COMMAND}' (or set [store] migrate_on_start = true for 'run')"
            )
        else:
            text = f"{database}: schema version {found} is newer than this collector's {wanted}; upgrade it"
        super().__init__(text)


def _version(tx: Tx) -> int:
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    row = tx.one("SELECT MAX(version) FROM schema_version")
    return int(row[0] or 0)


def schema_version(db: Database) -> int:
    with db.transaction("reading the schema version") as tx:
        db.backend.lock_migrations(tx.conn)
        return _version(tx)


def _apply(db: Database, tx: Tx, step: Migration) -> None:
    try:
        for statement in step.for_engine(db.engine):
            tx.execute(statement)
        if step.backfill is not None:
            step.backfill(tx, db.backend.change_mark(tx.conn))
        tx.execute(
            "INSERT INTO schema_version (version, description) VALUES (?, ?)",
            (step.version, step.description),
        )
    except db.backend.errors as exc:
        raise StoreError(f"migration {step.version} failed: {str(exc).strip()}") from exc


def migrate(db: Database, *, target: int = LATEST_VERSION) -> int:
    """Apply what is missing up to ``target``, one step per transaction; collectors take turns."""
    while True:
        with db.transaction("migrating the schema") as tx:
            db.backend.lock_migrations(tx.conn)
            current = _version(tx)
            pending = [m for m in MIGRATIONS if current < m.version <= target]
            if not pending:
                return current
            _apply(db, tx, pending[0])
        log.info("schema_migrated", version=pending[0].version, description=pending[0].description)


def ensure_current(db: Database, *, migrate_old: bool) -> int:
    """Create an empty database, migrate an old one if allowed, else raise ``SchemaOutdated``."""
    with db.transaction("checking the schema") as tx:
        db.backend.lock_migrations(tx.conn)
        found = _version(tx)
        if found == 0:  # a new database: every step in one transaction, so no one sees half of it
            for step in MIGRATIONS:
                _apply(db, tx, step)
    if found == 0:
        log.info("schema_created", version=LATEST_VERSION, database=db.backend.display)
        return LATEST_VERSION
    if found == LATEST_VERSION:
        return found
    if migrate_old and found < LATEST_VERSION:
        return migrate(db)
    raise SchemaOutdated(found, LATEST_VERSION, db.backend.display)

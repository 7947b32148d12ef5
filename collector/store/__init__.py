"""The collector's store: one interface over SQLite (default) or PostgreSQL (larger estates).

``open_store(url)`` picks the backend from the URL, connects and checks the schema (creating
an empty database; migrating an old one only with ``migrate=True``). Modules::

    url          parse_database_url: which engine, checked once (no passwords in URLs)
    backend      Backend protocol (the engines' few differences)
    transaction  Database: the one transaction helper every SQL writer uses
    sqlite       SqliteBackend (and SqliteStore, the store on one file)
    postgres     PostgresBackend (psycopg 3, imported only when used)
    dbstore      Store: the envelope store's queries, once, for both engines
    migrations   every table of the collector, in versioned steps (how to add one: its docstring)
    schema       applying the steps; refusing an outdated schema

Exceptions::

    StoreError          the database refused or failed an operation, or cannot be reached
      SchemaOutdated    the schema is older than this collector: run camsentry-collector migrate
    DatabaseUrlError    a database URL this collector cannot use (raised before connecting)
"""

from __future__ import annotations

from pathlib import Path

from collector.store.dbstore import Store
from collector.store.schema import SchemaOutdated
from collector.store.transaction import Database, Tx
from collector.store.types import AgentRow, StoredBatch, StoreError
from collector.store.url import DatabaseUrlError, Engine, parse_database_url

__all__ = [
    "AgentRow",
    "Database",
    "DatabaseUrlError",
    "SchemaOutdated",
    "Store",
    "StoreError",
    "StoredBatch",
    "Tx",
    "open_store",
]


def open_store(url: str, *, password_file: Path | None = None, migrate: bool = False) -> Store:
    """Connect to the database a URL names; an empty one gets the schema, an old one is
    migrated only with ``migrate`` (else ``SchemaOutdated``)."""
    parsed = parse_database_url(url)
    if parsed.engine is Engine.POSTGRESQL:
        from collector.store.postgres import PostgresBackend

        return Store(PostgresBackend(url, password_file=password_file), migrate=migrate)
    if password_file is not None:
        raise DatabaseUrlError("database_password_file is only for PostgreSQL")
    from collector.store.sqlite import SqliteStore

    return SqliteStore(parsed.sqlite_path, migrate=migrate)

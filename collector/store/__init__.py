"""The collector's store: one interface over SQLite (default) or PostgreSQL (larger estates).

``open_store(url)`` picks the backend from the URL, connects and migrates. Modules::

    url         parse_database_url: which engine, checked once (no passwords in URLs)
    backend     Backend protocol (the engines' few differences), ReconnectingConnection
    sqlite      SqliteBackend (and SqliteStore, the store on one file)
    postgres    PostgresBackend (psycopg 3, imported only when used)
    dbstore     Store: every query, once, for both engines
    migrations  the schema, versioned

Exceptions::

    StoreError          the database refused or failed an operation, or cannot be reached
    DatabaseUrlError    a database URL this collector cannot use (raised before connecting)
"""

from __future__ import annotations

from pathlib import Path

from collector.store.dbstore import Store
from collector.store.types import AgentRow, StoredBatch, StoreError
from collector.store.url import DatabaseUrlError, Engine, parse_database_url

__all__ = [
    "AgentRow",
    "DatabaseUrlError",
    "Store",
    "StoreError",
    "StoredBatch",
    "open_store",
    "paramstyle_for",
]


def open_store(url: str, *, password_file: Path | None = None) -> Store:
    """Connect to the database a URL names and bring its schema up to date."""
    parsed = parse_database_url(url)
    if parsed.engine is Engine.POSTGRESQL:
        from collector.store.postgres import PostgresBackend

        return Store(PostgresBackend(url, password_file=password_file))
    if password_file is not None:
        raise DatabaseUrlError("database_password_file is only for PostgreSQL")
    from collector.store.sqlite import SqliteStore

    return SqliteStore(parsed.sqlite_path)


def paramstyle_for(url: str) -> str:
    """The placeholder style of the driver a URL selects, without connecting."""
    return "pyformat" if parse_database_url(url).engine is Engine.POSTGRESQL else "qmark"

"""A collector database for tests that need the violation store or commanding without a service."""

from __future__ import annotations

from pathlib import Path

from collector.store import Database, open_store


def sqlite_database(path: Path | None = None) -> Database:
    """A ``Database`` on a SQLite file (in memory without one) with the collector's whole schema."""
    return open_store(f"sqlite:///{path or ':memory:'}").db

"""Database URLs: which engine and where, checked once; a password never travels in one.

``sqlite:///relative/path`` or ``sqlite:////absolute/path``; ``postgresql://user@host:5432/db``
or ``postgresql:///db?host=/var/run/postgresql`` (any libpq URI without a password; the password
comes from a password file or libpq's own PGPASSFILE / ~/.pgpass).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

SQLITE_PREFIX = "sqlite://"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


class Engine(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class DatabaseUrlError(ValueError):
    """A database URL this collector cannot use; the message never repeats a password."""


@dataclass(frozen=True)
class DatabaseUrl:
    engine: Engine
    url: str

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///").removeprefix(SQLITE_PREFIX))


def parse_database_url(url: str) -> DatabaseUrl:
    if url.startswith(SQLITE_PREFIX):
        if not url.removeprefix("sqlite:///").removeprefix(SQLITE_PREFIX):
            raise DatabaseUrlError("sqlite:/// needs a file path")
        return DatabaseUrl(Engine.SQLITE, url)
    if url.startswith(POSTGRES_PREFIXES):
        _check_postgres(url)
        return DatabaseUrl(Engine.POSTGRESQL, url)
    raise DatabaseUrlError(
        "must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB (or postgresql:///DB?host=SOCKET_DIR)"
    )


def _check_postgres(url: str) -> None:
    try:
        has_password = urlsplit(url).password is not None
    except ValueError:
        has_password = False  # libpq's own parser below says what is wrong
    if has_password:
        raise DatabaseUrlError(_PASSWORD_IN_URL)
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as exc:
        raise DatabaseUrlError("PostgreSQL needs psycopg: install camsentry[collector]") from exc
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:  # libpq's text, which names the bad part, never a password
        raise DatabaseUrlError(f"not a PostgreSQL URL libpq accepts: {str(exc).strip()}") from None
    if "password" in params:
        raise DatabaseUrlError(_PASSWORD_IN_URL)


_PASSWORD_IN_URL = (
    "must not carry a password (URLs end up in logs and error messages): "  # noqa: S105 - a message
    "use database_password_file, or PGPASSFILE / ~/.pgpass"
)

"""Throwaway PostgreSQL schemas for tests: created fresh, reached through a URL, always dropped.

The server is the one CI runs on 127.0.0.1:5432, database ``test`` (``CAMSENTRY_TEST_PG_DSN``
overrides the DSN). Each schema is named at random and set as the URL's ``search_path``, so
parallel runs and tests never see each other's tables.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

PG_DSN = os.environ.get("CAMSENTRY_TEST_PG_DSN", "host=127.0.0.1 user=postgres dbname=test")
CONNECT_TIMEOUT_S = 3


def _admin() -> Any:
    import psycopg

    try:
        return psycopg.connect(PG_DSN, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"needs the PostgreSQL server ({PG_DSN}, CAMSENTRY_TEST_PG_DSN): {exc}")


def schema_url(schema: str) -> str:
    """A ``postgresql://`` URL for the test server whose tables live in ``schema``."""
    from psycopg.conninfo import conninfo_to_dict

    params = {k: str(v) for k, v in conninfo_to_dict(PG_DSN).items() if k != "dbname"}
    params["options"] = f"-csearch_path={schema}"
    params["application_name"] = f"camsentry-test-{schema}"  # terminate_connections finds them by it
    dbname = conninfo_to_dict(PG_DSN).get("dbname", "postgres")
    return f"postgresql:///{dbname}?{urlencode(params)}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to a new, empty schema; the schema and all in it are dropped afterwards."""
    pytest.importorskip("psycopg")
    admin = _admin()
    schema = f"t_{secrets.token_hex(6)}"
    try:
        admin.execute(f"CREATE SCHEMA {schema}")
        yield schema_url(schema)
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


def terminate_connections(url: str) -> int:
    """End every other session on the test server using this URL's schema, as a restart would."""
    from psycopg.conninfo import conninfo_to_dict

    schema = str(conninfo_to_dict(url)["options"]).removeprefix("-csearch_path=")
    admin = _admin()
    try:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND application_name = %s",
            (f"camsentry-test-{schema}",),
        ).fetchall()
    finally:
        admin.close()
    return sum(1 for (ok,) in rows if ok)


@contextmanager
def database(engine: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of either engine: a SQLite file, or a PostgreSQL schema."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'collector.sqlite'}"
    else:
        with postgres_schema() as url:
            yield url


# Parametrise a ``database_url`` fixture with this: the postgres case is marked ``postgres``.
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

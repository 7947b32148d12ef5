"""Schema steps: an old database is migrated only when asked, and keeps every row."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main
from collector.store import SchemaOutdated, open_store
from collector.store.migrations import LATEST_VERSION, MIGRATIONS, expand
from collector.store.schema import migrate, schema_version
from collector.store.transaction import Database


def old_database(url: str, version: int) -> None:
    """A database as a collector of schema ``version`` left it."""
    from collector.store.url import Engine, parse_database_url

    parsed = parse_database_url(url)
    if parsed.engine is Engine.POSTGRESQL:
        from collector.store.postgres import PostgresBackend

        db = Database(PostgresBackend(url))
    else:
        from collector.store.sqlite import SqliteBackend

        db = Database(SqliteBackend(parsed.sqlite_path))
    try:
        assert migrate(db, target=version) == version
    finally:
        db.close()


def test_versions_are_one_to_latest_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    assert all(m.description for m in MIGRATIONS)


def test_type_tokens_expand_per_engine() -> None:
    ddl = "CREATE TABLE x (at {ts} NOT NULL, doc {json})"
    assert expand(ddl, "sqlite") == "CREATE TABLE x (at TEXT NOT NULL, doc TEXT)"
    assert expand(ddl, "postgresql") == "CREATE TABLE x (at TIMESTAMPTZ NOT NULL, doc JSONB)"


def test_an_old_schema_stops_other_commands_until_migrate(database_url: str) -> None:
    old_database(database_url, 2)
    with pytest.raises(SchemaOutdated, match="run 'camsentry-collector migrate'") as caught:
        open_store(database_url)
    assert (caught.value.found, caught.value.wanted) == (2, LATEST_VERSION)
    store = open_store(database_url, migrate=True)
    try:
        assert store.schema_version() == LATEST_VERSION
    finally:
        store.close()
    open_store(database_url).close()  # current now: every command opens it


def test_a_newer_schema_is_refused(database_url: str) -> None:
    store = open_store(database_url)
    try:
        with store.db.transaction("pretend an upgrade ran") as tx:
            tx.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)", (999, "future"))
        assert schema_version(store.db) == 999
    finally:
        store.close()
    with pytest.raises(SchemaOutdated, match="newer than this collector"):
        open_store(database_url)


def test_cli_status_names_migrate_and_migrate_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.sqlite"
    config = tmp_path / "collector.toml"
    config.write_text(f'state_dir = "{tmp_path}"\ndatabase = "sqlite:///{db}"\n[mqtt]\nhost = "127.0.0.1"\n')
    old_database(f"sqlite:///{db}", 1)
    assert main(["--config", str(config), "status"]) == 1
    assert "run 'camsentry-collector migrate'" in capsys.readouterr().err
    assert main(["--config", str(config), "migrate"]) == 0
    assert f"schema at version {LATEST_VERSION}" in capsys.readouterr().out
    assert main(["--config", str(config), "status"]) == 0

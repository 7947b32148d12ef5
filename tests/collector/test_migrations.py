"""Schema steps: an old database is migrated only when asked, and keeps every row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Kind, decode, seal, verify
from agent.wire.timefmt import format_utc
from collector.cli import main
from collector.policy.commanding import quarantines_in_force
from collector.store import SchemaOutdated, Store, open_store
from collector.store.migrations import LATEST_VERSION, MIGRATIONS, expand
from collector.store.schema import migrate, schema_version
from collector.store.transaction import Database
from collector.violations import ViolationStore
from tests.support.clock import FakeClock


def old_database(url: str, version: int) -> None:
    """A database as a collector of schema ``version`` left it."""
    db = _database(url)
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


KEY = Ed25519PrivateKey.generate()
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OLD = "2026-11-23T12:00:00.250000+00:00"  # what isoformat() wrote before one time format
OLD_Z = "2026-11-23T12:00:05.123Z"


def _old_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Rows as collectors of schema 3 wrote them: times in both forms, "" for no status yet."""
    record = {"address": "10.0.0.9", "model": "DS-2CD\u00e9"}
    inventory = seal(
        KEY, agent="pi", site="hq", boot="b1", seq=1, ts=T0, kind=Kind.INVENTORY, body={"device": record}
    )
    flow = seal(KEY, agent="pi", site="hq", boot="b1", seq=2, ts=T0, kind=Kind.FLOW, body={"flows": []})
    detail = json.dumps({"maker": "hikvision"})
    evidence = json.dumps([{"agent": "pi", "boot": "b1", "seq": 1}])
    return {
        "agents": [("hq", "pi", "KEY", OLD, None), ("hq", "old", "KEY", OLD, OLD_Z)],
        "envelopes": [
            ("hq", "pi", "b1", 1, "inventory", inventory.ts, OLD, inventory.raw.decode()),
            ("hq", "pi", "b1", 2, "flow", "not a time", OLD, flow.raw.decode()),
        ],
        "devices": [
            (
                "hq",
                "mac:1",
                "pi",
                "10.0.0.9",
                80,
                None,
                None,
                "DS",
                None,
                None,
                "hikvision",
                None,
                0.98,
                OLD,
                OLD_Z,
                "b1",
                1,
            ),
        ],
        "agent_status": [("hq", "pi", "online", None, OLD_Z, OLD), ("hq", "old", "unknown", None, "", OLD)],
        "counters": [("hq", "pi", "accepted", 2)],
        "pending_enrolments": [("hq", "new", "KEY", "box", OLD)],
        "violations": [
            (
                "V-1",
                "k1",
                "restricted_at_sensitive_site",
                "high",
                "hq",
                "pi",
                "mac:1",
                "10.0.0.9",
                "s",
                detail,
                evidence,
                OLD,
                OLD_Z,
                "risk_accepted",
                "r",
                "2027-01-01T00:00:00+00:00",
                "sha256:a",
                OLD,
                OLD_Z,
            ),
        ],
        "violation_audit": [("V-1", 1, OLD, "policy-engine", "opened", None, "open", "s", "sha256:a")],
        "policy_evaluations": [(OLD, "sha256:a", 1, 1, 0)],
        "commands": [
            (
                "hq",
                "pi",
                1,
                "quarantine",
                "10.0.0.9",
                json.dumps({"recorders": ["10.0.0.2"]}),
                OLD_Z,
                "2026-11-24T12:00:00.000Z",
                "cli",
                "applied",
                None,
                "",
                "",
                OLD,
            ),
        ],
    }


def test_migrating_keeps_every_row_and_types_it(database_url: str) -> None:
    old_database(database_url, 3)
    rows = _old_rows()
    db = _database(database_url)
    try:
        with db.transaction("old rows") as tx:
            for table, values in rows.items():
                marks = ", ".join("?" * len(values[0]))
                tx.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    finally:
        db.close()

    store = open_store(database_url, migrate=True)
    try:
        for table, values in rows.items():
            assert store.db.read("count", f"SELECT COUNT(*) FROM {table}")[0][0] == len(values), table
        assert [(a.agent, a.enrolled_at, a.revoked_at) for a in store.agents()] == [
            ("old", "2026-11-23T12:00:00.250Z", OLD_Z),
            ("pi", "2026-11-23T12:00:00.250Z", None),
        ]
        status = {r["agent"]: r for r in store.agent_status()}
        assert status["old"]["state_ts"] is None, '"" (no status yet) became NULL'
        assert status["pi"]["state_ts"] == OLD_Z
        [device] = store.devices()
        assert (device["first_seen"], device["last_seen"]) == ("2026-11-23T12:00:00.250Z", OLD_Z)
        assert device["maker_confidence"] == 0.98 and device["record"]["model"] == "DS-2CD\u00e9"
        payloads = store.db.read("payloads", "SELECT payload FROM envelopes ORDER BY seq")
        assert [p for (p,) in payloads] == [r[7] for r in rows["envelopes"]], "signed bytes unchanged"
        assert verify_raw(payloads[0][0])
        [violation] = ViolationStore(store.db, clock=FakeClock(T0)).list_violations()
        assert violation.first_seen == datetime(2026, 11, 23, 12, 0, 0, 250000, tzinfo=UTC)
        assert violation.accepted_until == datetime(2027, 1, 1, tzinfo=UTC)
        assert violation.detail == {"maker": "hikvision"}
        assert violation.evidence == ({"agent": "pi", "boot": "b1", "seq": 1},)
        assert quarantines_in_force(store.db)[("hq", "pi", "10.0.0.9")].recorders == ("10.0.0.2",)
        if store.db.engine == "postgresql":
            _assert_typed_on_postgres(store)
        else:
            [(ts,)] = store.db.read("ts", "SELECT ts FROM envelopes WHERE seq = 2")
            assert ts == "not a time", "SQLite keeps text it cannot read"
    finally:
        store.close()


TIME_COLUMNS = (
    "schema_version.applied_at",
    "envelopes.ts", "envelopes.received_at", "devices.last_seen", "violations.accepted_until",
    "violation_audit.at", "commands.expires", "agents.enrolled_at", "agent_status.state_ts",
)  # fmt: skip


def _assert_typed_on_postgres(store: Store) -> None:
    types = {
        f"{table}.{column}": kind
        for table, column, kind in store.db.read(
            "types",
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()",
        )
    }
    for name in TIME_COLUMNS:
        assert types[name] == "timestamp with time zone", name
    for name in ("violations.detail", "violations.evidence", "commands.params", "envelopes.body"):
        assert types[name] == "jsonb", name
    assert types["envelopes.payload"] == "text", "the signed bytes stay exact"
    [(ts, body)] = store.db.read("typed", "SELECT ts, body FROM envelopes WHERE seq = 1")
    assert ts == T0 and body["device"]["model"] == "DS-2CD\u00e9"
    [(unreadable,)] = store.db.read("typed", "SELECT ts FROM envelopes WHERE seq = 2")
    assert unreadable is None, "an agent's unreadable ts is NULL; its payload still says what it sent"
    # New rows are typed too, and tools can query the body as JSON.
    record = {"address": "10.0.0.7", "model": "M\x00"}
    inventory = seal(
        KEY, agent="pi", site="hq", boot="b2", seq=1, ts=T0, kind=Kind.INVENTORY, body={"device": record}
    )
    store.store_batch([decode(inventory.raw)], format_utc(T0))
    [(model,)] = store.db.read("json", "SELECT body -> 'device' ->> 'model' FROM envelopes WHERE boot = 'b2'")
    assert model == "M\ufffd"


def _database(url: str) -> Database:
    from collector.store.url import Engine, parse_database_url

    parsed = parse_database_url(url)
    if parsed.engine is Engine.POSTGRESQL:
        from collector.store.postgres import PostgresBackend

        return Database(PostgresBackend(url))
    from collector.store.sqlite import SqliteBackend

    return Database(SqliteBackend(parsed.sqlite_path))


def verify_raw(payload: str) -> bool:
    verify(decode(payload.encode()), KEY.public_key())
    return True


def test_store_table_in_the_config() -> None:
    from collector.config import parse_collector_config

    base = {"mqtt": {"host": "127.0.0.1"}}
    default = parse_collector_config(base, "c.toml")
    assert (default.migrate_on_start, default.retain_envelopes_days) == (False, None)
    told = parse_collector_config(
        {**base, "store": {"migrate_on_start": True, "retain_envelopes_days": 90}}, "c.toml"
    )
    assert (told.migrate_on_start, told.retain_envelopes_days) == (True, 90)


def test_projections_are_filled_from_stored_history(database_url: str) -> None:
    from collector.store.projections import rebuild

    step = next(m.version for m in MIGRATIONS if m.backfill is rebuild)
    old_database(database_url, step - 1)
    finding = {"device": "10.0.0.9", "destination": "203.0.113.9", "port": 443, "protocol": "tcp",
               "first_seen": format_utc(T0), "last_seen": format_utc(T0), "count": 3}  # fmt: skip
    sealed = [
        seal(KEY, agent="pi", site="hq", boot="b1", seq=1, ts=T0, kind=Kind.FLOW, body={"flow": finding}),
        seal(KEY, agent="pi", site="hq", boot="b1", seq=2, ts=T0, kind=Kind.HEALTH, body={"outbox": 4}),
    ]
    db = _database(database_url)
    try:
        with db.transaction("old rows") as tx:
            tx.executemany(
                "INSERT INTO envelopes (site, agent, boot, seq, kind, ts, received_at, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(e.site, e.agent, e.boot, e.seq, e.kind.value, e.ts, e.ts, e.raw.decode()) for e in sealed],
            )
    finally:
        db.close()
    store = open_store(database_url, migrate=True)
    try:
        [row] = store.flows()
        assert (row["count"], row["evidence"]) == (3, [{"agent": "pi", "boot": "b1", "seq": 1}])
        assert [h["body"] for h in store.agent_health()] == [{"outbox": 4}]
    finally:
        store.close()

"""The collector store behaves the same on SQLite and PostgreSQL (``database_url`` runs both)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Envelope, Kind, decode, seal
from agent.wire.timefmt import format_utc
from collector.store import Store, StoreError, open_store
from collector.store.migrations import LATEST_VERSION
from tests.support.postgres import ENGINES, database

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW = format_utc(T0)
KEY = Ed25519PrivateKey.generate()
LATEST = LATEST_VERSION


def env(
    seq: int,
    *,
    kind: Kind = Kind.HEALTH,
    body: dict[str, Any] | None = None,
    agent: str = "pi",
    boot: str = "b1",
    at: datetime = T0,
) -> Envelope:
    return seal(KEY, agent=agent, site="hq", boot=boot, seq=seq, ts=at, kind=kind, body=body or {})


def camera(at: datetime, seq: int, **fields: Any) -> Envelope:
    device = {"mac": "58:03:FB:00:00:01", "address": "10.0.0.9", "port": 80, **fields}
    return env(seq, kind=Kind.INVENTORY, body={"device": device}, at=at)


def test_a_fresh_database_is_migrated_once_to_the_latest_version(database_url: str) -> None:
    first = open_store(database_url)
    assert first.schema_version() == LATEST
    first.close()
    again = open_store(database_url)  # a restart finds nothing to do
    assert again.migrate() == LATEST
    again.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_two_collectors_migrating_a_fresh_database_at_once_agree(tmp_path: Path, engine: str) -> None:
    for attempt in range(3):  # each attempt a fresh database, both openers released together
        with database(engine, tmp_path / str(attempt)) as url:
            start = threading.Barrier(2)
            versions: list[int] = []
            errors: list[BaseException] = []
            threads = [
                threading.Thread(target=_open_when_released, args=(url, start, versions, errors))
                for _ in range(2)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert errors == []
            assert versions == [LATEST, LATEST]


def _open_when_released(
    url: str, start: threading.Barrier, versions: list[int], errors: list[BaseException]
) -> None:
    start.wait()
    try:
        s = open_store(url)
        versions.append(s.schema_version())
        s.close()
    except BaseException as exc:
        errors.append(exc)


def test_batch_dedupes_within_and_across_batches_by_range(store: Store) -> None:
    first = store.store_batch([env(1), env(2), env(2), env(3, boot="b2")], NOW)
    assert [(e.boot, e.seq) for e in first.new] == [("b1", 1), ("b1", 2), ("b2", 3)]
    assert [(e.boot, e.seq) for e in first.duplicates] == [("b1", 2)]
    # a replay mixed with new ones: inside the stored range, around it, another agent
    second = store.store_batch([env(5), env(1), env(3), env(2, boot="b2"), env(1, agent="other")], NOW)
    assert [(e.agent, e.boot, e.seq) for e in second.new] == [
        ("pi", "b1", 5),
        ("pi", "b1", 3),
        ("pi", "b2", 2),
        ("other", "b1", 1),
    ]
    assert [(e.boot, e.seq) for e in second.duplicates] == [("b1", 1)]
    assert store.count_envelopes() == 7
    assert store.count_envelopes("health") == 7 and store.count_envelopes("flow") == 0
    bodies = store.envelope_bodies("health")
    assert [(r["agent"], r["boot"], r["seq"]) for r in bodies] == [
        ("other", "b1", 1),
        ("pi", "b1", 1),
        ("pi", "b1", 2),
        ("pi", "b1", 3),
        ("pi", "b1", 5),
        ("pi", "b2", 2),
        ("pi", "b2", 3),
    ]


def test_stored_payload_is_the_signed_bytes_as_received(store: Store) -> None:
    original = camera(T0, 1, model="DS-2CD2143G0-I")
    received = decode(original.raw)
    store.store_batch([received], NOW)
    [device] = store.devices()
    assert device["record"]["model"] == "DS-2CD2143G0-I"
    assert device["maker_confidence"] is None


def test_device_upsert_newest_wins_and_first_seen_is_earliest(store: Store) -> None:
    newer = camera(T0, 2, firmware="V5.7.3", maker="hikvision", maker_confidence=0.98)
    older = camera(T0 - timedelta(hours=1), 1, firmware="V5.5.0", maker="hikvision", maker_confidence=0.5)
    store.store_batch([newer], NOW)
    store.store_batch([older], NOW)  # a backlog delivers the older record late
    [device] = store.devices()
    assert device["firmware"] == "V5.7.3"
    assert device["maker_confidence"] == 0.98  # exactly: no single-precision rounding
    assert device["evidence_seq"] == 2 and device["record"]["firmware"] == "V5.7.3"
    assert device["last_seen"] == newer.ts
    assert device["first_seen"] == older.ts
    newest = camera(T0 + timedelta(hours=1), 3, firmware="V5.8.0", port=8000)
    store.store_batch([newest], NOW)
    [device] = store.devices()
    assert (device["firmware"], device["port"], device["first_seen"]) == ("V5.8.0", 8000, older.ts)


def test_devices_come_in_one_order_on_every_engine(store: Store) -> None:
    records = [
        {"serial": "S1", "address": "10.0.0.2", "port": 80},
        {"serial": "S2", "address": "", "port": 80},  # no address: first
        {"serial": "S3", "address": "10.0.0.10", "port": 80},
        {"serial": "S4", "address": "10.0.0.2", "port": 554},
        {"serial": "S5", "address": "10.0.0.2", "port": 0},
    ]
    store.store_batch(
        [env(i, kind=Kind.INVENTORY, body={"device": r}) for i, r in enumerate(records, 1)], NOW
    )
    assert [d["serial"] for d in store.devices()] == ["S2", "S3", "S5", "S1", "S4"]


def test_counters_accumulate(store: Store) -> None:
    store.bump_counters({("hq", "pi", "accepted"): 3, ("?", "?", "rejected:unknown_agent"): 1})
    store.bump_counters({("hq", "pi", "accepted"): 2, ("hq", "pi", "duplicate"): 1})
    store.bump_counters({})
    assert store.counters() == {
        ("hq", "pi"): {"accepted": 5, "duplicate": 1},
        ("?", "?"): {"rejected:unknown_agent": 1},
    }


def test_agent_status_newest_state_wins_and_every_batch_touches_last_seen(store: Store) -> None:
    store.add_agent("hq", "pi", "KEY", NOW)
    store.add_agent("hq", "quiet", "KEY", NOW)
    online = env(2, kind=Kind.STATUS, body={"state": "online"}, at=T0 + timedelta(seconds=10))
    stale = env(1, kind=Kind.STATUS, body={"state": "offline", "reason": "will"}, at=T0)
    store.store_batch([online], "2026-11-23T12:00:20+00:00")
    store.store_batch([stale], "2026-11-23T12:00:30+00:00")  # the older Last Will arrives late
    rows = store.agent_status()
    assert [(r["agent"], r["state"], r["last_seen"]) for r in rows] == [
        ("pi", "online", "2026-11-23T12:00:30.000Z"),  # stored and read in the one form
        ("quiet", None, None),
    ]
    assert rows[0]["state_ts"] == online.ts and rows[0]["revoked_at"] is None
    store.store_batch(
        [env(3, kind=Kind.STATUS, body={"state": "offline", "reason": "will"}, at=T0 + timedelta(minutes=1))],
        NOW,
    )
    assert (store.agent_status()[0]["state"], store.agent_status()[0]["reason"]) == ("offline", "will")


def test_enrolment_rotation_revocation_and_pending_requests(store: Store) -> None:
    store.add_agent("hq", "pi", "K1", NOW)
    assert not store.add_pending("hq", "pi", "K1", "box", NOW, limit=10), "already enrolled with that key"
    assert store.revoke_agent("hq", "pi", NOW)
    assert not store.revoke_agent("hq", "pi", NOW), "revoking twice changes nothing"
    [row] = store.agents()
    assert (row.public_key, row.revoked_at) == ("K1", NOW)
    store.add_agent("hq", "pi", "K2", NOW)  # rotation re-enrols
    [row] = store.agents()
    assert (row.public_key, row.revoked_at) == ("K2", None)

    assert store.add_pending("hq", "b-2", "P1", "box1", NOW, limit=2)
    assert store.add_pending("hq", "b-2", "P2", "box1", NOW, limit=2), "the latest request replaces"
    assert store.add_pending("hq", "a1", "P3", "box2", NOW, limit=2)
    assert not store.add_pending("hq", "c3", "P4", "box3", NOW, limit=2), "full"
    assert [(r["agent"], r["public_key"]) for r in store.pending()] == [("a1", "P3"), ("b-2", "P2")]
    assert store.approve_pending("hq", "b-2", NOW) == "P2"
    assert store.approve_pending("hq", "b-2", NOW) is None
    assert [r["agent"] for r in store.pending()] == ["a1"]
    assert [(a.agent, a.public_key) for a in store.agents()] == [("b-2", "P2"), ("pi", "K2")]


def test_violations_and_commands_share_the_database(store: Store) -> None:
    from agent.wire.commands import CommandAction
    from collector.policy.commanding import CommandIssuer, quarantines_in_force
    from tests.support.clock import FakeClock

    db = store.new_database()
    try:
        published: list[str] = []
        issuer = CommandIssuer(db, KEY, lambda t, _p: published.append(t), clock=FakeClock())
        cid = issuer.send("hq", "pi", CommandAction.QUARANTINE, "10.0.0.9", {"recorders": ["10.0.0.2"]})
        assert cid == 1 and published == ["camsentry/v1/hq/pi/cmd"]
        assert list(quarantines_in_force(store.db)) == [("hq", "pi", "10.0.0.9")], (
            "seen on another connection"
        )
    finally:
        db.close()


def test_a_failed_batch_stores_nothing_and_the_store_carries_on(store: Store) -> None:
    other = store.new_database()
    try:
        with other.transaction("test") as tx:
            tx.execute("ALTER TABLE devices RENAME TO devices_away")
        with pytest.raises(StoreError, match="storing a batch of 2 failed"):
            store.store_batch([env(1), camera(T0, 2)], NOW)
        assert store.count_envelopes() == 0, "the envelope stored before the failure was rolled back"
        with other.transaction("test") as tx:
            tx.execute("ALTER TABLE devices_away RENAME TO devices")
    finally:
        other.close()
    assert len(store.store_batch([env(1), camera(T0, 2)], NOW).new) == 2


def test_an_unanswered_poll_neither_moves_a_device_nor_makes_one(store: Store) -> None:
    seen = camera(T0, 1, reachable=True, model="DS-2CD2143G0-I")
    # No answer: no MAC, no model, so it would key as addr:10.0.0.9:80, a device of its own.
    gone = env(2, kind=Kind.INVENTORY, at=T0 + timedelta(hours=2),
               body={"device": {"address": "10.0.0.9", "port": 80, "reachable": False}})  # fmt: skip
    assert len(store.store_batch([seen, gone], NOW).new) == 2  # both kept as evidence
    [device] = store.devices()
    assert (device["device_key"], device["last_seen"], device["evidence_seq"]) == (
        "mac:58:03:fb:00:00:01",
        seen.ts,
        1,
    )


def test_hostile_field_values_store_alike_on_every_engine(store: Store) -> None:
    record = {"serial": "S\x001", "model": "M\x00", "address": "10.0.0.2", "port": 80}
    # Out of range for the contract: the envelope is kept as evidence, no device row comes of it.
    bad = [{**record, "serial": "S2", "port": 2**40}, {**record, "serial": "S3", "maker_confidence": 7.5}]
    batch = [env(i, kind=Kind.INVENTORY, body={"device": r}) for i, r in enumerate([record, *bad], 1)]
    assert len(store.store_batch(batch, NOW).new) == 3
    [device] = store.devices()
    assert (device["model"], device["port"], device["maker_confidence"]) == ("M\ufffd", 80, None)
    assert device["device_key"] == "serial:M\x00:S\ufffd1".replace("\x00", "\ufffd")
    assert store.add_pending("hq", "pi", "K", "box\x00", NOW, limit=5)
    assert store.pending()[0]["host"] == "box\ufffd"


@pytest.mark.postgres
def test_postgres_connection_comes_back_after_the_server_drops_it() -> None:
    from tests.support.postgres import postgres_schema, terminate_connections

    with postgres_schema() as url:
        store = open_store(url)
        policy_db = store.new_database()
        try:
            store.store_batch([env(1)], NOW)
            assert policy_db.read("test", "SELECT 1") == [(1,)]
            assert terminate_connections(url) >= 2  # what a server restart does to every session
            with pytest.raises(StoreError):
                store.store_batch([env(2)], NOW)  # the operation under way fails: nothing confirmed
            assert len(store.store_batch([env(2)], NOW).new) == 1, "the next one reconnects"
            with pytest.raises(StoreError, match=r"terminat|closed|lost"), policy_db.transaction("t") as tx:
                tx.execute("SELECT 1")
            assert policy_db.read("test", "SELECT COUNT(*) FROM envelopes") == [(2,)], "reconnected"
        finally:
            policy_db.close()
            store.close()

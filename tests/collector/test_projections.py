"""Projections kept at ingest (flows, health, devices) and reading what changed since a horizon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Envelope, Kind, seal
from agent.wire.timefmt import format_utc
from collector.store import Store
from collector.store.projections import FLOW_EVIDENCE_REFS

KEY = Ed25519PrivateKey.generate()
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW = format_utc(T0)


def flow(
    seq: int, *, last: timedelta, first: timedelta = timedelta(0), count: int = 1, dest: str = "203.0.113.9"
) -> Envelope:
    finding = {
        "device": "10.0.0.9",
        "destination": dest,
        "port": 443,
        "protocol": "tcp",
        "first_seen": format_utc(T0 + first),
        "last_seen": format_utc(T0 + last),
        "count": count,
        "bytes": count * 100,
        "tags": ["vendor_cloud:hikvision"],
    }
    return seal(
        KEY, agent="pi", site="hq", boot="b1", seq=seq, ts=T0 + last, kind=Kind.FLOW, body={"flow": finding}
    )


def env(seq: int, kind: Kind, body: dict[str, Any], at: datetime = T0) -> Envelope:
    return seal(KEY, agent="pi", site="hq", boot="b1", seq=seq, ts=at, kind=kind, body=body)


def test_one_flow_row_keeps_the_newest_finding_and_the_earliest_first_seen(store: Store) -> None:
    store.store_batch([flow(1, first=timedelta(minutes=1), last=timedelta(minutes=5), count=5)], NOW)
    # A backlog delivers an older finding (with an earlier first_seen) after the newer one.
    store.store_batch([flow(2, first=timedelta(0), last=timedelta(minutes=2), count=2)], NOW)
    [row] = store.flows()
    assert (row["count"], row["bytes"]) == (5, 500), "counters are cumulative: the newest wins"
    assert row["first_seen"] == format_utc(T0)
    assert row["last_seen"] == format_utc(T0 + timedelta(minutes=5))
    assert row["record"]["tags"] == ["vendor_cloud:hikvision"]
    assert [e["seq"] for e in row["evidence"]] == [1, 2]


def test_flow_evidence_is_capped_to_the_newest(store: Store) -> None:
    n = FLOW_EVIDENCE_REFS + 5
    store.store_batch([flow(i, last=timedelta(seconds=i), count=i) for i in range(1, n + 1)], NOW)
    [row] = store.flows()
    assert [e["seq"] for e in row["evidence"]] == list(range(6, n + 1))
    assert row["count"] == n


def test_findings_without_key_fields_give_no_row_but_are_stored(store: Store) -> None:
    bad = [
        {"device": "10.0.0.9"},
        {"device": "x", "destination": "y", "port": 70000, "protocol": "tcp"},
        "junk",
    ]
    store.store_batch([env(1, Kind.FLOW, {"flows": bad})], NOW)
    assert store.flows() == []
    assert store.count_envelopes("flow") == 1


def test_health_keeps_the_newest_body(store: Store) -> None:
    store.store_batch([env(2, Kind.HEALTH, {"outbox": 5}, T0 + timedelta(minutes=1))], NOW)
    store.store_batch([env(1, Kind.HEALTH, {"outbox": 9}, T0)], NOW)  # older, arrives late
    [row] = store.agent_health()
    assert (row["body"], row["seq"]) == ({"outbox": 5}, 2)


def test_what_changed_after_the_horizon_is_read_again(store: Store) -> None:
    camera = {"device": {"mac": "58:03:FB:00:00:01", "address": "10.0.0.9", "port": 80}}
    store.store_batch([flow(1, last=timedelta(0)), env(2, Kind.INVENTORY, camera)], NOW)
    store.store_batch([flow(3, last=timedelta(0), dest="198.51.100.1")], NOW)
    horizon = store.horizon()
    store.store_batch([flow(4, last=timedelta(minutes=1), dest="198.51.100.1")], NOW)
    changed = store.flows(since=horizon)
    assert "198.51.100.1" in [r["record"]["destination"] for r in changed]
    assert [
        e["seq"] for r in changed for e in r["evidence"] if r["record"]["destination"] == "198.51.100.1"
    ] == [3, 4]
    later = store.horizon()
    assert later >= horizon
    store.store_batch([env(5, Kind.INVENTORY, camera, T0 + timedelta(minutes=2))], NOW)
    assert [d["evidence_seq"] for d in store.devices(since=later)] == [5]
    if store.db.engine == "sqlite":  # one writer: the horizon is exact
        assert store.flows(since=later) == []
        assert [r["record"]["destination"] for r in changed] == ["198.51.100.1"]
    # On PostgreSQL a transaction open anywhere on the server holds the horizon back, so rows
    # written before it may come again (never fewer): the reader's merge is idempotent.


def test_a_write_still_open_when_the_horizon_is_read_is_read_next_time(store: Store) -> None:
    from collector.store import projections

    writer = store.new_database()
    try:
        with writer.transaction("a slow batch") as tx:
            mark = writer.backend.change_mark(tx.conn)
            projections.update_flows(tx, [flow(1, last=timedelta(0))], mark)
            horizon = store.horizon()  # taken while that batch is not committed yet
            assert store.flows() == []
        assert [r["evidence"][0]["seq"] for r in store.flows(since=horizon)] == [1]
    finally:
        writer.close()

"""The register, snapshot, account and session tables through their stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.policy.model import load_policy
from collector.register import Asset, RegisterStore
from collector.reports.snapshots import DailySnapshots, SiteSnapshot, snapshots, take_snapshot
from collector.store import Store
from collector.users import Role, UserError, UserStore
from tests.support.clock import FakeClock
from tests.support.demo_estate import DEMO_POLICY

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_register_replace_is_whole(store: Store) -> None:
    registry = RegisterStore(store.db)
    registry.replace(
        [Asset("A1", site="hq", mac="44:19:b6:13:6b:49", line=2)],
        source="a.csv",
        now="2026-11-23T12:00:00.000Z",
    )
    registry.replace(
        [
            Asset("B1", site="hq", serial="S1", purchase_date="2021-03-14", line=2),
            Asset("B2", ip="10.0.0.1", line=3),
        ],
        source="b.csv",
        now="2026-11-24T12:00:00.000Z",
    )
    assert [(a.asset_tag, a.line) for a in registry.assets()] == [("B1", 2), ("B2", 3)]
    assert registry.assets()[0].purchase_date == "2021-03-14"


def test_snapshots_replace_the_day(store: Store) -> None:
    take_snapshot(
        store.db, [SiteSnapshot("2026-11-22", "hq", "HO", 9, 9)], taken_at="2026-11-22T10:00:00.000Z"
    )
    take_snapshot(
        store.db, [SiteSnapshot("2026-11-23", "hq", "HO", 8, 7)], taken_at="2026-11-23T10:00:00.000Z"
    )
    take_snapshot(
        store.db, [SiteSnapshot("2026-11-23", "hq", "HO", 6, 6)], taken_at="2026-11-23T18:00:00.000Z"
    )
    assert [(s.day, s.restricted) for s in snapshots(store.db)] == [("2026-11-22", 9), ("2026-11-23", 6)]


class _Devices:
    def __init__(self) -> None:
        self.reads = 0

    def devices(self) -> list[dict[str, object]]:
        self.reads += 1
        return [{"site": "demo-hq", "maker": "hikvision"}, {"site": "demo-hq", "maker": "axis"}]


def test_the_service_takes_one_snapshot_a_day(store: Store) -> None:
    clock = FakeClock(NOW)
    daily = DailySnapshots(store.db, clock)
    source, policy = _Devices(), load_policy(DEMO_POLICY)
    assert daily.after_pass(source, policy) is True
    clock.advance(3600)
    assert daily.after_pass(source, policy) is False  # same day: nothing read, nothing written
    clock.advance(24 * 3600)
    assert daily.after_pass(source, policy) is True
    assert source.reads == 2
    assert [(s.day, s.site, s.restricted, s.prohibited) for s in snapshots(store.db)] == [
        ("2026-11-23", "demo-hq", 1, 1),
        ("2026-11-24", "demo-hq", 1, 1),
    ]


def test_accounts_sessions_and_audit(store: Store) -> None:
    users = UserStore(store.db)
    users.add("olive", Role.OPERATOR, "operator-password-1", now=NOW)
    with pytest.raises(UserError, match="exists already"):
        users.add("olive", Role.VIEWER, "another-password-2", now=NOW)
    with pytest.raises(UserError, match="at least 12"):
        users.add("victor", Role.VIEWER, "short", now=NOW)
    with pytest.raises(UserError, match="user name"):
        users.add("bad name", Role.VIEWER, "viewer-password-12", now=NOW)
    assert users.authenticate("olive", "wrong-password-99") is None
    assert users.authenticate("nobody", "operator-password-1") is None
    user = users.authenticate("olive", "operator-password-1")
    assert user is not None and user.role is Role.OPERATOR
    token, session = users.open_session(user, now=NOW)
    again = users.session(token, now=NOW + timedelta(hours=1))
    assert again is not None and again.csrf == session.csrf and again.username == "olive"
    assert users.session("forged", now=NOW) is None
    assert users.session(token, now=NOW + timedelta(hours=9)) is None  # expired, and removed
    assert users.session(token, now=NOW) is None
    stored = store.db.read("hashes", "SELECT password_hash FROM web_users")[0][0]
    assert stored.startswith("$argon2id$") and "operator-password-1" not in stored
    users.record("olive", "acknowledge", "V-1", "removal booked", "127.0.0.1", now=NOW)
    (event,) = users.audit()
    assert (event.username, event.action, event.target, event.at) == (
        "olive",
        "acknowledge",
        "V-1",
        "2026-11-23T12:00:00.000Z",
    )
    users.remove("olive")
    assert users.users() == []


def test_a_devices_envelopes_are_found_by_its_key(store: Store) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.wire.envelope import Kind, seal
    from agent.wire.inventory import DeviceRecord, device_key, inventory_body
    from agent.wire.timefmt import format_utc
    from collector.evidence import envelopes_for_device, envelopes_for_refs
    from collector.reports.refs import EnvelopeRef

    key = Ed25519PrivateKey.generate()
    records = [DeviceRecord(address="10.0.0.5", port=80, mac=f"44:19:b6:00:00:0{i}") for i in (1, 2)]
    envelopes = [
        seal(key, agent="a1", site="hq", boot="b1", seq=seq, ts=NOW, kind=Kind.INVENTORY,
             body=inventory_body(records[i], sweep="s", snapshot=True))
        for seq, i in ((1, 0), (2, 1), (3, 0))
    ]  # fmt: skip
    store.store_batch(envelopes, format_utc(NOW))
    found = envelopes_for_device(store.db, "hq", device_key(records[0]))
    assert [e.seq for e in found] == [1, 3]
    assert found[0].payload.encode() == envelopes[0].raw  # the signed bytes, as received
    assert [e.seq for e in envelopes_for_refs(store.db, [EnvelopeRef("a1", "b1", 2)])] == [2]

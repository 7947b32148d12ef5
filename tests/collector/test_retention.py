"""Retention deletes old envelopes but keeps every one that is evidence, and replays stay duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.wire.envelope import Kind
from agent.wire.findings import Severity
from agent.wire.timefmt import format_utc
from collector.policy.engine import Evaluation, EvidenceRef, Rule, Violation
from collector.store import Store, open_store
from collector.store.retention import hold_evidence, prune
from collector.violations import ViolationStore
from tests.collector.test_projections import env, flow
from tests.support.clock import FakeClock

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OLD = format_utc(T0 - timedelta(days=400))
RECENT = format_utc(T0)
CUTOFF = format_utc(T0 - timedelta(days=30))


def violation(device: str, seq: int) -> Violation:
    return Violation(
        rule=Rule.UNEXPECTED_EGRESS,
        severity=Severity.HIGH,
        site="hq",
        agent="pi",
        device_id=device,
        address=device,
        discriminator="",
        summary="egress",
        first_seen=T0,
        last_seen=T0,
        evidence=(EvidenceRef("pi", "b1", seq),),
    )


def stored_seqs(store: Store) -> list[int]:
    return sorted(int(q) for (q,) in store.db.read("seqs", "SELECT seq FROM envelopes"))


def test_prune_keeps_evidence_and_replays_stay_duplicates(store: Store) -> None:
    flows = [flow(i, last=timedelta(seconds=i), count=i) for i in range(1, 26)]
    camera = {"device": {"mac": "58:03:FB:00:00:01", "address": "10.0.0.9", "port": 80}}
    others = [
        env(26, Kind.INVENTORY, camera, T0),
        env(27, Kind.INVENTORY, camera, T0 + timedelta(minutes=1)),
        env(28, Kind.HEALTH, {"outbox": 1}, T0),
        env(29, Kind.HEALTH, {"outbox": 2}, T0 + timedelta(minutes=1)),
    ]
    store.store_batch([*flows, *others], OLD)
    store.store_batch([env(30, Kind.HEALTH, {"outbox": 0}, T0 - timedelta(minutes=1))], RECENT)
    violations = ViolationStore(store.db, clock=FakeClock(T0))
    open_one, cleared = violation("10.0.0.9", 1), violation("10.0.0.8", 2)
    violations.record_evaluation(Evaluation("sha256:a", T0, (open_one, cleared)))
    violations.resolve(cleared.id, by="alice", reason="removed")
    hold_evidence(store.db, [("hq", "pi", "b1", 3)], held_by="report:foi-2026-17", now=RECENT)

    pages: list[int] = []
    # Chunks smaller than the work: keyset paging, and progress after each (a watchdog sees it).
    result = prune(store.db, before=CUTOFF, chunk=7, progress=lambda: pages.append(1))
    assert len(pages) == 5, "29 old envelopes in pages of 7"

    assert stored_seqs(store) == [1, 3, *range(6, 26), 27, 29, 30]
    assert (result.deleted, result.kept) == (5, 24)
    assert store.devices()[0]["evidence_seq"] == 27, "the device's record is still readable"
    again = store.store_batch([flows[1], others[0], flows[0]], RECENT)
    assert len(again.new) == 0 and len(again.duplicates) == 3, "a replay of a pruned envelope is a duplicate"
    assert prune(store.db, before=CUTOFF).deleted == 0, "nothing more to do"


def test_cli_prune_uses_the_configured_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from collector.cli import main

    db = tmp_path / "c.sqlite"
    config = tmp_path / "collector.toml"
    config.write_text(f'state_dir = "{tmp_path}"\ndatabase = "sqlite:///{db}"\n[mqtt]\nhost = "127.0.0.1"\n')
    store = open_store(f"sqlite:///{db}")
    store.store_batch([env(1, Kind.HEALTH, {}), env(2, Kind.HEALTH, {}, T0 + timedelta(seconds=1))], OLD)
    store.close()
    assert main(["--config", str(config), "prune"]) == 2
    assert "retain_envelopes_days" in capsys.readouterr().err
    config.write_text(config.read_text().replace("[mqtt]", "[store]\nretain_envelopes_days = 30\n[mqtt]"))
    assert main(["--config", str(config), "prune"]) == 0
    assert "deleted 1 envelopes older than 30 days; kept 1" in capsys.readouterr().out


def test_the_service_prunes_on_its_interval(store: Store) -> None:
    from collector.store.retention import Retention

    clock = FakeClock(T0)
    store.store_batch([env(1, Kind.HEALTH, {}), env(2, Kind.HEALTH, {}, T0 + timedelta(seconds=1))], OLD)
    off = Retention(store.db, clock, days=None)
    assert off.tick() is None, "no retention configured: nothing is deleted"
    retention = Retention(store.db, clock, days=30, interval_s=60)
    first = retention.tick()
    assert first is not None and first.deleted == 1
    assert retention.tick() is None, "not again before the interval"
    clock.advance(61)
    assert retention.tick() is not None

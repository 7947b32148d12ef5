"""A pass reads the projections, then only what changed, and judges exactly as a full read does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Envelope, Kind, seal
from agent.wire.inventory import DeviceRecord, inventory_body
from agent.wire.signing import public_key_to_text
from agent.wire.timefmt import format_utc
from collector.policy.engine import EvidenceRef, Rule
from collector.policy.runner import PolicyRunner
from collector.store import Store
from collector.violations import ViolationStore
from tests.support.clock import FakeClock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def enrolled(store: Store) -> Store:
    """The store (tests/collector/conftest.py) with the agent a1 of site hq enrolled."""
    store.add_agent("hq", "a1", public_key_to_text(KEY.public_key()), format_utc(NOW))
    return store


def sealed(seq: int, kind: Kind, body: dict[str, Any]) -> Envelope:
    return seal(
        KEY, agent="a1", site="hq", boot="b1", seq=seq, ts=NOW - timedelta(minutes=5), kind=kind, body=body
    )


def egress(seq: int, destination: str, minutes: int) -> Envelope:
    finding = {
        "device": "10.77.1.2",
        "destination": destination,
        "port": 7661,
        "protocol": "tcp",
        "tags": ["vendor_cloud:hikvision"],
        "first_seen": format_utc(NOW - timedelta(hours=1)),
        "last_seen": format_utc(NOW - timedelta(minutes=minutes)),
        "count": 60 - minutes,
    }
    return sealed(seq, Kind.FLOW, {"flow": finding})


def runner(store: Store) -> PolicyRunner:
    return PolicyRunner(store, ViolationStore(store.db, clock=FakeClock(NOW)), clock=FakeClock(NOW))


def test_later_passes_read_only_changes_and_judge_as_a_full_read(enrolled: Store) -> None:
    store = enrolled
    camera = {"address": "10.77.1.2", "port": 80, "mac": "44:19:b6:00:00:01", "maker": "Hikvision"}
    store.store_batch(
        [
            sealed(1, Kind.INVENTORY, inventory_body(DeviceRecord.decode(camera), sweep="s", snapshot=True)),
            egress(2, "203.0.113.9", 30),
        ],
        format_utc(NOW),
    )
    live = runner(store)
    first = live.run_once()
    assert live.cache.since > 0
    assert {v.rule for v in first.evaluation.violations} >= {Rule.UNEXPECTED_EGRESS}

    store.store_batch([egress(3, "203.0.113.9", 10), egress(4, "198.51.100.7", 5)], format_utc(NOW))
    changes = live.cache.refresh()
    assert changes.flows >= 2 and changes.devices <= 1  # exact on SQLite; PostgreSQL may repeat some
    if store.db.engine == "sqlite":
        assert (changes.flows, changes.devices) == (2, 0)
    second = live.run_once()

    fresh = runner(store).facts()  # a collector that just started: reads everything
    assert live.facts().flows == fresh.flows
    egress_violations = [v for v in second.evaluation.violations if v.rule is Rule.UNEXPECTED_EGRESS]
    assert len(egress_violations) == 2
    cloud = next(v for v in egress_violations if "203.0.113.9" in v.discriminator + v.summary)
    assert cloud.evidence[-2:] == (EvidenceRef("a1", "b1", 2), EvidenceRef("a1", "b1", 3))

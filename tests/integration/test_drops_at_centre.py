"""Drops and degradations reach the centre: an agent whose outbox overflowed while the collector
was away says so in health; the collector stores it, shows it in status (and --json), and the
policy raises evidence_dropped for the agent."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import PollingSettings
from agent.wire.envelope import Kind, encode, seal
from agent.wire.signing import public_key_to_text
from collector.cli import cmd_status
from collector.ingest import Ingestor
from collector.policy.engine import Facts, Rule, evaluate
from collector.policy.facts import agent_facts
from collector.policy.model import default_policy
from collector.reports.status import status_rows
from collector.store.sqlite import SqliteStore
from tests.support.clock import FakeClock
from tests.support.mosquitto import Broker
from tests.support.pipeline import (
    CountingSweep,
    agent_config,
    running_agent,
    running_collector,
    wait_until,
    with_delivery,
)

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_an_overflowing_outbox_is_seen_and_judged_at_the_centre(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    col_key = Ed25519PrivateKey.generate()
    key = Ed25519PrivateKey.generate()
    # first the collector is away: the agent's small outbox overflows and drops evidence
    config = agent_config(broker, tmp_path / "a", col_key, polling=PollingSettings(interval_s=1.0))
    config = replace(with_delivery(config, outbox_max_messages=10), health_interval_s=1.0)
    with running_agent(config, key, CountingSweep(per_sweep=20)) as daemon:
        wait_until(lambda: daemon.outbox.stats().dropped.get("inventory", 0) > 0, 20, "evidence dropped")
    with running_collector(broker, tmp_path / "c") as col:
        col.store.add_agent(config.site, config.agent, public_key_to_text(key.public_key()), NOW.isoformat())
        config = replace(config, collector_public_key=public_key_to_text(col.key.public_key()))
        with running_agent(config, key, CountingSweep(per_sweep=1)):

            def dropped_seen() -> bool:
                health = col.store.agent_health()
                return bool(health) and bool(health[0]["body"]["outbox"]["dropped"].get("inventory"))

            wait_until(dropped_seen, 30, "a health envelope with the drops stored")
        (row,) = [
            r
            for r in status_rows(col.store, now=datetime.now(UTC), silent_after_s=900)
            if r["agent"] == "pi-01"
        ]
        assert row["health"]["evidence_lost"]["inventory"] > 0
        assert "evidence dropped inventory" in row["problems"]
        capsys.readouterr()
        assert cmd_status(col.config, argparse.Namespace(json=True)) == 0
        (shown,) = [r for r in json.loads(capsys.readouterr().out) if r["agent"] == "pi-01"]
        assert shown["health"]["dropped"]["inventory"] > 0
        agents = agent_facts(col.store.agent_status(), col.store.agent_health())
        violations = evaluate(
            Facts(devices=[], flows=[], agents=agents, now=datetime.now(UTC)), default_policy()
        )
        (lost,) = [v for v in violations.violations if v.rule is Rule.EVIDENCE_DROPPED]
        assert lost.agent == "pi-01" and lost.detail["evidence_lost"]["inventory"] > 0 and lost.evidence


def test_degradations_disk_full_discovery_and_clock_trouble_show_in_status(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    store = SqliteStore(tmp_path / "c.sqlite")
    store.add_agent("hq", "pi", public_key_to_text(key.public_key()), NOW.isoformat())
    body = {
        "outbox": {
            "depth": 5,
            "bytes": 900,
            "dropped": {"health": 3},
            "disk_full": True,
            "refused": {"flow": 4},
        },
        "disk_full": True,
        "connected": True,
        "last_sweep": {"id": "s", "discovery_problems": [{"source": "ws", "problem": "interface_missing"}]},
        "egress": [{"component": "egress.conntrack", "status": "unavailable", "problem": "no conntrack"}],
        "clock": [{"problem": "clock_stepped", "step_s": 3600.0, "at": "2026-11-23T00:00:00.000Z"}],
        "errors": [],
    }
    env = seal(key, agent="pi", site="hq", boot="b", seq=1, ts=NOW, kind=Kind.HEALTH, body=body)
    assert (
        len(Ingestor(store, clock=FakeClock()).ingest([("camsentry/v1/hq/pi/health", encode(env))]).new) == 1
    )
    (row,) = status_rows(store, now=NOW, silent_after_s=900)
    assert row["health"]["disk_full"] is True
    assert row["health"]["evidence_lost"] == {"flow": 4}, "refused while the disk was full is lost too"
    assert row["problems"].split("; ") == [
        "DISK FULL",
        "evidence dropped flow 4",
        "egress.conntrack unavailable",
        "discovery: interface_missing",
        "clock: clock_stepped",
    ]
    store.close()

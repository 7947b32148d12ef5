"""From the collector's real store to violations: signed envelopes in, evidence references out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Kind, seal
from agent.wire.inventory import DeviceRecord, inventory_body
from agent.wire.signing import public_key_to_text
from agent.wire.timefmt import format_utc
from collector.alerts import Alert
from collector.policy.commanding import CommandIssuer
from collector.policy.engine import EvidenceRef, Facts, Rule, evaluate
from collector.policy.facts import agent_facts, device_facts, flow_facts
from collector.policy.model import parse_policy
from collector.policy.runner import PolicyRunner
from collector.reports.compliance import build_compliance, render_table
from collector.store.sqlite import SqliteStore
from collector.violations import ViolationStore
from tests.support.database import sqlite_database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = b"""
[sites.hq]
class = "sensitive"
department = "Home Office"
"""


class Clock:
    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0


def test_store_rows_to_violations_with_evidence(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    store = SqliteStore(tmp_path / "collector.db")
    try:
        store.add_agent("hq", "a1", public_key_to_text(key.public_key()), format_utc(NOW))
        hik: dict[str, Any] = {
            "address": "10.77.1.2",
            "port": 80,
            "mac": "44:19:b6:00:00:01",
            "maker": "Hikvision",
            "brand": "Prima",
            "maker_confidence": 0.97,
            "evidence": [{"signal": "mac_oui", "value": "44:19:b6", "points_to": "hikvision"}],
        }
        flow = {"device": "10.77.1.2", "destination": "203.0.113.9", "port": 7661, "protocol": "tcp"}
        bodies = [
            (Kind.INVENTORY, inventory_body(DeviceRecord.decode(hik), sweep="s1", snapshot=True)),
            (
                Kind.FLOW,
                {"flow": {**flow, "tags": ["vendor_cloud:hikvision"], "last_seen": "2026-11-23T11:00:00Z"}},
            ),
            (
                Kind.FLOW,
                {
                    "flows": [
                        {**flow, "tags": ["vendor_cloud:hikvision"], "last_seen": "2026-11-23T11:30:00Z"}
                    ]
                },
            ),
        ]
        envelopes = [
            seal(key, agent="a1", site="hq", boot="b1", seq=i, ts=NOW - timedelta(minutes=5), kind=k, body=b)
            for i, (k, b) in enumerate(bodies, start=1)
        ]
        store.store_batch(envelopes, format_utc(NOW))

        devices = device_facts(store.devices())
        flows = flow_facts(store.envelope_bodies("flow"))
        agents = agent_facts(store.agent_status())
        assert [d.device_id for d in devices] == ["mac:44:19:b6:00:00:01"]
        assert len(flows) == 1
        assert flows[0].evidence == (EvidenceRef("a1", "b1", 2), EvidenceRef("a1", "b1", 3))
        assert flows[0].record.last_seen == "2026-11-23T11:30:00Z"
        assert [a.agent for a in agents] == ["a1"]

        policy, errors = parse_policy(POLICY, "policy.toml")
        assert policy is not None, errors
        evaluation = evaluate(Facts(devices, flows, agents, NOW), policy)
        by_rule = {v.rule: v for v in evaluation.violations}
        assert set(by_rule) == {Rule.RESTRICTED_AT_SENSITIVE_SITE, Rule.UNEXPECTED_EGRESS}
        assert by_rule[Rule.RESTRICTED_AT_SENSITIVE_SITE].evidence == (EvidenceRef("a1", "b1", 1),)
        assert EvidenceRef("a1", "b1", 3) in by_rule[Rule.UNEXPECTED_EGRESS].evidence

        conn = sqlite_database(tmp_path / "collector.db")
        try:
            violations = ViolationStore(conn, clock=Clock())
            assert len(violations.record_evaluation(evaluation).opened) == 2
            report = build_compliance(policy, violations.list_violations(), devices, NOW)
        finally:
            conn.close()
        text = render_table(report)
        assert "hikvision (sold as Prima)" in text
        assert "envelopes: a1/b1/1" in text
    finally:
        store.close()


class Outlet:
    """Stands in for the alert queue: what a pass hands over."""

    def __init__(self) -> None:
        self.got: list[Alert] = []

    def send(self, alerts: Iterable[Alert]) -> int:
        batch = list(alerts)
        self.got.extend(batch)
        return len(batch)


def test_runner_pass_alerts_enforces_once_and_reloads(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    store = SqliteStore(tmp_path / "collector.db")
    conn = store.new_database()
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(
        '[sites.hq]\nclass = "sensitive"\nenforcement = "quarantine"\nrecorders = ["10.77.2.2"]\n'
    )
    try:
        store.add_agent("hq", "a1", public_key_to_text(key.public_key()), format_utc(NOW))
        record = {"address": "10.77.1.2", "port": 80, "maker": "Dahua", "maker_confidence": 0.9}
        env = seal(
            key,
            agent="a1",
            site="hq",
            boot="b1",
            seq=1,
            ts=NOW,
            kind=Kind.INVENTORY,
            body=inventory_body(DeviceRecord.decode(record), sweep="s", snapshot=True),
        )
        store.store_batch([env], format_utc(NOW))
        violations = ViolationStore(conn, clock=Clock())
        published: list[tuple[str, bytes]] = []

        def publish(topic: str, payload: bytes) -> None:
            published.append((topic, payload))

        outlet = Outlet()
        runner = PolicyRunner(
            store,
            violations,
            clock=Clock(),
            policy_path=policy_path,
            alerter=outlet,
            issuer=CommandIssuer(conn, Ed25519PrivateKey.generate(), publish, clock=Clock()),
        )
        first = runner.run_once()
        assert [v.rule for v in first.evaluation.violations] == [Rule.RESTRICTED_AT_SENSITIVE_SITE]
        assert first.commands == (1,)
        assert first.alerts == 1
        assert [(a.event, a.rule) for a in outlet.got] == [("opened", "restricted_at_sensitive_site")]
        assert [t for t, _ in published] == ["camsentry/v1/hq/a1/cmd"]
        second = runner.run_once()
        assert second.commands == ()
        assert second.sync.opened == ()

        version = runner.policy.version
        policy_path.write_text('[sites.hq]\nclass = "secret"\n')
        assert runner.reload().version == version
        policy_path.write_text('[sites.hq]\nclass = "standard"\n')
        assert runner.reload().version != version
        third = runner.run_once()
        assert [r.rule for r in third.sync.resolved] == ["restricted_at_sensitive_site"]
    finally:
        conn.close()
        store.close()

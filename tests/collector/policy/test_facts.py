"""From the collector's real store to violations: signed envelopes in, evidence references out."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Kind, rfc3339_utc, seal
from agent.wire.inventory import inventory_body
from agent.wire.signing import public_key_to_text
from collector.policy.engine import EvidenceRef, Facts, Rule, evaluate
from collector.policy.facts import agent_facts, device_facts, flow_facts
from collector.policy.model import parse_policy
from collector.reports.compliance import build_compliance, render_table
from collector.store.sqlite import SqliteStore
from collector.violations import ViolationStore

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
        store.add_agent("hq", "a1", public_key_to_text(key.public_key()), rfc3339_utc(NOW))
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
            (Kind.INVENTORY, inventory_body(hik, sweep="s1", snapshot=True)),
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
        store.store_batch(envelopes, rfc3339_utc(NOW))

        devices = device_facts(store.devices())
        flows = flow_facts(store.envelope_bodies("flow"))
        agents = agent_facts(store.agent_status())
        assert [d.device_id for d in devices] == ["mac:44:19:b6:00:00:01"]
        assert len(flows) == 1
        assert flows[0].evidence == (EvidenceRef("a1", "b1", 2), EvidenceRef("a1", "b1", 3))
        assert flows[0].record["last_seen"] == "2026-11-23T11:30:00Z"
        assert [a.agent for a in agents] == ["a1"]

        policy, errors = parse_policy(POLICY, "policy.toml")
        assert policy is not None, errors
        evaluation = evaluate(Facts(devices, flows, agents, NOW), policy)
        by_rule = {v.rule: v for v in evaluation.violations}
        assert set(by_rule) == {Rule.RESTRICTED_AT_SENSITIVE_SITE, Rule.UNEXPECTED_EGRESS}
        assert by_rule[Rule.RESTRICTED_AT_SENSITIVE_SITE].evidence == (EvidenceRef("a1", "b1", 1),)
        assert EvidenceRef("a1", "b1", 3) in by_rule[Rule.UNEXPECTED_EGRESS].evidence

        conn = sqlite3.connect(tmp_path / "collector.db")
        try:
            violations = ViolationStore(conn, clock=Clock())
            violations.create_schema()
            assert len(violations.record_evaluation(evaluation).opened) == 2
            report = build_compliance(policy, violations.list_violations(), devices, NOW)
        finally:
            conn.close()
        text = render_table(report)
        assert "hikvision (sold as Prima)" in text
        assert "envelopes: a1/b1#1" in text
    finally:
        store.close()

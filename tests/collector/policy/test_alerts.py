"""Alerts from what a policy pass changed (pure): worst first, filtered by severity."""

from __future__ import annotations

from agent.wire.findings import Severity
from collector.alerts import alerts_from_sync
from collector.violations import SyncResult
from tests.support.alerting import row


def test_from_sync_worst_first_and_threshold() -> None:
    result = SyncResult((row("V-low", "low"),), (row("V-crit", "critical"),), (), (row("V-exp"),), 0)
    assert [(a.violation_id, a.event) for a in alerts_from_sync(result)] == [
        ("V-crit", "reopened"),
        ("V-exp", "risk_expired"),
        ("V-low", "opened"),
    ]
    assert [a.violation_id for a in alerts_from_sync(result, min_severity=Severity.HIGH)] == [
        "V-crit",
        "V-exp",
    ]

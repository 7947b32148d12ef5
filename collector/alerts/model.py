"""What an alert is: ``alerts_from_sync`` turns what an evaluation changed into ``Alert`` values (pure).

Alert topics are ``camsentry/alerts/v1/<site>``: outside ``camsentry/v1/+/+/+`` so the
collector's own telemetry subscription never receives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.wire.findings import Severity
from agent.wire.timefmt import format_utc
from collector.violations import SyncResult, ViolationRow

ALERT_TOPIC_PREFIX = "camsentry/alerts/v1"


def alert_topic(site: str) -> str:
    return f"{ALERT_TOPIC_PREFIX}/{site}"


@dataclass(frozen=True)
class Alert:
    event: str
    violation_id: str
    rule: str
    severity: str
    site: str
    agent: str
    device_id: str
    address: str
    summary: str
    state: str
    policy_version: str
    evidence: tuple[dict[str, Any], ...] = ()

    def document(self, at: datetime) -> dict[str, Any]:
        return {
            "event": self.event,
            "violation": self.violation_id,
            "rule": self.rule,
            "severity": self.severity,
            "site": self.site,
            "agent": self.agent,
            "device_id": self.device_id,
            "address": self.address,
            "summary": self.summary,
            "state": self.state,
            "policy_version": self.policy_version,
            "evidence": list(self.evidence),
            "at": format_utc(at),
        }


def _alert(event: str, row: ViolationRow) -> Alert:
    return Alert(
        event=event,
        violation_id=row.id,
        rule=row.rule,
        severity=row.severity,
        site=row.site,
        agent=row.agent,
        device_id=row.device_id,
        address=row.address,
        summary=row.summary,
        state=row.state.value,
        policy_version=row.policy_version,
        evidence=row.evidence,
    )


def alerts_from_sync(result: SyncResult, *, min_severity: Severity = Severity.LOW) -> list[Alert]:
    """Alerts for what changed: opened, reopened, risk expired, resolved; worst first."""
    limit = min_severity.weight
    weight = {s.value: s.weight for s in Severity}
    groups: Iterable[tuple[str, Sequence[ViolationRow]]] = (
        ("opened", result.opened),
        ("reopened", result.reopened),
        ("risk_expired", result.expired),
        ("resolved", result.resolved),
    )
    alerts = [
        _alert(event, row)
        for event, rows in groups
        for row in rows
        if weight.get(row.severity, limit) >= limit
    ]
    return sorted(alerts, key=lambda a: -weight.get(a.severity, limit))

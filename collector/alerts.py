"""Alerts on violation changes: an MQTT topic per site and an optional webhook.

``alerts_from_sync`` turns what an evaluation changed into ``Alert`` values (pure);
``Alerter.send`` delivers them, dropping repeats of the same (violation, event) within the
dedupe window and holding the total under a rate limit. What it drops it counts, and the next
alert that goes out says how many were suppressed, so silence is never mistaken for calm.

Alert topics are ``camsentry/alerts/v1/<site>``: outside ``camsentry/v1/+/+/+`` so the
collector's own telemetry subscription never receives them.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog

from agent.runtime.clock import Clock
from agent.wire.canonical import canonical_json
from agent.wire.timefmt import format_utc
from collector.policy.model import Severity
from collector.violations import SyncResult, ViolationRow

log = structlog.get_logger(__name__)

ALERT_TOPIC_PREFIX = "camsentry/alerts/v1"
# The same violation re-alerting more than hourly is noise; a new event (reopened) is not.
DEFAULT_DEDUPE_WINDOW_S = 3600.0
# Enough for a bad morning at one site; a misfiring policy must not flood a pager.
DEFAULT_MAX_PER_MINUTE = 30
# A webhook that does not answer in 5 s is down; the evaluation loop must not wait on it.
WEBHOOK_TIMEOUT_S = 5.0
# Bounds the dedupe memory whatever the estate does.
MAX_DEDUPE_KEYS = 10_000

Publish = Callable[[str, bytes], None]
Post = Callable[[str, bytes, float], int]


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

    def document(self, at: datetime, suppressed: int) -> dict[str, Any]:
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
            "suppressed_before": suppressed,
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
    limit = min_severity.rank
    rank = {s.value: s.rank for s in Severity}
    groups: Iterable[tuple[str, Sequence[ViolationRow]]] = (
        ("opened", result.opened),
        ("reopened", result.reopened),
        ("risk_expired", result.expired),
        ("resolved", result.resolved),
    )
    alerts = [
        _alert(event, row) for event, rows in groups for row in rows if rank.get(row.severity, limit) <= limit
    ]
    return sorted(alerts, key=lambda a: rank.get(a.severity, limit))


def post_json(url: str, body: bytes, timeout_s: float) -> int:
    """POST ``body`` as JSON; returns the HTTP status (raises OSError subclasses on failure)."""
    request = urllib.request.Request(  # noqa: S310 - scheme checked in Alerter.__init__
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        return int(response.status)


@dataclass
class AlertStats:
    sent: int = 0
    deduplicated: int = 0
    rate_limited: int = 0
    webhook_failures: int = 0
    publish_failures: int = 0


@dataclass
class _Bucket:
    capacity: float
    tokens: float
    last: float = field(default=0.0)


class Alerter:
    """Deliver alerts to MQTT (``publish(topic, payload)``) and/or a webhook, deduped and limited."""

    def __init__(
        self,
        *,
        clock: Clock,
        publish: Publish | None = None,
        webhook_url: str | None = None,
        dedupe_window_s: float = DEFAULT_DEDUPE_WINDOW_S,
        max_per_minute: int = DEFAULT_MAX_PER_MINUTE,
        post: Post = post_json,
        webhook_timeout_s: float = WEBHOOK_TIMEOUT_S,
    ) -> None:
        if webhook_url is not None and urlsplit(webhook_url).scheme not in ("http", "https"):
            raise ValueError(f"webhook URL must be http or https: {webhook_url!r}")
        if max_per_minute < 1 or dedupe_window_s < 0:
            raise ValueError("max_per_minute must be >= 1 and dedupe_window_s >= 0")
        self.clock = clock
        self.publish = publish
        self.webhook_url = webhook_url
        self.dedupe_window_s = dedupe_window_s
        self.post = post
        self.webhook_timeout_s = webhook_timeout_s
        self.stats = AlertStats()
        self._seen: dict[tuple[str, str], float] = {}
        self._bucket = _Bucket(capacity=float(max_per_minute), tokens=float(max_per_minute))
        self._bucket.last = clock.monotonic()
        self._suppressed = 0

    def _take_token(self, now: float) -> bool:
        b = self._bucket
        b.tokens = min(b.capacity, b.tokens + (now - b.last) * b.capacity / 60.0)
        b.last = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        return False

    def _duplicate(self, key: tuple[str, str], now: float) -> bool:
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.dedupe_window_s:
            return True
        if len(self._seen) >= MAX_DEDUPE_KEYS:
            cutoff = now - self.dedupe_window_s
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            while len(self._seen) >= MAX_DEDUPE_KEYS:
                self._seen.pop(next(iter(self._seen)))
        self._seen[key] = now
        return False

    def send(self, alerts: Iterable[Alert]) -> AlertStats:
        """Deliver what passes dedupe and the rate limit; returns the running counters."""
        for alert in alerts:
            now = self.clock.monotonic()
            if self._duplicate((alert.violation_id, alert.event), now):
                self.stats.deduplicated += 1
                continue
            if not self._take_token(now):
                self.stats.rate_limited += 1
                self._suppressed += 1
                if self._suppressed == 1:
                    log.warning("alerts_rate_limited", violation=alert.violation_id)
                continue
            payload = canonical_json(alert.document(self.clock.now(), self._suppressed))
            self._suppressed = 0
            self._deliver(alert, payload)
            self.stats.sent += 1
        return self.stats

    def _deliver(self, alert: Alert, payload: bytes) -> None:
        if self.publish is not None:
            try:
                self.publish(alert_topic(alert.site), payload)
            except (OSError, RuntimeError, ValueError) as exc:
                self.stats.publish_failures += 1
                log.warning("alert_publish_failed", error=str(exc), violation=alert.violation_id)
        if self.webhook_url is not None:
            try:
                status = self.post(self.webhook_url, payload, self.webhook_timeout_s)
                if not 200 <= status < 300:
                    raise OSError(f"HTTP {status}")
            except (OSError, urllib.error.URLError, TimeoutError) as exc:
                self.stats.webhook_failures += 1
                log.warning("alert_webhook_failed", error=str(exc), violation=alert.violation_id)

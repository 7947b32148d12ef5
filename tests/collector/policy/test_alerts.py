"""Alerts: MQTT topic and a real loopback webhook, deduplicated and rate-limited."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collector.alerts import Alert, Alerter, alert_topic, alerts_from_sync
from collector.policy.model import Severity
from collector.violations import SyncResult, ViolationRow, ViolationState
from tests.support.clock import FakeClock

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.status = 204
        self.url = ""


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def row(vid: str, severity: str = "high", site: str = "hq") -> ViolationRow:
    return ViolationRow(
        id=vid,
        rule="restricted_at_sensitive_site",
        severity=severity,
        site=site,
        agent="a1",
        device_id="cam-1",
        address="10.77.1.2",
        summary="hikvision at hq",
        detail={},
        evidence=({"agent": "a1", "boot": "b", "seq": 3},),
        first_seen=T0,
        last_seen=T0,
        state=ViolationState.OPEN,
        state_reason="",
        accepted_until=None,
        policy_version="sha256:aa",
        opened_at=T0,
        updated_at=T0,
    )


def alert(vid: str, event: str = "opened") -> Alert:
    result = SyncResult((row(vid),), (), (row(vid),), (), 0)
    return next(a for a in alerts_from_sync(result) if a.event == event)


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


def test_webhook_and_mqtt_dedupe(hook: Hook) -> None:
    clock = FakeClock(T0)
    published: list[tuple[str, bytes]] = []
    alerter = Alerter(clock=clock, publish=lambda t, p: published.append((t, p)), webhook_url=hook.url)
    alerter.send([alert("V-1"), alert("V-1"), alert("V-2")])
    assert [b["violation"] for b in hook.bodies] == ["V-1", "V-2"]
    assert hook.bodies[0]["evidence"] == [{"agent": "a1", "boot": "b", "seq": 3}]
    assert [t for t, _ in published] == [alert_topic("hq")] * 2
    assert json.loads(published[0][1]) == hook.bodies[0]
    assert alerter.stats.deduplicated == 1

    clock.t += timedelta(minutes=59)
    alerter.send([alert("V-1")])
    assert alerter.stats.deduplicated == 2
    clock.t += timedelta(minutes=2)
    alerter.send([alert("V-1"), alert("V-1", "resolved")])
    assert [(b["violation"], b["event"]) for b in hook.bodies[2:]] == [("V-1", "opened"), ("V-1", "resolved")]


def test_rate_limit_counts_and_reports_suppressed(hook: Hook) -> None:
    clock = FakeClock(T0)
    alerter = Alerter(clock=clock, webhook_url=hook.url, max_per_minute=3)
    alerter.send([alert(f"V-{i}") for i in range(10)])
    assert len(hook.bodies) == 3
    assert alerter.stats.rate_limited == 7
    clock.t += timedelta(seconds=20)  # one token back
    alerter.send([alert("V-new")])
    assert hook.bodies[-1]["violation"] == "V-new"
    assert hook.bodies[-1]["suppressed_before"] == 7


def test_webhook_failure_counted_not_raised(hook: Hook) -> None:
    hook.status = 500
    alerter = Alerter(clock=FakeClock(T0), webhook_url=hook.url)
    alerter.send([alert("V-1")])
    assert alerter.stats.webhook_failures == 1
    refused = Alerter(clock=FakeClock(T0), webhook_url="http://127.0.0.1:9/closed")
    refused.send([alert("V-2")])
    assert refused.stats.webhook_failures == 1


def test_only_http_webhooks() -> None:
    with pytest.raises(ValueError, match="http or https"):
        Alerter(clock=FakeClock(T0), webhook_url="file:///etc/passwd")

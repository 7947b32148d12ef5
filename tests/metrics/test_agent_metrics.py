"""The agent's /metrics over real HTTP from a running daemon (real Mosquitto, a real collector):
outbox, publishing, receipts, sweeps and cameras by outcome, egress events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import build_egress
from agent.daemon import AgentDaemon
from agent.egress.model import FlowEvent, FlowKind
from agent.metrics import registry_for
from agent.runtime.metricsconfig import MetricsSettings
from agent.runtime.metricsserver import MetricsServer
from agent.wire.findings import Finding, FindingKind, Severity
from agent.wire.inventory import DeviceRecord
from tests.metrics.scrape import dashboard_metrics, exposed, scrape, value
from tests.support.mosquitto import Broker
from tests.support.pipeline import agent_config, enrol, running_collector, wait_until

P = "camsentry_agent_"
EGRESS = {"conntrack": False, "sockets": False, "dns": False, "device_networks": ["198.51.100.0/24"]}


def records() -> list[DeviceRecord]:
    refused = Finding(FindingKind.AUTH_FAILED, Severity.MEDIUM, "configured credentials refused")
    return [
        DeviceRecord("198.51.100.7", 80, reachable=True, maker="hikvision", model="DS-2CD"),
        DeviceRecord("198.51.100.8", 80, reachable=True, findings=(refused,)),
        DeviceRecord("198.51.100.9", 80, reachable=False),
    ]


@contextmanager
def serving(daemon: AgentDaemon) -> Iterator[str]:
    server = MetricsServer(MetricsSettings("127.0.0.1", 0), registry_for(daemon))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.stop()


def test_series_follow_what_the_agent_does(broker: Broker, tmp_path: Path) -> None:
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = replace(agent_config(broker, tmp_path / "a", col.key), egress=dict(EGRESS))
        enrol(col.store, config, key)
        watcher = build_egress(config)
        assert watcher is not None
        daemon = AgentDaemon(config, key, sweep=records, egress=watcher)
        with serving(daemon) as url:
            thread = threading.Thread(target=daemon.run, name="test-agent", daemon=True)
            thread.start()
            try:
                wait_until(lambda: value(scrape(url), P + "sweep_seconds_count") >= 1, 15, "a sweep")
                text = scrape(url)
                assert value(text, P + "cameras", outcome="identified") == 1
                assert value(text, P + "cameras", outcome="auth_failed") == 1
                assert value(text, P + "cameras", outcome="unreachable") == 1
                wait_until(
                    lambda: value(scrape(url), P + "confirmed_total") >= 4, 15, "receipts for the sweep"
                )
                text = scrape(url)
                assert value(text, P + "published_total") >= 4
                assert value(text, P + "receipts_total") >= 1
                assert value(text, P + "last_publish_timestamp_seconds") > 0
                wait_until(lambda: value(scrape(url), P + "outbox_depth") == 0, 15, "the outbox drained")
                assert value(scrape(url), P + "unconfirmed") == 0
                before = value(scrape(url), P + "egress_events_total", source="conntrack")
                watcher.observe_event(
                    FlowEvent(FlowKind.NEW, "tcp", "198.51.100.7", "203.0.113.10", 40001, 443, 1)
                )
                assert value(scrape(url), P + "egress_events_total", source="conntrack") == before + 1
                assert value(scrape(url), P + "egress_kernel_drops_total") == 0
                names = exposed(scrape(url))
                assert dashboard_metrics(P) <= names, dashboard_metrics(P) - names
            finally:
                daemon.stop()
                assert daemon.wait_stopped(10)
                thread.join(5)

"""Build a collector and agents in-process against a test broker, and wait on conditions."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import AgentConfig, DeliverySettings, PollingSettings
from agent.daemon import AgentDaemon, CommandSink, SweepFn
from agent.runtime.mqtt import MqttSettings
from agent.wire.inventory import DeviceRecord
from agent.wire.signing import public_key_to_text
from collector.config import CollectorConfig
from collector.service import CollectorService
from collector.store import Store, open_store
from tests.support.mosquitto import Broker

POLL_S = 0.02


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition that has no event to wait on (a database row count)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_S)


def mqtt_settings(broker: Broker, client_id: str) -> MqttSettings:
    return MqttSettings(
        host=broker.host, port=broker.port, client_id=client_id, reconnect_min_s=0.05, reconnect_max_s=0.5
    )


@dataclass
class CollectorHandle:
    service: CollectorService
    store: Store
    key: Ed25519PrivateKey
    config: CollectorConfig


@contextmanager
def running_collector(
    broker: Broker,
    workdir: Path,
    *,
    batch_hook: Callable[[int], None] = lambda _n: None,
    database: str | None = None,
    sinks: list[Any] | None = None,
    **overrides: Any,
) -> Iterator[CollectorHandle]:
    key = Ed25519PrivateKey.generate()
    config = CollectorConfig(
        file="test",
        state_dir=workdir,
        database=database or f"sqlite:///{workdir / 'collector.sqlite'}",
        mqtt=mqtt_settings(broker, "collector"),
        share_group=None,
        **overrides,
    )
    store = open_store(config.database)
    service = CollectorService(config, store, key, batch_hook=batch_hook, sinks=sinks)
    service.start()
    try:
        assert service.wait_connected(10), "collector did not connect"
        yield CollectorHandle(service, store, key, config)
    finally:
        service.stop()
        store.close()


# Everything an agent emits but the retained status, which the broker may hand over twice.
EVIDENCE_KINDS = ("birth", "inventory", "health", "flow", "ack")


def evidence_count(store: Store, boot: str) -> int:
    """Envelopes of one agent boot the collector stored."""
    return sum(1 for kind in EVIDENCE_KINDS for row in store.envelope_bodies(kind) if row["boot"] == boot)


def all_delivered(daemon: AgentDaemon, store: Store) -> bool:
    """The agent's outbox is empty and the collector holds every envelope the agent emitted."""
    emitted = daemon.publisher.counters.emitted
    return daemon.outbox.stats().depth == 0 and evidence_count(store, daemon.publisher.boot) == emitted


def agent_config(
    broker: Broker,
    workdir: Path,
    collector_key: Ed25519PrivateKey,
    *,
    site: str = "hq",
    agent: str = "pi-01",
    delivery: DeliverySettings | None = None,
    polling: PollingSettings | None = None,
) -> AgentConfig:
    return AgentConfig(
        file="test",
        site=site,
        agent=agent,
        state_dir=workdir,
        collector_public_key=public_key_to_text(collector_key.public_key()),
        mqtt=mqtt_settings(broker, f"agent-{site}-{agent}"),
        delivery=delivery or DeliverySettings(receipt_timeout_s=2.0, backlog_rate_per_s=5000),
        polling=polling or PollingSettings(interval_s=3600),
        health_interval_s=3600,
    )


def enrol(store: Store, config: AgentConfig, key: Ed25519PrivateKey) -> None:
    store.add_agent(
        config.site, config.agent, public_key_to_text(key.public_key()), datetime.now(UTC).isoformat()
    )


class CountingSweep:
    """A sweep that reports ``per_sweep`` new devices every call: a steady producer of evidence."""

    def __init__(self, per_sweep: int) -> None:
        self.per_sweep = per_sweep
        self._counter = itertools.count(1)
        self.lock = threading.Lock()

    def __call__(self) -> list[DeviceRecord]:
        with self.lock:
            ids = [next(self._counter) for _ in range(self.per_sweep)]
        return [DeviceRecord("198.51.100.1", i, model="TEST", serial=f"S{i}") for i in ids]


@contextmanager
def running_agent(
    config: AgentConfig, key: Ed25519PrivateKey, sweep: SweepFn, commands: CommandSink | None = None
) -> Iterator[AgentDaemon]:
    daemon = AgentDaemon(config, key, sweep=sweep, commands=commands)
    thread = threading.Thread(target=daemon.run, name="test-agent", daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        assert daemon.wait_stopped(10), "agent did not stop"
        thread.join(5)


def with_delivery(config: AgentConfig, **changes: Any) -> AgentConfig:
    return replace(config, delivery=replace(config.delivery, **changes))

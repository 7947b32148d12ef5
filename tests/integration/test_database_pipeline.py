"""The real collector service on each database engine: stored == sent, once, through a replay
and (on PostgreSQL) through the server dropping every connection mid-run."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import PollingSettings
from collector.store import Store
from tests.support.mosquitto import Broker
from tests.support.pipeline import (
    CountingSweep,
    agent_config,
    all_delivered,
    enrol,
    evidence_count,
    running_agent,
    running_collector,
    wait_until,
)
from tests.support.postgres import terminate_connections
from tests.support.rawmqtt import publish_and_wait, raw_client


def stored_payloads(store: Store) -> list[tuple[str, str, str, str]]:
    rows = store.db.read("test", "SELECT site, agent, kind, payload FROM envelopes")
    return sorted(tuple(str(v) for v in row) for row in rows)  # type: ignore[misc]


def test_stored_equals_sent_exactly_once_including_a_replay(
    broker: Broker, tmp_path: Path, database_url: str
) -> None:
    sweep = CountingSweep(per_sweep=25)
    on_postgres = database_url.startswith("postgresql")
    with running_collector(broker, tmp_path / "c", database=database_url, batch_max=50) as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key, polling=PollingSettings(interval_s=0.05))
        enrol(col.store, config, key)
        with running_agent(config, key, sweep) as daemon:
            wait_until(lambda: len(col.store.devices()) >= 100, 20, "the first devices")
            if on_postgres:
                # What a PostgreSQL restart does to the collector: every session ends at once.
                assert terminate_connections(database_url) >= 1
            wait_until(lambda: len(col.store.devices()) >= 300, 30, "devices after the connections dropped")
            daemon._sweep = lambda: []  # stop producing so the totals can settle
            wait_until(lambda: all_delivered(daemon, col.store), 60, "every envelope stored and confirmed")
        emitted = daemon.publisher.counters.emitted
        assert evidence_count(col.store, daemon.publisher.boot) == emitted
        assert (
            len(col.store.devices())
            == len(col.store.envelope_bodies("inventory"))
            == 25 * (len(col.store.devices()) // 25)
        )

        before = stored_payloads(col.store)
        duplicates = col.service.duplicates
        # A replay of everything stored, byte for byte, by someone on the broker.
        with raw_client(broker, "replayer") as (client, _):
            for site, agent, kind, payload in before:
                publish_and_wait(client, f"camsentry/v1/{site}/{agent}/{kind}", payload.encode())
        wait_until(
            lambda: col.service.duplicates >= duplicates + len(before), 30, "the replay counted as duplicates"
        )
        assert stored_payloads(col.store) == before
        assert col.store.counters()[("hq", "pi-01")]["duplicate"] >= len(before)

"""Agent → real Mosquitto → collector: stored once, signed, through broker outages and overflow."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import PollingSettings
from tests.support.mosquitto import Broker, running_broker
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


def test_inventory_arrives_and_is_confirmed(broker: Broker, tmp_path: Path) -> None:
    sweep = CountingSweep(per_sweep=5)
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key)
        enrol(col.store, config, key)
        with running_agent(config, key, sweep) as daemon:
            wait_until(lambda: len(col.store.devices()) == 5, 15, "5 devices stored")
            wait_until(lambda: daemon.outbox.stats().depth == 0, 15, "outbox drained by receipts")
            devices = col.store.devices()
            assert sorted(d["serial"] for d in devices) == ["S1", "S2", "S3", "S4", "S5"]
            assert all(d["agent"] == "pi-01" and d["site"] == "hq" for d in devices)
            wait_until(
                lambda: any(r["state"] == "online" for r in col.store.agent_status()), 10, "status online"
            )
        wait_until(
            lambda: [r["state"] for r in col.store.agent_status()] == ["offline"],
            10,
            "status offline on stop",
        )


def test_broker_restart_without_persistence_loses_nothing(tmp_path: Path) -> None:
    sweep = CountingSweep(per_sweep=20)
    with running_broker(tmp_path / "broker") as broker, running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key, polling=PollingSettings(interval_s=0.1))
        enrol(col.store, config, key)
        with running_agent(config, key, sweep) as daemon:
            wait_until(lambda: len(col.store.devices()) >= 40, 15, "first devices")
            broker.stop()
            # the agent keeps producing into its outbox while the broker is away
            emitted_while_down = daemon.publisher.counters.emitted
            wait_until(
                lambda: daemon.publisher.counters.emitted >= emitted_while_down + 200,
                20,
                "200 more produced offline",
            )
            broker.start()
            wait_until(
                lambda: col.service.link.connected and daemon.publisher.connected, 20, "both reconnected"
            )
            daemon._sweep = lambda: []  # stop producing so the totals can settle
            wait_until(lambda: all_delivered(daemon, col.store), 60, "every envelope stored and confirmed")
        stored = evidence_count(col.store, daemon.publisher.boot)
        assert stored == daemon.publisher.counters.emitted
        # every device reported (each sweep reports new ones) is in the store, once
        assert len(col.store.devices()) == len(col.store.envelope_bodies("inventory"))


def test_tiny_broker_queue_and_slow_collector_still_store_everything_once(tmp_path: Path) -> None:
    sweep = CountingSweep(per_sweep=400)
    extra = "max_queued_messages 5\nmax_inflight_messages 5\n"
    with running_broker(tmp_path / "broker", extra=extra) as broker:
        slow = lambda n: __import__("time").sleep(0.02)  # noqa: E731 - the collector is made slow on purpose
        with running_collector(broker, tmp_path / "c", batch_hook=slow, batch_max=20) as col:
            key = Ed25519PrivateKey.generate()
            config = agent_config(broker, tmp_path / "a", col.key)
            enrol(col.store, config, key)
            with running_agent(config, key, sweep) as daemon:
                wait_until(
                    lambda: len(col.store.devices()) == 400 and all_delivered(daemon, col.store),
                    90,
                    "all 400 stored despite drops",
                )
                # the broker did drop: the collector saw fewer messages than were published
                published = daemon.publisher.counters.published
                assert published > daemon.publisher.counters.emitted

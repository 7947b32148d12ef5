"""A poison retained on an agent's cmd topic is refused at every start; the agent keeps serving."""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.daemon import AgentDaemon
from agent.enforce.handler import CommandHandler
from agent.wire.envelope import Kind
from agent.wire.signing import public_key_from_text
from agent.wire.topics import topic
from tests.support.fakenft import MemoryNft
from tests.support.mosquitto import Broker
from tests.support.pipeline import CountingSweep, agent_config, enrol, running_collector, wait_until
from tests.support.rawmqtt import publish_and_wait, raw_client

POISON = b'{"v":1,"id":' + b"9" * 5000 + b"}"


def malformed_acks(store) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    bodies = [row["body"] for row in store.envelope_bodies("ack")]
    return [b for b in bodies if b.get("outcome") == "refused" and b.get("reason") == "malformed"]


def test_5000_digit_integer_retained_on_cmd_leaves_the_agent_running_across_restarts(
    broker: Broker, tmp_path: Path
) -> None:
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key)
        enrol(col.store, config, key)
        with raw_client(broker, "hostile") as (client, _):
            publish_and_wait(client, topic(config.site, config.agent, "cmd"), POISON, retain=True)
        try:
            for start in range(1, 4):  # first start, then two restarts
                handler = CommandHandler(
                    public_key_from_text(config.collector_public_key), config.state_dir, MemoryNft(),
                    lambda _d: (), site=config.site, agent=config.agent,
                )  # fmt: skip
                daemon = AgentDaemon(config, key, sweep=CountingSweep(per_sweep=1), commands=handler)
                thread = threading.Thread(target=daemon.run, name=f"agent-{start}", daemon=True)
                thread.start()
                try:
                    wait_until(lambda n=start: len(malformed_acks(col.store)) == n, 15, f"ack {start}")  # type: ignore[misc]
                    # still serving: its sweep's evidence keeps reaching the collector after the poison
                    boot = daemon.publisher.boot
                    wait_until(
                        lambda b=boot: any(r["boot"] == b for r in col.store.envelope_bodies("inventory")),  # type: ignore[misc]
                        15,
                        "inventory after the poison",
                    )
                    assert thread.is_alive(), f"agent died on start {start}"
                    assert daemon.receive_failures == 0, "refused by the parser, not caught by the guard"
                finally:
                    daemon.stop()
                    assert daemon.wait_stopped(10)
                    thread.join(5)
        finally:
            with raw_client(broker, "cleanup") as (client, _):
                publish_and_wait(client, topic(config.site, config.agent, "cmd"), b"", retain=True)


def test_hostile_receipts_and_enrolments_are_counted_and_everyone_keeps_serving(
    broker: Broker, tmp_path: Path
) -> None:
    from tests.agent.wire.test_hostile_json import HOSTILE
    from tests.support.pipeline import all_delivered

    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key)
        enrol(col.store, config, key)
        daemon = AgentDaemon(config, key, sweep=CountingSweep(per_sweep=1))
        thread = threading.Thread(target=daemon.run, name="agent-hostile", daemon=True)
        thread.start()
        try:
            wait_until(lambda: daemon.publisher.connected, 10, "agent connected")
            with raw_client(broker, "hostile") as (client, _):
                for payload in HOSTILE.values():
                    publish_and_wait(client, topic(config.site, config.agent, "receipt"), payload)
                    publish_and_wait(client, topic(config.site, "stranger", "enrol"), payload)
            wait_until(lambda: daemon.publisher.counters.bad_receipts == len(HOSTILE), 10, "receipts counted")
            wait_until(lambda: col.service.refused_enrolments == len(HOSTILE), 10, "enrolments counted")
            daemon.publisher.emit(Kind.HEALTH, {"after": "poison"})
            wait_until(lambda: all_delivered(daemon, col.store), 20, "delivery goes on after the poison")
            assert thread.is_alive() and daemon.receive_failures == 0
            assert col.store.pending() == []
        finally:
            daemon.stop()
            assert daemon.wait_stopped(10)
            thread.join(5)

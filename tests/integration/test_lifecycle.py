"""Through a real broker: the collector stores a birth's capabilities and shows them, and an
agent's Last Will (offline, connection lost) lands in its status."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from agent.daemon import AgentDaemon
from agent.enforce.handler import CommandHandler
from agent.enforce.nft import SubprocessNft
from agent.wire.health import HealthBody
from agent.wire.lifecycle import BirthBody, Capabilities
from collector.reports.status import status_rows
from tests.support.mosquitto import Broker
from tests.support.pipeline import CountingSweep, agent_config, enrol, running_collector, wait_until


def _die_with_will(broker: Broker, daemon: AgentDaemon) -> None:
    """Connect with the agent's Last Will and drop the socket without a DISCONNECT."""
    will = daemon.publisher.will()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="pi-01-will")
    client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert connected.wait(5), "will client did not connect"
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # the broker sees the link die: it publishes the will
    finally:
        client.loop_stop()


def test_birth_capabilities_and_last_will_reach_the_status(broker: Broker, tmp_path: Path) -> None:
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = replace(agent_config(broker, tmp_path / "a", col.key), health_interval_s=0.2)
        enrol(col.store, config, key)
        # The real start-up check: nft cannot be run here, so enforcement is unavailable.
        handler = CommandHandler(
            col.key.public_key(),
            config.state_dir,
            SubprocessNft(("/nonexistent/nft",)),
            lambda _d: [],
            site=config.site,
            agent=config.agent,
        )
        handler.restore()
        daemon = AgentDaemon(
            config,
            key,
            sweep=CountingSweep(per_sweep=1),
            commands=handler,
            capabilities=lambda: Capabilities(handler.capability(), ("conntrack",), metrics=False),
        )
        thread = threading.Thread(target=daemon.run, name="test-agent", daemon=True)
        thread.start()
        try:
            wait_until(lambda: bool(col.store.agent_births()), 15, "birth stored")
            wait_until(lambda: bool(col.store.agent_health()), 15, "health stored")
        finally:
            daemon.stop()
            assert daemon.wait_stopped(10)
            thread.join(5)

        (health,) = col.store.agent_health()
        enforcement = HealthBody.decode(health["body"]).enforcement
        assert enforcement is not None and enforcement.summary() == "unavailable (nft_missing)"
        births = col.store.agent_births()
        birth = BirthBody.decode(births[("hq", "pi-01")]["body"])
        assert birth.boot == daemon.publisher.boot and birth.capabilities is not None
        assert birth.capabilities.enforcement is not None
        assert birth.capabilities.enforcement.reason == "nft_missing"
        assert birth.capabilities.egress_sources == ("conntrack",)

        wait_until(
            lambda: (
                next(r for r in col.store.agent_status() if r["agent"] == "pi-01").get("reason")
                == "agent stopped"
            ),
            15,
            "clean goodbye stored",
        )
        _die_with_will(broker, daemon)
        wait_until(
            lambda: (
                next(r for r in col.store.agent_status() if r["agent"] == "pi-01").get("reason")
                == "connection lost"
            ),
            15,
            "last will stored",
        )
        (row,) = [
            r
            for r in status_rows(col.store, now=datetime.now(UTC), silent_after_s=600)
            if r["agent"] == "pi-01"
        ]
        assert (row["liveness"], row["state"], row["state_reason"]) == (
            "offline",
            "offline",
            "connection lost",
        )
        assert row["enforcement"] == "unavailable (nft_missing)"  # no command yet: what the agent can do
        assert row["birth"]["capabilities"]["enforcement"]["available"] is False
        assert row["birth"]["boot"] == daemon.publisher.boot

"""Commands over a real Mosquitto: collector signs and publishes, agent verifies, applies, acks."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from agent.enforce.handler import CommandHandler
from agent.wire.commands import Command, CommandAction, seal_command
from agent.wire.envelope import Kind, check_topic, decode, encode, seal, verify
from agent.wire.topics import parse_topic, topic
from collector.policy.commanding import CommandIssuer
from tests.support.database import sqlite_database
from tests.support.fakenft import MemoryNft
from tests.support.mosquitto import Broker

WAIT_S = 5.0


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return 0.0


@contextmanager
def client(
    broker: Broker, name: str, subscription: str
) -> Iterator[tuple[paho.Client, queue.Queue[paho.MQTTMessage]]]:
    """A connected client whose subscription is acknowledged before it is handed out."""
    received: queue.Queue[paho.MQTTMessage] = queue.Queue()
    subscribed = threading.Event()
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=MQTTProtocolVersion.MQTTv5)
    c.on_message = lambda _c, _u, msg: received.put(msg)
    c.on_subscribe = lambda *_args: subscribed.set()
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        c.subscribe(subscription, qos=1)
        assert subscribed.wait(WAIT_S), "no SUBACK"
        yield c, received
    finally:
        c.disconnect()
        c.loop_stop()


def publish(c: paho.Client, name: str, payload: bytes) -> None:
    info = c.publish(name, payload, qos=1)
    info.wait_for_publish(timeout=WAIT_S)
    assert info.is_published()


def test_quarantine_and_forgery_over_the_broker(broker: Broker, tmp_path: Path) -> None:
    collector_key, agent_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    nft = MemoryNft()
    handler = CommandHandler(
        collector_key.public_key(), tmp_path / "agent", nft, lambda _d: ["10.77.2.2"], site="hq", agent="a1"
    )
    conn = sqlite_database()
    try:
        with (
            client(broker, "agent-a1", topic("hq", "a1", "cmd")) as (agent_c, commands),
            client(broker, "collector", "camsentry/v1/+/+/ack") as (collector_c, acks),
        ):
            issuer = CommandIssuer(
                conn, collector_key, lambda t, p: publish(collector_c, t, p), clock=Clock()
            )
            forged = Command(
                id=50,
                site="hq",
                agent="a1",
                action=CommandAction.RELEASE,
                device="10.77.1.2",
                issued=datetime.now(UTC),
                expires=datetime.now(UTC).replace(year=2100),
            )
            assert issuer.send("hq", "a1", CommandAction.QUARANTINE, "10.77.1.2", {"recorders": []}) == 1
            publish(collector_c, topic("hq", "a1", "cmd"), seal_command(Ed25519PrivateKey.generate(), forged))

            for seq in (1, 2):
                message = commands.get(timeout=WAIT_S)
                body = handler.handle(bytes(message.payload))
                envelope = seal(
                    agent_key,
                    agent="a1",
                    site="hq",
                    boot="boot-1",
                    seq=seq,
                    ts=datetime.now(UTC),
                    kind=Kind.ACK,
                    body=body,
                )
                publish(agent_c, topic("hq", "a1", "ack"), encode(envelope))

            outcomes = []
            for _ in range(2):
                message = acks.get(timeout=WAIT_S)
                parts = parse_topic(message.topic)
                assert parts is not None
                received = decode(bytes(message.payload))
                check_topic(received, parts)
                verify(received, agent_key.public_key())
                issuer.record_ack(parts.site, parts.agent, received.body)
                outcomes.append((received.body["outcome"], received.body["reason"]))
        assert outcomes == [("applied", None), ("refused", "bad_signature")]
        assert issuer.quarantined() == {("hq", "a1", "10.77.1.2")}
        assert len(nft.rulesets) == 1
        assert "ip saddr 10.77.1.2 ip daddr { 10.77.2.2 } accept" in nft.rulesets[0]
    finally:
        conn.close()

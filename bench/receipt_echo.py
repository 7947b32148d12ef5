"""A stand-in collector for the agent benchmark: it checks and verifies like the collector's
ingest (size, topic, decode, topic agreement, Ed25519 verify) and confirms with signed
receipts batched like the collector's, but stores nothing.

Run as its own process, as the collector would be. It listens only to the agent under test,
so the bare-paho baseline publishing in the same run is not slowed by a consumer.
Usage: python -m bench.receipt_echo HOST PORT COLLECTOR_KEY_HEX SITE AGENT AGENT_PUBLIC_KEY
"""

from __future__ import annotations

import queue
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import SystemClock
from agent.runtime.mqtt import LinkEvent, Message, MqttLink, MqttSettings
from agent.wire.envelope import Envelope, check_topic, decode, verify
from agent.wire.errors import WireError
from agent.wire.signing import public_key_from_text
from agent.wire.topics import parse_topic, topic
from collector.config import CollectorConfig
from collector.receipts import ReceiptBatcher

TELEMETRY_KINDS = frozenset({"birth", "inventory", "flow", "health", "ack"})


def main() -> None:
    host, port, key_hex, site, agent, agent_key_text = sys.argv[1:7]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_hex))
    agent_key = public_key_from_text(agent_key_text)
    settings = MqttSettings(host=host, port=int(port), client_id="echo", clean_start=True)
    # The collector's defaults, so receipts arrive as late and as batched as they would in service.
    defaults = CollectorConfig(file="", state_dir=Path(), database="", mqtt=settings, share_group=None)
    flush_s, batch_max = defaults.receipt_flush_s, defaults.batch_max
    events: queue.Queue[LinkEvent] = queue.Queue()
    link = MqttLink(
        settings,
        events.put,
        subscriptions=[topic(site, agent, "+")],
    )
    batcher = ReceiptBatcher(key, lambda t, p: link.publish(t, p), SystemClock(), flush_s)
    rejected = 0
    link.start()
    link.wait_connected(10)
    print("ready", flush=True)
    while True:
        # The collector's ingest loop: wait up to the flush interval, take a batch, confirm it.
        batch: list[Envelope] = []
        try:
            event: LinkEvent | None = events.get(timeout=flush_s)
        except queue.Empty:
            event = None
        while event is not None:
            if isinstance(event, Message):
                parts = parse_topic(event.topic)
                if parts is not None and parts.kind in TELEMETRY_KINDS:
                    try:
                        env = decode(event.payload)
                        check_topic(env, parts)
                        verify(env, agent_key)
                        batch.append(env)
                    except WireError:
                        rejected += 1
                        print(f"rejected {rejected}", file=sys.stderr, flush=True)
            if len(batch) >= batch_max:
                break
            try:
                event = events.get_nowait()
            except queue.Empty:
                event = None
        batcher.add(batch)
        if batcher.due():
            batcher.flush()


def key_hex(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return raw.hex()


if __name__ == "__main__":
    main()

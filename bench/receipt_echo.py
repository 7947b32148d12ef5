"""A stand-in collector for the agent benchmark: receipts for everything, no verify, no store.

Run as its own process so the agent under test has its core to itself.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.clock import SystemClock
from agent.mqtt import Message, MqttLink, MqttSettings
from agent.wire.envelope import Envelope, Kind
from collector.receipts import ReceiptBatcher


def main() -> None:
    host, port, key_hex = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_hex))
    lock = threading.Lock()
    pending: list[Envelope] = []

    def on_event(event: object) -> None:
        if isinstance(event, Message) and not event.topic.endswith(("/receipt", "/cmd", "/status")):
            doc = json.loads(event.payload)
            env = Envelope(doc["v"], doc["agent"], doc["site"], doc["boot"], doc["seq"], doc["ts"],
                           Kind(doc["kind"]), {}, doc["sig"])  # fmt: skip
            with lock:
                pending.append(env)

    link = MqttLink(MqttSettings(host=host, port=port, client_id="echo", clean_start=True), on_event,
                    subscriptions=["camsentry/v1/+/+/+"])  # fmt: skip
    batcher = ReceiptBatcher(key, lambda t, p: link.publish(t, p), SystemClock(), 0.02)
    link.start()
    link.wait_connected(10)
    print("ready", flush=True)
    while True:
        time.sleep(0.02)
        with lock:
            batch, pending[:] = list(pending), []
        batcher.add(batch)
        batcher.flush()


def key_hex(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return raw.hex()


if __name__ == "__main__":
    main()

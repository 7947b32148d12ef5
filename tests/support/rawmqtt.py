"""A bare paho client for tests that play a hostile or independent peer."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.support.mosquitto import Broker


@contextmanager
def raw_client(
    broker: Broker, client_id: str, subscribe: str | None = None
) -> Iterator[tuple[paho.Client, queue.Queue[paho.MQTTMessage]]]:
    received: queue.Queue[paho.MQTTMessage] = queue.Queue()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message = lambda _c, _u, msg: received.put(msg)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        if subscribe:
            info = client.subscribe(subscribe, qos=1)
            assert info[0] == 0
        yield client, received
    finally:
        client.disconnect()
        client.loop_stop()


def publish_and_wait(client: paho.Client, topic: str, payload: bytes, retain: bool = False) -> None:
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(timeout=5)
    assert info.is_published()

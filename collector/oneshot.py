"""Publish one message from a CLI: connect, publish at QoS 1, wait for the broker's PUBACK, leave."""

from __future__ import annotations

import queue
from dataclasses import replace

from agent.runtime.mqtt import LinkEvent, MqttLink, MqttSettings, PubAck

CONNECT_TIMEOUT_S = 10.0
PUBACK_TIMEOUT_S = 10.0


class PublishError(RuntimeError):
    """The broker could not be reached or did not take the message."""


def publish_once(settings: MqttSettings, topic: str, payload: bytes) -> None:
    events: queue.Queue[LinkEvent] = queue.Queue()
    # A separate, clean session: the CLI must not take over the running collector's session.
    link = MqttLink(replace(settings, client_id=settings.client_id + "-cli", clean_start=True), events.put)
    link.start()
    try:
        if not link.wait_connected(CONNECT_TIMEOUT_S):
            raise PublishError(f"no connection to the broker at {settings.host}:{settings.port}")
        mid = link.publish(topic, payload)
        if mid is None:
            raise PublishError("the broker connection dropped before publishing")
        while True:
            try:
                event = events.get(timeout=PUBACK_TIMEOUT_S)
            except queue.Empty as exc:
                raise PublishError("the broker did not acknowledge the command") from exc
            if isinstance(event, PubAck) and event.mid == mid:
                if not event.ok:
                    raise PublishError(f"the broker refused the command: {event.reason}")
                return
    finally:
        link.stop()

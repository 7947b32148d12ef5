"""A paho-mqtt client for broker tests: connect or be refused, subscribe, publish, collect."""

from __future__ import annotations

import queue
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

HOST = "127.0.0.1"
WAIT_S = 5.0


class Refused(Exception):
    """The broker would not let this client in (TLS or MQTT CONNACK)."""


@dataclass(frozen=True)
class Identity:
    """A client's TLS material; cert and key None for a client without a certificate."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_dir(cls, directory: Path, ca: Path | None = None) -> Identity:
        return cls(
            ca=ca or directory / "ca.crt",
            cert=directory / "client.crt",
            key=directory / "client.key",
        )


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes


class Probe:
    """One MQTT v5 connection whose every outcome is an event the test waits on."""

    def __init__(self, port: int, identity: Identity | None, client_id: str = "") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if identity is not None:
            context = ssl.create_default_context(cafile=str(identity.ca))
            if identity.cert is not None and identity.key is not None:
                context.load_cert_chain(str(identity.cert), str(identity.key))
            self.client.tls_set_context(context)
        self.port = port
        self.messages: queue.Queue[Received] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.connack_properties: Properties | None = None
        self.answered = threading.Event()
        self.disconnected = threading.Event()
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._subacked = threading.Condition()
        self._pubacks: dict[int, ReasonCode] = {}
        self._pubacked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, props: Properties | None
    ) -> None:
        self.connack = rc
        self.connack_properties = props
        self.answered.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, _rc: ReasonCode, _p: object) -> None:
        self.disconnected.set()
        self.answered.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(Received(msg.topic, bytes(msg.payload)))

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        with self._subacked:
            self._subacks[mid] = codes
            self._subacked.notify_all()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        # paho may call this before publish() has returned the mid: keep it until asked.
        with self._pubacked:
            self._pubacks[mid] = rc
            self._pubacked.notify_all()

    def connect(self) -> Probe:
        """Return once the broker accepted the connection; raise Refused otherwise."""
        try:
            self.client.connect(HOST, self.port, keepalive=30)
        except (ssl.SSLError, OSError) as exc:
            raise Refused(f"{type(exc).__name__}: {exc}") from exc
        self.client.loop_start()
        if not self.answered.wait(WAIT_S):
            self.close()
            raise Refused("no CONNACK")
        if self.disconnected.is_set() or self.connack is None or self.connack.is_failure:
            reason = str(self.connack) if self.connack is not None else "connection closed"
            self.close()
            raise Refused(reason)
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe(self, topic: str) -> list[ReasonCode]:
        _rc, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        with self._subacked:
            assert self._subacked.wait_for(lambda: mid in self._subacks, WAIT_S), "no SUBACK"
            return self._subacks[mid]

    def publish(self, topic: str, payload: bytes = b"x") -> ReasonCode:
        """QoS 1 publish; returns the PUBACK's reason code once the broker sent it."""
        info = self.client.publish(topic, payload, qos=1)
        with self._pubacked:
            assert self._pubacked.wait_for(lambda: info.mid in self._pubacks, WAIT_S), topic
            return self._pubacks[info.mid]

    def receive_until(self, topic: str) -> list[str]:
        """The topics received before the first message on `topic` (which must arrive)."""
        before: list[str] = []
        while True:
            got = self.messages.get(timeout=WAIT_S)
            if got.topic == topic:
                return before
            before.append(got.topic)

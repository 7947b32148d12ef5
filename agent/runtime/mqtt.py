"""The one adapter around paho-mqtt, used by agent and collector alike.

Callbacks only translate paho's calls into ``LinkEvent`` values and hand them to
the owner's ``on_event``; they never block or touch the owner's state. Reconnection
uses exponential backoff with full jitter so a fleet of agents does not reconnect
to a restarted broker in lock-step.
"""

from __future__ import annotations

import random
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

# DESIGN.md field notes: at a window of 1,000 paho does O(window) work per PUBACK; keep it near 20.
INFLIGHT_WINDOW = 20


@dataclass(frozen=True)
class TlsSettings:
    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    client_id: str
    keepalive_s: int = 30
    tls: TlsSettings | None = None
    username: str | None = None
    password: str | None = None
    clean_start: bool = False
    session_expiry_s: int = 3600
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 60.0
    max_packet_bytes: int = 512 * 1024


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


@dataclass(frozen=True)
class Connected:
    session_present: bool


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class PubAck:
    mid: int
    ok: bool
    reason: str


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retained: bool


LinkEvent = Connected | Disconnected | PubAck | Message


def backoff_delay(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [min_s, min(max_s, min_s * 2**attempt)]."""
    ceiling = min(max_s, min_s * (2 ** min(attempt, 30)))
    return rng.uniform(min_s, max(min_s, ceiling))


class MqttLink:
    """A connection to the broker that reconnects by itself and reports through ``on_event``."""

    def __init__(
        self,
        settings: MqttSettings,
        on_event: Callable[[LinkEvent], None],
        *,
        subscriptions: Sequence[str] = (),
        will_factory: Callable[[], Will | None] = lambda: None,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._on_event = on_event
        self._subscriptions = tuple(subscriptions)
        self._will_factory = will_factory
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._attempt = 0
        self._connected = threading.Event()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=True,
        )
        client.max_inflight_messages_set(INFLIGHT_WINDOW)
        if settings.tls is not None:
            client.tls_set(
                ca_certs=settings.tls.ca_file,
                certfile=settings.tls.cert_file,
                keyfile=settings.tls.key_file,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_connect_fail = self._handle_connect_fail
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        self._client = client
        self._set_backoff()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        self._apply_will()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._settings.session_expiry_s
        props.MaximumPacketSize = self._settings.max_packet_bytes
        self._client.connect_async(
            self._settings.host,
            self._settings.port,
            keepalive=self._settings.keepalive_s,
            clean_start=self._settings.clean_start,
            properties=props,
        )
        self._client.loop_start()

    def stop(self, final: tuple[str, bytes, bool] | None = None) -> None:
        """Disconnect cleanly (no Last Will), optionally publishing one last message first."""
        if final is not None and self.connected:
            info = self._client.publish(final[0], final[1], qos=1, retain=final[2])
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                info.wait_for_publish(timeout=2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int | None:
        """Queue a publish; the message id, or None when there is no connection to queue it on."""
        if not self.connected:
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def _apply_will(self) -> None:
        will = self._will_factory()
        if will is None:
            self._client.will_clear()
        else:
            self._client.will_set(will.topic, will.payload, qos=1, retain=will.retain)

    def _set_backoff(self) -> None:
        delay = backoff_delay(
            self._attempt, self._settings.reconnect_min_s, self._settings.reconnect_max_s, self._rng
        )
        self._attempt += 1
        # paho waits exactly min_delay after reconnect_delay_set resets it; it sleeps on floats
        # although its annotation says int.
        self._client.reconnect_delay_set(cast(int, delay), cast(int, delay))

    # paho callbacks: translate, hand off, return.

    def _handle_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._on_event(Disconnected(reason=f"connack: {reason}"))
            self._set_backoff()
            return
        self._attempt = 0
        self._set_backoff()
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self._connected.set()
        self._on_event(Connected(session_present=bool(flags.session_present)))

    def _handle_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._connected.clear()
        # The next connection carries a fresh Last Will (the agent signs each with a new seq).
        self._apply_will()
        self._set_backoff()
        self._on_event(Disconnected(reason=str(reason)))

    def _handle_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        self._set_backoff()
        self._on_event(Disconnected(reason="connect failed"))

    def _handle_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._on_event(PubAck(mid=mid, ok=not reason.is_failure, reason=str(reason)))

    def _handle_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        self._on_event(Message(topic=msg.topic, payload=bytes(msg.payload), retained=bool(msg.retain)))

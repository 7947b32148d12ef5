"""The collector process: MQTT in, ingest in batches, signed receipts out.

Threads, each with its own database connection and its own heartbeat stage::

    paho        only enqueues messages
    ingest      drains the queue in batches, stores each in one transaction, publishes receipts,
                hands acks, births and online statuses to the control thread
    policy      the policy pass on its interval (collector.policyloop); alerts into the queue
    control     policy pushes, ack records, operator commands queued in the database
    alerts      the alert worker: queue to webhook, SMTP, syslog, MQTT (collector.alerts)

Nothing on the ingest thread waits on a sink, a policy pass or an operator.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import Clock, SystemClock
from agent.runtime.mqtt import Connected, Disconnected, LinkEvent, Message, MqttLink
from agent.wire.enrol import ENROL_KIND, open_enrol
from agent.wire.envelope import Kind
from agent.wire.errors import BodyError
from agent.wire.lifecycle import AgentState, StatusBody
from agent.wire.timefmt import format_utc
from agent.wire.topics import parse_topic, telemetry_subscription
from collector.alerts.build import build_sinks
from collector.alerts.queue import AlertQueue
from collector.alerts.sinks import Sink
from collector.alerts.worker import AlertWorker
from collector.config import CollectorConfig, requested_packet_bytes
from collector.control import ControlEvent, ControlLoop
from collector.heartbeat import Heartbeats
from collector.ingest import Ingestor
from collector.policyloop import PolicyLoop
from collector.receipts import ReceiptBatcher
from collector.storagestate import StorageState, storage_state_path
from collector.store import Store, StoreError

log = structlog.get_logger("camsentry.collector")

# Bound the hand-off queue: when the store falls behind, paho's thread blocks and the broker
# queues (and may drop, which receipts make harmless) instead of this process growing.
MAX_QUEUED_MESSAGES = 20_000
# Requests beyond this wait until the operator clears some: a flood cannot grow the table.
MAX_PENDING_ENROLMENTS = 1000


class CollectorService:
    def __init__(
        self,
        config: CollectorConfig,
        store: Store,
        key: Ed25519PrivateKey,
        *,
        clock: Clock | None = None,
        link_factory: Callable[..., MqttLink] = MqttLink,
        batch_hook: Callable[[int], None] = lambda _n: None,
        sinks: list[Sink] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._clock = clock or SystemClock()
        self._queue: queue.Queue[LinkEvent | None] = queue.Queue(maxsize=MAX_QUEUED_MESSAGES)
        self.ingestor = Ingestor(store, clock=self._clock, max_payload_bytes=config.max_payload_bytes)
        # Persistent session: queued messages survive a collector restart (not relied on).
        mqtt = replace(
            config.mqtt, clean_start=False, max_packet_bytes=requested_packet_bytes(config.max_payload_bytes)
        )
        self.link = link_factory(
            mqtt, self._queue.put, subscriptions=[telemetry_subscription(config.share_group)]
        )
        self.receipts = ReceiptBatcher(
            key, lambda t, p: self.link.publish(t, p), self._clock, config.receipt_flush_s
        )
        self._batch_hook = batch_hook
        self.heartbeats = Heartbeats(self._clock, config.stall_after_s)
        self.ingest_stage = self.heartbeats.stage("ingest")
        self.receipt_stage = self.heartbeats.stage("receipts")
        command_lock = threading.Lock()
        self.sinks = build_sinks(config.alerts, self._publish, self._clock) if sinks is None else sinks
        self._alert_db = store.new_database()
        self.alert_worker = AlertWorker(
            AlertQueue(self._alert_db, clock=self._clock),
            self.sinks,
            config.alerts,
            clock=self._clock,
            stage=self.heartbeats.stage("alerts"),
        )
        self.policy = PolicyLoop(
            config,
            store,
            key,
            self._clock,
            self._publish,
            sinks=[s.name for s in self.sinks],
            wake_alerts=self.alert_worker.wake.set,
            command_lock=command_lock,
            on_reloaded=lambda: self.control.submit(ControlEvent("push_all", trigger="policy_reloaded")),
            stage=self.heartbeats.stage("policy"),
        )
        self.control = ControlLoop(
            store,
            key,
            self._publish,
            self._clock,
            lambda: self.policy.runner.policy,
            command_lock=command_lock,
            name=config.mqtt.client_id,
            stage=self.heartbeats.stage("control"),
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stored = 0
        self.duplicates = 0
        # For /metrics (collector.metrics): rejections by reason, receipts, time storing batches.
        self.rejected: Counter[str] = Counter()
        self.receipts_sent = 0
        self.batches = 0
        self.batch_seconds = 0.0
        # Broker link events seen by ingest: a one-shot command must never cause a disconnect.
        self.connects = 0
        self.disconnects = 0
        self.refused_enrolments = 0
        self.storage = StorageState(storage_state_path(config.state_dir), self._clock)

    def _publish(self, topic: str, payload: bytes) -> None:
        self.link.publish(topic, payload)

    def request_reload(self) -> None:
        """SIGHUP: reload the policy file and evaluate at once (on the policy thread)."""
        self.policy.request_reload()

    def stalled(self) -> list[str]:
        """Stages holding work without progress (or whose thread ended): the watchdog's question."""
        return self.heartbeats.stalled()

    def start(self) -> None:
        self.alert_worker.start()
        self.control.start()
        self.policy.start()
        self.link.start()
        self._thread = threading.Thread(target=self._run, name="camsentry-ingest", daemon=True)
        self._thread.start()
        self.ingest_stage.watch(self._thread)
        self.receipt_stage.watch(self._thread)

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.link.stop()
        self.policy.stop()
        self.control.stop()
        self.alert_worker.stop()
        self._alert_db.close()

    def wait_connected(self, timeout_s: float) -> bool:
        return self.link.wait_connected(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            batch: list[tuple[str, bytes]] = []
            try:
                event = self._queue.get(timeout=self.config.receipt_flush_s or 0.05)
            except queue.Empty:
                event = None
            if event is not None:
                self.ingest_stage.begin()
            while event is not None:
                if isinstance(event, Message):
                    kind = topic_kind(event.topic)
                    if kind == ENROL_KIND:
                        self._enrol_request(event.topic, event.payload)
                    elif kind not in ("receipt", "cmd"):
                        batch.append((event.topic, event.payload))
                elif isinstance(event, Connected):
                    self.connects += 1
                    log.info("broker_connected", session_present=event.session_present)
                    # Policy changed while we were away from the broker: online agents get it now.
                    self.control.submit(ControlEvent("push_all", trigger="collector_connected"))
                elif isinstance(event, Disconnected):
                    self.disconnects += 1
                    log.warning("broker_disconnected", reason=event.reason)
                if len(batch) >= self.config.batch_max:
                    break
                try:
                    event = self._queue.get_nowait()
                except queue.Empty:
                    event = None
            if batch:
                self._ingest(batch)
            self.ingest_stage.done()
            if self.receipts.due():
                self.receipts_sent += self.receipts.flush()
                self.receipt_stage.done()
        self.receipts.flush()

    def _enrol_request(self, topic: str, payload: bytes) -> None:
        parts = parse_topic(topic)
        request = open_enrol(payload)
        if parts is None or request is None or (request.site, request.agent) != (parts.site, parts.agent):
            self.refused_enrolments += 1
            # Loud the first time, quiet after (counted): anyone on the broker can send these.
            (log.warning if self.refused_enrolments == 1 else log.debug)(
                "enrolment request refused: unsigned, malformed or topic mismatch",
                topic=topic[:200],
                count=self.refused_enrolments,
            )
            return
        try:
            recorded = self.store.add_pending(
                request.site,
                request.agent,
                request.public_key,
                request.host,
                format_utc(self._clock.now()),
                limit=MAX_PENDING_ENROLMENTS,
            )
        except StoreError:  # the database is away: the agent asks again on its next connect
            log.exception("enrolment_record_failed", site=request.site, agent=request.agent)
            return
        if recorded:
            log.info(
                "enrolment_pending",
                site=request.site,
                agent=request.agent,
                host=request.host,
                fingerprint=request.fingerprint,
            )

    def _ingest(self, batch: list[tuple[str, bytes]]) -> None:
        self._batch_hook(len(batch))
        started = time.perf_counter()
        try:
            result = self.ingestor.ingest(batch)
        except Exception as exc:
            # A store failure (disk full, database away) must not lose messages silently:
            # nothing is confirmed, so the agents keep them and publish again after their timeout.
            self.storage.failed(exc, len(batch))
            return
        self.storage.succeeded()
        self.batches += 1
        self.batch_seconds += time.perf_counter() - started
        self.rejected.update({reason.value: n for reason, n in result.rejected.items()})
        self.stored += len(result.new)
        self.duplicates += len(result.duplicates)
        self.receipts.add(result.new)
        self.receipts.add(result.duplicates)
        if result.new or result.duplicates:
            self.receipt_stage.begin()
        for env in result.new:
            if env.kind is Kind.ACK:
                self.control.submit(ControlEvent("ack", env.site, env.agent, env.body))
            elif env.kind is Kind.BIRTH:
                # A birth: the agent (re)started, or was approved and its backlog arrived.
                self.control.submit(ControlEvent("birth", env.site, env.agent, env.body))
            elif env.kind is Kind.STATUS and is_online(env.body):
                self.control.submit(ControlEvent("online", env.site, env.agent))


def is_online(body: Any) -> bool:
    """A status body that says ``online`` (read through the wire decoder; one that does not
    decode is stored as unknown by the store, and triggers nothing here)."""
    try:
        return StatusBody.decode(body).state is AgentState.ONLINE
    except BodyError:
        return False


def topic_kind(topic: str) -> str | None:
    parts = parse_topic(topic)
    return parts.kind if parts else None

"""The collector process: MQTT in, ingest in batches, signed receipts out.

paho's thread only enqueues messages; one worker thread drains the queue in batches,
stores them in one transaction each, and publishes the receipts.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import Clock, SystemClock
from agent.runtime.mqtt import Connected, Disconnected, LinkEvent, Message, MqttLink
from agent.wire.enrol import ENROL_KIND, open_enrol
from agent.wire.envelope import Kind
from agent.wire.timefmt import format_utc
from agent.wire.topics import parse_topic, telemetry_subscription
from collector.alerts import Alerter
from collector.config import CollectorConfig, requested_packet_bytes
from collector.ingest import Ingestor
from collector.judge.centre import CentreJudge
from collector.policy.commanding import CommandIssuer
from collector.policy.pushing import PolicyPusher, agent_holds
from collector.policy.runner import PolicyRunner
from collector.receipts import ReceiptBatcher
from collector.storagestate import StorageState, storage_state_path
from collector.store import Store, StoreError
from collector.violations import ViolationStore

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
        self.policy = PolicyEngineLoop(config, store, key, self._clock, self._publish)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stored = 0
        self.duplicates = 0
        self.storage = StorageState(storage_state_path(config.state_dir), self._clock)

    def _publish(self, topic: str, payload: bytes) -> None:
        self.link.publish(topic, payload)

    def request_reload(self) -> None:
        """SIGHUP: reload the policy file before the next evaluation."""
        self.policy.reload_requested.set()

    def start(self) -> None:
        self.link.start()
        self._thread = threading.Thread(target=self._run, name="camsentry-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.link.stop()
        self.policy.close()

    def wait_connected(self, timeout_s: float) -> bool:
        return self.link.wait_connected(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            batch: list[tuple[str, bytes]] = []
            try:
                event = self._queue.get(timeout=self.config.receipt_flush_s or 0.05)
            except queue.Empty:
                event = None
            while event is not None:
                if isinstance(event, Message):
                    kind = topic_kind(event.topic)
                    if kind == ENROL_KIND:
                        self._enrol_request(event.topic, event.payload)
                    elif kind not in ("receipt", "cmd"):
                        batch.append((event.topic, event.payload))
                elif isinstance(event, Connected):
                    log.info("broker connected", session_present=event.session_present)
                    # Policy changed while we were away from the broker: online agents get it now.
                    self.policy.push_to_online_agents("collector_connected")
                elif isinstance(event, Disconnected):
                    log.warning("broker connection lost", reason=event.reason)
                if len(batch) >= self.config.batch_max:
                    break
                try:
                    event = self._queue.get_nowait()
                except queue.Empty:
                    event = None
            if batch:
                self._ingest(batch)
            if self.receipts.due():
                self.receipts.flush()
            self.policy.tick()
        self.receipts.flush()

    def _enrol_request(self, topic: str, payload: bytes) -> None:
        parts = parse_topic(topic)
        request = open_enrol(payload)
        if parts is None or request is None or (request.site, request.agent) != (parts.site, parts.agent):
            log.warning("enrolment request refused: unsigned, malformed or topic mismatch", topic=topic[:200])
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
            log.exception("recording an enrolment request failed", site=request.site, agent=request.agent)
            return
        if recorded:
            log.info(
                "enrolment request awaiting approval",
                site=request.site,
                agent=request.agent,
                host=request.host,
                fingerprint=request.fingerprint,
            )

    def _ingest(self, batch: list[tuple[str, bytes]]) -> None:
        self._batch_hook(len(batch))
        try:
            result = self.ingestor.ingest(batch)
        except Exception as exc:
            # A store failure (disk full, database away) must not lose messages silently:
            # nothing is confirmed, so the agents keep them and publish again after their timeout.
            self.storage.failed(exc, len(batch))
            return
        self.storage.succeeded()
        self.stored += len(result.new)
        self.duplicates += len(result.duplicates)
        self.receipts.add(result.new)
        self.receipts.add(result.duplicates)
        for env in result.new:
            if env.kind is Kind.ACK:
                self.policy.record_ack(env.site, env.agent, env.body)
            elif env.kind is Kind.BIRTH:
                self.policy.agent_started(env.site, env.agent, env.body)
            elif env.kind is Kind.STATUS and env.body.get("state") == "online":
                self.policy.agent_online(env.site, env.agent)


class PolicyEngineLoop:
    """Evaluates the segmentation policy on an interval, from the ingest thread, never crashing it."""

    def __init__(
        self,
        config: CollectorConfig,
        store: Store,
        key: Ed25519PrivateKey,
        clock: Clock,
        publish: Callable[[str, bytes], None],
    ) -> None:
        self._clock = clock
        self._interval = config.evaluate_interval_s
        self._next = clock.monotonic()
        self.reload_requested = threading.Event()
        # Its own connection to the store's database, so its transactions never wait on the
        # ingest thread's lock; it comes back by itself after a PostgreSQL restart.
        self._db = store.new_database()
        violations = ViolationStore(self._db, clock=clock)
        self.issuer = CommandIssuer(self._db, key, publish, clock=clock)
        self.runner = PolicyRunner(
            store,
            violations,
            clock=clock,
            policy_path=config.policy_path,
            alerter=Alerter(clock=clock, publish=publish, webhook_url=config.webhook_url),
            issuer=self.issuer,
            judge=CentreJudge(self._db, clock=clock),  # the centre judges again (collector.judge)
        )
        self._store = store
        self.pusher = PolicyPusher(self.issuer)
        self.passes = 0

    def tick(self) -> None:
        if self.reload_requested.is_set():
            self.reload_requested.clear()
            before = self.runner.policy.version
            policy = self.runner.reload()
            log.info("policy reloaded", version=policy.version)
            self._next = self._clock.monotonic()
            if policy.version != before:
                self.push_to_online_agents("policy_reloaded")
        if self._clock.monotonic() < self._next:
            return
        self._next = self._clock.monotonic() + self._interval
        try:
            self.runner.run_once()
            self.passes += 1
        except Exception:  # a policy bug must not stop ingest; it is logged and retried next interval
            log.exception("policy evaluation failed")

    def _push(self, site: str, agent: str, trigger: str, holds: bool | None = None) -> None:
        try:
            self.pusher.push(self.runner.policy, site, agent, trigger=trigger, holds=holds)
        except Exception:  # a database hiccup must not stop ingest; the next trigger tries again
            log.exception("pushing the policy failed", site=site, agent=agent, trigger=trigger)

    def agent_started(self, site: str, agent: str, birth: dict[str, Any]) -> None:
        """A ``birth``: the agent (re)started, or was approved and its backlog arrived."""
        self._push(site, agent, "agent_birth", agent_holds(birth, self.runner.policy.version))

    def agent_online(self, site: str, agent: str) -> None:
        self._push(site, agent, "agent_online")

    def push_to_online_agents(self, trigger: str) -> None:
        """Each enrolled agent whose last status is online; the others get it when they return."""
        try:
            rows = self._store.agent_status()
        except Exception:
            log.exception("listing agents for a policy push failed", trigger=trigger)
            return
        for row in rows:
            if not row.get("revoked_at") and row.get("state") == "online":
                self._push(str(row["site"]), str(row["agent"]), trigger)

    def record_ack(self, site: str, agent: str, body: dict[str, Any]) -> None:
        try:
            self.issuer.record_ack(site, agent, body)
        except Exception:
            log.exception("recording a command ack failed", site=site, agent=agent)

    def close(self) -> None:
        self._db.close()


def topic_kind(topic: str) -> str | None:
    parts = parse_topic(topic)
    return parts.kind if parts else None

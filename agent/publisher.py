"""Turns bodies into signed envelopes in the outbox, and drains the outbox through the link.

Owned by one thread (the daemon loop): ``emit`` signs and stores (``emit_later`` queues
bodies that ``pump`` signs and stores a chunk at a time); ``handle`` digests link events
(connect, PUBACK, receipts); ``pump`` publishes what is due within the unacked window, the
unconfirmed window and the backlog rate.
"""

from __future__ import annotations

import itertools
import secrets
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.config import DeliverySettings
from agent.outbox import Outbox
from agent.runtime.clock import Clock
from agent.runtime.mqtt import Connected, Disconnected, LinkEvent, Message, PubAck, Will
from agent.wire.enrol import ENROL_KIND, seal_enrol
from agent.wire.envelope import Kind, encode, seal
from agent.wire.lifecycle import AgentState, StatusBody
from agent.wire.receipts import RECEIPT_KIND, open_receipt
from agent.wire.timefmt import format_utc
from agent.wire.topics import topic

log = structlog.get_logger("camsentry.agent.publisher")

# Bodies signed and stored per pump when queued with emit_later: ~15 ms of signing here, short
# enough that PUBACKs and receipts are handled and publishing goes on while a sweep is stored.
EMIT_CHUNK = 250


class Link(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int | None: ...


@dataclass
class PublisherCounters:
    emitted: int = 0
    published: int = 0
    pubacks: int = 0
    puback_failures: int = 0
    receipts: int = 0
    confirmed: int = 0
    bad_receipts: int = 0
    refused: int = 0  # not stored: the disk was full
    last_publish_ts: str | None = None


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float, clock: Clock) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._tokens = burst
        self._clock = clock
        self._last = clock.monotonic()

    def take(self, wanted: int) -> int:
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted


class Publisher:
    def __init__(
        self,
        *,
        site: str,
        agent: str,
        key: Ed25519PrivateKey,
        collector_key: Ed25519PublicKey,
        outbox: Outbox,
        delivery: DeliverySettings,
        clock: Clock,
        on_command: Callable[[bytes], None] | None = None,
    ) -> None:
        self.site = site
        self.agent = agent
        self.boot = secrets.token_hex(8)
        self._seq = 0
        self._key = key
        self._collector_key = collector_key
        self._outbox = outbox
        self._delivery = delivery
        self._clock = clock
        self._on_command = on_command
        self._unacked: set[int] = set()
        # Bodies queued by emit_later, not yet signed or stored.
        self._pending: deque[tuple[Kind, dict[str, Any]]] = deque()
        self._bucket = TokenBucket(delivery.backlog_rate_per_s, delivery.backlog_rate_per_s / 10 + 1, clock)
        self.counters = PublisherCounters()
        self.connected = False
        self.link: Link | None = None
        # Whatever a previous process sent but never saw confirmed goes again, in order.
        outbox.mark_all_unsent()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def seal_bytes(self, kind: Kind, body: dict[str, Any]) -> tuple[int, bytes]:
        seq = self.next_seq()
        env = seal(
            self._key,
            agent=self.agent,
            site=self.site,
            boot=self.boot,
            seq=seq,
            ts=self._clock.now(),
            kind=kind,
            body=body,
        )
        return seq, encode(env)

    def emit(self, kind: Kind, body: dict[str, Any]) -> int:
        return self.emit_many(kind, [body])[-1]

    def emit_many(self, kind: Kind, bodies: list[dict[str, Any]]) -> list[int]:
        """Sign and store envelopes durably; they go out on the next pump."""
        rows = []
        seqs = []
        name = topic(self.site, self.agent, kind.value)
        for body in bodies:
            seq, payload = self.seal_bytes(kind, body)
            rows.append((self.boot, seq, kind.value, name, payload))
            seqs.append(seq)
        if self._outbox.put_many(rows):
            self.counters.emitted += len(rows)
        else:  # disk full: counted by kind in the outbox, and here
            self.counters.refused += len(rows)
        return seqs

    def publish_now(self, kind: Kind, body: dict[str, Any]) -> bool:
        """Sign and publish at once, bypassing the outbox (which cannot store while the disk is
        full): not durable, but the centre learns why the agent's evidence stopped."""
        if not self.connected or self.link is None:
            return False
        _seq, payload = self.seal_bytes(kind, body)
        return self.link.publish(topic(self.site, self.agent, kind.value), payload) is not None

    def status_payload(self, state: AgentState, reason: str) -> bytes:
        body = StatusBody(state, reason, socket.gethostname())
        return self.seal_bytes(Kind.STATUS, body.to_body())[1]

    def will(self) -> Will:
        return Will(
            topic=topic(self.site, self.agent, Kind.STATUS.value),
            payload=self.status_payload(AgentState.OFFLINE, "connection lost"),
        )

    def subscriptions(self) -> list[str]:
        return [topic(self.site, self.agent, RECEIPT_KIND), topic(self.site, self.agent, "cmd")]

    def handle(self, event: LinkEvent) -> None:
        if isinstance(event, Connected):
            self.connected = True
            self._unacked.clear()
            self._outbox.mark_all_unsent()
            if self.link is not None:
                self.link.publish(
                    topic(self.site, self.agent, Kind.STATUS.value),
                    self.status_payload(AgentState.ONLINE, "connected"),
                    retain=True,
                )
                # Harmless once enrolled (the collector ignores a key it already has); until then
                # it puts this agent in the operator's `agents pending` list.
                self.link.publish(
                    topic(self.site, self.agent, ENROL_KIND),
                    seal_enrol(
                        self._key,
                        site=self.site,
                        agent=self.agent,
                        host=socket.gethostname(),
                        now=self._clock.now(),
                    ),
                )
            log.info("broker_connected", session_present=event.session_present)
        elif isinstance(event, Disconnected):
            if self.connected:
                log.warning("broker_disconnected", reason=event.reason)
            self.connected = False
            self._unacked.clear()
        elif isinstance(event, PubAck):
            self._unacked.discard(event.mid)
            self.counters.pubacks += 1
            if not event.ok:
                # The broker refused it (ACL, quota): it stays in the outbox and goes again later.
                self.counters.puback_failures += 1
                log.warning("publish_refused", reason=event.reason)
        elif isinstance(event, Message):
            self._handle_message(event)

    def _handle_message(self, message: Message) -> None:
        if message.topic == topic(self.site, self.agent, RECEIPT_KIND):
            receipt = open_receipt(message.payload, self._collector_key)
            if receipt is None or (receipt.site, receipt.agent) != (self.site, self.agent):
                self.counters.bad_receipts += 1
                # Loud the first time, quiet after: a flood of junk must not flood the journal.
                (log.warning if self.counters.bad_receipts == 1 else log.debug)(
                    "receipt refused: not signed by the pinned collector key or not ours",
                    count=self.counters.bad_receipts,
                )
                return
            self.counters.receipts += 1
            self.counters.confirmed += self._outbox.confirm(receipt.boot, receipt.ranges)
        elif message.topic == topic(self.site, self.agent, "cmd") and self._on_command is not None:
            self._on_command(message.payload)

    def emit_later(self, kind: Kind, bodies: list[dict[str, Any]]) -> None:
        """Queue bodies to be signed and stored a chunk per pump, so a large sweep is published
        (and confirmed) while the rest of it is still being signed instead of after all of it."""
        self._pending.extend((kind, body) for body in bodies)

    def emit_pending(self, limit: int | None = None) -> int:
        """Sign and store up to ``limit`` queued bodies (all by default), one transaction per kind run."""
        count = len(self._pending) if limit is None else min(limit, len(self._pending))
        taken = [self._pending.popleft() for _ in range(count)]
        for kind, run in itertools.groupby(taken, key=lambda pair: pair[0]):
            self.emit_many(kind, [body for _, body in run])
        return count

    def pump(self) -> bool:
        """Store and publish what is due; True when more may be due right away (tick again soon)."""
        # Storing does not wait for the broker: what is queued reaches the outbox while offline too.
        self.emit_pending(EMIT_CHUNK)
        if not self.connected or self.link is None:
            return bool(self._pending)
        room = self._delivery.max_unacked - len(self._unacked)
        # Publish in batches: each pump costs up to two queries, whatever it sends.
        if room <= 0 or (self._unacked and room < self._delivery.max_unacked // 4):
            return bool(self._unacked or self._pending)
        # New envelopes only while the end-to-end window has room; overdue ones go again regardless
        # (they are already counted as unconfirmed), or a window filled by lost receipts never drains.
        fresh = self._delivery.max_unconfirmed - self._outbox.unconfirmed()
        items = self._outbox.due(room, self._delivery.receipt_timeout_s, new_limit=max(0, fresh))
        if not items:
            return bool(self._pending)
        granted = self._bucket.take(len(items))
        sent_ids = []
        for item in items[:granted]:
            mid = self.link.publish(item.topic, item.payload)
            if mid is None:
                break
            self._unacked.add(mid)
            sent_ids.append(item.id)
        if sent_ids:
            self._outbox.mark_sent(sent_ids)
            self.counters.published += len(sent_ids)
            self.counters.last_publish_ts = format_utc(self._clock.now())
        return True

"""The publisher's windows and resends, and sweeps stored a chunk per pump, without a broker."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import DeliverySettings
from agent.outbox import Outbox
from agent.publisher import EMIT_CHUNK, Publisher
from agent.runtime.mqtt import Connected, PubAck
from agent.wire.envelope import Kind, decode
from tests.support.clock import FakeClock


class RecordingLink:
    """Takes every publish; checks that each telemetry envelope is already committed to the outbox."""

    def __init__(self, outbox_path: Path) -> None:
        self.sent: list[tuple[str, int]] = []
        self._db = sqlite3.connect(outbox_path)
        self._mid = 0

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int | None:
        self._mid += 1
        if topic.endswith(("/inventory", "/birth")):
            env = decode(payload)
            stored = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE boot = ? AND seq = ?", (env.boot, env.seq)
            ).fetchone()[0]
            assert stored == 1, f"seq {env.seq} published before it was stored"
            self.sent.append((env.kind.value, env.seq))
        return self._mid

    def ack_all(self, publisher: Publisher) -> None:
        for mid in range(1, self._mid + 1):
            publisher.handle(PubAck(mid=mid, ok=True, reason="Success"))


def make(tmp_path: Path, clock: FakeClock, **delivery: Any) -> tuple[Publisher, RecordingLink, Outbox]:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, clock=clock)
    settings = DeliverySettings(**{"receipt_timeout_s": 30, "backlog_rate_per_s": 1e6, **delivery})
    publisher = Publisher(
        site="s",
        agent="a",
        key=Ed25519PrivateKey.generate(),
        collector_key=Ed25519PrivateKey.generate().public_key(),
        outbox=outbox,
        delivery=settings,
        clock=clock,
    )
    link = RecordingLink(path)
    publisher.link = link
    return publisher, link, outbox


def test_a_window_full_of_lost_receipts_is_published_again_after_the_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    publisher, link, _ = make(tmp_path, clock, max_unconfirmed=5)
    publisher.emit_many(Kind.INVENTORY, [{"n": i} for i in range(10)])
    publisher.handle(Connected(session_present=False))
    publisher.pump()
    assert [seq for _, seq in link.sent] == [1, 2, 3, 4, 5]
    link.ack_all(publisher)
    assert publisher.pump() is False  # window full, nothing overdue: nothing new goes
    clock.advance(31)  # no receipt came
    publisher.pump()
    assert [seq for _, seq in link.sent] == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    assert publisher.counters.published == 10


def test_a_queued_sweep_is_stored_a_chunk_per_pump_and_published_only_once_stored(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    publisher, link, outbox = make(tmp_path, clock, max_unacked=10_000, max_unconfirmed=10_000)
    bodies = [{"n": i} for i in range(2 * EMIT_CHUNK + 10)]
    publisher.emit_later(Kind.INVENTORY, bodies)
    assert outbox.stats().depth == 0
    # Offline, pumping still stores.
    assert publisher.pump() is True
    assert outbox.stats().depth == EMIT_CHUNK and link.sent == []
    publisher.handle(Connected(session_present=False))
    assert publisher.pump() is True
    assert outbox.stats().depth == 2 * EMIT_CHUNK
    sent = [seq for _, seq in link.sent]
    assert len(sent) == 2 * EMIT_CHUNK and sent == sorted(set(sent))  # the online status took a seq
    publisher.pump()
    assert publisher.counters.emitted == len(bodies) == outbox.stats().depth
    sent = [seq for _, seq in link.sent]
    assert len(sent) == len(bodies) and sent == sorted(set(sent))


def test_what_is_still_queued_at_stop_reaches_the_outbox(tmp_path: Path) -> None:
    clock = FakeClock()
    publisher, _, outbox = make(tmp_path, clock)
    publisher.emit_later(Kind.INVENTORY, [{"n": i} for i in range(EMIT_CHUNK + 1)])
    publisher.emit_later(Kind.FLOW, [{"f": 1}])
    publisher.pump()
    assert publisher.emit_pending() == 2
    assert outbox.stats().depth == EMIT_CHUNK + 2
    assert [item.kind for item in outbox.due(1000, 30)][-2:] == ["inventory", "flow"]

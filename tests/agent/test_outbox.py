"""The outbox: order, resend after timeout, receipt confirmation, bounds and drop policy, restarts."""

from __future__ import annotations

from pathlib import Path

from agent.outbox import Outbox
from tests.support.clock import FakeClock


def make(tmp_path: Path, clock: FakeClock, **kw: int) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite", clock=clock, **kw)


def test_due_is_oldest_first_and_sent_items_wait_for_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock)
    box.put_many([("b", s, "inventory", "t", b"x%d" % s) for s in range(1, 6)])
    first = box.due(3, resend_after_s=30)
    assert [i.seq for i in first] == [1, 2, 3]
    box.mark_sent([i.id for i in first])
    assert [i.seq for i in box.due(10, resend_after_s=30)] == [4, 5]
    clock.advance(31)
    assert [i.seq for i in box.due(10, resend_after_s=30)] == [1, 2, 3, 4, 5]


def test_receipt_confirms_only_named_boot_and_ranges(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock)
    box.put_many([("b1", s, "flow", "t", b"p") for s in range(1, 11)])
    box.put_many([("b2", s, "flow", "t", b"p") for s in range(1, 4)])
    assert box.confirm("b1", [(1, 3), (8, 20)]) == 6
    assert box.confirm("b1", [(1, 3)]) == 0  # a repeated receipt is harmless
    remaining = [(i.boot, i.seq) for i in box.due(100, 30)]
    assert remaining == [("b1", 4), ("b1", 5), ("b1", 6), ("b1", 7), ("b2", 1), ("b2", 2), ("b2", 3)]
    assert box.stats().depth == 7


def test_bound_drops_health_first_and_counts_every_drop(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock, max_messages=10)
    box.put_many([("b", s, "health" if s % 2 else "inventory", "t", b"p") for s in range(1, 11)])
    box.put_many([("b", s, "flow", "t", b"p") for s in range(11, 14)])
    stats = box.stats()
    assert stats.depth == 10
    assert stats.dropped == {"health": 3}
    kinds = [i.kind for i in box.due(100, 30)]
    assert kinds.count("inventory") == 5 and kinds.count("flow") == 3 and kinds.count("health") == 2
    # with no health left, evidence goes, oldest first, and is counted
    box.put_many([("b", s, "flow", "t", b"p") for s in range(14, 18)])
    stats = box.stats()
    assert stats.depth == 10
    assert stats.dropped == {"health": 5, "inventory": 2}
    assert [i.seq for i in box.due(100, 30)][:3] == [6, 8, 10]


def test_byte_bound(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock, max_bytes=100_000)
    box.put_many([("b", s, "inventory", "t", b"x" * 30_000) for s in range(1, 5)])
    stats = box.stats()
    assert stats.bytes <= 100_000 and stats.depth == 3 and stats.dropped == {"inventory": 1}


def test_restart_keeps_unconfirmed_and_resends_sent_ones(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock)
    box.put_many([("b", s, "inventory", "t", b"p") for s in range(1, 4)])
    box.mark_sent([i.id for i in box.due(10, 30)])
    box.close()
    reopened = make(tmp_path, clock)
    assert reopened.stats().depth == 3
    reopened.mark_all_unsent()
    assert [i.seq for i in reopened.due(10, 30)] == [1, 2, 3]

"""The outbox: order, resend after timeout, receipt confirmation, bounds and drop policy, restarts."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.outbox import Outbox
from tests.support.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]


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


def test_confirm_deletes_each_range_whole_and_nothing_else(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock)
    box.put_many([("b1", s, "inventory", "t", b"x" * s) for s in range(1, 21)])
    box.put_many([("b2", s, "inventory", "t", b"y") for s in range(1, 21)])
    box.mark_sent([i.id for i in box.due(100, 30)])
    # Overlapping, out-of-order, beyond the end, and ranges of another boot.
    assert box.confirm("b1", [(15, 30), (3, 5), (4, 6), (20, 20)]) == 10
    # Confirmed ones no longer count against the unconfirmed window.
    assert box.unconfirmed() == 30
    left = [1, 2, 7, 8, 9, 10, 11, 12, 13, 14]
    clock.advance(31)
    remaining = [(i.boot, i.seq) for i in box.due(100, 30)]
    assert remaining == [("b1", s) for s in left] + [("b2", s) for s in range(1, 21)]
    stats = box.stats()
    assert stats.depth == 30 and stats.bytes == sum(left) + 20


def test_a_batch_that_fails_midway_stores_none_of_it(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock)
    box.put_many([("b", 1, "inventory", "t", b"kept")])
    bad: list[tuple[str, int, str, str, bytes]] = [("b", s, "inventory", "t", b"p") for s in range(2, 6)]
    bad.insert(2, ("b", 99, "inventory", "t", object()))  # type: ignore[arg-type]  # cannot be bound
    with pytest.raises(sqlite3.ProgrammingError):
        box.put_many(bad)
    assert [i.seq for i in box.due(100, 30)] == [1]
    assert box.stats().depth == 1 and box.stats().bytes == 4
    box.put_many([("b", s, "inventory", "t", b"p") for s in range(2, 4)])
    assert [i.seq for i in box.due(100, 30)] == [1, 2, 3]


def test_a_repeated_envelope_is_stored_and_counted_once(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path, clock, max_messages=3)
    box.put_many([("b", s, "inventory", "t", b"pp") for s in range(1, 4)])
    box.put_many([("b", s, "inventory", "t", b"pp") for s in range(2, 4)])
    stats = box.stats()
    assert (stats.depth, stats.bytes, stats.dropped) == (3, 6, {})


# A process that dies with a transaction open: a batch of inserts, or a receipt's deletes.
CRASH_SCRIPT = """
import os, sys
from pathlib import Path
from structlog.testing import capture_logs

from agent.outbox import Outbox
from tests.support.clock import FakeClock

class DiesOnSecondPass(list):
    passes = 0
    def __iter__(self):
        DiesOnSecondPass.passes += 1
        if DiesOnSecondPass.passes == 2:  # put_many's byte count, after the INSERT, before COMMIT
            os._exit(9)
        return super().__iter__()

def ranges_then_die():
    yield (1, 5)  # deleted inside the transaction...
    os._exit(9)   # ...which never commits

box = Outbox(Path(sys.argv[1]), clock=FakeClock())
box.put_many([("b", s, "inventory", "t", b"p") for s in range(1, 11)])
if sys.argv[2] == "insert":
    box.put_many(DiesOnSecondPass([("b", s, "inventory", "t", b"p") for s in range(11, 21)]))
else:
    box.confirm("b", ranges_then_die())
"""


@pytest.mark.parametrize("during", ["insert", "confirm"])
def test_crash_mid_transaction_loses_nothing_committed(tmp_path: Path, during: str) -> None:
    path = tmp_path / "outbox.sqlite"
    done = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(path), during],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 9, done.stderr
    box = make(tmp_path, FakeClock())
    # The committed batch is whole; the interrupted one left nothing (insert) or deleted nothing.
    assert [i.seq for i in box.due(100, 30)] == list(range(1, 11))
    assert box.stats().depth == 10


def test_dropping_is_logged_once_when_it_starts_and_once_with_counts_when_it_ends(tmp_path: Path) -> None:
    box = make(tmp_path, FakeClock(), max_messages=10)
    with capture_logs() as logs:
        box.put_many([("b", s, "inventory", "t", b"p") for s in range(1, 11)])
        for seq in range(11, 41):  # thirty more, one at a time: each drops the oldest
            box.put("b", seq, "flow", "t", b"p")
        box.confirm("b", [(1, 40)])
        box.put("b", 41, "flow", "t", b"p")
        box.put("b", 42, "flow", "t", b"p")
    events = [(e["event"], e.get("dropped")) for e in logs]
    assert events == [
        ("outbox_full_dropping", {"inventory": 1}),
        ("outbox_dropping_ended", {"inventory": 10, "flow": 20}),
    ]
    assert box.stats().dropped == {"inventory": 10, "flow": 20}

"""Receipt batching: confirmed after the interval, or at once when one agent has enough waiting."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Envelope, Kind
from agent.wire.receipts import open_receipt
from collector.receipts import ReceiptBatcher
from tests.support.clock import FakeClock

KEY = Ed25519PrivateKey.generate()


def envelopes(agent: str, seqs: range) -> list[Envelope]:
    return [Envelope(1, agent, "hq", "boot", s, "", Kind.INVENTORY, {}, "") for s in seqs]


def test_receipts_wait_for_the_interval_unless_one_agent_has_enough_waiting() -> None:
    clock = FakeClock()
    sent: list[tuple[str, bytes]] = []
    batcher = ReceiptBatcher(KEY, lambda t, p: sent.append((t, p)), clock, 0.1, flush_at_seqs=10)
    batcher.add(envelopes("a1", range(1, 10)))
    batcher.add(envelopes("a2", range(1, 10)))
    assert not batcher.due()  # 9 each: neither reaches 10, and no time has passed
    clock.advance(0.1)
    assert batcher.due()
    assert batcher.flush() == 2 and not batcher.due()
    batcher.add(envelopes("a1", range(10, 15)))
    batcher.add(envelopes("a1", range(12, 20)))  # repeats count once: 10 distinct
    assert batcher.due()
    batcher.flush()
    receipt = open_receipt(sent[-1][1], KEY.public_key())
    assert receipt is not None and receipt.ranges == ((10, 19),)
    assert sent[-1][0] == "camsentry/v1/hq/a1/receipt"

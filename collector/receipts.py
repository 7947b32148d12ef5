"""Receipt batching: what was stored (new or already there) is confirmed to its agent, signed."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import Clock
from agent.wire.envelope import Envelope
from agent.wire.receipts import RECEIPT_KIND, Receipt, seal_receipt, to_ranges
from agent.wire.topics import topic

# A receipt lists ranges; cap how many seqs one covers so it stays far below the packet limit.
MAX_SEQS_PER_RECEIPT = 5_000
# Confirm at once when one agent has this many waiting, whatever the interval: an agent stops
# publishing new envelopes at max_unconfirmed (1,000 by default), so receipts that only come
# every interval would make a busy agent stop and wait instead of streaming. One receipt per
# 250 envelopes costs the collector one signature, the agent one verification.
FLUSH_AT_SEQS = 250


class ReceiptBatcher:
    def __init__(
        self,
        key: Ed25519PrivateKey,
        publish: Callable[[str, bytes], object],
        clock: Clock,
        flush_interval_s: float = 0.1,
        flush_at_seqs: int = FLUSH_AT_SEQS,
    ) -> None:
        self._key = key
        self._publish = publish
        self._clock = clock
        self._interval = flush_interval_s
        self._flush_at = flush_at_seqs
        self._pending: dict[tuple[str, str, str], set[int]] = {}
        self._oldest: float | None = None
        self._largest = 0

    def add(self, envelopes: Iterable[Envelope]) -> None:
        for env in envelopes:
            seqs = self._pending.setdefault((env.site, env.agent, env.boot), set())
            seqs.add(env.seq)
            self._largest = max(self._largest, len(seqs))
            if self._oldest is None:
                self._oldest = self._clock.monotonic()

    def due(self) -> bool:
        """True when the oldest waiting seq is an interval old, or one agent has enough waiting."""
        if self._oldest is None:
            return False
        return self._largest >= self._flush_at or self._clock.monotonic() - self._oldest >= self._interval

    def flush(self) -> int:
        sent = 0
        now = self._clock.now()
        for (site, agent, boot), seqs in self._pending.items():
            ordered = sorted(seqs)
            for start in range(0, len(ordered), MAX_SEQS_PER_RECEIPT):
                chunk = ordered[start : start + MAX_SEQS_PER_RECEIPT]
                receipt = Receipt(site=site, agent=agent, boot=boot, ranges=to_ranges(chunk))
                self._publish(topic(site, agent, RECEIPT_KIND), seal_receipt(self._key, receipt, now))
                sent += 1
        self._pending.clear()
        self._oldest = None
        self._largest = 0
        return sent

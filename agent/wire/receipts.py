"""Receipts: the collector's signed word that it stored a set of an agent's envelopes.

Topic ``camsentry/v1/<site>/<agent>/receipt``; body lists (boot, inclusive seq ranges).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.wire.canonical import canonical_json
from agent.wire.envelope import WIRE_VERSION
from agent.wire.jsonload import JSON_DECODE_ERRORS, load_untrusted
from agent.wire.signing import sign_document, verify_document
from agent.wire.timefmt import format_utc

RECEIPT_KIND = "receipt"
MAX_RECEIPT_BYTES = 64 * 1024
# Outbox sequence numbers live in SQLite INTEGER columns: signed 64-bit.
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class Receipt:
    site: str
    agent: str
    boot: str
    ranges: tuple[tuple[int, int], ...]

    def covers(self, seq: int) -> bool:
        return any(lo <= seq <= hi for lo, hi in self.ranges)


def to_ranges(seqs: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Compress sequence numbers into sorted inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return tuple(ranges)


def seal_receipt(key: Ed25519PrivateKey, receipt: Receipt, now: datetime) -> bytes:
    fields = {
        "v": WIRE_VERSION,
        "site": receipt.site,
        "agent": receipt.agent,
        "boot": receipt.boot,
        "ranges": [list(r) for r in receipt.ranges],
        "ts": format_utc(now),
    }
    return canonical_json(sign_document(key, fields))


def open_receipt(payload: bytes, collector_key: Ed25519PublicKey) -> Receipt | None:
    """Parse and verify a receipt; None for anything not validly signed by the collector."""
    if len(payload) > MAX_RECEIPT_BYTES:
        return None
    try:
        document = load_untrusted(payload)
    except JSON_DECODE_ERRORS:
        return None
    if not isinstance(document, dict) or document.get("v") != WIRE_VERSION:
        return None
    if not verify_document(collector_key, document):
        return None
    raw_ranges = document.get("ranges")
    site, agent, boot = document.get("site"), document.get("agent"), document.get("boot")
    if not (isinstance(site, str) and isinstance(agent, str) and isinstance(boot, str)):
        return None
    if not isinstance(raw_ranges, list):
        return None
    ranges: list[tuple[int, int]] = []
    for item in raw_ranges:
        if not (isinstance(item, list) and len(item) == 2 and all(type(x) is int for x in item)):
            return None
        if not 1 <= item[0] <= item[1] <= MAX_SEQ:
            return None
        ranges.append((item[0], item[1]))
    return Receipt(site=site, agent=agent, boot=boot, ranges=tuple(ranges))

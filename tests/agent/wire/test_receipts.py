from __future__ import annotations

import json
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.canonical import canonical_json
from agent.wire.receipts import Receipt, open_receipt, seal_receipt, to_ranges

COLLECTOR = Ed25519PrivateKey.generate()
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_to_ranges_compresses_sorted_unique() -> None:
    assert to_ranges([5, 1, 2, 3, 3, 9, 10, 7]) == ((1, 3), (5, 5), (7, 7), (9, 10))
    assert to_ranges([]) == ()


def test_receipt_round_trip_and_coverage() -> None:
    receipt = Receipt(site="hq", agent="pi", boot="b", ranges=((1, 3), (7, 7)))
    opened = open_receipt(seal_receipt(COLLECTOR, receipt, NOW), COLLECTOR.public_key())
    assert opened == receipt
    assert [s for s in range(10) if opened.covers(s)] == [1, 2, 3, 7]


def test_forged_or_tampered_receipts_are_ignored() -> None:
    receipt = Receipt(site="hq", agent="pi", boot="b", ranges=((1, 3),))
    forged = seal_receipt(Ed25519PrivateKey.generate(), receipt, NOW)
    assert open_receipt(forged, COLLECTOR.public_key()) is None
    doc = json.loads(seal_receipt(COLLECTOR, receipt, NOW))
    doc["ranges"] = [[1, 1000]]
    assert open_receipt(canonical_json(doc), COLLECTOR.public_key()) is None
    for junk in (b"", b"null", b"{", b'{"v":1}', b"x" * 100_000):
        assert open_receipt(junk, COLLECTOR.public_key()) is None

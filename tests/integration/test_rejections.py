"""Hostile and broken messages on the broker: each refused and counted, good ones keep flowing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.canonical import canonical_json
from agent.wire.envelope import Kind, encode, seal
from agent.wire.receipts import open_receipt
from agent.wire.signing import public_key_to_text
from collector.reports.status import status_rows
from tests.support.mosquitto import Broker
from tests.support.pipeline import running_collector, wait_until
from tests.support.rawmqtt import publish_and_wait, raw_client

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def envelope(
    key: Ed25519PrivateKey, seq: int, *, site: str = "hq", agent: str = "pi", kind: Kind = Kind.HEALTH
) -> bytes:
    return encode(
        seal(key, agent=agent, site=site, boot="boot1", seq=seq, ts=NOW, kind=kind, body={"n": seq})
    )


def test_each_bad_message_is_rejected_and_counted_while_good_ones_are_stored(
    broker: Broker, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    with running_collector(broker, tmp_path / "c") as col:
        col.store.add_agent("hq", "pi", public_key_to_text(key.public_key()), NOW.isoformat())
        good_topic = "camsentry/v1/hq/pi/health"
        forged = envelope(Ed25519PrivateKey.generate(), 2)
        tampered = json.loads(envelope(key, 3))
        tampered["body"]["n"] = 999
        v2 = json.loads(envelope(key, 4))
        v2["v"] = 2
        cases = [
            (good_topic, forged, "bad_signature"),
            (good_topic, canonical_json(tampered), "bad_signature"),
            (
                "camsentry/v1/hq/stranger/health",
                envelope(Ed25519PrivateKey.generate(), 1, agent="stranger"),
                "unknown_agent",
            ),
            ("camsentry/v1/hq/pi/flow", envelope(key, 5), "topic_mismatch"),
            ("camsentry/v1/other/pi/health", envelope(key, 6), "topic_mismatch"),
            (good_topic, b"x" * (300 * 1024), "oversize"),
            # beyond the 512 KiB the collector used to ask the broker for: it dropped these unseen
            (good_topic, b"x" * (2 * 1024 * 1024), "oversize"),
            (good_topic, b'{"v":1,"agent":', "malformed_json"),
            (good_topic, canonical_json(v2), "unknown_version"),
            (good_topic, b'{"v":1}', "malformed_envelope"),
            (good_topic, b'{"v":1,"seq":' + b"7" * 5000 + b"}", "malformed_json"),
            (good_topic, b'{"v":1,"body":' + b"[" * 990 + b"]" * 990 + b"}", "malformed_json"),
        ]
        with raw_client(broker, "attacker", subscribe="camsentry/v1/hq/pi/receipt") as (client, receipts):
            publish_and_wait(client, good_topic, envelope(key, 1))
            for topic, payload, _reason in cases:
                publish_and_wait(client, topic, payload)
            publish_and_wait(client, good_topic, envelope(key, 1))  # replay of a stored message
            publish_and_wait(client, good_topic, envelope(key, 7))
            wait_until(lambda: col.store.count_envelopes() == 2, 10, "the two good envelopes")
            wait_until(lambda: col.service.duplicates == 1, 10, "the replay counted as duplicate")
            receipt = open_receipt(receipts.get(timeout=10).payload, col.key.public_key())
            assert receipt is not None and receipt.boot == "boot1" and receipt.covers(1)

        expected: dict[str, int] = {}
        for topic, _payload, reason in cases:
            if topic.startswith("camsentry/v1/hq/pi/"):
                expected[f"rejected:{reason}"] = expected.get(f"rejected:{reason}", 0) + 1
        # the good envelopes were published after the bad ones, so every bad one is counted by now
        counters = col.store.counters()
        pi = counters[("hq", "pi")]
        assert {k: v for k, v in pi.items() if k.startswith("rejected:")} == expected
        assert pi["accepted"] == 2 and pi["duplicate"] == 1
        # names nobody enrolled share one counter row, so made-up names cannot grow the table
        assert counters[("?", "?")] == {"rejected:unknown_agent": 1, "rejected:topic_mismatch": 1}
        assert col.store.count_envelopes() == 2
        rows = status_rows(col.store, now=datetime.now(UTC), silent_after_s=900)
        assert rows[0]["rejected_by_reason"]["bad_signature"] == 2

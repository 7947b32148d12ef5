"""Envelope sealing, decoding and every rejection DESIGN.md lists, without a network."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.canonical import canonical_json
from agent.wire.envelope import Kind, check_topic, decode, encode, seal, verify
from agent.wire.errors import RejectReason, WireError
from agent.wire.topics import parse_topic, topic

KEY = Ed25519PrivateKey.generate()
T0 = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


def sealed(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "agent": "pi-01",
        "site": "hq",
        "boot": "b00t",
        "seq": 1,
        "ts": T0,
        "kind": Kind.INVENTORY,
        "body": {"device": {"address": "198.51.100.7"}},
    }
    fields.update(overrides)
    return encode(seal(KEY, **fields))  # type: ignore[arg-type]


def test_round_trip_is_canonical_and_verifies() -> None:
    payload = sealed()
    doc = json.loads(payload)
    assert payload == canonical_json(doc)
    assert doc["ts"] == "2026-11-23T12:00:00.123Z"
    env = decode(payload)
    verify(env, KEY.public_key())
    assert (env.site, env.agent, env.boot, env.seq, env.kind) == ("hq", "pi-01", "b00t", 1, Kind.INVENTORY)


def test_any_changed_field_breaks_the_signature() -> None:
    doc = json.loads(sealed())
    doc["body"]["device"]["address"] = "198.51.100.8"
    env = decode(canonical_json(doc))
    with pytest.raises(WireError) as err:
        verify(env, KEY.public_key())
    assert err.value.reason is RejectReason.BAD_SIGNATURE


def test_signature_from_another_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    env = decode(
        encode(seal(other, agent="pi-01", site="hq", boot="b", seq=1, ts=T0, kind=Kind.HEALTH, body={}))
    )
    with pytest.raises(WireError) as err:
        verify(env, KEY.public_key())
    assert err.value.reason is RejectReason.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.MALFORMED_JSON),
        (b"\xff\xfe\x00", RejectReason.MALFORMED_JSON),
        (b"[1, 2]", RejectReason.MALFORMED_JSON),
        (b"[" * 100_000, RejectReason.MALFORMED_JSON),
        (b'{"v": 2}', RejectReason.UNKNOWN_VERSION),
        (b'{"v": "1"}', RejectReason.MALFORMED_ENVELOPE),
        (b'{"v": 1, "agent": "a"}', RejectReason.MALFORMED_ENVELOPE),
    ],
    ids=["truncated", "not-utf8", "array", "deep-nesting", "v2", "v-string", "missing-fields"],
)
def test_malformed_payloads_raise_wire_errors(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(WireError) as err:
        decode(payload)
    assert err.value.reason is reason


def test_wrong_field_types_and_extra_fields_are_malformed() -> None:
    good = json.loads(sealed())
    for name, value in [("seq", True), ("seq", "1"), ("seq", 0), ("body", []), ("kind", "bogus")]:
        doc = {**good, name: value}
        with pytest.raises(WireError) as err:
            decode(canonical_json(doc))
        assert err.value.reason is RejectReason.MALFORMED_ENVELOPE, (name, value)
    with pytest.raises(WireError) as err:
        decode(canonical_json({**good, "extra": 1}))
    assert err.value.reason is RejectReason.MALFORMED_ENVELOPE


def test_oversize_is_refused_before_parsing() -> None:
    payload = b" " * 300 + sealed()
    with pytest.raises(WireError) as err:
        decode(payload, max_bytes=200)
    assert err.value.reason is RejectReason.OVERSIZE


def test_topic_must_agree_with_body() -> None:
    env = decode(sealed())
    check_topic(env, parse_topic(topic("hq", "pi-01", "inventory")))  # type: ignore[arg-type]
    for wrong in (
        topic("other", "pi-01", "inventory"),
        topic("hq", "pi-02", "inventory"),
        topic("hq", "pi-01", "flow"),
    ):
        with pytest.raises(WireError) as err:
            check_topic(env, parse_topic(wrong))  # type: ignore[arg-type]
        assert err.value.reason is RejectReason.TOPIC_MISMATCH


def test_parse_topic_refuses_foreign_and_odd_topics() -> None:
    assert parse_topic("camsentry/v1/hq/pi-01/flow") is not None
    for bad in [
        "camsentry/v2/hq/pi/flow",
        "camsentry/v1/hq/pi",
        "x/y/z",
        "camsentry/v1/../pi/flow",
        "camsentry/v1/hq/+/flow",
    ]:
        assert parse_topic(bad) is None, bad


def test_sealed_payload_is_exactly_the_canonical_encoding() -> None:
    # seal() splices the signature into the signed bytes; it must equal a full re-encoding,
    # including when the body itself holds keys named "site" or "sig".
    body = {"site": "x", "nested": {"sig": "y", "site": "z"}, "text": ',"site":"'}
    env = seal(KEY, agent="a", site="s", boot="b", seq=7, ts=T0, kind=Kind.FLOW, body=body)
    assert encode(env) == canonical_json(env.as_document())
    decoded = decode(encode(env))
    verify(decoded, KEY.public_key())
    assert decoded.body == body

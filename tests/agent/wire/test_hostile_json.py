"""Every wire parser turns every hostile JSON shape into its typed refusal, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.canonical import canonical_json
from agent.wire.commands import AckReason, open_command
from agent.wire.enrol import open_enrol
from agent.wire.envelope import Kind, decode, encode, seal, verify
from agent.wire.errors import RejectReason, WireError
from agent.wire.jsonload import MAX_DEPTH, JsonLimitError, load_untrusted, nested_deeper_than
from agent.wire.receipts import Receipt, open_receipt, seal_receipt
from agent.wire.signing import sign_document

NOW = datetime(2026, 11, 23, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()

HUGE_INT = b'{"v":1,"n":' + b"7" * 5000 + b"}"
HOSTILE = {
    "huge_int": HUGE_INT,
    "huge_negative_int": b'{"v":1,"n":-' + b"7" * 5000 + b"}",
    "21_digit_int": b'{"v":1,"n":' + b"1" * 21 + b"}",
    "deep_arrays": b'{"v":1,"n":' + b"[" * 990 + b"]" * 990 + b"}",
    "deep_objects": b'{"v":1,"n":' + b'{"a":' * 990 + b"1" + b"}" * 990 + b"}",
    "deep_unclosed": b"[" * 60_000,
    "nan": b'{"v":1,"n":NaN}',
    "infinity": b'{"v":1,"n":-Infinity}',
    "float_overflow": b'{"v":1,"n":1e999}',
    "lone_surrogate": b'{"v":1,"n":"\\ud800"}',
    "lone_low_surrogate": b'{"v":1,"n":"x\\udc00"}',
    "not_utf8": b'{"v":1,"n":"\xff\xfe"}',
    "truncated": b'{"v":1,"n":',
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_bounded_loader_refuses_with_a_value_error(name: str) -> None:
    with pytest.raises((JsonLimitError, json.JSONDecodeError, UnicodeDecodeError)):
        load_untrusted(HOSTILE[name])


def test_loader_keeps_what_is_fine() -> None:
    assert load_untrusted(b'{"a":"[[[[\\"{{{{","n":' + b"9" * 20 + b"}") == {
        "a": '[[[["{{{{',
        "n": int("9" * 20),
    }
    assert load_untrusted(b'{"e":"\\ud83d\\ude00","f":1.5}') == {"e": "\U0001f600", "f": 1.5}
    assert load_untrusted(b'{"t":"\\\\ud800"}') == {"t": "\\ud800"}, "an escaped backslash, not a surrogate"
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert not nested_deeper_than(deep, MAX_DEPTH) and nested_deeper_than(deep, MAX_DEPTH - 1)
    wide = b"[" + b",".join([b'{"a":[1,{"b":"]]]]"}]}'] * 500) + b"]"
    assert not nested_deeper_than(wide, 4) and nested_deeper_than(wide, 3)
    escaped = b'["\\"[[[[", ' + b"[" * 3 + b"]" * 3 + b"]"
    assert not nested_deeper_than(escaped, 4) and nested_deeper_than(escaped, 3)
    load_untrusted(deep)
    with pytest.raises(JsonLimitError, match="nested more than"):
        load_untrusted(b"[" + deep + b"]")
    # brackets inside strings do not count, however many
    assert load_untrusted(b'["' + b"[" * 5000 + b'"]') == ["[" * 5000]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_envelope_decode_refuses_as_malformed_json(name: str) -> None:
    with pytest.raises(WireError) as caught:
        decode(HOSTILE[name])
    assert caught.value.reason is RejectReason.MALFORMED_JSON


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_receipt_enrol_and_command_refuse(name: str) -> None:
    payload = HOSTILE[name]
    assert open_receipt(payload, KEY.public_key()) is None
    assert open_enrol(payload) is None
    outcome = open_command(payload, KEY.public_key(), site="s", agent="a", now=NOW, last_applied_id=0)
    assert outcome.refusal is AckReason.MALFORMED and outcome.command is None


def test_signed_envelope_nested_to_the_limit_verifies_and_beyond_is_refused() -> None:
    def body(depth: int) -> dict[str, object]:
        inner: object = 1
        for _ in range(depth):
            inner = [inner]
        return {"n": inner}

    ok = seal(KEY, agent="a", site="s", boot="b", seq=1, ts=NOW, kind=Kind.HEALTH, body=body(MAX_DEPTH - 2))
    verify(decode(encode(ok)), KEY.public_key())
    deep = seal(KEY, agent="a", site="s", boot="b", seq=1, ts=NOW, kind=Kind.HEALTH, body=body(MAX_DEPTH))
    with pytest.raises(WireError) as caught:
        decode(encode(deep))
    assert caught.value.reason is RejectReason.MALFORMED_JSON


def test_signed_receipt_with_ranges_beyond_64_bits_is_refused() -> None:
    doc = sign_document(
        KEY, {"v": 1, "site": "s", "agent": "a", "boot": "b", "ranges": [[1, 2**63]], "ts": "x"}
    )
    assert open_receipt(canonical_json(doc), KEY.public_key()) is None
    good = seal_receipt(KEY, Receipt(site="s", agent="a", boot="b", ranges=((1, 2**63 - 1),)), NOW)
    assert open_receipt(good, KEY.public_key()) is not None

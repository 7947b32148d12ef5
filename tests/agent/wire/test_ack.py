"""The ack record: one encoder, one strict decoder; values from a newer agent kept as unknown."""

from __future__ import annotations

from typing import Any

import pytest

from agent.wire.commands import UNENFORCEABLE, Ack, AckOutcome, AckReason
from agent.wire.errors import BodyError


def test_round_trip() -> None:
    ack = Ack(
        7, "quarantine", "10.0.0.9", AckOutcome.REFUSED, AckReason.NO_CAPABILITY, "EPERM", "", ("10.0.0.8",)
    )
    body = ack.to_json()
    assert body == {
        "command_id": 7,
        "action": "quarantine",
        "device": "10.0.0.9",
        "outcome": "refused",
        "reason": "no_capability",
        "detail": "EPERM",
        "ruleset": "",
        "quarantined": ["10.0.0.8"],
    }
    assert Ack.decode(body) == ack
    assert (ack.outcome_text, ack.reason_text) == ("refused", "no_capability")


def test_unknown_values_are_kept_not_dropped() -> None:
    body = {"command_id": 3, "outcome": "partially_applied", "reason": "ebpf_busy", "detail": "x"}
    ack = Ack.decode(body)
    assert (ack.outcome, ack.reason) == (None, None)
    assert (ack.outcome_text, ack.reason_text) == ("unknown", "unknown:ebpf_busy")
    assert ack.unknown == {"outcome": "partially_applied", "reason": "ebpf_busy"}
    assert ack.to_json()["outcome"] == "partially_applied"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "ack"),
        ({}, "ack.outcome"),
        ({"outcome": 1}, "ack.outcome"),
        ({"outcome": "applied", "command_id": "7"}, "ack.command_id"),
        ({"outcome": "applied", "command_id": True}, "ack.command_id"),
        ({"outcome": "applied", "quarantined": [1]}, "ack.quarantined"),
        ({"outcome": "applied", "detail": {}}, "ack.detail"),
    ],
)
def test_strict_on_types(body: Any, field: str) -> None:
    with pytest.raises(BodyError, match=field):
        Ack.decode(body)


def test_what_cannot_be_enforced_is_refused() -> None:
    assert {r.value for r in UNENFORCEABLE} == {"enforcement_disabled", "nft_missing", "no_capability"}

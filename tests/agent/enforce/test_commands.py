"""agent.wire.commands: every refusal has its reason; a good command opens."""

from __future__ import annotations

import json
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.canonical import canonical_json
from agent.wire.commands import (
    MAX_COMMAND_BYTES,
    AckReason,
    CommandAction,
    CommandOutcome,
    open_command,
)
from agent.wire.signing import sign_document
from tests.agent.enforce.conftest import T0, MakeCommand


def _open(
    payload: bytes,
    key: Ed25519PrivateKey,
    last: int = 0,
    *,
    now: datetime = T0,
    agent: str = "agent-1",
) -> CommandOutcome:
    return open_command(payload, key.public_key(), site="site-a", agent=agent, now=now, last_applied_id=last)


def test_good_command_opens(make_command: MakeCommand, collector_key: Ed25519PrivateKey) -> None:
    outcome = _open(make_command(3, params={"recorders": ["10.77.2.2"]}), collector_key, last=2)
    assert outcome.accepted
    assert outcome.command is not None
    assert outcome.command.id == 3
    assert outcome.command.action is CommandAction.QUARANTINE
    assert outcome.command.params == {"recorders": ["10.77.2.2"]}


def test_refusals(make_command: MakeCommand, collector_key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    good = make_command(5)
    tampered = json.loads(good)
    tampered["device"] = "10.77.1.3"
    unsigned = json.loads(good)
    del unsigned["sig"]
    cases = [
        (AckReason.BAD_SIGNATURE, _open(make_command(5, key=other), collector_key)),
        (AckReason.BAD_SIGNATURE, _open(canonical_json(tampered), collector_key)),
        (AckReason.UNSIGNED, _open(canonical_json(unsigned), collector_key)),
        (AckReason.MALFORMED, _open(b"{not json", collector_key)),
        (AckReason.OVERSIZE, _open(b" " * (MAX_COMMAND_BYTES + 1), collector_key)),
        (AckReason.EXPIRED, _open(good, collector_key, now=T0.replace(hour=13))),
        (AckReason.REPLAYED, _open(good, collector_key, last=5)),
        (AckReason.WRONG_TARGET, _open(make_command(5, agent="agent-2"), collector_key)),
    ]
    for expected, outcome in cases:
        assert not outcome.accepted, expected
        assert outcome.refusal is expected
        assert outcome.detail, expected


def test_signed_but_malformed(collector_key: Ed25519PrivateKey) -> None:
    doc = sign_document(collector_key, {"v": 1, "id": "seven"})
    assert _open(canonical_json(doc), collector_key).refusal is AckReason.MALFORMED
    doc = sign_document(
        collector_key,
        {
            "v": 1,
            "id": 1,
            "site": "site-a",
            "agent": "agent-1",
            "action": "self_destruct",
            "device": "10.0.0.1",
            "params": {},
            "issued": "2026-11-23T12:00:00.000Z",
            "expires": "2026-11-23T12:15:00.000Z",
        },
    )
    assert _open(canonical_json(doc), collector_key).refusal is AckReason.UNKNOWN_ACTION

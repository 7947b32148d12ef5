"""The birth and status records: round trip, strict refusals, forward compatibility."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.wire.errors import BodyError
from agent.wire.health import HealthBody
from agent.wire.lifecycle import AgentState, BirthBody, Capabilities, EnforcementCapability, StatusBody

BIRTH = BirthBody(
    version="0.9.1",
    boot="b0",
    started_at="2026-12-01T10:00:00Z",
    host="pi",
    pid=42,
    cameras_configured=3,
    policy_version=None,
    policy_said=True,
    config_digest="sha256:ab",
    capabilities=Capabilities(
        EnforcementCapability(False, "nft_missing", "nft: not installed"),
        ("conntrack", "sockets"),
        metrics=True,
    ),
)


def _wire(body: dict[str, Any]) -> Any:
    return json.loads(json.dumps(body))  # what the collector gets: JSON, not the objects


def test_birth_round_trip() -> None:
    body = _wire(BIRTH.to_body())
    assert BirthBody.decode(body) == BIRTH
    assert body["policy_version"] is None and body["capabilities"]["enforcement"]["reason"] == "nft_missing"
    assert "policy_version" not in BirthBody("1").to_body()  # not said: left out, not null
    assert BirthBody.decode(BirthBody("1").to_body()).policy_said is False


def test_status_round_trip() -> None:
    for state in (AgentState.ONLINE, AgentState.OFFLINE, AgentState.STOPPING):
        status = StatusBody(state, "connection lost", "pi")
        assert StatusBody.decode(_wire(status.to_body())) == StatusBody(
            state, "connection lost", "pi", state.value
        )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "birth: expected an object, got list"),
        ({}, "birth.version: missing"),
        ({"version": 1}, "birth.version: expected a string, got int"),
        ({"version": "1", "pid": "42"}, "birth.pid: expected an integer, got str"),
        ({"version": "1", "capabilities": []}, "birth.capabilities: expected an object, got list"),
        (
            {"version": "1", "capabilities": {"enforcement": {}}},
            "capabilities.enforcement.available: missing",
        ),
        (
            {"version": "1", "capabilities": {"enforcement": {"available": "no"}}},
            "capabilities.enforcement.available: expected true or false, got str",
        ),
        (
            {"version": "1", "capabilities": {"egress_sources": "conntrack"}},
            "egress_sources: expected a list",
        ),
        (
            {"version": "1", "capabilities": {"metrics": 1}},
            "capabilities.metrics: expected true or false, got int",
        ),
    ],
)
def test_birth_decoder_refuses(body: Any, error: str) -> None:
    with pytest.raises(BodyError, match=error):
        BirthBody.decode(body)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (None, "status: expected an object, got null"),
        ({}, "status.state: missing"),
        ({"state": None}, "status.state: expected a string"),
        ({"state": True}, "status.state: expected a string, got bool"),
        ({"state": "online", "reason": 3}, "status.reason: expected a string, got int"),
    ],
)
def test_status_decoder_refuses(body: Any, error: str) -> None:
    with pytest.raises(BodyError, match=error):
        StatusBody.decode(body)


def test_unknown_fields_and_states_are_kept() -> None:
    birth = BirthBody.decode(
        {"version": "2.0", "kernel": "6.1", "capabilities": {"metrics": True, "gpio": {"pins": 4}}}
    )
    assert birth.extra == {"kernel": "6.1"} and birth.capabilities is not None
    assert birth.capabilities.extra == {"gpio": {"pins": 4}}
    again = birth.to_body()
    assert again["kernel"] == "6.1" and again["capabilities"]["gpio"] == {"pins": 4}

    status = StatusBody.decode({"state": "hibernating", "reason": "battery", "zone": "b"})
    assert status.state is AgentState.UNKNOWN and status.state_text == "hibernating"
    assert status.extra == {"zone": "b"}
    assert status.to_body()["state"] == "hibernating"  # passed on as sent, not rewritten


def test_health_carries_enforcement_capability() -> None:
    health = HealthBody(enforcement=EnforcementCapability(False, "no_capability", "Operation not permitted"))
    decoded = HealthBody.decode(_wire(health.to_body()))
    assert decoded.enforcement == health.enforcement
    assert decoded.enforcement is not None and decoded.enforcement.summary() == "unavailable (no_capability)"
    assert HealthBody.decode({"connected": True}).enforcement is None  # an older agent: not said

"""The collector's agent_status projection reads status bodies only through the wire decoder."""

from __future__ import annotations

from agent.wire.lifecycle import AgentState
from collector.store.dbstore import status_projection


def test_collector_keeps_unknown_and_undecodable_statuses_as_unknown() -> None:
    assert status_projection({"state": "offline", "reason": "connection lost"}) == (
        AgentState.OFFLINE,
        "connection lost",
    )
    state, reason = status_projection({"state": "hibernating", "reason": "battery"})
    assert state is AgentState.UNKNOWN and reason == "state 'hibernating': battery"
    state, reason = status_projection({"state": 7})
    assert (
        state is AgentState.UNKNOWN
        and reason == "undecodable status: status.state: expected a string, got int"
    )

"""The violation lifecycle alone: every (state, action) pair, the risk cap, the engine's choice."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from collector.lifecycle import (
    MAX_RISK_ACCEPTANCE,
    TRANSITIONS,
    Action,
    TransitionError,
    ViolationState,
    after_evaluation,
    plan,
    risk_expired,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
S = ViolationState
UNTIL = NOW + timedelta(days=30)

EXPECTED = {
    (None, Action.OPENED): S.OPEN,
    (S.OPEN, Action.ACKNOWLEDGED): S.ACKNOWLEDGED,
    (S.OPEN, Action.RISK_ACCEPTED): S.RISK_ACCEPTED,
    (S.ACKNOWLEDGED, Action.RISK_ACCEPTED): S.RISK_ACCEPTED,
    (S.OPEN, Action.RESOLVED): S.RESOLVED,
    (S.ACKNOWLEDGED, Action.RESOLVED): S.RESOLVED,
    (S.RISK_ACCEPTED, Action.RESOLVED): S.RESOLVED,
    (S.RESOLVED, Action.REOPENED): S.OPEN,
    (S.RISK_ACCEPTED, Action.RISK_EXPIRED): S.OPEN,
}


@pytest.mark.parametrize(("before", "action"), list(itertools.product([None, *S], Action)))
def test_every_state_and_action(before: ViolationState | None, action: Action) -> None:
    wanted = EXPECTED.get((before, action))
    if wanted is None:
        with pytest.raises(TransitionError, match=f"cannot mark it {action.value}"):
            plan(before, action, who="alice", reason="r", now=NOW, until=UNTIL)
        return
    change = plan(before, action, who="alice", reason="r", now=NOW, until=UNTIL)
    assert (change.before, change.after, change.action) == (before, wanted, action)
    assert change.accepted_until == (UNTIL if action is Action.RISK_ACCEPTED else None)


def test_the_table_is_the_documented_one() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(
    ("who", "reason", "until", "message"),
    [
        ("", "r", UNTIL, "say who"),
        ("alice", " ", UNTIL, "say why"),
        ("alice", "r", None, "needs an end"),
        ("alice", "r", NOW, "not in the future"),
        ("alice", "r", NOW + MAX_RISK_ACCEPTANCE + timedelta(seconds=1), "at most 366 days"),
    ],
)
def test_risk_acceptance_needs_who_why_and_a_bounded_end(
    who: str, reason: str, until: datetime | None, message: str
) -> None:
    with pytest.raises(TransitionError, match=message):
        plan(S.OPEN, Action.RISK_ACCEPTED, who=who, reason=reason, now=NOW, until=until)


def test_the_cap_itself_is_allowed() -> None:
    change = plan(S.OPEN, Action.RISK_ACCEPTED, who="a", reason="r", now=NOW, until=NOW + MAX_RISK_ACCEPTANCE)
    assert change.after is S.RISK_ACCEPTED


def test_risk_expires_at_its_end_and_only_for_accepted_risks() -> None:
    assert not risk_expired(S.RISK_ACCEPTED, UNTIL, UNTIL - timedelta(milliseconds=1))
    assert risk_expired(S.RISK_ACCEPTED, UNTIL, UNTIL)
    assert not risk_expired(S.OPEN, UNTIL, UNTIL + timedelta(days=1))
    assert not risk_expired(S.RISK_ACCEPTED, None, UNTIL)


@pytest.mark.parametrize(
    ("state", "observed", "action"),
    [
        (None, True, Action.OPENED),
        (S.RESOLVED, True, Action.REOPENED),
        (S.OPEN, True, None),
        (S.ACKNOWLEDGED, True, None),
        (S.RISK_ACCEPTED, True, None),
        (S.OPEN, False, Action.RESOLVED),
        (S.ACKNOWLEDGED, False, Action.RESOLVED),
        (S.RISK_ACCEPTED, False, Action.RESOLVED),
        (S.RESOLVED, False, None),
        (None, False, None),
    ],
)
def test_what_the_engine_does_after_a_pass(
    state: ViolationState | None, observed: bool, action: Action | None
) -> None:
    assert after_evaluation(state, observed=observed) == action
    if action is not None:
        assert (state, action) in TRANSITIONS, "the engine only asks for allowed changes"

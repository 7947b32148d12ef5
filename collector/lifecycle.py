"""The violation lifecycle as a pure state machine: which change is allowed from which state.

States and the actions that move between them::

    (new) ──opened──▶ open ──acknowledged──▶ acknowledged ──risk_accepted──▶ risk_accepted
                       │ ▲  └─────────────risk_accepted───────────────────────────▲  │
                       │ └───────────────────────risk_expired (until passed)─────────┘
                       └── resolved (a person, or the engine when the facts clear) ──▶ resolved
                                                    resolved ──reopened (fires again)──▶ open

``TRANSITIONS`` is the whole rule set; ``plan`` checks one requested change against it (and
the risk-acceptance cap) and returns what to write, or raises ``TransitionError``. No clock,
no database: the store passes ``now`` and applies the ``Change``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from agent.runtime.errors import CamsentryError
from agent.wire.timefmt import format_utc

# A risk is accepted for a bounded time so that someone looks at it again (at least yearly).
MAX_RISK_ACCEPTANCE = timedelta(days=366)


class ViolationState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RISK_ACCEPTED = "risk_accepted"
    RESOLVED = "resolved"


UNRESOLVED = frozenset({ViolationState.OPEN, ViolationState.ACKNOWLEDGED, ViolationState.RISK_ACCEPTED})


class Action(StrEnum):
    """What happened; also the ``action`` column of the audit trail."""

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    RISK_ACCEPTED = "risk_accepted"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    RISK_EXPIRED = "risk_expired"


class TransitionError(CamsentryError):
    """A lifecycle change that is not allowed (unknown id, wrong state, missing reason)."""


_S = ViolationState
# (state before, action) -> state after; None before means the violation does not exist yet.
TRANSITIONS: Mapping[tuple[ViolationState | None, Action], ViolationState] = {
    (None, Action.OPENED): _S.OPEN,
    (_S.OPEN, Action.ACKNOWLEDGED): _S.ACKNOWLEDGED,
    (_S.OPEN, Action.RISK_ACCEPTED): _S.RISK_ACCEPTED,
    (_S.ACKNOWLEDGED, Action.RISK_ACCEPTED): _S.RISK_ACCEPTED,
    (_S.OPEN, Action.RESOLVED): _S.RESOLVED,
    (_S.ACKNOWLEDGED, Action.RESOLVED): _S.RESOLVED,
    (_S.RISK_ACCEPTED, Action.RESOLVED): _S.RESOLVED,
    (_S.RESOLVED, Action.REOPENED): _S.OPEN,
    (_S.RISK_ACCEPTED, Action.RISK_EXPIRED): _S.OPEN,
}


@dataclass(frozen=True)
class Change:
    """One allowed transition, ready to write: the new state and (for risk) until when."""

    before: ViolationState | None
    after: ViolationState
    action: Action
    who: str
    reason: str
    accepted_until: datetime | None = None


def allowed(before: ViolationState | None, action: Action) -> bool:
    return (before, action) in TRANSITIONS


def plan(
    before: ViolationState | None,
    action: Action,
    *,
    who: str,
    reason: str,
    now: datetime,
    until: datetime | None = None,
) -> Change:
    """Check one change against the rules; raises TransitionError saying why it is refused."""
    check_request(action, who=who, reason=reason, now=now, until=until)
    after = TRANSITIONS.get((before, action))
    if after is None:
        state = before.value if before else "not recorded"
        raise TransitionError(f"it is {state}; cannot mark it {action.value}")
    return Change(before, after, action, who, reason, until if action is Action.RISK_ACCEPTED else None)


def check_request(
    action: Action, *, who: str, reason: str, now: datetime, until: datetime | None = None
) -> None:
    """What a change needs whatever the state: who, why, and for a risk a window within the cap."""
    if not who.strip():
        raise TransitionError("say who is making the change (--by)")
    if not reason.strip():
        raise TransitionError("say why (--reason): the audit trail keeps it")
    if action is Action.RISK_ACCEPTED:
        check_risk_window(now, until)


def check_risk_window(now: datetime, until: datetime | None) -> None:
    """A risk acceptance ends in the future and within ``MAX_RISK_ACCEPTANCE``."""
    if until is None:
        raise TransitionError("a risk acceptance needs an end (--until)")
    if until <= now:
        raise TransitionError(f"--until {format_utc(until)} is not in the future")
    if until - now > MAX_RISK_ACCEPTANCE:
        raise TransitionError(f"a risk is accepted for at most {MAX_RISK_ACCEPTANCE.days} days")


def risk_expired(state: ViolationState, accepted_until: datetime | None, now: datetime) -> bool:
    """True when a risk acceptance has run out and the violation must open again."""
    return state is ViolationState.RISK_ACCEPTED and accepted_until is not None and accepted_until <= now


def after_evaluation(state: ViolationState | None, *, observed: bool) -> Action | None:
    """What the engine does to a violation after a pass: open or reopen what it observed,
    resolve what it no longer observes, leave the rest."""
    if observed:
        if state is None:
            return Action.OPENED
        return Action.REOPENED if state is ViolationState.RESOLVED else None
    return Action.RESOLVED if state in UNRESOLVED else None

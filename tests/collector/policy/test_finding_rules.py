"""Every finding kind the agent can raise has a policy decision: a rule, or a reason it is none."""

from __future__ import annotations

from agent.wire.findings import FindingKind
from collector.policy.engine import FINDING_RULES, Rule


def test_every_finding_kind_has_a_rule_decision() -> None:
    # A new FindingKind without an entry fails here: decide its rule (or why none) in FINDING_RULES.
    assert set(FINDING_RULES) == set(FindingKind)


def test_a_decision_is_a_rule_or_a_reason() -> None:
    for kind, decision in FINDING_RULES.items():
        assert decision.rule is not None or decision.why, kind
        if decision.rule is not None and decision.severity is None:
            assert decision.why, f"{kind}: which field raises {decision.rule}?"


def test_the_authentication_kinds_the_agent_emits_are_weak_authentication() -> None:
    weak = {k for k, d in FINDING_RULES.items() if d.rule is Rule.WEAK_AUTHENTICATION and d.raises}
    assert weak == {
        FindingKind.UNAUTHENTICATED_ACCESS,
        FindingKind.AUTH_BYPASS,
        FindingKind.REPLAYED_DIGEST_ACCEPTED,
        FindingKind.DEFAULT_CREDENTIALS,
    }


def test_unknown_kinds_raise_nothing() -> None:
    assert FINDING_RULES[FindingKind.UNKNOWN].rule is None

"""Violation lifecycle: transitions, engine sync, risk expiry, audit trail content."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.commands import CommandAction
from agent.wire.findings import Severity
from collector.policy.commanding import CommandIssuer
from collector.policy.engine import Evaluation, EvidenceRef, Rule, Violation
from collector.store import open_store
from collector.violations import TransitionError, ViolationState, ViolationStore
from tests.support.clock import FakeClock

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[ViolationStore]:
    """On each engine (``database_url``, tests/collector/conftest.py), the whole schema migrated."""
    db = open_store(database_url).db
    try:
        yield ViolationStore(db, clock=clock)
    finally:
        db.close()


def violation(
    site: str = "hq", device: str = "cam-1", rule: Rule = Rule.RESTRICTED_AT_SENSITIVE_SITE
) -> Violation:
    return Violation(
        rule=rule,
        severity=Severity.HIGH,
        site=site,
        agent="a1",
        device_id=device,
        address="10.77.1.2",
        discriminator="",
        summary="hikvision device at sensitive site hq",
        first_seen=T0 - timedelta(days=1),
        last_seen=T0,
        evidence=(EvidenceRef("a1", "b1", 4),),
        detail={"maker": "hikvision"},
    )


def evaluation(*violations: Violation, version: str = "sha256:aa", at: datetime = T0) -> Evaluation:
    return Evaluation(policy_version=version, evaluated_at=at, violations=tuple(violations))


def test_open_ack_accept_expire_resolve_with_audit(store: ViolationStore, clock: FakeClock) -> None:
    v = violation()
    result = store.record_evaluation(evaluation(v))
    assert [r.id for r in result.opened] == [v.id]
    row = store.get(v.id)
    assert row is not None
    assert row.state is ViolationState.OPEN
    assert row.evidence == ({"agent": "a1", "boot": "b1", "seq": 4},)
    assert row.policy_version == "sha256:aa"

    clock.t += timedelta(minutes=5)
    assert store.acknowledge(v.id, by="alice", reason="ticket INC-42").state is ViolationState.ACKNOWLEDGED
    with pytest.raises(TransitionError, match="is acknowledged; cannot mark it acknowledged"):
        store.acknowledge(v.id, by="alice", reason="again")

    until = T0 + timedelta(days=30)
    accepted = store.accept_risk(v.id, by="bob", reason="replacement on order PO-7", until=until)
    assert accepted.state is ViolationState.RISK_ACCEPTED
    assert accepted.accepted_until == until

    # Re-evaluating keeps an accepted risk accepted until its expiry.
    clock.t = T0 + timedelta(days=29)
    assert store.record_evaluation(evaluation(v)).opened == ()
    assert store.list_violations(states={ViolationState.RISK_ACCEPTED})[0].id == v.id

    clock.t = until + timedelta(seconds=1)
    reopened = store.list_violations(states={ViolationState.OPEN})
    assert [r.id for r in reopened] == [v.id]

    clock.t += timedelta(hours=1)
    assert store.resolve(v.id, by="carol", reason="camera removed").state is ViolationState.RESOLVED

    trail = store.audit(v.id)
    assert [(e.action, e.who, e.from_state, e.to_state) for e in trail] == [
        ("opened", "policy-engine", None, ViolationState.OPEN),
        ("acknowledged", "alice", ViolationState.OPEN, ViolationState.ACKNOWLEDGED),
        ("risk_accepted", "bob", ViolationState.ACKNOWLEDGED, ViolationState.RISK_ACCEPTED),
        ("risk_expired", "system", ViolationState.RISK_ACCEPTED, ViolationState.OPEN),
        ("resolved", "carol", ViolationState.OPEN, ViolationState.RESOLVED),
    ]
    assert trail[0].policy_version == "sha256:aa"
    assert trail[1].reason == "ticket INC-42"
    assert trail[1].at == T0 + timedelta(minutes=5)
    assert "replacement on order PO-7" in trail[3].reason
    assert trail[3].at == until + timedelta(seconds=1)
    assert [e.seq for e in trail] == [1, 2, 3, 4, 5]


def test_engine_resolves_cleared_and_reopens_recurring(store: ViolationStore, clock: FakeClock) -> None:
    a, b = violation(device="cam-1"), violation(device="cam-2")
    store.record_evaluation(evaluation(a, b))
    clock.t += timedelta(hours=1)
    result = store.record_evaluation(evaluation(a, version="sha256:bb"))
    assert [r.id for r in result.resolved] == [b.id]
    assert store.audit(b.id)[-1].reason == "no longer observed under policy sha256:bb"

    later = replace(b, last_seen=T0 + timedelta(hours=2), evidence=(EvidenceRef("a1", "b1", 9),))
    result = store.record_evaluation(evaluation(a, later))
    assert [r.id for r in result.reopened] == [b.id]
    row = store.get(b.id)
    assert row is not None
    assert row.state is ViolationState.OPEN
    assert row.last_seen == T0 + timedelta(hours=2)
    assert row.first_seen == T0 - timedelta(days=1)
    assert [e["seq"] for e in row.evidence] == [4, 9]


def test_scope_limits_auto_resolution(store: ViolationStore) -> None:
    hq, depot = violation("hq"), violation("depot")
    store.record_evaluation(evaluation(hq, depot))
    store.record_evaluation(evaluation(hq), scope_sites={"hq"})
    row = store.get(depot.id)
    assert row is not None
    assert row.state is ViolationState.OPEN


def test_severity_change_is_audited(store: ViolationStore) -> None:
    v = violation()
    store.record_evaluation(evaluation(v))
    store.record_evaluation(evaluation(replace(v, severity=Severity.CRITICAL)))
    assert store.audit(v.id)[-1].action == "severity_changed"
    assert store.list_violations()[0].severity == "critical"


def test_refused_changes(store: ViolationStore) -> None:
    v = violation()
    store.record_evaluation(evaluation(v))
    with pytest.raises(TransitionError, match="no violation V-nope"):
        store.acknowledge("V-nope", by="a", reason="r")
    with pytest.raises(TransitionError, match="say why"):
        store.acknowledge(v.id, by="alice", reason=" ")
    with pytest.raises(TransitionError, match="say who"):
        store.resolve(v.id, by="", reason="gone")
    with pytest.raises(TransitionError, match="not in the future"):
        store.accept_risk(v.id, by="bob", reason="r", until=T0)
    with pytest.raises(TransitionError, match="at most 366 days"):
        store.accept_risk(v.id, by="bob", reason="r", until=T0 + timedelta(days=400))
    assert [e.action for e in store.audit(v.id)] == ["opened"]


def test_list_filters_and_worst_first(store: ViolationStore) -> None:
    low = replace(violation(device="cam-9", rule=Rule.CLOCK_SKEW), severity=Severity.LOW)
    crit = replace(violation("depot"), severity=Severity.CRITICAL)
    store.record_evaluation(evaluation(low, violation(), crit))
    assert [r.severity for r in store.list_violations()] == ["critical", "high", "low"]
    assert {r.site for r in store.list_violations(site="hq")} == {"hq"}
    assert [r.rule for r in store.list_violations(rules={"clock_skew"})] == ["clock_skew"]
    assert store.list_violations(states={ViolationState.RESOLVED}) == []


def test_command_ids_and_acks_in_the_same_database(store: ViolationStore, clock: FakeClock) -> None:
    published: list[tuple[str, bytes]] = []
    issuer = CommandIssuer(
        store.db, Ed25519PrivateKey.generate(), lambda t, p: published.append((t, p)), clock=clock
    )
    assert issuer.send("hq", "a1", CommandAction.QUARANTINE, "10.77.1.2", {"recorders": []}) == 1
    assert issuer.send("hq", "a1", CommandAction.QUARANTINE, "10.77.1.3") == 2
    assert issuer.send("depot", "a1", CommandAction.QUARANTINE, "10.0.4.4") == 1
    assert issuer.quarantined() == {
        ("hq", "a1", "10.77.1.2"),
        ("hq", "a1", "10.77.1.3"),
        ("depot", "a1", "10.0.4.4"),
    }
    assert issuer.record_ack("hq", "a1", {"command_id": 2, "outcome": "refused", "reason": "expired"})
    assert not issuer.record_ack("hq", "a1", {"command_id": 99, "outcome": "applied"})
    assert ("hq", "a1", "10.77.1.3") not in issuer.quarantined()
    # A refused repeat changes nothing: the earlier quarantine still stands.
    assert issuer.send("hq", "a1", CommandAction.QUARANTINE, "10.77.1.2") == 3
    issuer.record_ack("hq", "a1", {"command_id": 3, "outcome": "refused", "reason": "expired"})
    assert ("hq", "a1", "10.77.1.2") in issuer.quarantined()
    assert [t for t, _ in published][:3] == ["camsentry/v1/hq/a1/cmd"] * 2 + ["camsentry/v1/depot/a1/cmd"]

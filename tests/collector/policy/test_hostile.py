"""Hostile input never raises: arbitrary command payloads and arbitrary policy documents."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.wire.canonical import canonical_json
from agent.wire.commands import open_command
from agent.wire.signing import sign_document
from collector.policy.engine import AgentFact, Facts, evaluate
from collector.policy.facts import Skipped, device_facts, flow_facts
from collector.policy.model import policy_from_document
from collector.reports.compliance import RENDERERS, build_compliance
from collector.violations import ViolationStore
from tests.support.database import sqlite_database

KEY = Ed25519PrivateKey.generate()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KNOWN = ["defaults", "core_networks", "restricted", "sites", "egress", "firmware", "v", "id", "site", "agent"]
FIELDS = [
    "action",
    "device",
    "params",
    "issued",
    "expires",
    "class",
    "recorders",
    "allow",
    "minimum",
    "groups",
]
keys = st.sampled_from(KNOWN + FIELDS) | st.text(max_size=8)
documents = st.dictionaries(keys, values | st.dictionaries(keys, values, max_size=5), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_are_refused_not_raised(payload: bytes) -> None:
    outcome = open_command(payload, KEY.public_key(), site="s", agent="a", now=NOW, last_applied_id=0)
    assert outcome.refusal is not None


@settings(max_examples=100, deadline=None)
@given(documents)
def test_any_signed_document_is_judged_not_raised(doc: dict[str, Any]) -> None:
    doc.pop("sig", None)
    try:
        payload = canonical_json(sign_document(KEY, {k: v for k, v in doc.items()}))
    except (TypeError, ValueError):
        return  # dates are not JSON: nothing a peer could send
    outcome = open_command(payload, KEY.public_key(), site="s", agent="a", now=NOW, last_applied_id=0)
    assert outcome.accepted or outcome.refusal is not None


@settings(max_examples=150, deadline=None)
@given(documents)
def test_any_policy_document_gives_a_policy_or_errors(doc: dict[str, Any]) -> None:
    policy, errors = policy_from_document(doc, "sha256:x", "fuzz.toml")
    assert (policy is None) == bool(errors)
    assert all(e.startswith("fuzz.toml: ") for e in errors)


RECORD_KEYS = [
    "address",
    "maker",
    "brand",
    "model",
    "firmware",
    "maker_confidence",
    "evidence",
    "vulnerabilities",
    "findings",
    "clock_offset_s",
    "device",
    "device_id",
    "destination",
    "port",
    "protocol",
    "hostname",
    "hostnames",
    "tags",
    "first_seen",
    "last_seen",
    "allowed",
    "kind",
    "cve",
    "kev",
]
records = st.dictionaries(st.sampled_from(RECORD_KEYS), values, max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(records, max_size=3), st.lists(records, max_size=3))
def test_any_records_evaluate_without_raising(
    devices: list[dict[str, Any]], flows: list[dict[str, Any]]
) -> None:
    policy, _ = policy_from_document(
        {
            "core_networks": ["10.0.0.0/8"],
            "sites": {"s": {"class": "sensitive", "removal_deadline": date(2026, 1, 1)}},
        },
        "sha256:x",
        "p.toml",
    )
    assert policy is not None
    when = "2026-11-23T12:00:00.000Z"
    rows = [
        {"site": "s", "agent": "a", "device_key": f"d{i}", "first_seen": when, "last_seen": when, "record": r}
        for i, r in enumerate(devices)
    ]
    bodies = [
        {"site": "s", "agent": "a", "boot": "b", "seq": i, "body": {"flow": r}} for i, r in enumerate(flows)
    ]
    skipped = Skipped()
    # What does not decode is skipped and counted, never raised; what does is evaluated.
    facts = Facts(
        devices=device_facts(rows, skipped),
        flows=flow_facts(bodies, skipped),
        agents=[AgentFact("s", "a", NOW)],
        now=NOW,
    )
    assert len(facts.devices) + len(facts.flows) + sum(skipped.counts.values()) == len(devices) + len(flows)
    evaluation = evaluate(facts, policy)
    assert all(v.id.startswith("V-") for v in evaluation.violations)
    conn = sqlite_database()
    try:
        store = ViolationStore(conn, clock=FixedClock())
        store.record_evaluation(evaluation)
        store.record_evaluation(evaluation)
        report = build_compliance(policy, store.list_violations(), facts.devices, NOW)
    finally:
        conn.close()
    for render in RENDERERS.values():
        assert render(report)


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0

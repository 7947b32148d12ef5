"""The CLI handlers end to end: store, policy, report, and a signed quarantine the agent applies."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.enforce.handler import CommandHandler
from agent.wire.inventory import DeviceRecord
from agent.wire.topics import topic
from collector.cmdqueue import beat
from collector.policy.cli import PolicyCliContext, add_policy_commands
from collector.policy.commanding import CommandIssuer, command_status
from collector.policy.engine import (
    AgentFact,
    DeviceFact,
    EvidenceRef,
    Facts,
    Rule,
    enforcement_actions,
    evaluate,
)
from collector.policy.model import load_policy
from collector.violations import ViolationStore
from tests.support.clock import FakeClock
from tests.support.database import sqlite_database
from tests.support.fakenft import MemoryNft

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = """
core_networks = ["10.0.0.0/16"]
[sites.hq]
class = "sensitive"
department = "Home Office"
removal_deadline = 2026-10-31
enforcement = "quarantine"
recorders = ["10.77.2.2"]
[sites.depot]
class = "standard"
department = "DVLA"
"""


def dev(site: str, address: str, maker: str, **extra: Any) -> DeviceFact:
    record = {
        "address": address,
        "port": 80,
        "maker": maker,
        "brand": extra.pop("brand", maker),
        "model": "DS-2CD2143G0-I" if maker == "Hikvision" else "X",
        "firmware": "V5.5.0",
        "maker_confidence": 0.95,
        "evidence": [{"signal": "mac_oui", "value": "44:19:b6", "points_to": maker.lower()}],
        **extra,
    }
    return DeviceFact(
        site,
        "a1",
        f"{site}-{address}",
        DeviceRecord.decode(record),
        NOW - timedelta(days=9),
        NOW,
        (EvidenceRef("a1", "b1", 5),),
    )


DEVICES = [
    dev("hq", "10.77.1.2", "Hikvision", brand="Prima"),
    dev("hq", "10.77.1.3", "Axis"),
    dev("depot", "10.0.4.4", "Dahua"),
]


@dataclass
class World:
    run: Callable[..., tuple[int, str, str]]
    store: ViolationStore
    published: list[tuple[str, bytes]]
    issuer: CommandIssuer
    agent_key: Ed25519PrivateKey
    policy_path: Path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(NOW)
    db = tmp_path / "collector.db"
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(POLICY)
    conn = sqlite_database(db)
    key = Ed25519PrivateKey.generate()
    published: list[tuple[str, bytes]] = []
    try:
        store = ViolationStore(conn, clock=clock)
        policy = load_policy(policy_path)
        agents = [AgentFact("hq", "a1", NOW), AgentFact("depot", "a1", NOW)]
        store.record_evaluation(evaluate(Facts(DEVICES, [], agents, NOW), policy))
        issuer = CommandIssuer(conn, key, lambda t, p: published.append((t, p)), clock=clock)

        def run(*argv: str) -> tuple[int, str, str]:
            out, err = io.StringIO(), io.StringIO()
            ctx = PolicyCliContext(
                connect=lambda: sqlite_database(db),
                send_command=issuer,
                policy_path=policy_path,
                list_devices=lambda: DEVICES,
                clock=clock,
                pause=clock.advance,
                out=out,
                err=err,
            )
            parser = argparse.ArgumentParser(prog="camsentry-collector")
            add_policy_commands(parser.add_subparsers(dest="command", required=True), ctx)
            args = parser.parse_args(argv)
            code = args.func(args)
            return code, out.getvalue(), err.getvalue()

        yield World(run, store, published, issuer, key, policy_path)
    finally:
        conn.close()


def test_policy_check(world: World, tmp_path: Path) -> None:
    code, out, _ = world.run("policy", "check", str(world.policy_path))
    assert code == 0
    assert "ok (sha256:" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[sites.x]\nclass = "secret"\n')
    code, _, err = world.run("policy", "check", str(bad))
    assert code == 1
    assert err.strip() == f"{bad}: sites.x.class: 'secret' is not one of sensitive, standard, public"


def test_violations_lifecycle_via_cli(world: World) -> None:
    code, out, _ = world.run("violations", "--site", "hq", "--json")
    rows = json.loads(out)
    assert code == 0
    assert {r["rule"] for r in rows} == {"restricted_at_sensitive_site", "past_removal_deadline"}
    assert rows[0]["severity"] == "critical"
    target = next(r["id"] for r in rows if r["rule"] == "restricted_at_sensitive_site")

    assert world.run("ack", target, "--by", "alice", "--reason", "INC-42")[0] == 0
    code, out, _ = world.run(
        "accept-risk", target, "--until", "2026-12-31", "--reason", "removal booked", "--by", "bob"
    )
    assert code == 0
    assert out.splitlines()[2].split()[:4] == [
        target,
        "high",
        "risk_accepted",
        "2027-01-01T00:00:00.000Z",
    ]
    code, out, _ = world.run("violations", "--state", "risk_accepted")
    assert target in out
    code, out, _ = world.run("audit", target, "--format", "csv")
    audit = list(csv.DictReader(io.StringIO(out)))
    assert [(a["who"], a["action"], a["from_state"], a["to_state"]) for a in audit] == [
        ("policy-engine", "opened", "", "open"),
        ("alice", "acknowledged", "open", "acknowledged"),
        ("bob", "risk_accepted", "acknowledged", "risk_accepted"),
    ]
    assert audit[2]["reason"] == "removal booked"
    code, out, _ = world.run("audit", target)
    assert out.splitlines()[0].split() == ["AT", "WHO", "ACTION", "FROM", "TO", "REASON"]
    code, _, err = world.run("ack", target, "--by", "alice", "--reason", "again")
    assert code == 1
    assert "cannot mark it acknowledged" in err
    assert world.run("audit", "V-missing")[0] == 2


def test_report_compliance_formats(world: World) -> None:
    code, out, _ = world.run("report", "compliance")
    assert code == 0
    assert "hikvision (sold as Prima)" in out
    assert "PROHIBITED PAST-DEADLINE" in out
    assert "evidence: mac_oui=44:19:b6->hikvision" in out
    assert "envelopes: a1/b1/5" in out

    report = json.loads(world.run("report", "compliance", "--format", "json")[1])
    sites = {s["site"]: s["counts"] for s in report["sites"]}
    assert sites["hq"]["restricted"] == 1
    assert sites["hq"]["past_deadline"] == 1
    assert sites["depot"]["on_core_network"] == 1
    assert sites["depot"]["open_by_severity"]["critical"] == 1
    assert {d["department"] for d in report["departments"]} == {"Home Office", "DVLA"}

    rows = list(csv.DictReader(io.StringIO(world.run("report", "compliance", "--format", "csv")[1])))
    estate = rows[-1]
    assert (estate["scope"], estate["restricted"], estate["on_core_network"]) == ("estate", "2", "1")


def test_quarantine_dry_run_then_real_then_release(world: World, tmp_path: Path) -> None:
    code, out, _ = world.run("quarantine", "10.77.1.2", "--dry-run")
    assert code == 0
    assert "ip saddr 10.77.1.2 ip daddr { 10.77.2.2 } accept" in out
    assert world.published == []

    code, out, _ = world.run("quarantine", "10.77.1.2", "--by", "alice", "--no-wait")
    assert code == 0
    assert out.strip() == "quarantine command 1 sent to hq/a1 for 10.77.1.2"
    (sent_topic, payload) = world.published[-1]
    assert sent_topic == topic("hq", "a1", "cmd")

    nft = MemoryNft()
    handler = CommandHandler(
        world.agent_key.public_key(),
        tmp_path / "agent",
        nft,
        lambda _d: [],
        site="hq",
        agent="a1",
        clock=FakeClock(NOW),
    )
    ack = handler.handle(payload)
    assert ack["outcome"] == "applied"
    assert "ip saddr 10.77.1.2 ip daddr { 10.77.2.2 } accept" in nft.rulesets[-1]
    assert world.issuer.record_ack("hq", "a1", ack)
    assert world.issuer.quarantined() == {("hq", "a1", "10.77.1.2")}

    # Automatic enforcement does not send a second quarantine for the same device.
    policy = load_policy(world.policy_path)
    agents = [AgentFact("hq", "a1", NOW)]
    actions = enforcement_actions(evaluate(Facts(DEVICES, [], agents, NOW), policy), policy)
    assert [a.address for a in actions] == ["10.77.1.2"]
    assert world.issuer.enforce(actions) == []

    assert world.run("release", "hq-10.77.1.2", "--no-wait")[0] == 0
    ack = handler.handle(world.published[-1][1])
    assert (ack["outcome"], ack["quarantined"]) == ("applied", [])
    world.issuer.record_ack("hq", "a1", ack)
    assert world.issuer.quarantined() == set()
    assert world.issuer.enforce(actions) == [3]

    # The dry run shows the agent's whole table: devices already quarantined there, plus this one.
    code, out, _ = world.run("quarantine", "10.77.1.3", "--dry-run")
    assert "ip saddr 10.77.1.2 counter drop" in out
    assert "ip saddr 10.77.1.3 counter drop" in out


def test_unknown_device(world: World) -> None:
    code, _, err = world.run("quarantine", "10.9.9.9")
    assert code == 2
    assert "is not known" in err
    assert Rule.UNEXPECTED_EGRESS.value == "unexpected_egress"


def test_context_factory_and_report_without_registration(world: World, tmp_path: Path) -> None:
    from collector.policy.cli import run_compliance_report

    out = io.StringIO()
    db = tmp_path / "collector.db"
    ctx = PolicyCliContext(connect=lambda: sqlite_database(db), policy_path=world.policy_path, out=out)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("report")  # the collector's own report command stays
    add_policy_commands(sub, lambda _args: ctx, include_report=False)
    args = parser.parse_args(["violations", "--site", "depot"])
    assert args.func(args) == 0
    assert "restricted_on_core_network" in out.getvalue()
    assert run_compliance_report(ctx, "csv") == 0
    assert "scope,name,department" in out.getvalue()


def test_policy_push_carries_the_sites_egress_document(world: World, tmp_path: Path) -> None:
    world.policy_path.write_text(
        POLICY
        + """
[egress.sites.hq]
allow = [{ cidr = "192.0.2.0/24", ports = [123], protocol = "udp" }, { hostname = "*.example.gov.uk" }]
"""
    )
    policy = load_policy(world.policy_path)
    assert world.issuer.push_policy(policy, "hq", "a1") == 1
    received: list[dict[str, Any]] = []
    handler = CommandHandler(
        world.agent_key.public_key(),
        tmp_path / "agent",
        MemoryNft(),
        lambda _d: [],
        site="hq",
        agent="a1",
        clock=FakeClock(NOW),
        on_policy=received.append,
    )
    assert handler.handle(world.published[-1][1])["outcome"] == "applied"
    assert received == [
        {
            "policy_version": policy.version,
            "egress": {
                "allow": [
                    {"cidr": "192.0.2.0/24", "ports": [123], "protocol": "udp"},
                    {"hostname": "*.example.gov.uk"},
                ],
                "core_networks": ["10.0.0.0/16"],
            },
        }
    ]


def test_violations_since_is_what_a_digest_points_at(world: World) -> None:
    code, out, _ = world.run("violations", "--json")
    opened = sorted(r["opened_at"] for r in json.loads(out))
    assert code == 0 and opened
    code, out, _ = world.run("violations", "--json", "--since", opened[-1])
    assert [r["opened_at"] for r in json.loads(out)] == [t for t in opened if t >= opened[-1]]
    code, out, _ = world.run("violations", "--json", "--since", "2999-01-01T00:00:00Z")
    assert json.loads(out) == []


def test_quarantine_waits_for_the_ack_and_says_what_happened(world: World, tmp_path: Path) -> None:
    """The ack as the collector service records it (here: as soon as the command is published)."""
    agents = {
        "disabled": CommandHandler(
            world.agent_key.public_key(), tmp_path / "a", None, lambda _d: [], site="hq", agent="a1",
            clock=FakeClock(NOW),
        ),
    }  # fmt: skip
    answering: list[str] = []

    def publish(topic_: str, payload: bytes) -> None:
        world.published.append((topic_, payload))
        if answering:
            world.issuer.record_ack("hq", "a1", agents[answering[0]].handle(payload))

    world.issuer.publish = publish
    code, _, err = world.run("quarantine", "10.77.1.2")  # no service: nothing to wait for
    assert code == 4 and "no collector service is running to send command 1" in err
    beat(world.issuer.db, "test-service", FakeClock(NOW))
    answering.append("disabled")
    code, out, err = world.run("quarantine", "10.77.1.2")
    assert code == 3
    assert out.strip() == "quarantine command 2 sent to hq/a1 for 10.77.1.2"
    assert err.startswith("command 2: refused (enforcement_disabled): [enforce] enabled = false")
    refused = command_status(world.issuer.db, "hq", "a1", 2)
    assert refused is not None and not refused.in_force

    answering.clear()  # the agent is away: the wait ends, bounded
    code, _, err = world.run("release", "10.77.1.2", "--wait", "5")
    assert code == 4
    assert "no ack from hq/a1 within 5 s" in err

    code, out, _ = world.run("commands", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], r["action"], r["outcome"], r["reason"]) for r in rows] == [
        ("3", "release", "no ack yet", ""),
        ("2", "quarantine", "refused", "enforcement_disabled"),
        ("1", "quarantine", "no ack yet", ""),
    ]
    code, out, _ = world.run("commands", "--agent", "a1")
    assert "enforcement_disabled" in out and out.rstrip().endswith("(3 rows)")


def test_quarantine_refuses_a_scoped_address(world: World) -> None:
    for device in ("fe80::1%eth0", 'fe80::1%x" accept'):
        code, _out, err = world.run("quarantine", device, "--site", "hq", "--agent", "a1", "--no-wait")
        assert code != 0 and "scoped addresses" in err
    assert world.published == []

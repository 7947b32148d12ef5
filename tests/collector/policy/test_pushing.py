"""When the collector pushes the egress policy: once per change, again only when the agent lost
it or the push went nowhere; the CLI uses the same decision."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.commands import CommandAction
from collector.policy.cli import PolicyCliContext, add_policy_commands
from collector.policy.commanding import CommandIssuer, CommandRow
from collector.policy.model import load_policy
from collector.policy.pushing import PolicyPusher, agent_holds, push_decision
from collector.store import Database
from tests.support.clock import FakeClock
from tests.support.database import sqlite_database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PARAMS = {"policy_version": "sha256:aa", "egress": {"allow": [{"cidr": "192.0.2.0/24"}], "core_networks": []}}
POLICY = """
[sites.hq]
[sites.depot]
[egress.sites.hq]
allow = [{ cidr = "192.0.2.0/24", ports = [123], protocol = "udp" }]
"""


def row(
    outcome: str | None, *, reason: str | None = None, params: Any = PARAMS, ttl_s: float = 600
) -> CommandRow:
    return CommandRow(3, dict(params), NOW + timedelta(seconds=ttl_s), outcome, reason, "detail")


@pytest.mark.parametrize(
    ("last", "holds", "send"),
    [
        (None, None, True),
        (row("applied"), None, False),
        (row("stored"), None, False),
        (row(None), None, False),  # in flight
        (row(None, ttl_s=-1), None, True),  # expired without an answer
        (row("refused", reason="policy_invalid"), None, False),  # would be refused again
        (row("refused", reason="expired"), None, True),
        (row("failed", reason="state_write_failed"), None, True),
        (row("applied", params={**PARAMS, "policy_version": "sha256:bb"}), None, True),  # changed
        (row("applied"), False, True),  # the agent says it lost it (state wiped)
        (None, True, False),  # the agent says it has it, whatever the table knows
        (row(None), False, False),  # in flight beats a birth sent before it arrived
    ],
)
def test_push_decision(last: CommandRow | None, holds: bool | None, send: bool) -> None:
    decision = push_decision(last, PARAMS, NOW, agent_holds=holds)
    assert decision.send is send, decision.why


def test_agent_holds_reads_the_birth() -> None:
    assert agent_holds({"version": "0.1", "policy_version": "sha256:aa"}, "sha256:aa") is True
    assert agent_holds({"version": "0.1", "policy_version": None}, "sha256:aa") is False
    assert agent_holds({"version": "0.1"}, "sha256:aa") is None  # an agent that does not say
    assert agent_holds({"policy_version": "sha256:aa"}, "sha256:aa") is None  # undecodable: push


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    path = tmp_path / "c.db"
    conn = sqlite_database(path)
    try:
        yield conn, path
    finally:
        conn.close()


def test_pusher_sends_once_per_change_and_resends_after_expiry(
    db: tuple[Database, Path], tmp_path: Path
) -> None:
    conn, _ = db
    clock = FakeClock(NOW)
    sent: list[tuple[str, bytes]] = []
    issuer = CommandIssuer(conn, Ed25519PrivateKey.generate(), lambda t, p: sent.append((t, p)), clock=clock)
    pusher = PolicyPusher(issuer)
    (tmp_path / "p.toml").write_text(POLICY)
    policy = load_policy(tmp_path / "p.toml")

    assert pusher.push(policy, "hq", "a1", trigger="agent_birth")[0] == 1
    assert pusher.push(policy, "hq", "a1", trigger="agent_online")[0] is None  # in flight
    issuer.record_ack("hq", "a1", {"command_id": 1, "outcome": "applied"})
    for trigger in ("agent_online", "agent_birth", "collector_connected"):
        assert pusher.push(policy, "hq", "a1", trigger=trigger)[0] is None
    assert len(sent) == 1
    params = json.loads(sent[0][1])["params"]
    assert params["egress"]["allow"] == [{"cidr": "192.0.2.0/24", "ports": [123], "protocol": "udp"}]

    cid, why = pusher.push(policy, "depot", "a1", trigger="agent_online")  # a site without a list
    assert cid is None and "config" in why  # nothing to replace: no command at all

    (tmp_path / "p.toml").write_text(POLICY + "\n# a comment is a new version\n")
    changed = load_policy(tmp_path / "p.toml")
    cid, why = pusher.push(changed, "hq", "a1", trigger="policy_reloaded")
    assert cid == 2 and "changed" in why
    clock.t += timedelta(hours=1)  # never acked: expired, so the next trigger sends it again
    assert pusher.push(changed, "hq", "a1", trigger="agent_online")[0] == 3
    issuer.record_ack("hq", "a1", {"command_id": 3, "outcome": "applied"})

    (tmp_path / "p.toml").write_text(POLICY.split("[egress.sites.hq]")[0])  # hq's list removed
    cid, _ = pusher.push(load_policy(tmp_path / "p.toml"), "hq", "a1", trigger="policy_reloaded")
    assert cid == 4 and json.loads(sent[-1][1])["params"]["egress"] is None  # back to its config


def test_cli_policy_push(db: tuple[Database, Path], tmp_path: Path) -> None:
    conn, path = db
    clock = FakeClock(NOW)
    sent: list[tuple[str, bytes]] = []
    issuer = CommandIssuer(conn, Ed25519PrivateKey.generate(), lambda t, p: sent.append((t, p)), clock=clock)
    policy_path = tmp_path / "p.toml"
    policy_path.write_text(POLICY)

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        ctx = PolicyCliContext(
            connect=lambda: sqlite_database(path),
            send_command=issuer,
            policy_path=policy_path,
            list_agents=lambda: [("depot", "a1"), ("hq", "a1"), ("hq", "a2")],
            clock=clock,
            out=out,
            err=err,
        )
        parser = argparse.ArgumentParser(prog="camsentry-collector")
        add_policy_commands(parser.add_subparsers(dest="command", required=True), ctx)
        args = parser.parse_args(argv)
        return int(args.func(args)), out.getvalue(), err.getvalue()

    code, out, _ = run("policy", "push", "--site", "hq")
    assert code == 0 and out.count("sent as command 1") == 2
    assert {json.loads(p)["agent"] for _, p in sent} == {"a1", "a2"}
    issuer.record_ack("hq", "a1", {"command_id": 1, "outcome": "applied"})
    code, out, _ = run("policy", "push", "--site", "hq", "--agent", "a1")
    assert code == 0 and "not sent: already applied (command 1)" in out
    code, out, _ = run("policy", "push", "--site", "hq", "--agent", "a1", "--force")
    assert "sent as command 2" in out
    code, out, _ = run("policy", "push", "--agent", "a1", "--site", "depot")
    assert "not sent: the policy has no allow list for this site" in out
    code, out, _ = run("policy", "push", "--agent", "a1", "--site", "depot", "--force")
    assert "its config allowlist" in out
    code, _, err = run("policy", "push", "--site", "nowhere")
    assert code == 2 and "no enrolled agent" in err
    assert all(json.loads(p)["action"] == CommandAction.POLICY.value for _, p in sent)

"""CommandHandler without a kernel: refusals with reasons, state persisted, dry-run, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from agent.enforce.errors import EnforceError
from agent.enforce.handler import CommandHandler
from agent.enforce.state import load_state, state_path
from agent.wire.commands import AckReason, CommandAction
from tests.agent.enforce.conftest import FakeClock, MakeCommand
from tests.support.fakenft import MemoryNft


def _handler(key: Ed25519PrivateKey, state_dir: Path, runner: MemoryNft, clock: FakeClock) -> CommandHandler:
    return CommandHandler(
        key.public_key(),
        state_dir,
        runner,
        lambda device: ["10.77.2.2"] if device.startswith("10.77.1.") else [],
        site="site-a",
        agent="agent-1",
        clock=clock,
    )


def test_quarantine_release_and_state(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    runner = MemoryNft()
    handler = _handler(collector_key, tmp_path, runner, clock)
    ack = handler.handle(make_command(1, params={"recorders": ["10.77.3.3"]}))
    assert ack["outcome"] == "applied"
    assert ack["command_id"] == 1
    assert ack["quarantined"] == ["10.77.1.2"]
    assert "ip saddr 10.77.1.2 ip daddr { 10.77.2.2, 10.77.3.3 } accept" in ack["ruleset"]
    assert runner.rulesets == [ack["ruleset"]]
    state = load_state(tmp_path)
    assert state.last_command_id == 1
    assert state.quarantined() == ("10.77.1.2",)

    # A new handler (agent restart) restores the same rules from the state file.
    restarted = _handler(collector_key, tmp_path, MemoryNft(), clock)
    assert restarted.restore() == ack["ruleset"]

    released = restarted.handle(make_command(2, CommandAction.RELEASE))
    assert released["outcome"] == "applied"
    assert released["quarantined"] == []
    assert "chain" not in released["ruleset"]
    assert load_state(tmp_path).quarantines == ()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        ("forged", "bad_signature"),
        ("replayed", "replayed"),
        ("expired", "expired"),
        ("unsigned", "unsigned"),
        ("elsewhere", "wrong_target"),
    ],
)
def test_refused_commands_ack_why(
    tmp_path: Path,
    collector_key: Ed25519PrivateKey,
    clock: FakeClock,
    make_command: MakeCommand,
    mutate: str,
    reason: str,
) -> None:
    runner = MemoryNft()
    handler = _handler(collector_key, tmp_path, runner, clock)
    assert handler.handle(make_command(4))["outcome"] == "applied"
    applied = list(runner.rulesets)
    payload = {
        "forged": make_command(9, key=Ed25519PrivateKey.generate()),
        "replayed": make_command(4, CommandAction.RELEASE),
        "expired": make_command(9, CommandAction.RELEASE, ttl_s=60),
        "unsigned": json.dumps({"v": 1, "id": 9, "action": "release"}).encode(),
        "elsewhere": make_command(9, CommandAction.RELEASE, agent="agent-2"),
    }[mutate]
    if mutate == "expired":
        clock.advance(61)
    with capture_logs() as logs:
        ack = handler.handle(payload)
    assert ack["outcome"] == "refused"
    assert ack["reason"] == reason
    assert ack["detail"]
    assert ack["ruleset"] == ""
    assert ack["quarantined"] == ["10.77.1.2"]
    assert runner.rulesets == applied, "a refused command must not touch nft"
    assert load_state(tmp_path).last_command_id == 4
    assert any(e["event"] == "command_refused" and e["reason"] == reason for e in logs)


def test_dry_run_touches_nothing(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    runner = MemoryNft()
    handler = _handler(collector_key, tmp_path, runner, clock)
    ack = handler.handle(make_command(1, params={"dry_run": True}))
    assert ack["outcome"] == "dry_run"
    assert "ip saddr 10.77.1.2 counter drop" in ack["ruleset"]
    assert runner.rulesets == []
    assert not state_path(tmp_path).exists()


def test_nft_failure_is_acked_and_id_spent(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    broken = MemoryNft(
        fail=EnforceError("nft refused the ruleset (exit 1): Error: syntax", AckReason.NFT_REFUSED)
    )
    handler = CommandHandler(
        collector_key.public_key(),
        tmp_path,
        broken,
        lambda _device: [],
        site="site-a",
        agent="agent-1",
        clock=clock,
    )
    ack = handler.handle(make_command(1))
    assert ack["outcome"] == "failed"
    assert ack["reason"] == "nft_refused"
    assert "Error: syntax" in ack["detail"]
    state = load_state(tmp_path)
    assert (state.last_command_id, state.quarantines) == (1, ())
    assert handler.handle(make_command(1))["reason"] == "replayed"


def test_policy_push_is_applied_and_kept(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    applied: list[dict[str, object]] = []

    def on_policy(doc: dict[str, object]) -> None:
        if doc.get("egress") == "nonsense":
            raise ValueError("egress: must be a table")
        applied.append(doc)

    runner = MemoryNft()
    handler = CommandHandler(
        collector_key.public_key(),
        tmp_path,
        runner,
        lambda _d: [],
        site="site-a",
        agent="agent-1",
        clock=clock,
        on_policy=on_policy,
    )
    push = {"policy_version": "sha256:aa", "egress": {"allow": [{"cidr": "192.0.2.0/24"}]}}
    ack = handler.handle(make_command(1, CommandAction.POLICY, "", params=push))
    assert ack["outcome"] == "applied"
    assert applied == [push]
    assert load_state(tmp_path).policy == push
    assert runner.rulesets == []

    bad = handler.handle(make_command(2, CommandAction.POLICY, "", params={"egress": "nonsense"}))
    assert (bad["outcome"], bad["reason"], bad["detail"]) == (
        "refused",
        "policy_invalid",
        "egress: must be a table",
    )
    state = load_state(tmp_path)
    assert (state.last_command_id, state.policy) == (2, push)


def test_damaged_state_is_set_aside_and_the_command_applies(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    for damage in (b"{", b'{"v":1,"last_command_id":' + b"9" * 5000 + b"}", b"[" * 5000, bytes([255])):
        state_path(tmp_path).write_bytes(damage)
        handler = _handler(collector_key, tmp_path, MemoryNft(), clock)
        assert handler.state().set_aside.startswith("enforce.json.damaged-")
        assert not state_path(tmp_path).exists()
        state_path(tmp_path).write_bytes(damage)
        ack = handler.handle(make_command(1))
        assert ack["outcome"] == "applied", damage[:20]
        state_path(tmp_path).unlink()
    assert list(tmp_path.glob("enforce.json.damaged-*")), "the damaged file is kept for a person to read"


def test_preview_touches_nothing(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    runner = MemoryNft()
    handler = _handler(collector_key, tmp_path, runner, clock)
    handler.handle(make_command(1))
    before = state_path(tmp_path).read_bytes()
    text = handler.preview("10.77.1.9", ["10.77.3.3"])
    assert "ip saddr 10.77.1.2 counter drop" in text
    assert "ip saddr 10.77.1.9 ip daddr { 10.77.2.2, 10.77.3.3 } accept" in text
    assert "10.77.1.2" not in handler.preview("10.77.1.2", release=True)
    assert len(runner.rulesets) == 1
    assert state_path(tmp_path).read_bytes() == before


def test_state_write_failure_is_reported(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    # The temporary file the state is written through cannot be created: a directory is in the way.
    (tmp_path / "enforce.tmp").mkdir()
    handler = _handler(collector_key, tmp_path, MemoryNft(), clock)
    ack = handler.handle(make_command(1))
    assert (ack["outcome"], ack["reason"]) == ("failed", "state_write_failed")
    assert ack["ruleset"]


def test_bad_recorders_refused_and_id_spent(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    runner = MemoryNft()
    handler = _handler(collector_key, tmp_path, runner, clock)
    ack = handler.handle(make_command(1, params={"recorders": ["nvr.local"]}))
    assert (ack["outcome"], ack["reason"]) == ("refused", "malformed")
    assert runner.rulesets == []
    assert load_state(tmp_path).last_command_id == 1


def test_enforcement_disabled_refuses_quarantine_and_release(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    handler = CommandHandler(
        collector_key.public_key(), tmp_path, None, lambda _d: [], site="site-a", agent="agent-1", clock=clock
    )
    with capture_logs() as logs:
        ack = handler.handle(make_command(1))
    assert (ack["outcome"], ack["reason"], ack["ruleset"], ack["quarantined"]) == (
        "refused",
        "enforcement_disabled",
        "",
        [],
    )
    assert "[enforce] enabled = false" in ack["detail"]
    assert load_state(tmp_path).last_command_id == 1
    assert load_state(tmp_path).quarantines == ()
    released = handler.handle(make_command(2, CommandAction.RELEASE))
    assert (released["outcome"], released["reason"]) == ("refused", "enforcement_disabled")
    # A dry run needs no nft and still shows the rules.
    dry = handler.handle(make_command(3, params={"dry_run": True}))
    assert dry["outcome"] == "dry_run" and "counter drop" in dry["ruleset"]
    handled = [e for e in logs if e["event"] == "command_handled"]
    assert (handled[0]["outcome"], handled[0]["reason"]) == ("refused", "enforcement_disabled")


def test_accepted_but_not_installed_is_failed(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    nft = MemoryNft(installs=False)
    handler = _handler(collector_key, tmp_path, nft, clock)
    ack = handler.handle(make_command(1))
    assert (ack["outcome"], ack["reason"]) == ("failed", "readback_mismatch")
    assert "table inet camsentry is not installed" in ack["detail"]
    assert nft.rulesets == [ack["ruleset"]]
    assert load_state(tmp_path).quarantines == ()


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (AckReason.NFT_MISSING, "refused"),
        (AckReason.NO_CAPABILITY, "refused"),
        (AckReason.NFT_REFUSED, "failed"),
        (AckReason.NFT_FAILED, "failed"),
    ],
)
def test_nft_errors_keep_their_reason(
    tmp_path: Path,
    collector_key: Ed25519PrivateKey,
    clock: FakeClock,
    make_command: MakeCommand,
    reason: AckReason,
    outcome: str,
) -> None:
    handler = _handler(collector_key, tmp_path, MemoryNft(fail=EnforceError("nope", reason)), clock)
    ack = handler.handle(make_command(1))
    assert (ack["outcome"], ack["reason"], ack["detail"]) == (outcome, reason.value, "nope")


def test_restore_failure_is_logged_not_raised(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, make_command: MakeCommand
) -> None:
    assert (
        _handler(collector_key, tmp_path, MemoryNft(), clock).handle(make_command(1))["outcome"] == "applied"
    )
    missing = MemoryNft(fail=EnforceError("nft: not installed", AckReason.NFT_MISSING))
    with capture_logs() as logs:
        ruleset = _handler(collector_key, tmp_path, missing, clock).restore()
    assert "counter drop" in ruleset
    failed = [e for e in logs if e["event"] == "quarantine_restore_failed"]
    assert failed and failed[0]["reason"] == "nft_missing" and failed[0]["devices"] == ["10.77.1.2"]


@pytest.mark.parametrize("reason", [AckReason.NFT_MISSING, AckReason.NO_CAPABILITY])
def test_capability_is_what_restore_found_at_start(
    tmp_path: Path, collector_key: Ed25519PrivateKey, clock: FakeClock, reason: AckReason
) -> None:
    working = _handler(collector_key, tmp_path, MemoryNft(), clock)
    working.restore()
    assert working.capability().available is True
    broken = _handler(collector_key, tmp_path, MemoryNft(fail=EnforceError("nft said no", reason)), clock)
    assert broken.capability().available is True  # nothing tried yet
    broken.restore()
    cap = broken.capability()
    assert (cap.available, cap.reason, cap.detail) == (False, reason.value, "nft said no")
    disabled = CommandHandler(
        collector_key.public_key(), tmp_path, None, lambda _d: [], site="site-a", agent="agent-1", clock=clock
    )
    assert disabled.capability().reason == "enforcement_disabled"

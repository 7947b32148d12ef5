"""Acks tell the truth against real nftables: ``applied`` only when the table read back matches;
an nft that is missing, lacks CAP_NET_ADMIN, or accepts a ruleset without installing it is
named in the ack, and the agent's state does not claim a quarantine that is not in force."""

from __future__ import annotations

import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.enforce.handler import CommandHandler
from agent.enforce.nft import SubprocessNft
from agent.enforce.state import load_state
from agent.wire.commands import CommandAction
from simulator import netns
from tests.agent.enforce.conftest import FakeClock, MakeCommand
from tests.conftest import require_root

pytestmark = [pytest.mark.netns, pytest.mark.root]

CAMERA = "10.77.1.2"


@pytest.fixture
def space() -> Iterator[netns.Namespace]:
    require_root()
    with netns.namespace(f"cs-ack-{secrets.token_hex(3)}") as ns:
        yield ns


def _handler(key: Ed25519PrivateKey, state: Path, argv: list[str], clock: FakeClock) -> CommandHandler:
    return CommandHandler(
        key.public_key(),
        state,
        SubprocessNft(argv),
        lambda _device: ["10.77.2.2"],
        site="site-a",
        agent="agent-1",
        clock=clock,
    )


def _wrapper(tmp_path: Path, space: netns.Namespace, apply_with: str) -> list[str]:
    """An "nft" that lists the namespace's real table but applies rulesets through ``apply_with``."""
    script = tmp_path / "nft-wrapper"
    real = " ".join(space.exec_argv(["nft"]))
    script.write_text(f'#!/bin/sh\nif [ "$1" = "-f" ]; then\n  {apply_with}\nfi\nexec {real} "$@"\n')
    script.chmod(stat.S_IRWXU)
    return [str(script)]


def _table(space: netns.Namespace) -> str:
    return space.run(["nft", "list", "tables"]).stdout


def test_applied_only_after_the_table_reads_back(
    space: netns.Namespace,
    tmp_path: Path,
    collector_key: Ed25519PrivateKey,
    clock: FakeClock,
    make_command: MakeCommand,
) -> None:
    handler = _handler(collector_key, tmp_path, space.exec_argv(["nft"]), clock)
    ack = handler.handle(make_command(1, device=CAMERA))
    assert (ack["outcome"], ack["reason"], ack["quarantined"]) == ("applied", None, [CAMERA])
    assert "inet camsentry" in _table(space)
    released = handler.handle(make_command(2, CommandAction.RELEASE, CAMERA))
    assert (released["outcome"], released["quarantined"]) == ("applied", [])
    assert "camsentry" not in _table(space)


@pytest.mark.parametrize(
    ("apply_with", "found"),
    [
        # nft says yes and installs nothing.
        ("cat >/dev/null; exit 0", "table inet camsentry is not installed"),
        # nft says yes and installs something else: every drop became an accept.
        (
            "sed 's/counter drop/counter accept/' | {nft} -f -; exit $?",
            "chain forward rule 3: expected 'ip saddr 10.77.1.2 counter drop",
        ),
    ],
)
def test_readback_mismatch_is_failed_and_not_kept(
    space: netns.Namespace,
    tmp_path: Path,
    collector_key: Ed25519PrivateKey,
    clock: FakeClock,
    make_command: MakeCommand,
    apply_with: str,
    found: str,
) -> None:
    argv = _wrapper(tmp_path, space, apply_with.format(nft=" ".join(space.exec_argv(["nft"]))))
    handler = _handler(collector_key, tmp_path / "state", argv, clock)
    ack = handler.handle(make_command(1, device=CAMERA))
    assert (ack["outcome"], ack["reason"]) == ("failed", "readback_mismatch"), ack
    assert found in ack["detail"]
    assert ack["quarantined"] == []
    assert "counter drop" in ack["ruleset"]  # what it tried to install
    state = load_state(tmp_path / "state")
    assert (state.last_command_id, state.quarantined()) == (1, ())


def test_nft_missing_is_refused(
    space: netns.Namespace,
    tmp_path: Path,
    collector_key: Ed25519PrivateKey,
    clock: FakeClock,
    make_command: MakeCommand,
) -> None:
    for n, argv in enumerate(
        [[str(tmp_path / "no-such-nft")], space.exec_argv([str(tmp_path / "no-such-nft")])]
    ):
        handler = _handler(collector_key, tmp_path / f"state-{n}", argv, clock)
        ack = handler.handle(make_command(1, device=CAMERA))
        assert (ack["outcome"], ack["reason"], ack["ruleset"]) == ("refused", "nft_missing", ""), ack
        assert "no-such-nft" in ack["detail"]


def test_without_cap_net_admin_is_refused(
    space: netns.Namespace,
    tmp_path: Path,
    collector_key: Ed25519PrivateKey,
    clock: FakeClock,
    make_command: MakeCommand,
) -> None:
    # setpriv drops CAP_NET_ADMIN from the bounding set: nft runs as root without it.
    argv = space.exec_argv(["setpriv", "--bounding-set=-net_admin", "nft"])
    handler = _handler(collector_key, tmp_path, argv, clock)
    ack = handler.handle(make_command(1, device=CAMERA))
    assert (ack["outcome"], ack["reason"]) == ("refused", "no_capability"), ack
    assert "Operation not permitted" in ack["detail"]
    assert "camsentry" not in _table(space)
    assert load_state(tmp_path).quarantined() == ()

"""Real nftables in real namespaces: quarantine cuts a camera off from all but its recorder."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.enforce.handler import CommandHandler
from agent.enforce.nft import SubprocessNft
from agent.enforce.readback import differences
from agent.enforce.rules import Quarantine, plan_quarantine
from agent.wire.commands import CommandAction
from simulator import netns
from tests.agent.enforce.conftest import FakeClock, MakeCommand
from tests.agent.enforce.topology import Topology, enforcement_topology
from tests.conftest import require_root

pytestmark = [pytest.mark.netns, pytest.mark.root]


@pytest.fixture
def topo() -> Iterator[Topology]:
    require_root()
    with enforcement_topology() as t:
        yield t


def _reach(topo: Topology) -> dict[str, bool]:
    pairs = [("cam", "inet"), ("inet", "cam"), ("cam", "rec"), ("rec", "cam"), ("gw", "cam")]
    pairs += [("cam", "gw"), ("rec", "inet")]
    return {f"{a}->{b}": topo.reaches(a, b) for a, b in pairs}


ALL_OPEN = {
    "cam->inet": True,
    "inet->cam": True,
    "cam->rec": True,
    "rec->cam": True,
    "gw->cam": True,
    "cam->gw": True,
    "rec->inet": True,
}
# The agent's host may still open connections to the camera (monitoring); the camera may not.
QUARANTINED = {**ALL_OPEN, "cam->inet": False, "inet->cam": False, "cam->gw": False}


def test_quarantine_release_restart(
    topo: Topology,
    tmp_path: Path,
    collector_key: Ed25519PrivateKey,
    clock: FakeClock,
    make_command: MakeCommand,
) -> None:
    def handler() -> CommandHandler:
        return CommandHandler(
            collector_key.public_key(),
            tmp_path / "state",
            SubprocessNft(topo.nft_argv()),
            lambda device: [topo.address("rec")] if device == topo.address("cam") else [],
            site="site-a",
            agent="agent-1",
            clock=clock,
        )

    assert _reach(topo) == ALL_OPEN

    held = topo.hold_connection("cam", "inet")
    try:
        assert held.stdin is not None
        assert held.stdout is not None

        def ping_again() -> str:
            assert held.stdin is not None
            assert held.stdout is not None
            held.stdin.write("again\n")
            held.stdin.flush()
            return held.stdout.readline().strip()

        assert ping_again() == "alive"
        ack = handler().handle(make_command(1, device=topo.address("cam")))
        assert ack["outcome"] == "applied", ack
        # A connection opened before the quarantine is cut too: no conntrack exception.
        assert ping_again() == "dead"
    finally:
        held.kill()
        held.wait(timeout=5)
        for stream in (held.stdin, held.stdout):
            if stream is not None:
                stream.close()
    listed = subprocess.run(
        [*topo.nft_argv(), "list", "table", "inet", "camsentry"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ip saddr 10.77.1.2 ip daddr 10.77.2.2 accept" in listed
    assert _reach(topo) == QUARANTINED

    # Reboot: the kernel forgets the table; a restarted agent restores it from its state file.
    subprocess.run([*topo.nft_argv(), "delete", "table", "inet", "camsentry"], check=True)
    assert topo.reaches("cam", "inet")
    assert handler().restore() == ack["ruleset"]
    assert _reach(topo) == QUARANTINED

    # A replay of the quarantine after release must not re-apply it.
    released = handler().handle(make_command(2, CommandAction.RELEASE, topo.address("cam")))
    assert released["outcome"] == "applied", released
    assert _reach(topo) == ALL_OPEN
    replayed = handler().handle(make_command(1, device=topo.address("cam")))
    assert (replayed["outcome"], replayed["reason"]) == ("refused", "replayed")
    assert _reach(topo) == ALL_OPEN


def test_nft_accepts_every_rendering() -> None:
    """Both families, with and without recorders and host monitoring, load into a real kernel."""
    require_root()
    ns = f"cs-enf-{secrets.token_hex(3)}-chk"
    quarantines = [
        Quarantine("10.0.0.9", ("10.0.0.1", "fd00::1"), 1),
        Quarantine("fd00::9", ("fd00::1",), 2),
        Quarantine("192.0.2.7", (), 3),
    ]
    with netns.namespace(ns) as space:
        nft = SubprocessNft(space.exec_argv(["nft"]))
        for monitoring in (True, False):
            planned = plan_quarantine(quarantines, host_monitoring=monitoring)
            nft.apply(planned)
            listed = space.run(["nft", "list", "table", "inet", "camsentry"]).stdout
            assert "ip6 saddr fd00::9 ip6 daddr fd00::1 accept" in listed
            assert ("ct direction reply" in listed) is monitoring
            # What nft lists back is, rule for rule, what was planned; a stale plan is not.
            assert differences(planned, nft.installed(planned.table)) == []
            stale = plan_quarantine(quarantines[:2], host_monitoring=monitoring)
            assert differences(stale, nft.installed(planned.table))
        empty = plan_quarantine([])
        nft.apply(empty)
        assert "camsentry" not in space.run(["nft", "list", "tables"]).stdout
        assert nft.installed(empty.table) is None
        assert differences(empty, None) == []

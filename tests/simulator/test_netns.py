"""simulator.netns primitives against the real kernel: create, wire, run inside, clean up after a crash."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from simulator import netns
from tests.conftest import require_root

ECHO = (
    "import socket; s = socket.create_server(('10.99.0.2', 7007)); print('listening', flush=True); "
    "c, _ = s.accept(); c.sendall(b'hello'); c.close()"
)
CLIENT = "import socket; print(socket.create_connection(('10.99.0.2', 7007), timeout=5).recv(5).decode())"

pytestmark = [pytest.mark.netns, pytest.mark.root]


@pytest.fixture
def prefix() -> str:
    require_root()
    return f"cs-sim-t{secrets.token_hex(2)}-"


def test_two_namespaces_wired_by_veth_can_ping(prefix: str) -> None:
    with netns.namespaces(prefix, ["a", "b"]) as ns:
        netns.veth_pair(ns["a"], "va", ns["b"], "vb")
        netns.add_address(ns["a"], "va", "10.99.0.1/24")
        netns.add_address(ns["b"], "vb", "10.99.0.2/24")
        netns.set_up(ns["a"], "va")
        netns.set_up(ns["b"], "vb")
        server = ns["b"].popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE)
        assert server.stdout is not None
        assert server.stdout.readline().strip() == b"listening"
        out = ns["a"].run([sys.executable, "-c", CLIENT])
        assert out.stdout.strip() == "hello"
        server.wait(timeout=10)
        server.stdout.close()
        proc = ns["b"].popen(
            [sys.executable, "-c", "print(open('/proc/net/dev').read())"], stdout=subprocess.PIPE
        )
        stdout, _ = proc.communicate(timeout=10)
        assert b"vb:" in stdout
    assert not [n for n in netns.list_namespaces() if n.startswith(prefix)]


def test_failed_command_raises_with_details(prefix: str) -> None:
    with netns.namespace(prefix + "x") as ns:
        with pytest.raises(netns.NetnsError) as info:
            ns.run(["ip", "link", "set", "nonexistent0", "up"])
        assert info.value.returncode != 0
        assert "nonexistent0" in " ".join(info.value.argv)
        assert ns.run(["true"], check=False).returncode == 0


def test_cleanup_prefix_removes_what_a_crashed_process_left(prefix: str) -> None:
    code = (
        "import os, sys; from simulator.netns import Namespace; "
        f"Namespace.create('{prefix}left1'); Namespace.create('{prefix}left2'); os._exit(9)"
    )
    crashed = subprocess.run([sys.executable, "-c", code], check=False, env={**os.environ})
    assert crashed.returncode == 9
    assert {f"{prefix}left1", f"{prefix}left2"} <= set(netns.list_namespaces())
    other = netns.Namespace.create(prefix.rstrip("-") + "x-keep")
    try:
        deleted = netns.cleanup_prefix(prefix)
        assert sorted(deleted) == [f"{prefix}left1", f"{prefix}left2"]
        assert other.exists()
    finally:
        other.delete()


def test_empty_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="empty prefix"):
        netns.cleanup_prefix("")


def test_cleanup_prefix_kills_processes_left_inside(prefix: str) -> None:
    ns = netns.Namespace.create(prefix + "busy")
    proc = ns.popen(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"up"
        assert proc.pid in ns.pids() or ns.pids()  # `ip netns exec` may exec or fork: either pid is ours
        assert netns.cleanup_prefix(prefix) == [prefix + "busy"]
        assert proc.wait(timeout=10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()

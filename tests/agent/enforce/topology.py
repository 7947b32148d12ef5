"""The namespace topology for enforcement tests, built with ``simulator.netns`` primitives.

    cam 10.77.1.2 ──┐
    rec 10.77.2.2 ──┼── gw (routes; the agent and its nftables live here)
    inet 203.0.113.10 ┘   (203.0.113.0/24: documentation range, RFC 5737)

Every namespace is named ``cs-enf-<random>-<role>`` and removed in ``finally`` (by that run's
own prefix, so parallel runs never remove each other's).
"""

from __future__ import annotations

import secrets
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from simulator import netns

LINKS = {
    # role: (leaf address, gateway address, prefix)
    "cam": ("10.77.1.2", "10.77.1.1", 24),
    "rec": ("10.77.2.2", "10.77.2.1", 24),
    "inet": ("203.0.113.10", "203.0.113.1", 24),
}
PORT = 8554
READY_TIMEOUT_S = 5.0

SERVER = """
import socketserver, sys

class Pong(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(10)
        try:
            while self.request.recv(16) == b"ping":
                self.request.sendall(b"pong")
        except OSError:
            pass

socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
with socketserver.ThreadingTCPServer(("0.0.0.0", int(sys.argv[1])), Pong) as srv:
    print("ready", flush=True)
    srv.serve_forever()
"""

# Holds one connection open: ping once, say "connected", then ping again per stdin line.
LONG_LIVED = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
s.sendall(b"ping")
assert s.recv(16) == b"pong"
print("connected", flush=True)
for _ in sys.stdin:
    try:
        s.sendall(b"ping")
        print("alive" if s.recv(16) == b"pong" else "dead", flush=True)
    except OSError:
        print("dead", flush=True)
"""

PROBE = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        s.sendall(b"ping")
        sys.exit(0 if s.recv(16) == b"pong" else 2)
except OSError:
    sys.exit(1)
"""


@dataclass
class Topology:
    prefix: str
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def address(self, role: str) -> str:
        return "10.77.1.1" if role == "gw" else LINKS[role][0]

    def reaches(self, src: str, dst: str, timeout_s: float = 0.5) -> bool:
        """A real TCP round trip (connect, ping, pong) from namespace ``src`` to ``dst``."""
        argv = ["ip", "netns", "exec", self.ns(src), sys.executable, "-c", PROBE]
        done = subprocess.run(
            [*argv, self.address(dst), str(PORT), str(timeout_s)],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return done.returncode == 0

    def hold_connection(self, src: str, dst: str, timeout_s: float = 0.5) -> subprocess.Popen[str]:
        """A process in ``src`` with one TCP connection to ``dst`` open; see ``LONG_LIVED``."""
        argv = ["ip", "netns", "exec", self.ns(src), sys.executable, "-c", LONG_LIVED]
        proc = subprocess.Popen(
            [*argv, self.address(dst), str(PORT), str(timeout_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "connected":
            proc.kill()
            raise RuntimeError(f"no connection from {src} to {dst}")
        return proc

    def nft_argv(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns("gw"), "nft")

    def serve(self, role: str) -> None:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(role), sys.executable, "-c", SERVER, str(PORT)],
            stdout=subprocess.PIPE,
        )
        self.servers.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        if not ready or proc.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"server in {role} did not start")


@contextmanager
def enforcement_topology() -> Iterator[Topology]:
    topo = Topology(prefix=f"cs-enf-{secrets.token_hex(3)}")
    try:
        with netns.namespaces(f"{topo.prefix}-", ["gw", *LINKS]) as spaces:
            gw = spaces["gw"]
            gw.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            for role, (leaf, gw_addr, plen) in LINKS.items():
                netns.veth_pair(gw, f"to-{role}", spaces[role], "eth0")
                netns.add_address(gw, f"to-{role}", f"{gw_addr}/{plen}")
                netns.set_up(gw, f"to-{role}")
                netns.add_address(spaces[role], "eth0", f"{leaf}/{plen}")
                netns.set_up(spaces[role], "eth0")
                netns.add_route(spaces[role], "default", gw_addr)
            try:
                for role in ("gw", *LINKS):
                    topo.serve(role)
                yield topo
            finally:
                for proc in topo.servers:
                    proc.kill()
                    proc.wait(timeout=5)
                    if proc.stdout:
                        proc.stdout.close()
    finally:
        netns.cleanup_prefix(f"{topo.prefix}-")

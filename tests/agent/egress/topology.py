"""Namespaces for egress tests: cameras → gateway (runs the watcher) → "internet".

    cam  198.51.100.2/24 ── to-cam 198.51.100.1  gw  to-inet 203.0.113.1 ── inet 203.0.113.10/24
                                                                           (+ .11 .53 aliases)

Documentation ranges only (RFC 5737, RFC 3849). Names are ``cs-egr-<pid>-<random>-<role>``;
namespaces of crashed runs (their pid gone) are removed first, everything is deleted in
``finally``. A small fixture of our own because
``simulator/netns.py`` was not yet committed when these tests were written.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "cs-egr-"
CAM = "198.51.100.2"
GW_CAM = "198.51.100.1"
GW_INET = "203.0.113.1"
CLOUD = "203.0.113.10"
NTP = "203.0.113.11"
DNS = "203.0.113.53"
# IPv6 documentation prefix (RFC 3849), same roles.
CAM6 = "2001:db8:1::2"
CLOUD6 = "2001:db8:2::10"
DNS6 = "2001:db8:2::53"
ROOT = Path(__file__).resolve().parents[3]
HARNESS = Path(__file__).with_name("harness.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _cidr(addr: str) -> str:
    return f"{addr}/64" if ":" in addr else f"{addr}/24"


def _nodad(addr: str) -> list[str]:
    # Without duplicate address detection an IPv6 address is usable at once: no waiting.
    return ["nodad"] if ":" in addr else []


def cleanup_prefix() -> None:
    """Delete namespaces left by crashed runs: ``cs-egr-<pid>-...`` whose pid is gone (a run that
    is still going, e.g. in parallel, keeps its own)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listed.stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("-")[0]
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@dataclass
class Topology:
    tag: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"{PREFIX}{self.tag}-{role}"

    def argv(self, role: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def python(self, role: str, code: str, *args: str) -> list[str]:
        return self.argv(role, sys.executable, "-c", code, *args)

    def run(self, role: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(role, *argv), capture_output=True, text=True, timeout=timeout, check=True
        )

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, **kwargs)
        self.procs.append(proc)
        return proc


@contextmanager
def egress_topology() -> Iterator[Topology]:
    cleanup_prefix()
    topo = Topology(f"{os.getpid()}-{secrets.token_hex(2)}")
    created: list[str] = []
    try:
        for role in ("gw", "cam", "inet"):
            _ip("netns", "add", topo.ns(role))
            created.append(topo.ns(role))
            _ip("-n", topo.ns(role), "link", "set", "lo", "up")
        gw = topo.ns("gw")
        topo.run("gw", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        topo.run("gw", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        links = (
            ("cam", "to-cam", [GW_CAM, "2001:db8:1::1"], [CAM, CAM6]),
            ("inet", "to-inet", [GW_INET, "2001:db8:2::1"], [CLOUD, NTP, DNS, CLOUD6, DNS6]),
        )
        for role, gw_if, gw_addrs, leaf_addrs in links:
            _ip("-n", gw, "link", "add", gw_if, "type", "veth", "peer", "name", "eth0")
            _ip("-n", gw, "link", "set", "eth0", "netns", topo.ns(role))
            for addr in gw_addrs:
                _ip("-n", gw, "addr", "add", _cidr(addr), "dev", gw_if, *_nodad(addr))
            _ip("-n", gw, "link", "set", gw_if, "up")
            for addr in leaf_addrs:
                _ip("-n", topo.ns(role), "addr", "add", _cidr(addr), "dev", "eth0", *_nodad(addr))
            _ip("-n", topo.ns(role), "link", "set", "eth0", "up")
            for addr in gw_addrs:
                _ip("-n", topo.ns(role), "route", "add", "default", "via", addr)
        yield topo
    finally:
        for proc in topo.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()
        for name in reversed(created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


class Watcher:
    """The harness (an EgressWatcher in a namespace) and its JSON-lines output."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.findings: list[dict[str, Any]] = []
        self.health: list[dict[str, Any]] = []
        self.bodies_emitted = 0
        self.started = False
        self.stats: dict[str, int] = {}
        self.policy: list[dict[str, Any]] = []

    def read_until(self, done: Any, timeout_s: float) -> bool:
        """Read messages until ``done(self)`` is true; False on timeout or exit."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while not done(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                return False
            line = self.proc.stdout.readline()
            if not line:
                return False
            msg = json.loads(line)
            if msg["type"] == "findings":
                self.findings.extend(msg["items"])
                self.bodies_emitted += len(msg["items"])
            elif msg["type"] == "stats":
                self.stats = msg["stats"]
            elif msg["type"] == "ready":
                self.started = True
            elif msg["type"] == "health":
                self.health = msg["items"]
            elif msg["type"] == "policy":
                self.policy.append(msg)
        return True

    def push_policy(self, params: dict[str, Any]) -> None:
        """Hand the harness a policy push, as the command handler would after verifying it."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(params) + "\n").encode())
        self.proc.stdin.flush()

    def latest(self) -> dict[tuple[str, str, int, str], dict[str, Any]]:
        """The newest body per (device, destination, port, protocol): counters are cumulative."""
        out: dict[tuple[str, str, int, str], dict[str, Any]] = {}
        for f in self.findings:
            out[(f["device"], f["destination"], f["port"], f["protocol"])] = f
        return out


def start_watcher(topo: Topology, config: dict[str, Any], prefix: list[str] | None = None) -> Watcher:
    """Run the harness in the gateway namespace, optionally behind ``prefix`` (capsh ...)."""
    argv = [*topo.argv("gw"), *(prefix or []), sys.executable, str(HARNESS), json.dumps(config)]
    # Unbuffered: select() must see every line that readline() has not consumed yet.
    proc = topo.start(argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE, env=ENV, bufsize=0)
    watcher = Watcher(proc)
    if not watcher.read_until(lambda w: w.started, 15):
        raise RuntimeError("watcher harness did not start")
    return watcher

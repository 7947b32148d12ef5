"""Network-namespace primitives over iproute2: create, run inside, wire with veth pairs, clean up by prefix.

Every name is chosen by the caller; each test suite uses its own prefix (``cs-sim-``, ``cs-enf-``) so that
``cleanup_prefix`` after a crash removes exactly what that suite left behind and nothing else.

Errors: ``NetnsError`` (a failed ``ip`` call, with argv, return code and stderr as attributes).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import structlog

log = structlog.get_logger("simulator.netns")

NETNS_DIR = Path("/run/netns")
# Linux IFNAMSIZ is 16 including the terminating NUL.
MAX_IFNAME_LEN = 15


class NetnsError(RuntimeError):
    """An ``ip`` command failed."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip()}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(argv, proc.returncode, proc.stderr)
    return proc


def _ns_args(ns: Namespace | str | None) -> list[str]:
    if ns is None:
        return []
    return ["-n", ns.name if isinstance(ns, Namespace) else ns]


class Namespace:
    """A named network namespace; ``Namespace.create(name)`` adds it and brings ``lo`` up."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    @classmethod
    def create(cls, name: str) -> Namespace:
        _ip("netns", "add", name)
        ns = cls(name)
        try:
            _ip("-n", name, "link", "set", "lo", "up")
        except NetnsError:
            ns.delete()
            raise
        log.debug("netns_created", name=name)
        return ns

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed so that it runs inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(
        self, argv: Sequence[str], check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace and wait; text output captured."""
        full = self.exec_argv(argv)
        proc = subprocess.run(full, capture_output=True, text=True, check=False, input=input)
        if check and proc.returncode != 0:
            raise NetnsError(full, proc.returncode, proc.stderr)
        return proc

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the namespace; keyword arguments go to ``subprocess.Popen``."""
        return subprocess.Popen(self.exec_argv(argv), **kwargs)  # type: ignore[call-overload,no-any-return]

    def exists(self) -> bool:
        return (NETNS_DIR / self.name).exists()

    def pids(self) -> list[int]:
        """Processes running in this namespace (``ip netns pids``)."""
        proc = _ip("netns", "pids", self.name, check=False)
        return [int(p) for p in proc.stdout.split() if p.isdigit()]

    def kill_processes(self) -> list[int]:
        """SIGKILL every process left in this namespace (crash recovery); returns their pids."""
        killed = []
        for pid in self.pids():
            if pid == os.getpid():
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        return killed

    def delete(self) -> None:
        """Delete the namespace (its veth ends go with it); a missing namespace is not an error."""
        _ip("netns", "del", self.name, check=False)
        log.debug("netns_deleted", name=self.name)


def veth_pair(ns_a: Namespace | str | None, name_a: str, ns_b: Namespace | str | None, name_b: str) -> None:
    """Create a veth pair: end ``name_a`` in ``ns_a``, ``name_b`` in ``ns_b`` (None = the host namespace)."""
    for name in (name_a, name_b):
        if len(name) > MAX_IFNAME_LEN:
            raise ValueError(f"interface name {name!r} is longer than {MAX_IFNAME_LEN} characters")
    _ip(*_ns_args(ns_a), "link", "add", name_a, "type", "veth", "peer", "name", name_b, *_netns_target(ns_b))


def _netns_target(ns: Namespace | str | None) -> list[str]:
    if ns is None:
        return ["netns", "1"]  # PID 1's namespace: the host, even when the caller is elsewhere
    return ["netns", ns.name if isinstance(ns, Namespace) else ns]


def add_address(ns: Namespace | str | None, ifname: str, cidr: str) -> None:
    """Add ``cidr`` (e.g. ``10.77.0.1/24``) to ``ifname`` in ``ns``."""
    _ip(*_ns_args(ns), "addr", "add", cidr, "dev", ifname)


def set_up(ns: Namespace | str | None, ifname: str) -> None:
    _ip(*_ns_args(ns), "link", "set", ifname, "up")


def add_route(ns: Namespace | str | None, dest: str, via: str) -> None:
    """Add a route (``dest`` may be ``default``)."""
    _ip(*_ns_args(ns), "route", "add", dest, "via", via)


def list_namespaces() -> list[str]:
    proc = _ip("netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def cleanup_prefix(prefix: str, kill_processes: bool = True) -> list[str]:
    """Delete every namespace whose name starts with ``prefix``; returns the names deleted.

    Processes still inside them (a crashed test's servers) are killed first, so that the namespaces and
    their addresses really go away.
    """
    if not prefix:
        raise ValueError("refusing to clean up with an empty prefix")
    deleted = []
    for name in list_namespaces():
        if name.startswith(prefix):
            ns = Namespace(name)
            if kill_processes:
                ns.kill_processes()
            ns.delete()
            deleted.append(name)
    if deleted:
        log.info("netns_cleanup", prefix=prefix, deleted=deleted)
    return deleted


@contextmanager
def namespace(name: str) -> Iterator[Namespace]:
    """A namespace that exists for the ``with`` block and is deleted afterwards, also on error."""
    ns = Namespace.create(name)
    try:
        yield ns
    finally:
        ns.delete()


@contextmanager
def namespaces(prefix: str, roles: Sequence[str]) -> Iterator[dict[str, Namespace]]:
    """Namespaces ``prefix + role`` for each role; stale ones from a crashed run are removed first."""
    cleanup_prefix(prefix)
    created: dict[str, Namespace] = {}
    try:
        for role in roles:
            created[role] = Namespace.create(prefix + role)
        yield created
    finally:
        for ns in reversed(list(created.values())):
            ns.delete()

"""The host-socket source: poll, keep what is new and outbound, name the owning process."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import psutil

from agent.egress.model import Process, Socket

ListSockets = Callable[[], Sequence[Socket]]
ResolveOwner = Callable[[Socket], Process | None]
# Never report more than this many new connections from one poll; the rest wait for the next.
MAX_NEW_PER_POLL = 10_000

_Key = tuple[str, str, int, str, int]


@dataclass(frozen=True)
class SocketFlow:
    """A newly seen outbound connection of this host."""

    socket: Socket
    process: Process | None


@lru_cache(maxsize=4096)
def _is_remote(address: str) -> bool:
    try:
        remote = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (remote.is_loopback or remote.is_unspecified)


def _is_outbound(sock: Socket, listening: set[tuple[str, int]]) -> bool:
    if sock.rport == 0 or sock.state in ("LISTEN", "UNCONNECTED") or not _is_remote(sock.remote):
        return False
    # An accepted connection shares its local port with a listener: inbound, not egress.
    return (sock.protocol, sock.lport) not in listening


class SocketPoller:
    """Each ``poll()`` returns the outbound connections not present in the previous poll."""

    def __init__(self, list_sockets: ListSockets, resolve_owner: ResolveOwner) -> None:
        self._list = list_sockets
        self._owner = resolve_owner
        self._previous: set[_Key] = set()

    def poll(self) -> list[SocketFlow]:
        socks = self._list()
        listening = {(s.protocol, s.lport) for s in socks if s.state == "LISTEN"}
        current: set[_Key] = set()
        new: list[SocketFlow] = []
        for s in socks:
            if not _is_outbound(s, listening):
                continue
            key = (s.protocol, s.local, s.lport, s.remote, s.rport)
            current.add(key)
            if key not in self._previous and len(new) < MAX_NEW_PER_POLL:
                new.append(SocketFlow(s, self._owner(s)))
        self._previous = current
        return new


def psutil_sockets() -> list[Socket]:
    """Host sockets via psutil (the baseline the benchmark compares ``ProcNet`` against)."""
    out: list[Socket] = []
    for c in psutil.net_connections(kind="inet"):
        proto = "udp" if c.type == socket.SOCK_DGRAM else "tcp"
        local = (c.laddr.ip, c.laddr.port) if isinstance(c.laddr, tuple) and c.laddr else ("", 0)
        remote = (c.raddr.ip, c.raddr.port) if isinstance(c.raddr, tuple) and c.raddr else ("", 0)
        state = c.status if remote[1] or proto == "tcp" else "UNCONNECTED"
        out.append(Socket(proto, *local, *remote, state, 0, c.pid))
    return out


def psutil_owner(sock: Socket) -> Process | None:
    if sock.pid is None:
        return None
    try:
        p = psutil.Process(sock.pid)
        name = p.name()
        try:
            exe: str | None = p.exe() or None
        except psutil.AccessDenied:
            exe = None
        return Process(sock.pid, name, exe)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return Process(sock.pid, None, None)

"""The typed observations every egress source produces."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FlowKind(StrEnum):
    NEW = "new"
    DESTROY = "destroy"


class Source(StrEnum):
    CONNTRACK = "conntrack"
    SOCKETS = "sockets"


@dataclass(frozen=True)
class Process:
    pid: int
    name: str | None
    exe: str | None

    def as_dict(self) -> dict[str, int | str | None]:
        return {"pid": self.pid, "name": self.name, "exe": self.exe}


@dataclass(frozen=True)
class FlowEvent:
    """One conntrack event: the original direction's tuple, and counters where the kernel gave them."""

    kind: FlowKind
    protocol: str
    src: str
    dst: str
    sport: int
    dport: int
    conntrack_id: int | None = None
    timestamp: float | None = None
    # Original plus reply direction; only DESTROY events carry them, and only with
    # net.netfilter.nf_conntrack_acct=1.
    bytes: int | None = None
    packets: int | None = None


@dataclass(frozen=True)
class Socket:
    """One host socket with a remote end, as /proc/net or psutil lists it."""

    protocol: str
    local: str
    lport: int
    remote: str
    rport: int
    state: str
    inode: int = 0
    pid: int | None = None

"""Where the simulator may listen and send: loopback on the host, documentation ranges only in our namespaces.

The simulator must never put traffic on a real network. On the host it listens only on 127.0.0.0/8 and
phones home only to loopback; inside a ``cs-...`` namespace built by simulator.topology it may also use
the RFC 5737 documentation ranges and its own subnet.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from simulator.knobs import Target

NETNS_DIR = Path("/run/netns")
OUR_NAMESPACE_PREFIX = "cs-"
DOC_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


class UnsafeAddress(ValueError):
    """An address the simulator refuses to use from where it runs."""


def in_host_namespace(netns_dir: Path = NETNS_DIR) -> bool:
    """False only when this process runs in a named namespace of ours (``ip netns`` name ``cs-...``).

    Compares the inode of this process's network namespace with the bind mounts ``ip netns`` keeps; any
    doubt answers True, which keeps traffic on loopback.
    """
    try:
        ours = os.stat("/proc/self/ns/net").st_ino
        return not any(
            entry.name.startswith(OUR_NAMESPACE_PREFIX) and entry.stat().st_ino == ours
            for entry in netns_dir.iterdir()
        )
    except OSError:
        return True


def target_allowed(target: Target, host_namespace: bool) -> bool:
    """May a camera phone home to ``target`` from where this process runs?"""
    addr = ipaddress.ip_address(target.host)
    if addr.is_loopback:
        return True
    return not host_namespace and any(addr in net for net in DOC_RANGES)


def check_listen_address(address: str, host_namespace: bool) -> None:
    """Raise UnsafeAddress for a listening address outside loopback when running on the host."""
    if host_namespace and not ipaddress.ip_address(address).is_loopback:
        raise UnsafeAddress(
            f"{address} is not a loopback address; outside 127.0.0.0/8 the simulator runs only inside a "
            f"'{OUR_NAMESPACE_PREFIX}...' network namespace (simulator.topology)"
        )


def check_multicast_interface(interface: str, host_namespace: bool) -> None:
    """Raise UnsafeAddress when asked to answer multicast discovery on a real interface of the host."""
    if host_namespace and interface != "lo":
        raise UnsafeAddress(f"multicast discovery on {interface!r} is allowed only inside our namespaces")

"""Phone-home: each camera periodically opens a TCP connection or sends a UDP datagram from its own address.

Safety: traffic only ever goes to loopback, or to documentation ranges (RFC 5737) when this process runs
in a network namespace of ours (named ``cs-...`` by ``ip netns``); any other target is refused at start-up
with a log line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from pathlib import Path
from typing import Any

import structlog

from simulator.camera import Camera
from simulator.fleet import Target

log = structlog.get_logger("simulator.phonehome")

DOC_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
CONNECT_TIMEOUT_S = 3.0
MAX_LOG_ENTRIES = 10_000  # the in-memory record of attempts is bounded


def in_host_namespace(netns_dir: Path = Path("/run/netns")) -> bool:
    """False only when this process runs in a named namespace of ours (``ip netns`` name starting ``cs-``).

    Compares the inode of this process's network namespace with the bind mounts ``ip netns`` keeps; any
    doubt answers True, which keeps traffic on loopback.
    """
    try:
        ours = os.stat("/proc/self/ns/net").st_ino
        return not any(
            entry.name.startswith("cs-") and entry.stat().st_ino == ours for entry in netns_dir.iterdir()
        )
    except OSError:
        return True


def target_allowed(target: Target, host_namespace: bool) -> bool:
    addr = ipaddress.ip_address(target.host)
    if addr.is_loopback:
        return True
    return not host_namespace and any(addr in net for net in DOC_RANGES)


def hello(cam: Camera) -> bytes:
    """What the camera says when it calls home: a registration line naming device and serial."""
    spec = cam.spec
    return f"REGISTER {spec.profile.brand} {spec.profile.model} {spec.serial} {spec.mac}\r\n".encode()


async def _once(cam: Camera, target: Target) -> dict[str, Any]:
    entry: dict[str, Any] = {"camera": cam.spec.id, "source": cam.spec.address, "target": str(target)}
    start = time.monotonic()
    try:
        if target.proto == "udp":
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((cam.spec.address, 0))
                sock.setblocking(False)
                await loop.sock_sendto(sock, hello(cam), (target.host, target.port))
            finally:
                sock.close()
        else:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port, local_addr=(cam.spec.address, 0)),
                CONNECT_TIMEOUT_S,
            )
            writer.write(hello(cam))
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        entry["ok"] = True
    except (OSError, TimeoutError) as exc:
        entry["ok"] = False
        entry["error"] = type(exc).__name__
    entry["elapsed_s"] = round(time.monotonic() - start, 4)
    return entry


async def _loop(cam: Camera, targets: list[Target], record: list[dict[str, Any]]) -> None:
    interval = max(cam.spec.knobs.phone_home_interval_s, 0.05)
    while True:
        for target in targets:
            entry = await _once(cam, target)
            if len(record) < MAX_LOG_ENTRIES:
                record.append(entry)
        await asyncio.sleep(interval)


def start_phone_home(cameras: list[Camera], record: list[dict[str, Any]]) -> list[asyncio.Task[None]]:
    host_ns = in_host_namespace()
    tasks = []
    for cam in cameras:
        allowed = []
        for target in cam.spec.knobs.phone_home:
            if target_allowed(target, host_ns):
                allowed.append(target)
            else:
                log.warning(
                    "phone_home_refused", camera=cam.spec.id, target=str(target), host_namespace=host_ns
                )
        if allowed:
            tasks.append(asyncio.create_task(_loop(cam, allowed, record), name=f"phone-home-{cam.spec.id}"))
    return tasks

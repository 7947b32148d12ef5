"""Phone-home: each camera periodically opens a TCP connection or sends a UDP datagram from its own address.

Safety: traffic only ever goes to loopback, or to documentation ranges (RFC 5737) when this process runs
in a network namespace of ours (named ``cs-...`` by ``ip netns``); any other target is refused at start-up
with a log line.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import structlog

from simulator.camera import Camera
from simulator.knobs import Target
from simulator.safety import in_host_namespace, target_allowed

log = structlog.get_logger("simulator.phonehome")

CONNECT_TIMEOUT_S = 3.0
MAX_LOG_ENTRIES = 10_000  # the in-memory record of attempts is bounded


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

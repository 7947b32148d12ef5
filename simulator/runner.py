"""Run a fleet: every camera's HTTP listener, WS-Discovery responder and phone-home task in one loop.

``FleetRunner.start()`` runs the loop in a background thread for tests and returns when every camera
listens; ``await runner.serve_until(event)`` is the CLI's foreground form.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from simulator.camera import Camera, Clock, utc_now
from simulator.fleet import Fleet
from simulator.httpd import make_app
from simulator.safety import check_listen_address, check_multicast_interface, in_host_namespace
from simulator.tls import CameraCertificate, self_signed, server_context

log = structlog.get_logger("simulator.runner")

SHUTDOWN_TIMEOUT_S = 1.0  # hung requests (the `hang` knob) are cut this long after stop
START_TIMEOUT_S = 120.0
# Each camera holds a listening TCP socket and a UDP socket, plus one per open client connection.
FDS_PER_CAMERA = 4


def write_manifest(path: Path, entries: list[dict[str, Any]]) -> None:
    """Write the manifest atomically: a reader sees the old file, no file, or the complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(entries, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


class FleetRunner:
    """Owns the sockets of one fleet; start/stop from any thread, or serve inside a running loop."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        clock: Clock = utc_now,
        discovery: bool = True,
        multicast_interface: str | None = None,
        phone_home: bool = True,
    ) -> None:
        self.fleet = fleet
        self.cameras = {spec.id: Camera(spec, clock) for spec in fleet.cameras}
        self._by_addr = {(c.spec.address, c.spec.port): c for c in self.cameras.values()}
        self._discovery = discovery
        self._multicast_interface = multicast_interface
        self._phone_home = phone_home
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._closers: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.phone_home_log: list[dict[str, Any]] = []
        # HTTPS-only cameras' certificates, made afresh at each start (camera id -> certificate).
        self.certificates: dict[str, CameraCertificate] = {}

    @property
    def manifest(self) -> list[dict[str, Any]]:
        return [spec.manifest_entry() for spec in self.fleet.cameras]

    async def astart(self) -> None:
        """Open every listener; returns once all of them accept connections."""
        host_ns = in_host_namespace()
        for cam in self.cameras.values():
            check_listen_address(cam.spec.address, host_ns)
        if self._multicast_interface:
            check_multicast_interface(self._multicast_interface, host_ns)
        raise_fd_limit(FDS_PER_CAMERA * len(self.cameras) + 256)
        self._stopping = asyncio.Event()
        app = make_app(self._by_addr, self._stopping)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            # A client that gives up on a hung camera frees the handler at once instead of at stop().
            handler_cancellation=True,
        )
        await self._runner.setup()
        for cam in self.cameras.values():
            context = None
            if cam.spec.profile.https_only:
                certificate = self_signed(cam.spec.address)
                self.certificates[cam.spec.id] = certificate
                context = server_context(certificate)
            site = web.TCPSite(
                self._runner,
                host=cam.spec.address,
                port=cam.spec.port,
                reuse_address=True,
                backlog=64,
                ssl_context=context,
            )
            await site.start()
        if self._discovery:
            from simulator.discovery import start_discovery

            self._closers.extend(
                await start_discovery(
                    list(self.cameras.values()), multicast_interface=self._multicast_interface
                )
            )
        if self._phone_home:
            from simulator.phonehome import start_phone_home

            self._tasks.extend(start_phone_home(list(self.cameras.values()), self.phone_home_log))
        log.info("fleet_listening", cameras=len(self.cameras), port=self.fleet.port)

    async def astop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for close in self._closers:
            close()
        self._closers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("fleet_stopped", cameras=len(self.cameras))

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.astart()
        try:
            await stop.wait()
        finally:
            await self.astop()

    # Background-thread form, for tests and the demo.

    def start(self, timeout: float = START_TIMEOUT_S) -> list[dict[str, Any]]:
        """Start in a thread with its own loop; returns the manifest once every camera listens."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._thread_main, name="camsentry-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"fleet did not start within {timeout} s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("fleet failed to start") from self._error
        return self.manifest

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.astart())
        except BaseException as exc:
            self._error = exc
            loop.run_until_complete(self.astop())
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.astop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the fleet's loop thread and return its result (for inspecting state)."""
        if self._loop is None:
            return fn()
        return asyncio.run_coroutine_threadsafe(_call(fn), self._loop).result(10)

    def stop(self) -> None:
        """Close every socket and join the thread; safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> FleetRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()

"""One sweep over many cameras: bounded concurrency, a time budget per camera, one record each.

A camera that is down, slow, huge or hostile costs at most its budget and one worker; it is
reported as a record with a finding, never as an exception.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from agent.identify.tables import load_tables
from agent.onvif import client
from agent.onvif.errors import FailureKind
from agent.onvif.poll import CameraPoller, Observation, OpFailure, PollSettings
from agent.onvif.record import build_record
from agent.onvif.targets import CameraTarget
from agent.onvif.tls import PinStore
from agent.runtime.clock import Clock, SystemClock
from agent.wire.inventory import DeviceRecord
from agent.wire.timefmt import format_utc

log = structlog.get_logger("agent.onvif.sweep")

DEFAULT_CONCURRENCY = 16
DEFAULT_PER_CAMERA_TIMEOUT_S = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576  # 1 MiB; real answers are under 10 KB
MAX_DEFAULT_CREDENTIALS = 8  # pairs tried per camera, so an opted-in site is not a brute force


class Sweeper:
    """Polls targets and returns JSON-ready device records, one per target, in target order."""

    def __init__(
        self,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        per_camera_timeout_s: float = DEFAULT_PER_CAMERA_TIMEOUT_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Clock | None = None,
        try_default_credentials: bool = False,
        neighbour_macs: Callable[[], Mapping[str, str]] | None = None,
        contacted_hostnames: Callable[[], Mapping[str, Sequence[str]]] | None = None,
        pins: PinStore | None = None,
    ) -> None:
        """``neighbour_macs``: {ip: mac} (``agent.onvif.neighbours.NeighbourTable``) for cameras that
        hide their MAC; ``contacted_hostnames``: {ip: names the device resolved or contacted}, from
        the egress watcher, as identification evidence (vendor cloud and P2P domains); ``pins``:
        https cameras' pinned certificates (``PinStore.in_dir(state_dir)``; in memory if None)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if per_camera_timeout_s <= 0:
            raise ValueError("per_camera_timeout_s must be positive")
        if max_response_bytes < 4096:
            raise ValueError("max_response_bytes must be at least 4096")
        self.concurrency = concurrency
        self.clock: Clock = clock or SystemClock()
        self.tables = load_tables()
        creds = [(c.username, c.password) for c in self.tables.default_credentials]
        self.settings = PollSettings(
            per_camera_timeout_s=per_camera_timeout_s,
            max_response_bytes=max_response_bytes,
            try_default_credentials=try_default_credentials,
            default_credentials=tuple(dict.fromkeys(creds))[:MAX_DEFAULT_CREDENTIALS],
        )
        self._neighbour_macs = neighbour_macs
        self._contacted_hostnames = contacted_hostnames
        self.pins = pins or PinStore()
        client.preload()  # WSDL parsed once, here, before any worker starts

    def poll_one(
        self,
        target: CameraTarget,
        macs: Mapping[str, str] | None = None,
        hostnames: Mapping[str, Sequence[str]] | None = None,
    ) -> DeviceRecord:
        started = self.clock.monotonic()
        polled_at = format_utc(self.clock.now())
        try:
            obs = CameraPoller(
                target, self.settings, now=self.clock.now, monotonic=self.clock.monotonic, pins=self.pins
            ).poll()
        except Exception as exc:  # a bug of ours must not cost the other cameras their records
            log.exception("poll_crashed", camera=target.host_port)
            obs = Observation(target=target)
            obs.failures.append(
                OpFailure("poll", FailureKind.MALFORMED, f"agent error: {type(exc).__name__}")
            )
        return build_record(
            obs,
            self.tables,
            polled_at=polled_at,
            duration_s=self.clock.monotonic() - started,
            neighbour_mac=(macs or {}).get(target.address, ""),
            hostnames=tuple((hostnames or {}).get(target.address, ())),
        )

    def sweep(self, targets: Sequence[CameraTarget]) -> list[DeviceRecord]:
        """One record per target (same order); never raises for what a camera does."""
        if not targets:
            return []
        macs: Mapping[str, str] = {}
        if self._neighbour_macs is not None:
            try:
                macs = self._neighbour_macs()
            except OSError as exc:
                log.warning("neighbour_table_unreadable", error=str(exc))
        hostnames: Mapping[str, Sequence[str]] = {}
        if self._contacted_hostnames is not None:
            try:
                hostnames = self._contacted_hostnames()
            except Exception as exc:  # evidence only: a broken source must not cost the sweep
                log.warning("contacted_hostnames_failed", error=repr(exc))
        started = self.clock.monotonic()
        workers = min(self.concurrency, len(targets))
        name = f"onvif-sweep-{threading.get_ident()}"
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
            records = list(pool.map(lambda t: self.poll_one(t, macs, hostnames), targets))
        log.info(
            "sweep_done",
            cameras=len(targets),
            reachable=sum(1 for r in records if r.reachable),
            duration_s=round(self.clock.monotonic() - started, 3),
        )
        return records

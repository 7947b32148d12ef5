"""Each stage of the service says when it is working and when it made progress; the watchdog asks.

A stage is *stalled* when it has had work in hand for longer than the limit without finishing
it, or when its thread has died. An idle stage (nothing pending) is healthy however long it
waits: a quiet estate must not get the collector restarted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from agent.runtime.clock import Clock

# A policy pass over a large estate or an alert sink's timeout take seconds, never minutes.
DEFAULT_STALL_AFTER_S = 120.0


class Stage:
    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._busy_since: float | None = None
        self._alive: Callable[[], bool] = lambda: True
        self.last_progress = clock.monotonic()

    def watch(self, thread: threading.Thread) -> None:
        """The stage runs on this thread: its death is a stall."""
        self._alive = thread.is_alive

    def begin(self) -> None:
        """Work is pending (kept from the first call until ``done``)."""
        with self._lock:
            if self._busy_since is None:
                self._busy_since = self._clock.monotonic()

    def done(self) -> None:
        """Everything pending is handled."""
        with self._lock:
            self._busy_since = None
            self.last_progress = self._clock.monotonic()

    @contextmanager
    def working(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.done()

    def stalled_for(self) -> float:
        """Seconds with work in hand and no progress (0 when idle)."""
        with self._lock:
            since = self._busy_since
        return 0.0 if since is None else self._clock.monotonic() - since

    def alive(self) -> bool:
        return self._alive()


class Heartbeats:
    def __init__(self, clock: Clock, stall_after_s: float = DEFAULT_STALL_AFTER_S) -> None:
        self._clock = clock
        self.stall_after_s = stall_after_s
        self.stages: dict[str, Stage] = {}

    def stage(self, name: str) -> Stage:
        return self.stages.setdefault(name, Stage(name, self._clock))

    def stalled(self) -> list[str]:
        """Names of stages stuck past the limit or whose thread has ended, for the watchdog."""
        return [
            name
            for name, stage in self.stages.items()
            if not stage.alive() or stage.stalled_for() > self.stall_after_s
        ]

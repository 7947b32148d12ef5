"""The alert worker: its own thread takes due rows from the queue and hands them to the sinks.

Failures are retried with exponential backoff (``backoff_initial_s`` doubling, capped at
``backoff_max_s``); after ``max_attempts`` a row is dead-lettered (kept, counted, logged). A
rate-limited sink takes at most ``max_per_minute`` messages; when more new alerts wait than it
may send now, they become one digest. A sink that fails ends its round, so a dead webhook costs
one timeout per round, not one per alert.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from agent.runtime.clock import Clock
from collector.alerts.config import AlertSettings
from collector.alerts.digest import digest_document
from collector.alerts.queue import AlertQueue, QueuedAlert
from collector.alerts.sinks import DeliveryError, Sink
from collector.heartbeat import Stage

log = structlog.get_logger(__name__)

# Rows read per sink and round; a digest reads all fresh rows itself.
ROUND_ROWS = 100
# How often the worker looks for due rows when nobody wakes it (retries come due by themselves).
POLL_S = 1.0


@dataclass
class WorkerStats:
    sent: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    digests: Counter[str] = field(default_factory=Counter)


class _Bucket:
    """``per_minute`` messages a minute, refilled continuously, a minute's worth at most."""

    def __init__(self, per_minute: int, now: float) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.last = now

    def refill(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.capacity / 60.0)
        self.last = now
        return self.tokens

    def take(self, now: float) -> bool:
        if self.refill(now) >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def backoff_s(attempts: int, initial_s: float, cap_s: float) -> float:
    """Delay before try ``attempts + 1``: initial, 2x, 4x, ... never above the cap."""
    return min(cap_s, initial_s * 2.0 ** max(0, min(attempts - 1, 60)))


class AlertWorker:
    def __init__(
        self,
        queue: AlertQueue,
        sinks: Sequence[Sink],
        settings: AlertSettings,
        *,
        clock: Clock,
        stage: Stage | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.queue = queue
        self.sinks = list(sinks)
        self.settings = settings
        self.clock = clock
        self.stage = stage or Stage("alerts", clock)
        self.poll_s = poll_s
        self.stats = WorkerStats()
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        now = clock.monotonic()
        self._buckets = {s.name: _Bucket(settings.max_per_minute, now) for s in self.sinks if s.rate_limited}

    def run_once(self) -> int:
        """One round over every sink; returns the rows delivered."""
        return sum(self._round(sink) for sink in self.sinks)

    def _round(self, sink: Sink) -> int:
        rows = self.queue.due(sink.name, ROUND_ROWS)
        if not rows:
            return 0
        delivered = 0
        with self.stage.working():
            bucket = self._buckets.get(sink.name)
            if bucket is not None:
                rows = self._maybe_digest(sink, rows, bucket)
            for row in rows:
                if bucket is not None and not bucket.take(self.clock.monotonic()):
                    break
                if not self._deliver(sink, row):
                    break
                delivered += 1
        return delivered

    def _maybe_digest(self, sink: Sink, rows: list[QueuedAlert], bucket: _Bucket) -> list[QueuedAlert]:
        """More new alerts than the sink may take now: fold them all into one digest row."""
        fresh = [r for r in rows if r.kind == "alert" and r.attempts == 0]
        if len(fresh) <= bucket.refill(self.clock.monotonic()):
            return rows
        others = [r for r in rows if not (r.kind == "alert" and r.attempts == 0)]
        if bucket.tokens < 1.0:
            return others  # they wait and join the next digest
        every = self.queue.fresh(sink.name)
        document = digest_document([r.document for r in every], every[0].created_at, self.clock.now())
        digest = self.queue.digest(sink.name, every, document)
        self.stats.digests[sink.name] += 1
        log.warning("alert_digest", sink=sink.name, alerts=len(every), since=every[0].created_at)
        return [digest, *others]

    def _deliver(self, sink: Sink, row: QueuedAlert) -> bool:
        try:
            sink.deliver(row.document)
        except DeliveryError as exc:
            self.stats.failures[sink.name] += 1
            attempts = row.attempts + 1
            if attempts >= self.settings.max_attempts:
                self.queue.dead(row, str(exc))
                self.stats.dead[sink.name] += 1
                log.error(
                    "alert_dead_lettered", sink=sink.name, alert=row.id, attempts=attempts, error=str(exc)
                )
            else:
                delay = backoff_s(attempts, self.settings.backoff_initial_s, self.settings.backoff_max_s)
                self.queue.retry(row, str(exc), delay)
                log.warning(
                    "alert_delivery_failed",
                    sink=sink.name,
                    alert=row.id,
                    attempts=attempts,
                    retry_in_s=delay,
                    error=str(exc),
                )
            return False
        self.queue.sent(row)
        self.stats.sent[sink.name] += 1
        return True

    # -- thread ---------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._run, name="camsentry-alerts", daemon=True)
        self._thread.start()
        self.stage.watch(self._thread)
        return self._thread

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except Exception:  # a database hiccup must not end alerting; the rows wait in the queue
                log.exception("alert_round_failed")
                busy = False
            if not busy:
                self.wake.wait(self.poll_s)
                self.wake.clear()

"""What the policy pass calls: alerts become queue rows (one per sink), repeats within the
dedupe window dropped, the worker woken. Nothing here waits on a sink."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from agent.runtime.clock import Clock
from agent.wire.findings import Severity
from collector.alerts.model import Alert
from collector.alerts.queue import AlertQueue

# The same violation re-alerting more than hourly is noise; a new event (reopened) is not.
DEFAULT_DEDUPE_WINDOW_S = 3600.0
# Bounds the dedupe memory whatever the estate does.
MAX_DEDUPE_KEYS = 10_000


class AlertEnqueuer:
    def __init__(
        self,
        queue: AlertQueue,
        sinks: Sequence[str],
        *,
        clock: Clock,
        min_severity: Severity = Severity.LOW,
        dedupe_window_s: float = DEFAULT_DEDUPE_WINDOW_S,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.queue = queue
        self.sinks = list(sinks)
        self.clock = clock
        self.min_weight = min_severity.weight
        self.dedupe_window_s = dedupe_window_s
        self.wake = wake
        self.deduplicated = 0
        self._seen: dict[tuple[str, str], float] = {}

    def _duplicate(self, key: tuple[str, str], now: float) -> bool:
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.dedupe_window_s:
            return True
        if len(self._seen) >= MAX_DEDUPE_KEYS:
            cutoff = now - self.dedupe_window_s
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            while len(self._seen) >= MAX_DEDUPE_KEYS:
                self._seen.pop(next(iter(self._seen)))
        self._seen[key] = now
        return False

    def send(self, alerts: Iterable[Alert]) -> int:
        """Queue what passes severity and dedupe; returns the alerts queued."""
        weight = {s.value: s.weight for s in Severity}
        now = self.clock.monotonic()
        docs = [
            a.document(self.clock.now())
            for a in alerts
            if weight.get(a.severity, self.min_weight) >= self.min_weight
            and not self._dedupe_hit((a.violation_id, a.event), now)
        ]
        if docs and self.sinks:
            self.queue.enqueue(self.sinks, docs)
            self.wake()
        return len(docs)

    def _dedupe_hit(self, key: tuple[str, str], now: float) -> bool:
        if self._duplicate(key, now):
            self.deduplicated += 1
            return True
        return False

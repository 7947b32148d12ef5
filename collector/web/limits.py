"""Login rate limiting: after ``MAX_FAILURES`` wrong passwords for one account or from one client
within ``WINDOW_S``, further attempts are refused until the window has passed. Pure; time injected."""

from __future__ import annotations

import threading
from collections import deque

MAX_FAILURES = 5
WINDOW_S = 15 * 60.0  # OWASP's usual lockout window
MAX_TRACKED = 10_000  # keys remembered at once; a flood of new names cannot grow memory without bound


class LoginLimiter:
    def __init__(self, *, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def allowed(self, keys: tuple[str, ...], now: float) -> bool:
        with self._lock:
            return all(len(self._recent(k, now)) < self.max_failures for k in keys)

    def failed(self, keys: tuple[str, ...], now: float) -> None:
        with self._lock:
            if len(self._failures) >= MAX_TRACKED:
                self._failures.clear()  # forget old failures rather than grow; a flood restarts its count
            for k in keys:
                times = self._recent(k, now)
                times.append(now)
                self._failures[k] = times

    def succeeded(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)

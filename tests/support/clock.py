"""A clock tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        self._mono = 1000.0

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._now

    @property
    def t(self) -> datetime:
        """The wall time, settable (``clock.t += timedelta(...)``); monotonic moves with it."""
        return self._now

    @t.setter
    def t(self, value: datetime) -> None:
        self.advance((value - self._now).total_seconds())

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)

    def step_wall(self, seconds: float) -> None:
        """The wall clock jumps (NTP's first sync, an operator); monotonic does not."""
        self._now += timedelta(seconds=seconds)

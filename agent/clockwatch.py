"""Notices the agent's own wall clock stepping against its monotonic clock (pure, clock injected).

A site box without a real-time clock boots at a stale time and jumps when NTP first syncs;
every ``ts`` before the jump is off by the step. The collector sees the steps in health.
"""

from __future__ import annotations

from collections import deque

from agent.runtime.clock import Clock
from agent.wire.health import ClockTrouble
from agent.wire.timefmt import format_utc

# Below this, a step is NTP slewing or scheduling jitter between two readings, not trouble.
CLOCK_STEP_S = 2.0
MAX_KEPT = 10  # the latest steps travel in health; older ones were reported already


class ClockWatch:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._base = self._offset()
        self._steps: deque[ClockTrouble] = deque(maxlen=MAX_KEPT)

    def _offset(self) -> float:
        return self._clock.now().timestamp() - self._clock.monotonic()

    def check(self) -> tuple[ClockTrouble, ...]:
        """The steps seen so far (newest last), after looking for a new one."""
        offset = self._offset()
        step = offset - self._base
        if abs(step) >= CLOCK_STEP_S:
            self._base = offset
            way = "forward" if step > 0 else "back"
            self._steps.append(
                ClockTrouble(
                    f"wall clock stepped {way} by {abs(step):.1f} s",
                    round(step, 3),
                    format_utc(self._clock.now()),
                )
            )
        return tuple(self._steps)

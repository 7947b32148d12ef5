"""The agent notices its own wall clock stepping against its monotonic clock."""

from __future__ import annotations

from agent.clockwatch import CLOCK_STEP_S, MAX_KEPT, ClockWatch
from tests.support.clock import FakeClock


def test_time_passing_is_not_a_step_but_a_jump_is() -> None:
    clock = FakeClock()
    watch = ClockWatch(clock)
    clock.advance(3600)  # wall and monotonic move together: no trouble
    assert watch.check() == ()
    clock.step_wall(CLOCK_STEP_S / 2)  # NTP slewing: below the threshold
    assert watch.check() == ()
    clock.step_wall(7200)  # NTP's first sync on a board without a real-time clock
    (step,) = watch.check()
    assert step.step_s == 7200 + CLOCK_STEP_S / 2 and "forward" in step.problem
    assert watch.check() == (step,)  # reported again, not counted twice
    clock.step_wall(-30)
    assert [s.step_s for s in watch.check()] == [7200 + CLOCK_STEP_S / 2, -30]
    assert "back by 30.0 s" in watch.check()[-1].problem


def test_only_the_latest_steps_are_kept() -> None:
    clock = FakeClock()
    watch = ClockWatch(clock)
    for _ in range(MAX_KEPT + 5):
        clock.step_wall(10)
        watch.check()
    assert len(watch.check()) == MAX_KEPT

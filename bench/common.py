"""Shared helpers for benchmarks: timing, CPU, RSS, and a ratio line people can read."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    count: int

    def __add__(self, other: Measured) -> Measured:
        return Measured(self.wall_s + other.wall_s, self.cpu_s + other.cpu_s, self.count + other.count)

    @property
    def per_s(self) -> float:
        return self.count / self.wall_s if self.wall_s else float("inf")


def measure(count: int, work: Callable[[], object]) -> Measured:
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    work()
    return Measured(time.perf_counter() - t0, time.process_time() - cpu0, count)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, value: Measured, baseline: Measured, target: float) -> bool:
    ratio = value.per_s / baseline.per_s
    ok = ratio >= target
    print(
        f"{name}: {value.per_s:,.0f}/s vs baseline {baseline.per_s:,.0f}/s "
        f"= {ratio:.2f}x (target >= {target}x) {'PASS' if ok else 'MISS'}"
    )
    return ok

"""Fixtures for the simulator tests: a running demo fleet on addresses of this test run's own."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.fleet import Fleet, bundled_fleet_path, load_fleet
from simulator.runner import FleetRunner


def private_base() -> tuple[str, int]:
    """A loopback /24 and port unlikely to be used by another test run at the same time."""
    rnd = random.Random(os.getpid())
    return f"127.{rnd.randint(100, 250)}.{rnd.randint(0, 250)}.1", rnd.randint(20000, 40000)


def fleet_dict(cameras: list[dict[str, Any]], **head: Any) -> dict[str, Any]:
    base, port = private_base()
    return {"fleet": {"base_address": base, "port": port, "seed": "tests", **head}, "cameras": cameras}


def demo_fleet() -> Fleet:
    import tomllib

    data = tomllib.loads(bundled_fleet_path().read_text())
    base, port = private_base()
    data["fleet"].update(base_address=base, port=port)
    return load_fleet(data)


@pytest.fixture(scope="module")
def demo_runner() -> Iterator[FleetRunner]:
    runner = FleetRunner(demo_fleet())
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def one_per_profile(**knobs: Any) -> dict[str, Any]:
    """A fleet with one camera of every bundled profile, ids equal to profile ids."""
    from simulator.profile import bundled_profiles

    cams = [{"profile": pid, "id": pid, "knobs": dict(knobs)} for pid in sorted(bundled_profiles())]
    return fleet_dict(cams)


@pytest.fixture(scope="module")
def every_profile() -> Iterator[FleetRunner]:
    runner = FleetRunner(load_fleet(one_per_profile()), discovery=False)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()

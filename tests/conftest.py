"""Fixtures shared by every test package: a private broker, skip helpers for root and netns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker, mosquitto_binary, running_broker

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CAPTURES = SHARED / "onvif-captures"


def require_captures() -> None:
    """Skip (with the reason) where the real cameras' captures are not beside the checkout."""
    if not CAPTURES.is_dir():
        pytest.skip("../shared/onvif-captures is not present (the real camera captures)")


def read_capture(name: str) -> bytes:
    """One capture's bytes; skips when the folder is absent, fails when it lacks the file."""
    require_captures()
    return (CAPTURES / name).read_bytes()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of this test's own on a free loopback port, without persistence."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (deploy/system-packages.sh installs it)")
    with running_broker(tmp_path / "broker") as b:
        yield b


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, nftables, conntrack)")

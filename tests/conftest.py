"""Fixtures shared by every test package: a private broker, skip helpers for root and netns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker, mosquitto_binary, running_broker

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CAPTURES = SHARED / "onvif-captures"


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

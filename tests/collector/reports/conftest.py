"""``estate``: the demo fleet in a real collector database with the demo policy and register."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.demo_estate import DemoEstate, demo_estate


@pytest.fixture
def estate(tmp_path: Path) -> DemoEstate:
    return demo_estate(tmp_path)

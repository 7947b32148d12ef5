"""Fuzz smoke run, part of ``make test``: each target's seeds, then ~1.5 s of random mutations
(deterministic seed). ``make fuzz`` runs the same targets coverage-guided for longer."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.mutate import fuzz_for
from tests.fuzz.run import CORPUS
from tests.fuzz.targets import TARGETS

SMOKE_SECONDS = float(os.environ.get("FUZZ_SMOKE_SECONDS", "1.5"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_smoke(name: str) -> None:
    assert (CORPUS / name).is_dir(), f"no seed corpus for {name}"
    runs = fuzz_for(TARGETS[name], CORPUS / name, seconds=SMOKE_SECONDS)
    assert runs > len(list((CORPUS / name).iterdir()))

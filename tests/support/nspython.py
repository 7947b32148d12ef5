"""Run a Python snippet of the test inside a network namespace and read the JSON it prints last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from simulator.netns import Namespace

REPO = Path(__file__).resolve().parents[2]


def run_json(ns: Namespace, script: str, *args: str, timeout_s: float = 60) -> Any:
    """``python -c script args`` in ``ns`` with this checkout importable; its last stdout line as JSON."""
    proc = subprocess.run(
        ns.exec_argv([sys.executable, "-c", script, *args]),
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])

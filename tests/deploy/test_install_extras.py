"""install.sh installs the collector's extra with --collector and nothing but the agent's own
dependencies with --agent: a wheel whose 'collector' extra needs a probe package, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.test_install import EXAMPLE_CONFIG, INSTALL, INSTALL_TIMEOUT_S, REPO, site_root
from tests.deploy.wheelbuild import build_wheel

__all__ = ["site_root"]  # the fixture, shared with the install tests

PROBE = "camsentry_extra_probe"


def probe_wheel(out: Path) -> None:
    dist = f"{PROBE}-1.0.dist-info"
    with zipfile.ZipFile(out / f"{PROBE}-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{PROBE}/__init__.py", "")
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 1.0\n")
        zf.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{dist}/RECORD", "")


@pytest.mark.slow
@pytest.mark.parametrize(("role", "gets_probe"), [("--collector", True), ("--agent", False)])
def test_the_collector_role_installs_the_collector_extra(
    site_root: Path, tmp_path: Path, role: str, gets_probe: bool
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    probe_wheel(wheels)
    wheel = build_wheel(
        REPO, wheels, metadata=f"Provides-Extra: collector\nRequires-Dist: {PROBE}; extra == 'collector'\n"
    )
    example = tmp_path / "example.toml"
    example.write_text(EXAMPLE_CONFIG)
    result = subprocess.run(
        ["bash", str(INSTALL), "--root", str(site_root), "--no-apt", "--source", str(wheel),
         "--wheels", str(wheels), "--config-example", str(example), role],
        capture_output=True, text=True, env=dict(os.environ, PYTHON=sys.executable),
        timeout=INSTALL_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    venv_python = site_root / "opt/camsentry/venv/bin/python"
    found = subprocess.run([str(venv_python), "-c", f"import {PROBE}"], capture_output=True, check=False)
    assert (found.returncode == 0) is gets_probe

"""Helpers that run systemd-analyze on unit files offline, inside a throwaway root."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
HOST_UNITS = Path("/usr/lib/systemd/system")  # targets the units order against
ANALYZE_TIMEOUT_S = 60


def require_systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is missing (Debian package: systemd)")
    if not (HOST_UNITS / "multi-user.target").exists():
        pytest.skip(f"no system units under {HOST_UNITS} to verify against (package: systemd)")
    return tool


def directives(unit_text: str) -> dict[str, list[str]]:
    """Every Key=value of a unit; keys may repeat (SystemCallFilter=), so values are lists."""
    found: dict[str, list[str]] = {}
    for raw in unit_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def exec_path(unit_text: str) -> str:
    return directives(unit_text)["ExecStart"][0].split()[0]


def seed_root(root: Path) -> None:
    """Give a throwaway root the system units (targets) a unit file refers to."""
    target = root / "usr/lib/systemd/system"
    if not target.exists():
        shutil.copytree(HOST_UNITS, target, symlinks=True)


def verify(root: Path, unit_name: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of /etc/systemd/system/<unit> as installed under root."""
    tool = require_systemd_analyze()
    seed_root(root)
    return subprocess.run(
        [tool, "verify", f"--root={root}", f"/etc/systemd/system/{unit_name}"],
        capture_output=True,
        text=True,
        timeout=ANALYZE_TIMEOUT_S,
        check=False,
    )


EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


def exposure(unit_file: Path) -> float:
    """The `systemd-analyze security` exposure score of a unit file, analysed offline."""
    tool = require_systemd_analyze()
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit_file)],
        capture_output=True,
        text=True,
        timeout=ANALYZE_TIMEOUT_S,
        check=False,
    )
    match = EXPOSURE.search(result.stdout + result.stderr)
    assert match, f"no exposure score in: {result.stdout}{result.stderr}"
    return float(match.group(1))

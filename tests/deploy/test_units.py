"""The shipped units verify cleanly, carry the hardening the issue asks for, and score low."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.deploy.systemd_tools import REPO, UNITS, directives, exec_path, exposure, verify

UNIT_NAMES = ["camsentry-agent.service", "camsentry-collector.service"]
INSTALL_DOC = REPO / "docs" / "install.md"


def install_unit(root: Path, unit_name: str, text: str) -> None:
    """Put a unit where install.sh does, and stand-in executables where ExecStart (and
    ExecReload's /bin/kill, which every host has) point."""
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True, exist_ok=True)
    (unit_dir / unit_name).write_text(text)
    for path in (exec_path(text), "/bin/kill"):
        binary = root / path.lstrip("/")
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)


@pytest.mark.parametrize("unit_name", UNIT_NAMES)
def test_unit_verifies_without_a_word(tmp_path: Path, unit_name: str) -> None:
    install_unit(tmp_path, unit_name, (UNITS / unit_name).read_text())
    result = verify(tmp_path, unit_name)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key and a bad Type are reported."""
    text = (UNITS / UNIT_NAMES[0]).read_text()
    text = text.replace("Type=notify", "Type=notifyy").replace("User=", "Usr=")
    install_unit(tmp_path, UNIT_NAMES[0], text)
    result = verify(tmp_path, UNIT_NAMES[0])
    assert "notifyy" in result.stderr
    assert "Unknown key 'Usr'" in result.stderr


def test_verify_catches_a_missing_executable(tmp_path: Path) -> None:
    text = (UNITS / UNIT_NAMES[0]).read_text()
    install_unit(tmp_path, UNIT_NAMES[0], text)
    (tmp_path / exec_path(text).lstrip("/")).unlink()
    result = verify(tmp_path, UNIT_NAMES[0])
    assert result.returncode != 0
    assert "not executable" in result.stderr


@pytest.mark.parametrize("unit_name", UNIT_NAMES)
def test_unit_is_a_hardened_notify_service(unit_name: str) -> None:
    d = directives((UNITS / unit_name).read_text())
    role = unit_name.removeprefix("camsentry-").removesuffix(".service")
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["Restart"] == ["on-failure"]
    assert d["WatchdogSec"][0] not in ("", "0")
    assert d["ExecStart"] == [
        f"/opt/camsentry/venv/bin/camsentry-{role} run --config /etc/camsentry/{role}.toml"
    ]
    assert d["User"] == ["camsentry"]
    # The state_dir of deploy/<role>.example.toml: ProtectSystem=strict leaves only it writable.
    assert d["StateDirectory"] == ["camsentry" if role == "agent" else "camsentry-collector"]
    for key in (
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectHome",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "MemoryDenyWriteExecute",
    ):
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]
    assert "@system-service" in d["SystemCallFilter"]


def test_collector_reloads_its_policy_on_systemctl_reload() -> None:
    d = directives((UNITS / "camsentry-collector.service").read_text())
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # cmd_run: SIGHUP -> request_reload


def test_agent_has_exactly_the_capabilities_it_uses() -> None:
    d = directives((UNITS / "camsentry-agent.service").read_text())
    used = {"CAP_NET_ADMIN", "CAP_NET_RAW"}  # conntrack + nftables; the DNS-answer sniffer
    assert set(d["CapabilityBoundingSet"][0].split()) == used
    assert set(d["AmbientCapabilities"][0].split()) == used
    assert set(d["RestrictAddressFamilies"][0].split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
        "AF_PACKET",
    }


def test_collector_has_no_capabilities() -> None:
    d = directives((UNITS / "camsentry-collector.service").read_text())
    assert d["CapabilityBoundingSet"] == [""]
    assert d["AmbientCapabilities"] == [""]
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def documented_exposure() -> dict[str, float]:
    """The scores docs/install.md records, from its `| camsentry-x.service | 1.8 |` rows."""
    rows = re.findall(r"^\|\s*`?(camsentry-\w+\.service)`?\s*\|\s*(\d+\.\d+)", INSTALL_DOC.read_text(), re.M)
    return {name: float(score) for name, score in rows}


@pytest.mark.parametrize("unit_name", UNIT_NAMES)
def test_exposure_is_low_and_as_documented(unit_name: str) -> None:
    """A unit change that weakens hardening fails here until docs/install.md says so."""
    score = exposure(UNITS / unit_name)
    assert score <= 2.0
    assert score <= documented_exposure()[unit_name]


@pytest.mark.parametrize("unit_name", UNIT_NAMES)
def test_state_directory_is_where_the_example_config_writes(unit_name: str) -> None:
    """ProtectSystem=strict: a state_dir other than the unit's StateDirectory is read-only."""
    role = unit_name.removeprefix("camsentry-").removesuffix(".service")
    example = REPO / "deploy" / f"{role}.example.toml"
    if not example.exists():
        pytest.skip(f"{example.name} not written yet")
    state_dir = tomllib.loads(example.read_text())["state_dir"]
    d = directives((UNITS / unit_name).read_text())
    assert state_dir == "/var/lib/" + d["StateDirectory"][0]

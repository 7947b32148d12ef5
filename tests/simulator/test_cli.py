"""The camsentry-sim CLI contract: ready line, atomic manifest, every camera answers, exit 0 on SIGTERM."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from simulator.fleet import bundled_fleet_path
from tests.simulator.conftest import private_base
from tests.simulator.soapclient import call, text_of

READY_TIMEOUT_S = 30
REQUIRED = {"id", "profile", "vendor", "address", "port", "username", "password"}
EXTRA = {"brand", "model", "firmware", "mac", "knobs"}


def test_run_writes_manifest_prints_ready_and_exits_zero_on_sigterm(tmp_path: Path) -> None:
    base, port = private_base()
    manifest = tmp_path / "out" / "manifest.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "--log-format",
            "json",
            "run",
            "--fleet",
            str(bundled_fleet_path()),
            "--manifest",
            str(manifest),
            "--base-address",
            base,
            "--port",
            str(port + 1),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        assert ready, "no ready line"
        line = json.loads(proc.stdout.readline())
        expected = len(tomllib.loads(bundled_fleet_path().read_text())["cameras"])
        assert line == {"event": "ready", "manifest": str(manifest.resolve()), "cameras": expected}
        entries = json.loads(manifest.read_text())
        assert len(entries) == expected
        assert not list(manifest.parent.glob(".*.tmp")), "temporary manifest left behind"
        for entry in entries:
            assert entry.keys() >= REQUIRED | EXTRA
            assert entry["port"] == port + 1
            url = f"http://{entry['address']}:{entry['port']}/onvif/device_service"
            assert call(url, "GetSystemDateAndTime").status == 200
            info = call(url, "GetDeviceInformation", entry["username"], entry["password"])
            assert info.status == 200, entry["id"]
            assert text_of(info.xml(), "Model") == entry["model"]
            assert text_of(info.xml(), "FirmwareVersion") == entry["firmware"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_bad_fleet_file_is_an_error_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[cameras]]\nprofile = "no-such-profile"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "check", "--fleet", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "bad.toml: cameras[0].profile: unknown profile 'no-such-profile'" in proc.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT])
def test_sigint_also_exits_zero(tmp_path: Path, signum: int) -> None:
    base, port = private_base()
    fleet = tmp_path / "one.toml"
    fleet.write_text(
        f'[fleet]\nbase_address = "{base}"\nport = {port + 2}\n'
        '[[cameras]]\nprofile = "axis-m5525-e-v8.40.1.1"\n'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "run",
            "--fleet",
            str(fleet),
            "--manifest",
            str(tmp_path / "m.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["cameras"] == 1
    proc.send_signal(signum)
    assert proc.wait(timeout=15) == 0
    proc.stdout.close()

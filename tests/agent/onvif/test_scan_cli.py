"""``camsentry-agent scan`` (run_scan): targets, config, table and JSON output, exit codes; no
password ever printed or logged; importing the ONVIF modules does not import zeep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.onvif.scan_cli import run_scan
from tests.agent.onvif.fakecam import FakeCamera, running

REQUIRED = {
    "address", "port", "manufacturer", "model", "firmware", "serial", "hardware_id", "mac", "maker", "brand",
    "maker_confidence", "evidence", "vulnerabilities", "findings", "clock_offset_s", "reachable",
}  # fmt: skip


def test_json_output_has_every_required_field(capsys: pytest.CaptureFixture[str]) -> None:
    cam = FakeCamera(password="Very-Secret-77")
    with running(cam), capture_logs() as logs:
        code = run_scan(
            ["--target", f"127.0.0.1:{cam.port}", "--user", "admin", "--password", cam.password, "--json"],
            configure_logs=False,
        )
    out = capsys.readouterr()
    assert code == 0
    (record,) = json.loads(out.out)
    assert set(record) >= REQUIRED
    assert record["maker"] == "hikvision" and record["vulnerabilities"] == [
        {"cve": "CVE-2021-36260", "kev": True, "summary": record["vulnerabilities"][0]["summary"]}
    ]
    for ev in record["evidence"]:
        assert {"signal", "value", "points_to"} <= set(ev)
    for f in record["findings"]:
        assert set(f) == {"kind", "severity", "detail"}
    assert cam.password not in out.out + out.err + repr(logs)


def test_table_output_and_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cam = FakeCamera(password="Another-Secret-5")
    with running(cam):
        config = tmp_path / "site.toml"
        config.write_text(
            f'[[camera]]\naddress = "127.0.0.1"\nport = {cam.port}\n'
            f'username = "admin"\npassword = "{cam.password}"\n'
            '[[camera]]\naddress = "127.0.0.1"\nport = 1\n'
        )
        code = run_scan(["--config", str(config), "--timeout", "2"], configure_logs=False)
    out = capsys.readouterr().out
    assert code == 1  # one camera did not answer
    assert "hikvision" in out and "DS-2CD2143G0-I" in out and "CVE-2021-36260!" in out
    assert "unreachable" in out and cam.password not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --target"),
        (["--target", "10.0.0.1:99999"], "bad port"),
        (["--config", "/nonexistent/site.toml"], "cannot read"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_scan(argv, configure_logs=False) == 2
    assert message in capsys.readouterr().err


def test_bad_camera_table_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[[camera]]\naddress = "10.0.0.1"\nport = "eighty"\n')
    assert run_scan(["--config", str(config)], configure_logs=False) == 2
    assert f"{config}: camera[0].port:" in capsys.readouterr().err


def test_onvif_modules_import_without_zeep() -> None:
    code = (
        "import sys, agent.onvif.sweep, agent.onvif.scan_cli, agent.onvif.discovery\n"
        "import agent.identify.classify\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('zeep', 'onvif'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])

"""``scan`` reads the camera password from a file or stdin; on argv it still works, with a warning."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from agent.onvif.scan_cli import run_scan
from tests.agent.onvif.fakecam import FakeCamera, running


def records(out: str) -> list[dict[str, object]]:
    """The JSON list on stdout (a log line may precede it when logging is left unconfigured)."""
    return list(json.loads(out[out.index("[\n") :]))


def _scan(cam: FakeCamera, *extra: str) -> int:
    return run_scan(
        ["--target", f"127.0.0.1:{cam.port}", "--user", "admin", "--json", *extra], configure_logs=False
    )


def test_password_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cam = FakeCamera(password="File-Secret-1")
    secret = tmp_path / "pw"
    secret.write_text(cam.password + "\n")
    with running(cam):
        assert _scan(cam, "--password-file", str(secret)) == 0
    out = capsys.readouterr()
    (record,) = records(out.out)
    assert record["authenticated"] is True
    assert "warning" not in out.err and cam.password not in out.out + out.err


def test_password_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cam = FakeCamera(password="Stdin-Secret-2")
    monkeypatch.setattr("sys.stdin", io.StringIO(cam.password + "\n"))
    with running(cam):
        assert _scan(cam, "--password-stdin") == 0
    (record,) = records(capsys.readouterr().out)
    assert record["authenticated"] is True


def test_password_on_argv_warns_and_a_missing_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cam = FakeCamera(password="Argv-Secret-3")
    with running(cam):
        assert _scan(cam, "--password", cam.password) == 0
    err = capsys.readouterr().err
    assert "--password is visible to other users" in err and cam.password not in err
    assert _scan(cam, "--password-file", str(tmp_path / "absent")) == 2
    assert "config error: --password-file" in capsys.readouterr().err

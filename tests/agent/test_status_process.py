"""'camsentry-agent status' says whether the agent that wrote the status file is still running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main
from agent.wire.signing import public_key_to_text


def status_of(tmp_path: Path, capsys: pytest.CaptureFixture[str], pid: int) -> str:
    config = tmp_path / "agent.toml"
    key = public_key_to_text(Ed25519PrivateKey.generate().public_key())
    config.write_text(
        f'site = "hq"\nagent = "pi"\nstate_dir = "{tmp_path}"\n[collector]\npublic_key = "{key}"\n'
        '[mqtt]\nhost = "127.0.0.1"\n'
    )
    (tmp_path / "status.json").write_text(json.dumps({"site": "hq", "agent": "pi", "pid": pid}))
    assert main(["status", "--config", str(config)]) == 0
    line: str = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("process"))
    return line


def test_a_live_writer_is_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert status_of(tmp_path, capsys, os.getpid()).endswith(f"running (pid {os.getpid()})")


def test_a_gone_writer_is_not_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert "NOT RUNNING: pid" in status_of(tmp_path, capsys, int(gone.stdout))


@pytest.mark.parametrize("tool", ["agent", "collector"])
def test_a_closed_stdout_ends_the_command_quietly(tmp_path: Path, tool: str) -> None:
    """``camsentry-agent status | head -1`` used to end in a BrokenPipeError traceback."""
    status_of_config = tmp_path / "agent.toml"
    key = public_key_to_text(Ed25519PrivateKey.generate().public_key())
    status_of_config.write_text(
        f'site = "hq"\nagent = "pi"\nstate_dir = "{tmp_path}"\n[collector]\npublic_key = "{key}"\n'
        '[mqtt]\nhost = "127.0.0.1"\n'
    )
    (tmp_path / "status.json").write_text(json.dumps({"site": "hq", "agent": "pi", "pid": os.getpid()}))
    collector = tmp_path / "collector.toml"
    collector.write_text(f'state_dir = "{tmp_path}"\n[mqtt]\nhost = "127.0.0.1"\n')
    argv = {
        "agent": ["-m", "agent.cli", "status", "--config", str(status_of_config)],
        "collector": ["-m", "collector.cli", "--config", str(collector), "status"],
    }[tool]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run([sys.executable, *argv], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60, check=False)  # fmt: skip
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert done.returncode == 141

"""First start as an operator meets it: --version everywhere, a missing certificate named by file
and key, the simulator's command on a host without the sim extra, one-shot commands keeping
stdout for their output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent import __version__
from agent.wire.signing import public_key_to_text

TIMEOUT_S = 60


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("from agent.cli import main; main(['--version'])", "camsentry-agent"),
        ("from collector.cli import main; main(['--version'])", "camsentry-collector"),
        ("from simulator.entry import main; main(['--version'])", "camsentry-sim"),
    ],
)
def test_every_cli_has_version(code: str, name: str) -> None:
    result = python("-c", code)
    assert (result.returncode, result.stdout) == (0, f"{name} {__version__}\n")


def test_a_missing_certificate_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        f'state_dir = "{tmp_path}"\n[mqtt]\nhost = "127.0.0.1"\ntls = true\n'
        f'ca_file = "{tmp_path}/ca.crt"\ncert_file = "{tmp_path}/c.crt"\nkey_file = "{tmp_path}/c.key"\n'
    )
    (tmp_path / "ca.crt").write_text("x")
    result = python("-m", "collector.cli", "--config", str(config), "run")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"config error: {config}: mqtt.cert_file: {tmp_path}/c.crt: No such file or directory"
    )


def test_the_agent_names_a_missing_ca_file(tmp_path: Path) -> None:
    key = public_key_to_text(Ed25519PrivateKey.generate().public_key())
    config = tmp_path / "agent.toml"
    config.write_text(
        f'site = "hq"\nagent = "pi"\nstate_dir = "{tmp_path}"\n[collector]\npublic_key = "{key}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\ntls = true\nca_file = "{tmp_path}/missing-ca.crt"\n'
    )
    result = python("-m", "agent.cli", "run", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"config error: {config}: mqtt.ca_file: {tmp_path}/missing-ca.crt: No such file or directory"
    )


def test_the_simulator_without_its_extra_says_so_in_one_line() -> None:
    result = python("-c", "import sys; sys.modules['aiohttp'] = None\n"
                    "from simulator.entry import main; sys.exit(main(['profiles']))")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "camsentry-sim: the simulator needs the 'sim' extra (aiohttp is not installed): "
        "pip install 'camsentry[sim]'\n"
    )


def test_one_shot_commands_log_on_stderr_only(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[mqtt]\nhost = "127.0.0.1"\n[logging]\nformat = "json"\n')
    result = python("-m", "collector.cli", "--config", str(config), "status", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []  # a fresh database: nothing but the JSON on stdout
    assert any(json.loads(line)["event"] == "schema_created" for line in result.stderr.splitlines())

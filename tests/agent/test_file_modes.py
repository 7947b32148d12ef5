"""Files that map the estate or hold secrets are 0600 (directories 0700) whatever the umask; a
config holding passwords that others can read draws a warning, in status too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main as agent_main
from agent.config import load_agent_config
from agent.enforce.state import EnforcementState, save_state, state_path
from agent.onvif.tls import PinStore
from agent.outbox import Outbox
from agent.runtime.statusfile import write_json_atomic
from agent.wire.signing import public_key_to_text, write_private_key
from collector.store.sqlite import SqliteStore
from tests.support.clock import FakeClock

KEY = public_key_to_text(Ed25519PrivateKey.generate().public_key())


@pytest.fixture
def open_umask() -> Iterator[None]:
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.usefixtures("open_umask")
def test_state_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "agent" / "outbox.sqlite", clock=FakeClock())
    outbox.put("b", 1, "health", "t", b"{}")
    outbox.close()
    assert mode(tmp_path / "agent") == 0o700
    assert mode(tmp_path / "agent" / "outbox.sqlite") == 0o600
    write_json_atomic(tmp_path / "agent" / "status.json", {"a": 1})
    assert mode(tmp_path / "agent" / "status.json") == 0o600
    pins = PinStore(tmp_path / "pins" / "pins.json")
    pins.check("192.0.2.1:443", b"certificate")
    assert mode(tmp_path / "pins") == 0o700 and mode(tmp_path / "pins" / "pins.json") == 0o600
    save_state(tmp_path / "enforce", EnforcementState(last_command_id=1))
    assert mode(tmp_path / "enforce") == 0o700 and mode(state_path(tmp_path / "enforce")) == 0o600
    store = SqliteStore(tmp_path / "centre" / "camsentry.sqlite")
    store.close()
    assert mode(tmp_path / "centre") == 0o700 and mode(tmp_path / "centre" / "camsentry.sqlite") == 0o600
    for wal in (tmp_path / "centre").glob("camsentry.sqlite-*"):
        assert mode(wal) == 0o600, wal.name
    write_private_key(tmp_path / "keys" / "collector.key", Ed25519PrivateKey.generate())
    assert mode(tmp_path / "keys") == 0o700 and mode(tmp_path / "keys" / "collector.key") == 0o600


def test_a_world_readable_config_with_passwords_is_warned_about_in_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'site = "hq"\nagent = "pi"\nstate_dir = "{tmp_path}"\n[collector]\npublic_key = "{KEY}"\n'
        '[mqtt]\nhost = "127.0.0.1"\n[[camera]]\naddress = "192.0.2.10"\nusername = "u"\npassword = "p"\n'
    )
    path.chmod(0o640)
    assert load_agent_config(path).warnings == ()
    path.chmod(0o644)
    (warning,) = load_agent_config(path).warnings
    assert "readable by every user" in warning and "0644" in warning and 'p"' not in warning
    (tmp_path / "status.json").write_text(
        json.dumps({"site": "hq", "agent": "pi", "config_warnings": [warning]})
    )
    assert agent_main(["status", "--config", str(path)]) == 0
    assert "readable by every user" in capsys.readouterr().out

"""A truncated enforce.json is set aside at start, reported, and never a reason not to start."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import build_commands
from agent.config import parse_agent_config
from agent.enforce.state import state_path
from agent.wire.signing import public_key_to_text


def test_agent_starts_with_a_truncated_enforce_state_and_says_so(tmp_path: Path) -> None:
    key = public_key_to_text(Ed25519PrivateKey.generate().public_key())
    config = parse_agent_config(
        {
            "site": "hq",
            "agent": "pi",
            "state_dir": str(tmp_path),
            "collector": {"public_key": key},
            "mqtt": {"host": "127.0.0.1"},
        },
        "agent.toml",
    )
    state_path(tmp_path).write_text('{"v": 1, "last_command_id": 7, "quarant')
    handler, policy = build_commands(config)
    status = policy.status()
    assert status["state"] == "restore_failed" and "set aside as enforce.json.damaged-" in status["problem"]
    assert not state_path(tmp_path).exists() and len(list(tmp_path.glob("enforce.json.damaged-*"))) == 1
    assert handler.state().last_command_id == 0

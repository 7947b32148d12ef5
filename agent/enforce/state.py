"""The agent's quarantine state on disk, so rules come back after a restart or reboot.

``<state_dir>/enforce.json``: the last applied command id (replay protection), the quarantines
in force, and the last policy the collector pushed. Written atomically (temp file, fsync,
rename) so a crash leaves the old state or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.enforce.errors import EnforceError
from agent.enforce.rules import Quarantine

STATE_FILE = "enforce.json"
STATE_VERSION = 1


@dataclass(frozen=True)
class EnforcementState:
    last_command_id: int = 0
    quarantines: tuple[Quarantine, ...] = ()
    policy: dict[str, Any] = field(default_factory=dict)

    def quarantined(self) -> tuple[str, ...]:
        return tuple(sorted(q.device for q in self.quarantines))


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def load_state(state_dir: Path) -> EnforcementState:
    """Read the state; a missing file is the empty state, a corrupt one an EnforceError."""
    path = state_path(state_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return EnforcementState()
    except OSError as exc:
        raise EnforceError(f"{path}: cannot read quarantine state: {exc}") from exc
    try:
        doc = json.loads(raw)
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"unknown state version {doc.get('v')!r}")
        quarantines = tuple(
            Quarantine(
                device=str(q["device"]),
                recorders=tuple(str(r) for r in q["recorders"]),
                command_id=int(q["command_id"]),
            )
            for q in doc["quarantines"]
        )
        policy = doc.get("policy") or {}
        if not isinstance(policy, dict):
            raise ValueError("policy is not an object")
        return EnforcementState(
            last_command_id=int(doc["last_command_id"]), quarantines=quarantines, policy=policy
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnforceError(f"{path}: unusable quarantine state: {exc}") from exc


def save_state(state_dir: Path, state: EnforcementState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "v": STATE_VERSION,
        "last_command_id": state.last_command_id,
        "quarantines": [
            {"device": q.device, "recorders": list(q.recorders), "command_id": q.command_id}
            for q in state.quarantines
        ],
        "policy": state.policy,
    }
    path = state_path(state_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(doc, indent=1, sort_keys=True).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

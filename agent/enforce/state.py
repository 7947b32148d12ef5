"""The agent's quarantine state on disk, so rules come back after a restart or reboot.

``<state_dir>/enforce.json``: the last applied command id (replay protection), the quarantines
in force, and the last policy the collector pushed. Written atomically (temp file, fsync,
rename) so a crash leaves the old state or the new one, never half of either.

A file that is there but damaged (truncated by a full disk, edited by hand) is renamed to
``enforce.json.damaged-<UTC time>`` and the agent starts from the empty state, loudly: a
quarantine it held must be sent again, which beats an agent that will not start at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from agent.enforce.errors import EnforceError
from agent.enforce.rules import Quarantine
from agent.wire.jsonload import JSON_DECODE_ERRORS, load_untrusted

log = structlog.get_logger("camsentry.agent.enforce")
# What a damaged file makes parsing raise: bad JSON, or JSON of the wrong shape.
_DAMAGE: tuple[type[BaseException], ...] = (*JSON_DECODE_ERRORS, KeyError, TypeError, AttributeError)

STATE_FILE = "enforce.json"
STATE_VERSION = 1


@dataclass(frozen=True)
class EnforcementState:
    last_command_id: int = 0
    quarantines: tuple[Quarantine, ...] = ()
    policy: dict[str, Any] = field(default_factory=dict)
    # Where a damaged state file was moved when this (empty) state was loaded instead; "" if not.
    set_aside: str = field(default="", compare=False)

    def quarantined(self) -> tuple[str, ...]:
        return tuple(sorted(q.device for q in self.quarantines))


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def load_state(state_dir: Path) -> EnforcementState:
    """Read the state; a missing file is the empty state, a damaged one is set aside (renamed)
    and the empty state returned with ``set_aside`` naming where it went. An unreadable one
    (permissions) is an EnforceError: renaming would not make it readable."""
    path = state_path(state_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return EnforcementState()
    except OSError as exc:
        raise EnforceError(f"{path}: cannot read quarantine state: {exc}") from exc
    try:
        return _parse_state(raw)
    except _DAMAGE as exc:
        problem = str(exc)[:200]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{STATE_FILE}.damaged-{stamp}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise EnforceError(f"{path}: unusable state ({problem}); cannot set it aside: {exc}") from exc
    log.error("enforce_state_set_aside", path=str(path), moved_to=aside.name, problem=problem)
    return EnforcementState(set_aside=aside.name)


def _parse_state(raw: bytes) -> EnforcementState:
    doc = load_untrusted(raw)
    if not isinstance(doc, dict) or doc.get("v") != STATE_VERSION:
        raise ValueError(f"unknown state version {doc.get('v') if isinstance(doc, dict) else None!r}")
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
    last = doc["last_command_id"]
    if type(last) is not int or last < 0:
        raise ValueError("last_command_id is not a non-negative integer")
    return EnforcementState(last_command_id=last, quarantines=quarantines, policy=policy)


def save_state(state_dir: Path, state: EnforcementState) -> None:
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
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

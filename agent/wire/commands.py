"""Signed commands, collector → agent on ``camsentry/v1/<site>/<agent>/cmd``. Pure functions.

A command is canonical JSON signed by the collector key the agent pinned at enrollment::

    {"v": 1, "id": int (per agent, strictly increasing), "site": str, "agent": str,
     "action": "quarantine" | "release" | "policy", "device": str (an IP address; "" for policy),
     "params": {...}, "issued": RFC 3339 UTC, "expires": RFC 3339 UTC, "sig": base64}

``open_command`` never raises on what a peer sends: it returns a ``CommandOutcome`` whose
``refusal`` names why (unsigned, forged, expired, replayed, ...). Replay protection needs the
last applied id, which the caller persists (``agent.enforce.state``).

The agent answers every command with an ``ack`` envelope whose body ``ack_body`` builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.wire.addresses import is_plain_address
from agent.wire.canonical import canonical_json
from agent.wire.envelope import WIRE_VERSION
from agent.wire.jsonload import JSON_DECODE_ERRORS, load_untrusted
from agent.wire.signing import SIG_FIELD, sign_document, verify_document
from agent.wire.timefmt import format_utc, parse_utc

CMD_KIND = "cmd"
# A command is a handful of fields and a short allowlist; anything bigger is hostile.
MAX_COMMAND_BYTES = 64 * 1024
# Long enough to survive an agent reconnect, short enough that a captured command goes stale.
DEFAULT_TTL = timedelta(minutes=15)


class CommandAction(StrEnum):
    QUARANTINE = "quarantine"
    RELEASE = "release"
    POLICY = "policy"


class CommandRefusal(StrEnum):
    OVERSIZE = "oversize"
    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_VERSION = "unknown_version"
    WRONG_TARGET = "wrong_target"
    UNKNOWN_ACTION = "unknown_action"
    EXPIRED = "expired"
    REPLAYED = "replayed"


class AckOutcome(StrEnum):
    APPLIED = "applied"
    # Valid and kept, but the agent has nothing to apply it to yet (a policy push to an agent
    # without an [egress] table): applied when that part is enabled and the agent restarts.
    STORED = "stored"
    DRY_RUN = "dry_run"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class Command:
    id: int
    site: str
    agent: str
    action: CommandAction
    device: str
    issued: datetime
    expires: datetime
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandOutcome:
    """``command`` is set when it verified; ``refusal`` is set when it must not be applied."""

    command: Command | None
    refusal: CommandRefusal | None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.refusal is None and self.command is not None


_FIELDS: dict[str, type] = {
    "v": int,
    "id": int,
    "site": str,
    "agent": str,
    "action": str,
    "device": str,
    "params": dict,
    "issued": str,
    "expires": str,
}


def seal_command(key: Ed25519PrivateKey, command: Command) -> bytes:
    """Sign a command into the payload the collector publishes."""
    if command.id < 1:
        raise ValueError("command ids start at 1")
    if command.expires <= command.issued:
        raise ValueError("a command must expire after it is issued")
    fields = {
        "v": WIRE_VERSION,
        "id": command.id,
        "site": command.site,
        "agent": command.agent,
        "action": command.action.value,
        "device": command.device,
        "params": command.params,
        "issued": format_utc(command.issued),
        "expires": format_utc(command.expires),
    }
    return canonical_json(sign_document(key, fields))


def _refuse(reason: CommandRefusal, detail: str, command: Command | None = None) -> CommandOutcome:
    return CommandOutcome(command=command, refusal=reason, detail=detail)


def open_command(
    payload: bytes,
    collector_key: Ed25519PublicKey,
    *,
    site: str,
    agent: str,
    now: datetime,
    last_applied_id: int,
) -> CommandOutcome:
    """Verify and parse one command payload addressed to ``site``/``agent``."""
    if len(payload) > MAX_COMMAND_BYTES:
        return _refuse(CommandRefusal.OVERSIZE, f"{len(payload)} bytes > {MAX_COMMAND_BYTES}")
    try:
        document = load_untrusted(payload)
    except JSON_DECODE_ERRORS as exc:
        return _refuse(CommandRefusal.MALFORMED, str(exc)[:200])
    if not isinstance(document, dict):
        return _refuse(CommandRefusal.MALFORMED, "payload is not a JSON object")
    if SIG_FIELD not in document:
        return _refuse(CommandRefusal.UNSIGNED, "no signature")
    if not verify_document(collector_key, document):
        return _refuse(CommandRefusal.BAD_SIGNATURE, "not signed by the pinned collector key")
    if document.get("v") != WIRE_VERSION:
        return _refuse(CommandRefusal.UNKNOWN_VERSION, f"v={document.get('v')!r}")
    for name, expected in _FIELDS.items():
        value = document.get(name)
        if not isinstance(value, expected) or isinstance(value, bool):
            return _refuse(CommandRefusal.MALFORMED, f"field {name} missing or wrong type")
    try:
        action = CommandAction(document["action"])
    except ValueError:
        return _refuse(CommandRefusal.UNKNOWN_ACTION, f"action={document['action']!r}")
    try:
        issued = parse_utc(document["issued"])
        expires = parse_utc(document["expires"])
    except ValueError as exc:
        return _refuse(CommandRefusal.MALFORMED, f"timestamp: {exc}")
    if action is not CommandAction.POLICY and not is_plain_address(document["device"]):
        return _refuse(CommandRefusal.MALFORMED, "device is not an IP address (scoped addresses refused)")
    command = Command(
        id=document["id"],
        site=document["site"],
        agent=document["agent"],
        action=action,
        device=document["device"],
        issued=issued,
        expires=expires,
        params=document["params"],
    )
    if (command.site, command.agent) != (site, agent):
        return _refuse(
            CommandRefusal.WRONG_TARGET,
            f"addressed to {command.site}/{command.agent}, this is {site}/{agent}",
            command,
        )
    if now >= expires:
        return _refuse(
            CommandRefusal.EXPIRED,
            f"expired {format_utc(expires)}, now {format_utc(now)}",
            command,
        )
    if command.id <= last_applied_id:
        return _refuse(CommandRefusal.REPLAYED, f"id {command.id} <= last applied {last_applied_id}", command)
    return CommandOutcome(command=command, refusal=None)


def ack_body(
    *,
    command_id: int | None,
    action: str | None,
    device: str | None,
    outcome: AckOutcome,
    reason: str | None = None,
    detail: str = "",
    ruleset: str = "",
    quarantined: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The body of the ``ack`` envelope the agent sends for every command it receives."""
    return {
        "command_id": command_id,
        "action": action,
        "device": device,
        "outcome": outcome.value,
        "reason": reason,
        "detail": detail,
        "ruleset": ruleset,
        "quarantined": list(quarantined),
    }

"""Signed commands, collector → agent on ``camsentry/v1/<site>/<agent>/cmd``. Pure functions.

A command is canonical JSON signed by the collector key the agent pinned at enrollment::

    {"v": 1, "id": int (per agent, strictly increasing), "site": str, "agent": str,
     "action": "quarantine" | "release" | "policy", "device": str (an IP address; "" for policy),
     "params": {...}, "issued": RFC 3339 UTC, "expires": RFC 3339 UTC, "sig": base64}

``open_command`` never raises on what a peer sends: it returns a ``CommandOutcome`` whose
``refusal`` names why (unsigned, forged, expired, replayed, ...). Replay protection needs the
last applied id, which the caller persists (``agent.enforce.state``).

The agent answers every command with an ``ack`` envelope whose body is an ``Ack`` record.
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
from agent.wire.fields import Fields
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


class AckOutcome(StrEnum):
    """How a command ended at the agent; ``applied`` only once nftables was read back and matched."""

    APPLIED = "applied"
    # Valid and kept, but the agent has nothing to apply it to yet (a policy push to an agent
    # without an [egress] table): applied when that part is enabled and the agent restarts.
    STORED = "stored"
    DRY_RUN = "dry_run"
    # Not attempted: the command did not verify, or this agent cannot enforce it (reason says why).
    REFUSED = "refused"
    # Attempted and not in force: nft failed or the rules read back are not the ones sent.
    FAILED = "failed"


class AckReason(StrEnum):
    """Why a command was refused or failed: the one closed set the ack's ``reason`` carries."""

    # The command itself (``open_command``).
    OVERSIZE = "oversize"
    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_VERSION = "unknown_version"
    WRONG_TARGET = "wrong_target"
    UNKNOWN_ACTION = "unknown_action"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    # This agent cannot enforce a quarantine or release (outcome ``refused``).
    ENFORCEMENT_DISABLED = "enforcement_disabled"  # [enforce] enabled = false
    NFT_MISSING = "nft_missing"  # the nft command is not installed or not executable
    NO_CAPABILITY = "no_capability"  # nft ran without CAP_NET_ADMIN ("Operation not permitted")
    # It tried (outcome ``failed``).
    NFT_REFUSED = "nft_refused"  # nft exited non-zero on the ruleset
    NFT_FAILED = "nft_failed"  # nft did not finish (timeout) or could not be started
    READBACK_MISMATCH = "readback_mismatch"  # nft accepted, but the table read back differs
    POLICY_INVALID = "policy_invalid"
    RECORDER_LOOKUP_FAILED = "recorder_lookup_failed"
    STATE_UNUSABLE = "state_unusable"
    STATE_WRITE_FAILED = "state_write_failed"


# Reasons that mean "this agent cannot enforce it": nothing was attempted, so the outcome is refused.
UNENFORCEABLE = frozenset({AckReason.ENFORCEMENT_DISABLED, AckReason.NFT_MISSING, AckReason.NO_CAPABILITY})


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
    refusal: AckReason | None
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


def _refuse(reason: AckReason, detail: str, command: Command | None = None) -> CommandOutcome:
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
        return _refuse(AckReason.OVERSIZE, f"{len(payload)} bytes > {MAX_COMMAND_BYTES}")
    try:
        document = load_untrusted(payload)
    except JSON_DECODE_ERRORS as exc:
        return _refuse(AckReason.MALFORMED, str(exc)[:200])
    if not isinstance(document, dict):
        return _refuse(AckReason.MALFORMED, "payload is not a JSON object")
    if SIG_FIELD not in document:
        return _refuse(AckReason.UNSIGNED, "no signature")
    if not verify_document(collector_key, document):
        return _refuse(AckReason.BAD_SIGNATURE, "not signed by the pinned collector key")
    if document.get("v") != WIRE_VERSION:
        return _refuse(AckReason.UNKNOWN_VERSION, f"v={document.get('v')!r}")
    for name, expected in _FIELDS.items():
        value = document.get(name)
        if not isinstance(value, expected) or isinstance(value, bool):
            return _refuse(AckReason.MALFORMED, f"field {name} missing or wrong type")
    try:
        action = CommandAction(document["action"])
    except ValueError:
        return _refuse(AckReason.UNKNOWN_ACTION, f"action={document['action']!r}")
    try:
        issued = parse_utc(document["issued"])
        expires = parse_utc(document["expires"])
    except ValueError as exc:
        return _refuse(AckReason.MALFORMED, f"timestamp: {exc}")
    if action is not CommandAction.POLICY and not is_plain_address(document["device"]):
        return _refuse(AckReason.MALFORMED, "device is not an IP address (scoped addresses refused)")
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
            AckReason.WRONG_TARGET,
            f"addressed to {command.site}/{command.agent}, this is {site}/{agent}",
            command,
        )
    if now >= expires:
        return _refuse(
            AckReason.EXPIRED,
            f"expired {format_utc(expires)}, now {format_utc(now)}",
            command,
        )
    if command.id <= last_applied_id:
        return _refuse(AckReason.REPLAYED, f"id {command.id} <= last applied {last_applied_id}", command)
    return CommandOutcome(command=command, refusal=None)


_OUTCOMES = {o.value: o for o in AckOutcome}
_REASONS = {r.value: r for r in AckReason}


@dataclass(frozen=True)
class Ack:
    """The body of the ``ack`` envelope the agent sends for every command it receives.

    ``quarantined`` is what the agent holds in force after the command. A collector decoding
    an ack from a newer agent keeps an ``outcome`` or ``reason`` it does not know as text in
    ``unknown`` (and ``outcome``/``reason`` None) instead of dropping the ack.
    """

    command_id: int | None
    action: str | None
    device: str | None
    outcome: AckOutcome | None
    reason: AckReason | None = None
    detail: str = ""
    ruleset: str = ""
    quarantined: tuple[str, ...] = ()
    unknown: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "action": self.action,
            "device": self.device,
            "outcome": self.outcome.value if self.outcome else self.unknown.get("outcome"),
            "reason": self.reason.value if self.reason else self.unknown.get("reason"),
            "detail": self.detail,
            "ruleset": self.ruleset,
            "quarantined": list(self.quarantined),
        }

    @property
    def outcome_text(self) -> str:
        """The outcome as stored and shown: the enum value, or ``unknown`` (what the agent said
        is in ``unknown["outcome"]``)."""
        return self.outcome.value if self.outcome else "unknown"

    @property
    def reason_text(self) -> str | None:
        if self.reason is not None:
            return self.reason.value
        return f"unknown:{self.unknown['reason']}" if "reason" in self.unknown else None

    @classmethod
    def decode(cls, body: Any) -> Ack:
        """Strict on types (``BodyError`` naming the field); lenient on values it does not know."""
        f = Fields(body, "ack")
        outcome_text = f.text("outcome", required=True)
        reason_text = f.opt_text("reason")
        outcome = _OUTCOMES.get(outcome_text)
        reason = _REASONS.get(reason_text) if reason_text is not None else None
        unknown: dict[str, str] = {}
        if outcome is None:
            unknown["outcome"] = outcome_text[:64]
        if reason_text is not None and reason is None:
            unknown["reason"] = reason_text[:64]
        return cls(
            command_id=f.opt_integer("command_id"),
            action=f.opt_text("action"),
            device=f.opt_text("device"),
            outcome=outcome,
            reason=reason,
            detail=f.text("detail"),
            ruleset=f.text("ruleset"),
            quarantined=f.texts("quarantined"),
            unknown=unknown,
        )

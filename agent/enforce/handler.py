"""Agent-side command handling: verify, apply, persist, and answer with an ack body.

The daemon calls ``CommandHandler.restore()`` once at start (rules come back after a restart)
and ``CommandHandler.handle(payload)`` for every message on its ``cmd`` topic, then publishes
the returned dict as the body of an ``ack`` envelope. Nothing a peer sends raises out of
``handle``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.enforce.errors import EnforceError
from agent.enforce.nft import NftRunner
from agent.enforce.policy import PolicyResult
from agent.enforce.rules import DEFAULT_TABLE, Quarantine, render_quarantine
from agent.enforce.state import EnforcementState, load_state, save_state
from agent.runtime.clock import Clock, SystemClock
from agent.runtime.errors import CamsentryError
from agent.wire.commands import AckOutcome, Command, CommandAction, ack_body, open_command

log = structlog.get_logger(__name__)

RecorderLookup = Callable[[str], Sequence[str]]
# Applies a pushed policy document (e.g. the egress allowlist, ``agent.enforce.policy``);
# raises ValueError or a CamsentryError to refuse it, in which case nothing is kept. Returns how
# it ended (applied, or only stored) with the ack's detail; None means applied.
PolicyHook = Callable[[dict[str, Any]], PolicyResult | None]
# A command may name at most this many recorders; more is a mistake or an attack.
MAX_RECORDERS = 16


def _recorders(command: Command, lookup: RecorderLookup) -> tuple[str, ...]:
    """Recorders the agent knows for the device, plus any the signed command names."""
    named = command.params.get("recorders", [])
    if not isinstance(named, list) or len(named) > MAX_RECORDERS:
        raise ValueError("params.recorders must be a list of at most 16 addresses")
    found: set[str] = set()
    for item in [*lookup(command.device), *named]:
        found.add(str(ipaddress.ip_address(str(item))))
    found.discard(command.device)
    return tuple(sorted(found, key=lambda a: (ipaddress.ip_address(a).version, a)))


def apply_command(
    command: Command,
    state: EnforcementState,
    nft_runner: NftRunner,
    recorder_lookup: RecorderLookup,
    *,
    table: str = DEFAULT_TABLE,
    host_monitoring: bool = True,
    on_policy: PolicyHook | None = None,
    dry_run: bool = False,
) -> tuple[dict[str, Any], EnforcementState]:
    """Apply a verified command; return the ack body and the state to persist.

    With ``dry_run`` (or ``params.dry_run`` true) the ruleset is rendered and returned but
    nft is not run and the returned state is the unchanged input.
    """
    dry_run = dry_run or command.params.get("dry_run") is True
    ack = partial(ack_body, command_id=command.id, action=command.action.value, device=command.device)
    others = tuple(q for q in state.quarantines if q.device != command.device)
    if command.action is CommandAction.POLICY:
        if dry_run:
            return ack(outcome=AckOutcome.DRY_RUN, quarantined=state.quarantined()), state
        try:
            result = (
                on_policy(dict(command.params))
                if on_policy is not None
                else PolicyResult(AckOutcome.STORED, "this agent applies no policy: kept only")
            )
        except (CamsentryError, ValueError) as exc:
            body = ack(
                outcome=AckOutcome.REFUSED,
                reason="policy_invalid",
                detail=str(exc),
                quarantined=state.quarantined(),
            )
            return body, replace(state, last_command_id=command.id)
        result = result or PolicyResult(AckOutcome.APPLIED, "")
        new_state = replace(state, last_command_id=command.id, policy=dict(command.params))
        body = ack(outcome=result.outcome, detail=result.detail, quarantined=state.quarantined())
        return body, new_state
    if command.action is CommandAction.QUARANTINE:
        try:
            recorders = _recorders(command, recorder_lookup)
        except ValueError as exc:
            body = ack(outcome=AckOutcome.REFUSED, reason="malformed", detail=str(exc))
            return body, replace(state, last_command_id=command.id)
        quarantines = (*others, Quarantine(command.device, recorders, command.id))
        detail = f"recorders: {', '.join(recorders) or 'none'}"
    else:
        quarantines = others
        detail = "" if len(others) < len(state.quarantines) else "device was not quarantined"
    ruleset = render_quarantine(quarantines, table=table, host_monitoring=host_monitoring)
    new_state = EnforcementState(command.id, quarantines, state.policy)
    if dry_run:
        body = ack(
            outcome=AckOutcome.DRY_RUN,
            detail=detail,
            ruleset=ruleset,
            quarantined=state.quarantined(),
        )
        return body, state
    try:
        nft_runner(ruleset)
    except EnforceError as exc:
        body = ack(
            outcome=AckOutcome.FAILED,
            reason="nft_failed",
            detail=str(exc),
            quarantined=state.quarantined(),
        )
        # The id is spent: the collector issues a new command rather than replaying this one.
        return body, replace(state, last_command_id=command.id)
    body = ack(
        outcome=AckOutcome.APPLIED,
        detail=detail,
        ruleset=ruleset,
        quarantined=new_state.quarantined(),
    )
    return body, new_state


class CommandHandler:
    """Verifies commands against the pinned collector key and applies them; see module doc."""

    def __init__(
        self,
        collector_public_key: Ed25519PublicKey,
        state_dir: Path,
        nft_runner: NftRunner,
        recorder_lookup: RecorderLookup,
        *,
        site: str,
        agent: str,
        clock: Clock | None = None,
        table: str = DEFAULT_TABLE,
        host_monitoring: bool = True,
        on_policy: PolicyHook | None = None,
    ) -> None:
        self.collector_public_key = collector_public_key
        self.state_dir = state_dir
        self.nft_runner = nft_runner
        self.recorder_lookup = recorder_lookup
        self.site = site
        self.agent = agent
        self.clock: Clock = clock or SystemClock()
        self.table = table
        self.host_monitoring = host_monitoring
        self.on_policy = on_policy

    def _render(self, quarantines: Sequence[Quarantine]) -> str:
        return render_quarantine(quarantines, table=self.table, host_monitoring=self.host_monitoring)

    def state(self) -> EnforcementState:
        return load_state(self.state_dir)

    def restore(self) -> str:
        """Apply the persisted quarantines again (agent start); returns the ruleset applied."""
        state = load_state(self.state_dir)
        ruleset = self._render(state.quarantines)
        self.nft_runner(ruleset)
        log.info("quarantine_restored", devices=list(state.quarantined()))
        return ruleset

    def preview(self, device: str, recorders: Sequence[str] = (), *, release: bool = False) -> str:
        """The full ruleset a quarantine (or release) of ``device`` would apply; touches nothing."""
        state = load_state(self.state_dir)
        others = tuple(q for q in state.quarantines if q.device != device)
        if release:
            return self._render(others)
        known = {*self.recorder_lookup(device), *recorders} - {device}
        new = Quarantine(device, tuple(sorted(known)), state.last_command_id)
        return self._render((*others, new))

    def handle(self, payload: bytes) -> dict[str, Any]:
        """Verify, apply and persist one command; the ack body says what happened and why."""
        try:
            state = load_state(self.state_dir)
        except EnforceError as exc:
            log.error("enforce_state_unusable", error=str(exc))
            return ack_body(
                command_id=None,
                action=None,
                device=None,
                outcome=AckOutcome.FAILED,
                reason="state_unusable",
                detail=str(exc),
            )
        outcome = open_command(
            payload,
            self.collector_public_key,
            site=self.site,
            agent=self.agent,
            now=self.clock.now(),
            last_applied_id=state.last_command_id,
        )
        if outcome.command is None or outcome.refusal is not None:
            reason = outcome.refusal.value if outcome.refusal else "malformed"
            log.warning("command_refused", reason=reason, detail=outcome.detail)
            cmd = outcome.command
            return ack_body(
                command_id=cmd.id if cmd else None,
                action=cmd.action.value if cmd else None,
                device=cmd.device if cmd else None,
                outcome=AckOutcome.REFUSED,
                reason=reason,
                detail=outcome.detail,
                quarantined=state.quarantined(),
            )
        try:
            body, new_state = apply_command(
                outcome.command,
                state,
                self.nft_runner,
                self.recorder_lookup,
                table=self.table,
                host_monitoring=self.host_monitoring,
                on_policy=self.on_policy,
            )
        except (OSError, LookupError) as exc:
            log.error("recorder_lookup_failed", error=str(exc))
            body = ack_body(
                command_id=outcome.command.id,
                action=outcome.command.action.value,
                device=outcome.command.device,
                outcome=AckOutcome.FAILED,
                reason="recorder_lookup_failed",
                detail=str(exc),
                quarantined=state.quarantined(),
            )
            new_state = replace(state, last_command_id=outcome.command.id)
        if new_state != state:
            try:
                save_state(self.state_dir, new_state)
            except OSError as exc:
                # The kernel has the rules but a restart would lose them: say so in the ack.
                log.error("enforce_state_write_failed", error=str(exc))
                body = {**body, "outcome": AckOutcome.FAILED.value, "reason": "state_write_failed"}
                body["detail"] = f"{body['detail']}; state not saved: {exc}".lstrip("; ")
        log.info(
            "command_handled",
            command_id=outcome.command.id,
            action=outcome.command.action.value,
            device=outcome.command.device,
            outcome=body["outcome"],
        )
        return body

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
from agent.enforce.install import install
from agent.enforce.nft import Nft
from agent.enforce.policy import PolicyResult
from agent.enforce.rules import DEFAULT_TABLE, Quarantine, plan_quarantine, render_quarantine
from agent.enforce.state import EnforcementState, load_state, save_state
from agent.runtime.clock import Clock, SystemClock
from agent.runtime.errors import CamsentryError
from agent.wire.commands import (
    UNENFORCEABLE,
    Ack,
    AckOutcome,
    AckReason,
    Command,
    CommandAction,
    open_command,
)
from agent.wire.lifecycle import EnforcementCapability

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
    nft: Nft | None,
    recorder_lookup: RecorderLookup,
    *,
    table: str = DEFAULT_TABLE,
    host_monitoring: bool = True,
    on_policy: PolicyHook | None = None,
    dry_run: bool = False,
) -> tuple[Ack, EnforcementState]:
    """Apply a verified command; return the ack and the state to persist.

    ``nft`` None means enforcement is disabled: quarantines and releases are refused. With
    ``dry_run`` (or ``params.dry_run`` true) the ruleset is planned and returned but nft is not
    run and the returned state is the unchanged input.
    """
    dry_run = dry_run or command.params.get("dry_run") is True
    ack = partial(Ack, command_id=command.id, action=command.action.value, device=command.device)
    spent = replace(state, last_command_id=command.id)
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
            refused = ack(
                outcome=AckOutcome.REFUSED,
                reason=AckReason.POLICY_INVALID,
                detail=str(exc),
                quarantined=state.quarantined(),
            )
            return refused, spent
        result = result or PolicyResult(AckOutcome.APPLIED, "")
        new_state = replace(state, last_command_id=command.id, policy=dict(command.params))
        return ack(outcome=result.outcome, detail=result.detail, quarantined=state.quarantined()), new_state
    if command.action is CommandAction.QUARANTINE:
        try:
            recorders = _recorders(command, recorder_lookup)
        except ValueError as exc:
            return ack(outcome=AckOutcome.REFUSED, reason=AckReason.MALFORMED, detail=str(exc)), spent
        quarantines = (*others, Quarantine(command.device, recorders, command.id))
        detail = f"recorders: {', '.join(recorders) or 'none'}"
    else:
        quarantines = others
        detail = "" if len(others) < len(state.quarantines) else "device was not quarantined"
    planned = plan_quarantine(quarantines, table=table, host_monitoring=host_monitoring)
    new_state = EnforcementState(command.id, quarantines, state.policy)
    if dry_run:
        body = ack(
            outcome=AckOutcome.DRY_RUN, detail=detail, ruleset=planned.text, quarantined=state.quarantined()
        )
        return body, state
    problem = install(nft, planned)
    if problem is not None:
        # The id is spent: the collector issues a new command rather than replaying this one.
        failed = ack(
            outcome=problem.outcome,
            reason=problem.reason,
            detail=problem.detail,
            ruleset=planned.text if problem.outcome is AckOutcome.FAILED else "",
            quarantined=state.quarantined(),
        )
        return failed, spent
    applied = ack(
        outcome=AckOutcome.APPLIED, detail=detail, ruleset=planned.text, quarantined=new_state.quarantined()
    )
    return applied, new_state


class CommandHandler:
    """Verifies commands against the pinned collector key and applies them; see module doc."""

    def __init__(
        self,
        collector_public_key: Ed25519PublicKey,
        state_dir: Path,
        nft: Nft | None,
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
        # None: [enforce] enabled = false; quarantines and releases are refused as such.
        self.nft = nft
        self.recorder_lookup = recorder_lookup
        self.site = site
        self.agent = agent
        self.clock: Clock = clock or SystemClock()
        self.table = table
        self.host_monitoring = host_monitoring
        self.on_policy = on_policy
        # What restore() found at start: None until it ran (or nothing stopped it).
        self._unenforceable: EnforcementCapability | None = None

    def _render(self, quarantines: Sequence[Quarantine]) -> str:
        return render_quarantine(quarantines, table=self.table, host_monitoring=self.host_monitoring)

    def state(self) -> EnforcementState:
        return load_state(self.state_dir)

    def restore(self) -> str:
        """Apply the persisted quarantines again (agent start) and read them back; returns the
        ruleset. A failure is logged with its reason, not raised: the agent still starts and
        acks every later command with the reason it cannot enforce."""
        state = load_state(self.state_dir)
        planned = plan_quarantine(state.quarantines, table=self.table, host_monitoring=self.host_monitoring)
        problem = install(self.nft, planned)
        if problem is None:
            self._unenforceable = None
            log.info("quarantine_restored", devices=list(state.quarantined()))
        else:
            if problem.reason in UNENFORCEABLE:
                self._unenforceable = EnforcementCapability(False, problem.reason.value, problem.detail)
            log.error(
                "quarantine_restore_failed",
                reason=problem.reason.value,
                detail=problem.detail,
                devices=list(state.quarantined()),
            )
        return planned.text

    def capability(self) -> EnforcementCapability:
        """Can this agent enforce? Disabled in ``[enforce]``, or what ``restore()`` found at
        start (nft missing, no CAP_NET_ADMIN); available otherwise."""
        if self.nft is None:
            return EnforcementCapability(
                False, AckReason.ENFORCEMENT_DISABLED.value, "[enforce] enabled = false on this agent"
            )
        return self._unenforceable or EnforcementCapability(True)

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
        return self.answer(payload).to_json()

    def answer(self, payload: bytes) -> Ack:
        """``handle`` as an ``Ack`` record."""
        try:
            state = load_state(self.state_dir)
        except EnforceError as exc:
            log.error("enforce_state_unusable", error=str(exc))
            return Ack(None, None, None, AckOutcome.FAILED, AckReason.STATE_UNUSABLE, str(exc))
        outcome = open_command(
            payload,
            self.collector_public_key,
            site=self.site,
            agent=self.agent,
            now=self.clock.now(),
            last_applied_id=state.last_command_id,
        )
        if outcome.command is None or outcome.refusal is not None:
            reason = outcome.refusal or AckReason.MALFORMED
            log.warning("command_refused", reason=reason.value, detail=outcome.detail)
            cmd = outcome.command
            return Ack(
                command_id=cmd.id if cmd else None,
                action=cmd.action.value if cmd else None,
                device=cmd.device if cmd else None,
                outcome=AckOutcome.REFUSED,
                reason=reason,
                detail=outcome.detail,
                quarantined=state.quarantined(),
            )
        command = outcome.command
        try:
            ack, new_state = apply_command(
                command,
                state,
                self.nft,
                self.recorder_lookup,
                table=self.table,
                host_monitoring=self.host_monitoring,
                on_policy=self.on_policy,
            )
        except (OSError, LookupError) as exc:
            log.error("recorder_lookup_failed", error=str(exc))
            ack = Ack(
                command.id,
                command.action.value,
                command.device,
                AckOutcome.FAILED,
                AckReason.RECORDER_LOOKUP_FAILED,
                str(exc),
                quarantined=state.quarantined(),
            )
            new_state = replace(state, last_command_id=command.id)
        if new_state != state:
            try:
                save_state(self.state_dir, new_state)
            except OSError as exc:
                # The kernel has the rules but a restart would lose them: say so in the ack.
                log.error("enforce_state_write_failed", error=str(exc))
                detail = f"{ack.detail}; state not saved: {exc}".lstrip("; ")
                ack = replace(
                    ack, outcome=AckOutcome.FAILED, reason=AckReason.STATE_WRITE_FAILED, detail=detail
                )
        log.info(
            "command_handled",
            command_id=command.id,
            action=command.action.value,
            device=command.device,
            outcome=ack.outcome_text,
            reason=ack.reason_text,
        )
        return ack

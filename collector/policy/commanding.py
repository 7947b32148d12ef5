"""Issuing signed commands to agents and recording their acks, in the collector's database.

``CommandIssuer.send`` allocates the next command id for the agent (strictly increasing, kept
in the ``commands`` table, see ``collector.store.migrations``), seals the command with the collector key,
records it, then publishes it on ``camsentry/v1/<site>/<agent>/cmd``. ``record_ack`` stores
what the agent answered. ``enforce`` sends quarantines for the engine's enforcement actions,
skipping devices already quarantined or with a quarantine in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.enforce.rules import Quarantine
from agent.runtime.clock import Clock
from agent.wire.commands import CMD_KIND, DEFAULT_TTL, Command, CommandAction, seal_command
from agent.wire.timefmt import format_utc
from agent.wire.topics import topic
from collector.policy.engine import QuarantineAction
from collector.policy.model import Policy
from collector.store.transaction import Database
from collector.store.values import as_datetime, as_json, json_text

log = structlog.get_logger(__name__)

Publish = Callable[[str, bytes], None]


class CommandSender(Protocol):
    """What the CLI needs: send one command, get its id back."""

    def __call__(
        self,
        site: str,
        agent: str,
        action: CommandAction,
        device: str,
        params: dict[str, Any],
        *,
        issued_by: str,
    ) -> int: ...


class CommandIssuer:
    def __init__(
        self,
        db: Database,
        key: Ed25519PrivateKey,
        publish: Publish,
        *,
        clock: Clock,
        ttl: timedelta = DEFAULT_TTL,
        lock: threading.Lock | None = None,
    ) -> None:
        self.db = db
        # Issuers of one process on different connections share a lock: one id per command.
        self._lock = lock or threading.Lock()
        self.key = key
        self.publish = publish
        self.clock = clock
        self.ttl = ttl

    def __call__(
        self,
        site: str,
        agent: str,
        action: CommandAction,
        device: str,
        params: dict[str, Any],
        *,
        issued_by: str,
    ) -> int:
        return self.send(site, agent, action, device, params, issued_by=issued_by)

    def send(
        self,
        site: str,
        agent: str,
        action: CommandAction,
        device: str,
        params: dict[str, Any] | None = None,
        *,
        issued_by: str = "collector",
    ) -> int:
        """Record and publish one signed command; returns its id."""
        with self._lock:
            return self._send(site, agent, action, device, params, issued_by)

    def _send(
        self,
        site: str,
        agent: str,
        action: CommandAction,
        device: str,
        params: dict[str, Any] | None,
        issued_by: str,
    ) -> int:
        now = self.clock.now()
        with self.db.transaction("recording a command") as tx:
            row = tx.one(
                "SELECT COALESCE(MAX(id), 0) FROM commands WHERE site = ? AND agent = ?", (site, agent)
            )
            cid = int(row[0]) + 1
            command = Command(
                id=cid,
                site=site,
                agent=agent,
                action=action,
                device=device,
                issued=now,
                expires=now + self.ttl,
                params=dict(params or {}),
            )
            payload = seal_command(self.key, command)
            tx.execute(
                "INSERT INTO commands (site, agent, id, action, device, params, issued, expires, "
                "issued_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    site,
                    agent,
                    cid,
                    action.value,
                    device,
                    json_text(command.params),
                    format_utc(command.issued),
                    format_utc(command.expires),
                    issued_by,
                ),
            )
        self.publish(topic(site, agent, CMD_KIND), payload)
        log.info("command_sent", site=site, agent=agent, command_id=cid, action=action.value, device=device)
        return cid

    def record_ack(self, site: str, agent: str, body: dict[str, Any]) -> bool:
        """Store an agent's ack body (from a verified ``ack`` envelope); False if unknown command."""
        cid = body.get("command_id")
        if type(cid) is not int:
            log.warning("ack_without_command", site=site, agent=agent, reason=body.get("reason"))
            return False
        with self.db.transaction("recording a command ack") as tx:
            cur = tx.execute(
                "UPDATE commands SET outcome = ?, ack_reason = ?, ack_detail = ?, ruleset = ?, "
                "acked_at = ? WHERE site = ? AND agent = ? AND id = ?",
                (
                    str(body.get("outcome")),
                    body.get("reason"),
                    str(body.get("detail") or "")[:4000],
                    str(body.get("ruleset") or "")[:65536],
                    format_utc(self.clock.now()),
                    site,
                    agent,
                    cid,
                ),
            )
            return bool(cur.rowcount)

    def push_policy(self, policy: Policy, site: str, agent: str, *, issued_by: str = "collector") -> int:
        """Send the site's egress allowlist and core networks to one agent (action ``policy``);
        ``collector.policy.pushing`` decides when."""
        return self.send(
            site, agent, CommandAction.POLICY, "", policy_params(policy, site), issued_by=issued_by
        )

    def last_command(self, site: str, agent: str, action: CommandAction) -> CommandRow | None:
        return last_command(self.db, site, agent, action)

    def quarantined(self) -> set[tuple[str, str, str]]:
        """(site, agent, device) quarantined by an applied (or not yet acked) command."""
        return set(quarantines_in_force(self.db))

    def enforce(self, actions: Sequence[QuarantineAction]) -> list[int]:
        """Send a quarantine for each action whose device is not already quarantined."""
        done = self.quarantined()
        sent = []
        for a in actions:
            if (a.site, a.agent, a.address) in done:
                continue
            params = {"recorders": list(a.recorders), "violations": list(a.violation_ids)}
            sent.append(
                self.send(
                    a.site, a.agent, CommandAction.QUARANTINE, a.address, params, issued_by="policy-engine"
                )
            )
        return sent


def policy_params(policy: Policy, site: str) -> dict[str, Any]:
    """``{"policy_version", "egress": {"allow": [...], "core_networks": [...]} | None}``: what the
    agent's ``agent.enforce.policy.parse_policy_params`` reads; None when the policy has no allow
    list for the site (its agents use their config's)."""
    return {"policy_version": policy.version, "egress": policy.egress_document(site)}


@dataclass(frozen=True)
class CommandRow:
    """One row of the ``commands`` table, as far as deciding on a resend needs it."""

    id: int
    params: dict[str, Any]
    expires: datetime
    outcome: str | None
    reason: str | None
    detail: str | None


def last_command(db: Database, site: str, agent: str, action: CommandAction) -> CommandRow | None:
    """The newest command of ``action`` sent to the agent, with its ack if any."""
    sql = (
        "SELECT id, params, expires, outcome, ack_reason, ack_detail FROM commands "
        "WHERE site = ? AND agent = ? AND action = ? ORDER BY id DESC LIMIT 1"
    )
    rows = db.read("reading the last command", sql, (site, agent, action.value))
    if not rows:
        return None
    row = rows[0]
    cid, params, expires, outcome, reason, detail = row
    try:
        parsed = as_json(params)
        when = as_datetime(expires)
        if when is None:
            raise ValueError("no expiry")
    except ValueError:
        log.warning("command_row_unreadable", site=site, agent=agent, command_id=cid)
        return None
    return CommandRow(int(cid), parsed if isinstance(parsed, dict) else {}, when, outcome, reason, detail)


def quarantines_in_force(db: Database) -> dict[tuple[str, str, str], Quarantine]:
    """What the agents have applied (or are about to): commands refused, failed or dry-run
    changed nothing and are skipped; in id order, a quarantine sets and a release clears."""
    rows = db.read(
        "reading quarantines",
        "SELECT site, agent, device, action, params, id FROM commands "
        "WHERE action IN ('quarantine', 'release') AND (outcome IS NULL OR outcome = 'applied') "
        "ORDER BY site, agent, id",
    )
    state: dict[tuple[str, str, str], Quarantine] = {}
    for site, agent, device, action, params, cid in rows:
        key = (site, agent, device)
        if action == CommandAction.RELEASE.value:
            state.pop(key, None)
            continue
        try:
            recorders = as_json(params).get("recorders", [])
            state[key] = Quarantine(device, tuple(str(r) for r in recorders), int(cid))
        except (ValueError, TypeError, AttributeError):
            log.warning("command_row_unreadable", site=site, agent=agent, command_id=cid)
    return state

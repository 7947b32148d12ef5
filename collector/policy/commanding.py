"""Issuing signed commands to agents and recording their acks, in the collector's database.

``CommandIssuer.send`` allocates the next command id for the agent (strictly increasing, kept
in the ``commands`` table, see ``collector.store.migrations``), seals the command with the collector key,
records it, then publishes it on ``camsentry/v1/<site>/<agent>/cmd``. ``record_ack`` stores
what the agent answered. ``enforce`` sends quarantines for the engine's enforcement actions,
skipping devices already quarantined or with a quarantine in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.enforce.rules import Quarantine
from agent.runtime.clock import Clock
from agent.wire.commands import (
    CMD_KIND,
    DEFAULT_TTL,
    Ack,
    AckOutcome,
    Command,
    CommandAction,
    seal_command,
)
from agent.wire.errors import BodyError
from agent.wire.timefmt import format_utc
from agent.wire.topics import topic
from collector.policy.engine import QuarantineAction
from collector.policy.model import Policy
from collector.store.transaction import Database, Tx
from collector.store.values import as_datetime, as_json, as_time_text, json_text, plain_text

log = structlog.get_logger(__name__)

# How often a CLI waiting for an ack looks at the command's row: the ack reaches the database
# through the running collector service, another process, so there is no event to wait on.
ACK_POLL_S = 0.2

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
        expires = now + self.ttl
        body = dict(params or {})
        with self.db.transaction("recording a command") as tx:
            cid = record_command(tx, site, agent, action, device, body, now, expires, issued_by)
            command = Command(
                id=cid,
                site=site,
                agent=agent,
                action=action,
                device=device,
                issued=now,
                expires=expires,
                params=body,
            )
            payload = seal_command(self.key, command)
        self.publish(topic(site, agent, CMD_KIND), payload)
        log.info("command_sent", site=site, agent=agent, command_id=cid, action=action.value, device=device)
        return cid

    def record_ack(self, site: str, agent: str, body: dict[str, Any]) -> bool:
        """Store an agent's ack body (from a verified ``ack`` envelope) on its command row; False
        when it names no command this collector sent. The envelope itself is stored either way."""
        try:
            ack = Ack.decode(body)
        except BodyError as exc:
            log.warning("ack_unreadable", site=site, agent=agent, error=str(exc))
            return False
        if ack.command_id is None:
            log.warning("ack_without_command", site=site, agent=agent, reason=ack.reason_text)
            return False
        detail = ack.detail
        if ack.outcome is None:  # a newer agent's outcome: kept in words, counted as not applied
            detail = f"outcome {ack.unknown.get('outcome')!r} is unknown to this collector; {detail}"
        with self.db.transaction("recording a command ack") as tx:
            cur = tx.execute(
                "UPDATE commands SET outcome = ?, ack_reason = ?, ack_detail = ?, ruleset = ?, "
                "acked_at = ? WHERE site = ? AND agent = ? AND id = ?",
                (
                    ack.outcome_text,
                    ack.reason_text,
                    plain_text(detail[:4000]),
                    plain_text(ack.ruleset[:65536]),
                    format_utc(self.clock.now()),
                    site,
                    agent,
                    ack.command_id,
                ),
            )
            found = bool(cur.rowcount)
        log.info(
            "command_acked" if found else "ack_for_unknown_command",
            site=site,
            agent=agent,
            command_id=ack.command_id,
            outcome=ack.outcome_text,
            reason=ack.reason_text,
        )
        return found

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


def record_command(
    tx: Tx,
    site: str,
    agent: str,
    action: CommandAction,
    device: str,
    params: dict[str, Any],
    issued: datetime,
    expires: datetime,
    issued_by: str,
) -> int:
    """Take the agent's next command id (one more than its highest) and write the ``commands``
    row in the caller's transaction; returns the id."""
    row = tx.one("SELECT COALESCE(MAX(id), 0) FROM commands WHERE site = ? AND agent = ?", (site, agent))
    cid = int(row[0]) + 1
    tx.execute(
        "INSERT INTO commands (site, agent, id, action, device, params, issued, expires, "
        "issued_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            site,
            agent,
            cid,
            action.value,
            device,
            json_text(params),
            format_utc(issued),
            format_utc(expires),
            issued_by,
        ),
    )
    return cid


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


# The outcomes after which a command is in force at the agent.
IN_FORCE = frozenset({AckOutcome.APPLIED.value, AckOutcome.STORED.value})


@dataclass(frozen=True)
class CommandStatus:
    """One command as the operator sees it: what was sent and what the agent answered.
    ``outcome`` None: no ack yet."""

    site: str
    agent: str
    id: int
    action: str
    device: str
    issued: str | None
    expires: str | None
    issued_by: str
    outcome: str | None
    reason: str | None
    detail: str
    acked_at: str | None

    @property
    def in_force(self) -> bool:
        return self.outcome in IN_FORCE

    def as_row(self) -> dict[str, Any]:
        return {**self.__dict__, "outcome": self.outcome or "no ack yet"}

    def summary(self) -> str:
        """``quarantine 4: refused (enforcement_disabled)``: the command and its answer, short."""
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.action} {self.id}: {self.outcome or 'no ack yet'}{why}"

    def verdict(self) -> str:
        """``applied``, ``refused (enforcement_disabled): <detail>``, ...: one line for a person."""
        if self.outcome is None:
            return "no ack yet"
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.outcome}{why}" + (f": {self.detail}" if self.detail else "")


_STATUS_SQL = (
    "SELECT site, agent, id, action, device, issued, expires, issued_by, outcome, ack_reason, "
    "ack_detail, acked_at FROM commands"
)


def _status(row: Sequence[Any]) -> CommandStatus:
    site, agent, cid, action, device, issued, expires, by, outcome, reason, detail, acked = row
    return CommandStatus(
        site, agent, int(cid), action, device, as_time_text(issued), as_time_text(expires), by,
        outcome, reason, detail or "", as_time_text(acked),
    )  # fmt: skip


def command_status(db: Database, site: str, agent: str, cid: int) -> CommandStatus | None:
    rows = db.read(
        "reading a command", _STATUS_SQL + " WHERE site = ? AND agent = ? AND id = ?", (site, agent, cid)
    )
    return _status(rows[0]) if rows else None


def recent_commands(
    db: Database, *, site: str | None = None, agent: str | None = None, limit: int = 50
) -> list[CommandStatus]:
    """The newest ``limit`` commands (of ``site``/``agent`` if given), newest first."""
    where, params = [], []
    for column, value in (("site", site), ("agent", agent)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = _STATUS_SQL + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY issued DESC, site, agent, id DESC LIMIT {int(limit)}"
    return [_status(r) for r in db.read("listing commands", sql, params)]


def last_enforcement(db: Database) -> dict[tuple[str, str], CommandStatus]:
    """Each agent's newest quarantine or release, with its ack: whether it can enforce at all."""
    rows = db.read(
        "reading enforcement acks",
        _STATUS_SQL + " WHERE action IN ('quarantine', 'release') ORDER BY site, agent, id",
    )
    return {(s.site, s.agent): s for s in map(_status, rows)}


def wait_for_ack(
    db: Database,
    site: str,
    agent: str,
    cid: int,
    *,
    timeout_s: float,
    clock: Clock,
    pause: Callable[[float], object] = time.sleep,
    poll_s: float = ACK_POLL_S,
) -> CommandStatus | None:
    """The command once its ack is in the database (whoever stored it: the collector service
    records every ack it receives); None when none came within ``timeout_s``."""
    deadline = clock.monotonic() + timeout_s
    while True:
        status = command_status(db, site, agent, cid)
        if status is not None and status.outcome is not None:
            return status
        left = deadline - clock.monotonic()
        if left <= 0:
            return None
        pause(min(poll_s, left))

"""Operator commands through the database: a one-shot CLI records, the running service sends.

``queue_command`` (the CLI) allocates the command id and writes the ``commands`` row and a
``command_queue`` row in one transaction, so the id, the audit and ``quarantines_in_force`` see it
at once. The service's ``CommandDispatcher`` takes unsent rows, seals each with the collector
key (issued now, so the expiry counts from when it really leaves), publishes it on its own
broker session and marks it sent; acks come back through ingest as for every command.
``collector_heartbeat`` tells a CLI whether a service is there to send. The tables are defined
in ``collector.store.migrations`` (step 11).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TextIO

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import Clock
from agent.wire.commands import CMD_KIND, DEFAULT_TTL, Command, CommandAction, seal_command
from agent.wire.timefmt import format_utc
from agent.wire.topics import topic
from collector.policy.commanding import record_command
from collector.store.transaction import Database
from collector.store.types import StoreError
from collector.store.values import as_json

log = structlog.get_logger(__name__)

# The service polls the queue this often: an operator's command leaves within about this time.
POLL_S = 0.25
# The service records that it is alive this often; a CLI calls it away after three misses.
HEARTBEAT_S = 5.0
SERVICE_GONE_S = 3 * HEARTBEAT_S
# Allocation races another process allocating for the same agent (the primary key refuses one).
ALLOCATE_TRIES = 5


@dataclass(frozen=True)
class Queued:
    site: str
    agent: str
    id: int
    action: CommandAction
    device: str
    params: dict[str, Any]


def queue_command(
    db: Database,
    site: str,
    agent: str,
    action: CommandAction,
    device: str,
    params: dict[str, Any],
    *,
    issued_by: str,
    clock: Clock,
    ttl: timedelta = DEFAULT_TTL,
) -> int:
    """Record one command for the service to seal and send; returns its id."""
    last: StoreError | None = None
    for _ in range(ALLOCATE_TRIES):
        now = clock.now()
        try:
            with db.transaction("queueing a command") as tx:
                cid = record_command(tx, site, agent, action, device, params, now, now + ttl, issued_by)
                tx.execute(
                    "INSERT INTO command_queue (site, agent, id, queued_at) VALUES (?, ?, ?, ?)",
                    (site, agent, cid, format_utc(now)),
                )
            return cid
        except StoreError as exc:  # the primary key refused: another process took the id
            last = exc
    raise StoreError(f"could not allocate a command id for {site}/{agent}: {last}")


def is_sent(db: Database, site: str, agent: str, cid: int) -> bool:
    rows = db.read(
        "reading a queued command",
        "SELECT sent_at FROM command_queue WHERE site = ? AND agent = ? AND id = ?",
        (site, agent, cid),
    )
    return bool(rows) and rows[0][0] is not None


def beat(db: Database, name: str, clock: Clock) -> None:
    """The service is alive (an upsert both engines take: delete then insert, one transaction)."""
    with db.transaction("recording the service heartbeat") as tx:
        tx.execute("DELETE FROM collector_heartbeat WHERE name = ?", (name,))
        tx.execute(
            "INSERT INTO collector_heartbeat (name, host, pid, beat_at) VALUES (?, ?, ?, ?)",
            (name, socket.gethostname(), os.getpid(), clock.now().timestamp()),
        )


def service_running(db: Database, clock: Clock) -> bool:
    """True when some collector service recorded itself alive recently."""
    rows = db.read("reading the service heartbeat", "SELECT MAX(beat_at) FROM collector_heartbeat")
    newest = rows[0][0] if rows else None
    return newest is not None and clock.now().timestamp() - float(newest) < SERVICE_GONE_S


def unsent(db: Database, *, limit: int = 100) -> list[Queued]:
    rows = db.read(
        "reading queued commands",
        "SELECT q.site, q.agent, q.id, c.action, c.device, c.params FROM command_queue q "
        "JOIN commands c ON c.site = q.site AND c.agent = q.agent AND c.id = q.id "
        "WHERE q.sent_at IS NULL ORDER BY q.queued_at, q.id LIMIT ?",
        (limit,),
    )
    out = []
    for site, agent, cid, action, device, params in rows:
        try:
            parsed = as_json(params)
            out.append(Queued(site, agent, int(cid), CommandAction(action), device, parsed))
        except (ValueError, TypeError):
            log.warning("queued_command_unreadable", site=site, agent=agent, command_id=cid)
            with db.transaction("dropping an unreadable queued command") as tx:
                tx.execute(
                    "DELETE FROM command_queue WHERE site = ? AND agent = ? AND id = ?", (site, agent, cid)
                )
    return out


class CommandDispatcher:
    """In the service: seal and publish what the CLI queued, with fresh issue and expiry times."""

    def __init__(
        self,
        db: Database,
        key: Ed25519PrivateKey,
        publish: Callable[[str, bytes], object],
        *,
        clock: Clock,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        self.db = db
        self.key = key
        self.publish = publish
        self.clock = clock
        self.ttl = ttl
        self.sent = 0

    def run_once(self) -> int:
        """Send every queued command; returns how many went."""
        count = 0
        for q in unsent(self.db):
            now = self.clock.now()
            command = Command(
                id=q.id,
                site=q.site,
                agent=q.agent,
                action=q.action,
                device=q.device,
                issued=now,
                expires=now + self.ttl,
                params=q.params,
            )
            payload = seal_command(self.key, command)
            with self.db.transaction("sending a queued command") as tx:
                tx.execute(
                    "UPDATE commands SET issued = ?, expires = ? WHERE site = ? AND agent = ? AND id = ?",
                    (format_utc(now), format_utc(command.expires), q.site, q.agent, q.id),
                )
                tx.execute(
                    "UPDATE command_queue SET sent_at = ? WHERE site = ? AND agent = ? AND id = ?",
                    (format_utc(now), q.site, q.agent, q.id),
                )
                # Handed to paho before the commit: a crash in between sends it again at the
                # next start, and the agent refuses the second copy as replayed; never lost.
                self.publish(topic(q.site, q.agent, CMD_KIND), payload)
            log.info(
                "command_sent",
                site=q.site,
                agent=q.agent,
                command_id=q.id,
                action=q.action.value,
                device=q.device,
            )
            count += 1
        self.sent += count
        return count


# How long a CLI waits for a running service to pick its command up before saying it is queued.
HANDOFF_WAIT_S = 5.0
HANDOFF_POLL_S = 0.1


class QueuedSender:
    """The CLI's ``send_command``: queue in the database, never touch the broker.

    Returns the command id at once (so callers can wait for the ack by reading the database).
    When no service is running, or it has not sent the command within ``wait_s``, a one-line
    note on ``err`` says the command is queued and when it will go.
    """

    def __init__(
        self,
        connect: Callable[[], Database],
        *,
        clock: Clock,
        err: TextIO,
        wait_s: float = HANDOFF_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connect = connect
        self.clock = clock
        self.err = err
        self.wait_s = wait_s
        self.sleep = sleep

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
        db = self.connect()
        try:
            cid = queue_command(
                db, site, agent, action, device, params, issued_by=issued_by, clock=self.clock
            )
            if not service_running(db, self.clock):
                print(
                    f"note: command {cid} is queued: no collector service is running to send it; "
                    "it goes out when 'camsentry-collector run' starts",
                    file=self.err,
                )
                return cid
            waited = 0.0
            while not is_sent(db, site, agent, cid):
                if waited >= self.wait_s:
                    print(
                        f"note: command {cid} is queued; the running collector has not sent it yet",
                        file=self.err,
                    )
                    break
                self.sleep(HANDOFF_POLL_S)
                waited += HANDOFF_POLL_S
            return cid
        finally:
            db.close()

"""Violations with a lifecycle and an audit trail, kept in the collector's database.

States::

    open ──ack──▶ acknowledged ──accept-risk──▶ risk_accepted ──(until passes)──▶ open
      │  └──────────accept-risk───────────────────▲      │
      └──────────────── resolve (by a person, or the engine when the facts clear) ──▶ resolved
                                                   resolved ──(fires again)──▶ open

Every change, by a person or by the engine, appends to ``violation_audit`` who, when, what and
why. The store takes a DB-API connection (sqlite3 or psycopg, from the collector's store): the SQL is portable
(no AUTOINCREMENT/SERIAL; ids are derived from the violation's key; times are RFC 3339 UTC
text, which sorts correctly) and ``?`` placeholders are rewritten for ``format`` paramstyles.
``VIOLATIONS_SCHEMA`` is the DDL for the collector's migrations.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import structlog

from agent.runtime.clock import Clock
from agent.runtime.errors import CamsentryError
from agent.wire.timefmt import format_utc, parse_utc
from collector.policy.engine import MAX_EVIDENCE_REFS, Evaluation, Violation
from collector.policy.model import Severity
from collector.sql import placeholders

log = structlog.get_logger(__name__)

ENGINE = "policy-engine"
SYSTEM = "system"
# A risk is accepted for a bounded time so that someone looks at it again (at least yearly).
MAX_RISK_ACCEPTANCE = timedelta(days=366)
# SQLite's default limit on bound parameters is 999 in old builds; stay well under it.
ID_CHUNK = 500

VIOLATIONS_SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS violations (
    id VARCHAR(32) PRIMARY KEY,
    vkey TEXT NOT NULL UNIQUE,
    rule VARCHAR(64) NOT NULL,
    severity VARCHAR(16) NOT NULL,
    site VARCHAR(64) NOT NULL,
    agent VARCHAR(64) NOT NULL,
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    evidence TEXT NOT NULL,
    first_seen VARCHAR(32) NOT NULL,
    last_seen VARCHAR(32) NOT NULL,
    state VARCHAR(16) NOT NULL,
    state_reason TEXT NOT NULL,
    accepted_until VARCHAR(32),
    policy_version VARCHAR(80) NOT NULL,
    opened_at VARCHAR(32) NOT NULL,
    updated_at VARCHAR(32) NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS violations_site_state ON violations (site, state)",
    """CREATE TABLE IF NOT EXISTS violation_audit (
    violation_id VARCHAR(32) NOT NULL,
    seq INTEGER NOT NULL,
    at VARCHAR(32) NOT NULL,
    who TEXT NOT NULL,
    action VARCHAR(32) NOT NULL,
    from_state VARCHAR(16),
    to_state VARCHAR(16) NOT NULL,
    reason TEXT NOT NULL,
    policy_version VARCHAR(80),
    PRIMARY KEY (violation_id, seq)
)""",
    """CREATE TABLE IF NOT EXISTS policy_evaluations (
    at VARCHAR(32) NOT NULL,
    policy_version VARCHAR(80) NOT NULL,
    violations INTEGER NOT NULL,
    opened INTEGER NOT NULL,
    resolved INTEGER NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS commands (
    site VARCHAR(64) NOT NULL,
    agent VARCHAR(64) NOT NULL,
    id INTEGER NOT NULL,
    action VARCHAR(16) NOT NULL,
    device TEXT NOT NULL,
    params TEXT NOT NULL,
    issued VARCHAR(32) NOT NULL,
    expires VARCHAR(32) NOT NULL,
    issued_by TEXT NOT NULL,
    outcome VARCHAR(16),
    ack_reason TEXT,
    ack_detail TEXT,
    ruleset TEXT,
    acked_at VARCHAR(32),
    PRIMARY KEY (site, agent, id)
)""",
]


class DBConnection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class ViolationState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RISK_ACCEPTED = "risk_accepted"
    RESOLVED = "resolved"


UNRESOLVED = frozenset({ViolationState.OPEN, ViolationState.ACKNOWLEDGED, ViolationState.RISK_ACCEPTED})


class TransitionError(CamsentryError):
    """A lifecycle change that is not allowed (unknown id, wrong state, missing reason)."""


@dataclass(frozen=True)
class ViolationRow:
    id: str
    rule: str
    severity: str
    site: str
    agent: str
    device_id: str
    address: str
    summary: str
    detail: dict[str, Any]
    evidence: tuple[dict[str, Any], ...]
    first_seen: datetime
    last_seen: datetime
    state: ViolationState
    state_reason: str
    accepted_until: datetime | None
    policy_version: str
    opened_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "site": self.site,
            "agent": self.agent,
            "device_id": self.device_id,
            "address": self.address,
            "summary": self.summary,
            "detail": self.detail,
            "evidence": list(self.evidence),
            "first_seen": format_utc(self.first_seen),
            "last_seen": format_utc(self.last_seen),
            "state": self.state.value,
            "state_reason": self.state_reason,
            "accepted_until": format_utc(self.accepted_until) if self.accepted_until else None,
            "policy_version": self.policy_version,
            "opened_at": format_utc(self.opened_at),
            "updated_at": format_utc(self.updated_at),
        }


@dataclass(frozen=True)
class AuditEntry:
    violation_id: str
    seq: int
    at: datetime
    who: str
    action: str
    from_state: ViolationState | None
    to_state: ViolationState
    reason: str
    policy_version: str | None


@dataclass(frozen=True)
class SyncResult:
    """What one evaluation changed: the alerting layer reports opened, reopened and expired."""

    opened: tuple[ViolationRow, ...]
    reopened: tuple[ViolationRow, ...]
    resolved: tuple[ViolationRow, ...]
    expired: tuple[ViolationRow, ...]
    updated: int


_COLUMNS = (
    "id, rule, severity, site, agent, device_id, address, summary, detail, evidence, first_seen, "
    "last_seen, state, state_reason, accepted_until, policy_version, opened_at, updated_at"
)


def _row(values: Sequence[Any]) -> ViolationRow:
    (vid, rule, sev, site, agent, dev, addr, summary, detail, evidence) = values[:10]
    (first, last, state, reason, until, version, opened, updated) = values[10:]
    return ViolationRow(
        id=vid,
        rule=rule,
        severity=sev,
        site=site,
        agent=agent,
        device_id=dev,
        address=addr,
        summary=summary,
        detail=json.loads(detail),
        evidence=tuple(json.loads(evidence)),
        first_seen=parse_utc(first),
        last_seen=parse_utc(last),
        state=ViolationState(state),
        state_reason=reason,
        accepted_until=parse_utc(until) if until else None,
        policy_version=version,
        opened_at=parse_utc(opened),
        updated_at=parse_utc(updated),
    )


def _merge_evidence(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {(e["agent"], e["boot"], e["seq"]): e for e in [*old, *new]}
    ordered = sorted(seen.values(), key=lambda e: (e["boot"], e["seq"], e["agent"]))
    return ordered[-MAX_EVIDENCE_REFS:]


class ViolationStore:
    """Lifecycle operations over a DB-API connection; every method commits or rolls back."""

    def __init__(self, conn: DBConnection, *, clock: Clock, paramstyle: str = "qmark") -> None:
        self.conn = conn
        self.clock = clock
        self.paramstyle = paramstyle

    # -- plumbing -------------------------------------------------------------------------

    def _exec(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(placeholders(sql, self.paramstyle), tuple(params))
        return cur

    def create_schema(self) -> None:
        """Run ``VIOLATIONS_SCHEMA`` (tests and single-file setups; production uses migrations)."""
        cur = self.conn.cursor()
        try:
            for statement in VIOLATIONS_SCHEMA:
                self._exec(cur, statement)
            self.conn.commit()
        finally:
            cur.close()

    def _now(self) -> str:
        return format_utc(self.clock.now())

    def _audit(
        self,
        cur: Any,
        vid: str,
        who: str,
        action: str,
        before: ViolationState | None,
        after: ViolationState,
        reason: str,
        version: str | None = None,
    ) -> None:
        self._exec(cur, "SELECT COALESCE(MAX(seq), 0) FROM violation_audit WHERE violation_id = ?", (vid,))
        seq = int(cur.fetchone()[0]) + 1
        self._exec(
            cur,
            "INSERT INTO violation_audit (violation_id, seq, at, who, action, from_state, to_state, reason, "
            "policy_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                vid,
                seq,
                self._now(),
                who,
                action,
                before.value if before else None,
                after.value,
                reason,
                version,
            ),
        )

    def _set_state(
        self,
        cur: Any,
        row: ViolationRow,
        state: ViolationState,
        *,
        who: str,
        action: str,
        reason: str,
        until: datetime | None = None,
    ) -> None:
        self._exec(
            cur,
            "UPDATE violations SET state = ?, state_reason = ?, accepted_until = ?, updated_at = ? "
            "WHERE id = ?",
            (state.value, reason, format_utc(until) if until else None, self._now(), row.id),
        )
        self._audit(cur, row.id, who, action, row.state, state, reason)

    def _select(self, cur: Any, where: str = "", params: Sequence[Any] = ()) -> list[ViolationRow]:
        self._exec(cur, f"SELECT {_COLUMNS} FROM violations {where}", params)
        return [_row(values) for values in cur.fetchall()]

    def _by_ids(self, cur: Any, ids: Sequence[str]) -> dict[str, ViolationRow]:
        rows: dict[str, ViolationRow] = {}
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            where = f"WHERE id IN ({', '.join('?' for _ in chunk)})"
            rows.update((r.id, r) for r in self._select(cur, where, chunk))
        return rows

    def _transaction(self) -> Any:
        return _Transaction(self.conn)

    # -- reads ----------------------------------------------------------------------------

    def get(self, vid: str) -> ViolationRow | None:
        with self._transaction() as cur:
            rows = self._select(cur, "WHERE id = ?", (vid,))
        return rows[0] if rows else None

    def list_violations(
        self,
        *,
        site: str | None = None,
        states: Collection[ViolationState] | None = None,
        rules: Collection[str] | None = None,
    ) -> list[ViolationRow]:
        """Violations, worst first; expired risk acceptances are reopened before reading."""
        self.expire_risk()
        clauses: list[str] = []
        params: list[Any] = []
        if site is not None:
            clauses.append("site = ?")
            params.append(site)
        if states:
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(s.value for s in states)
        if rules:
            clauses.append(f"rule IN ({', '.join('?' for _ in rules)})")
            params.extend(rules)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._transaction() as cur:
            rows = self._select(cur, where + " ORDER BY site, agent, device_id, rule, id", params)
        rank = {s.value: s.rank for s in Severity}
        return sorted(rows, key=lambda r: rank.get(r.severity, len(rank)))

    def audit(self, vid: str) -> list[AuditEntry]:
        with self._transaction() as cur:
            self._exec(
                cur,
                "SELECT violation_id, seq, at, who, action, from_state, to_state, reason, policy_version "
                "FROM violation_audit WHERE violation_id = ? ORDER BY seq",
                (vid,),
            )
            rows = cur.fetchall()
        return [
            AuditEntry(
                violation_id=r[0],
                seq=int(r[1]),
                at=parse_utc(r[2]),
                who=r[3],
                action=r[4],
                from_state=ViolationState(r[5]) if r[5] else None,
                to_state=ViolationState(r[6]),
                reason=r[7],
                policy_version=r[8],
            )
            for r in rows
        ]

    # -- the engine's side ----------------------------------------------------------------

    def record_evaluation(
        self, evaluation: Evaluation, *, scope_sites: Collection[str] | None = None
    ) -> SyncResult:
        """Fold one evaluation in: open new, reopen recurring, resolve cleared (within scope)."""
        expired = self.expire_risk()
        opened: list[str] = []
        reopened: list[str] = []
        resolved: list[str] = []
        updated = 0
        version = evaluation.policy_version
        with self._transaction() as cur:
            existing = {r.id: r for r in self._select(cur)}
            current = {v.id: v for v in evaluation.violations}
            for vid, v in current.items():
                row = existing.get(vid)
                if row is None:
                    self._insert(cur, v, version)
                    self._audit(cur, vid, ENGINE, "opened", None, ViolationState.OPEN, v.summary, version)
                    opened.append(vid)
                    continue
                updated += self._refresh(cur, row, v, version)
                if row.state is ViolationState.RESOLVED:
                    self._set_state(
                        cur, row, ViolationState.OPEN, who=ENGINE, action="reopened", reason=v.summary
                    )
                    reopened.append(vid)
            for vid, row in existing.items():
                if vid in current or row.state is ViolationState.RESOLVED:
                    continue
                if scope_sites is not None and row.site not in scope_sites:
                    continue
                reason = f"no longer observed under policy {version}"
                self._set_state(
                    cur, row, ViolationState.RESOLVED, who=ENGINE, action="resolved", reason=reason
                )
                resolved.append(vid)
            self._exec(
                cur,
                "INSERT INTO policy_evaluations (at, policy_version, violations, opened, resolved) "
                "VALUES (?, ?, ?, ?, ?)",
                (format_utc(evaluation.evaluated_at), version, len(current), len(opened), len(resolved)),
            )
            fresh = self._by_ids(cur, [*opened, *reopened, *resolved])
        log.info(
            "policy_evaluated",
            policy_version=version,
            violations=len(evaluation.violations),
            opened=len(opened),
            reopened=len(reopened),
            resolved=len(resolved),
        )
        return SyncResult(
            opened=tuple(fresh[i] for i in opened),
            reopened=tuple(fresh[i] for i in reopened),
            resolved=tuple(fresh[i] for i in resolved),
            expired=tuple(expired),
            updated=updated,
        )

    def _insert(self, cur: Any, v: Violation, version: str) -> None:
        now = self._now()
        self._exec(
            cur,
            f"INSERT INTO violations (vkey, {_COLUMNS}) VALUES ({', '.join('?' for _ in range(19))})",
            (
                v.key,
                v.id,
                v.rule.value,
                v.severity.value,
                v.site,
                v.agent,
                v.device_id,
                v.address,
                v.summary,
                json.dumps(dict(v.detail), sort_keys=True, default=str),
                json.dumps([e.as_dict() for e in v.evidence]),
                format_utc(v.first_seen),
                format_utc(v.last_seen),
                ViolationState.OPEN.value,
                v.summary,
                None,
                version,
                now,
                now,
            ),
        )

    def _refresh(self, cur: Any, row: ViolationRow, v: Violation, version: str) -> bool:
        """Update a known violation from a new evaluation; False when nothing changed."""
        evidence = _merge_evidence(row.evidence, [e.as_dict() for e in v.evidence])
        detail = json.loads(json.dumps(dict(v.detail), sort_keys=True, default=str))
        first, last = min(row.first_seen, v.first_seen), max(row.last_seen, v.last_seen)
        new = (v.severity.value, v.summary, detail, evidence, first, last, v.address, version)
        old = (row.severity, row.summary, row.detail, list(row.evidence), row.first_seen, row.last_seen)
        if new == (*old, row.address, row.policy_version):
            return False
        self._exec(
            cur,
            "UPDATE violations SET severity = ?, summary = ?, detail = ?, evidence = ?, first_seen = ?, "
            "last_seen = ?, address = ?, policy_version = ? WHERE id = ?",
            (
                v.severity.value,
                v.summary,
                json.dumps(detail, sort_keys=True),
                json.dumps(evidence),
                format_utc(first),
                format_utc(last),
                v.address,
                version,
                row.id,
            ),
        )
        if row.severity != v.severity.value:
            reason = f"severity {row.severity} -> {v.severity.value}"
            self._audit(cur, row.id, ENGINE, "severity_changed", row.state, row.state, reason, version)
        return True

    def expire_risk(self) -> list[ViolationRow]:
        """Reopen every risk acceptance whose ``until`` has passed; returns the reopened rows."""
        now = self.clock.now()
        with self._transaction() as cur:
            due = [
                r
                for r in self._select(cur, "WHERE state = ?", (ViolationState.RISK_ACCEPTED.value,))
                if r.accepted_until is not None and r.accepted_until <= now
            ]
            for r in due:
                assert r.accepted_until is not None
                reason = f"risk acceptance expired {format_utc(r.accepted_until)} ({r.state_reason})"
                self._set_state(cur, r, ViolationState.OPEN, who=SYSTEM, action="risk_expired", reason=reason)
            rows = [self._select(cur, "WHERE id = ?", (r.id,))[0] for r in due]
        for r in rows:
            log.info("risk_acceptance_expired", violation=r.id, site=r.site)
        return rows

    # -- people's side --------------------------------------------------------------------

    def _transition(
        self,
        vid: str,
        to: ViolationState,
        allowed_from: Collection[ViolationState],
        *,
        by: str,
        reason: str,
        action: str,
        until: datetime | None = None,
    ) -> ViolationRow:
        if not by.strip():
            raise TransitionError("say who is making the change (--by)")
        if not reason.strip():
            raise TransitionError("say why (--reason): the audit trail keeps it")
        self.expire_risk()
        with self._transaction() as cur:
            rows = self._select(cur, "WHERE id = ?", (vid,))
            if not rows:
                raise TransitionError(f"no violation {vid}")
            row = rows[0]
            if row.state not in allowed_from:
                raise TransitionError(f"{vid} is {row.state.value}; cannot {action} it")
            self._set_state(cur, row, to, who=by, action=action, reason=reason, until=until)
            new = self._select(cur, "WHERE id = ?", (vid,))[0]
        log.info("violation_changed", violation=vid, action=action, who=by, state=to.value)
        return new

    def acknowledge(self, vid: str, *, by: str, reason: str) -> ViolationRow:
        return self._transition(
            vid,
            ViolationState.ACKNOWLEDGED,
            {ViolationState.OPEN},
            by=by,
            reason=reason,
            action="acknowledged",
        )

    def accept_risk(self, vid: str, *, by: str, reason: str, until: datetime) -> ViolationRow:
        now = self.clock.now()
        if until <= now:
            raise TransitionError(f"--until {format_utc(until)} is not in the future")
        if until - now > MAX_RISK_ACCEPTANCE:
            raise TransitionError(f"a risk is accepted for at most {MAX_RISK_ACCEPTANCE.days} days")
        return self._transition(
            vid,
            ViolationState.RISK_ACCEPTED,
            {ViolationState.OPEN, ViolationState.ACKNOWLEDGED},
            by=by,
            reason=reason,
            action="risk_accepted",
            until=until,
        )

    def resolve(self, vid: str, *, by: str, reason: str) -> ViolationRow:
        return self._transition(
            vid, ViolationState.RESOLVED, UNRESOLVED, by=by, reason=reason, action="resolved"
        )


class _Transaction:
    """A cursor that commits on success, rolls back on error and is always closed."""

    def __init__(self, conn: DBConnection) -> None:
        self.conn = conn
        self.cur: Any = None

    def __enter__(self) -> Any:
        self.cur = self.conn.cursor()
        return self.cur

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.cur.close()

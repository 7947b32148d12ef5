"""Violations with a lifecycle and an audit trail, kept in the collector's database.

The rules (which change is allowed from which state, the risk-acceptance cap) are
``collector.lifecycle``; this module applies them to rows. Every change, by a person or by the
engine, appends to ``violation_audit`` who, when, what and why. The store works through a
``collector.store.Database`` (one transaction per operation); the tables are defined in
``collector.store.migrations`` with everything else. Ids are derived from the violation's key.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from agent.runtime.clock import Clock
from agent.wire.findings import Severity, worst_first
from agent.wire.timefmt import format_utc
from collector.lifecycle import (
    MAX_RISK_ACCEPTANCE,
    UNRESOLVED,
    Action,
    Change,
    TransitionError,
    ViolationState,
    after_evaluation,
    check_request,
    plan,
    risk_expired,
)
from collector.policy.engine import MAX_EVIDENCE_REFS, Evaluation, Violation
from collector.store.transaction import Database, Tx
from collector.store.values import as_datetime, as_json, json_text, plain_text

log = structlog.get_logger(__name__)

__all__ = [
    "MAX_RISK_ACCEPTANCE",
    "UNRESOLVED",
    "AuditEntry",
    "SyncResult",
    "TransitionError",
    "ViolationRow",
    "ViolationState",
    "ViolationStore",
]

ENGINE = "policy-engine"
SYSTEM = "system"
# SQLite's default limit on bound parameters is 999 in old builds; stay well under it.
ID_CHUNK = 500


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


def _time(value: Any) -> datetime:
    moment = as_datetime(value)
    if moment is None:
        raise ValueError("a required timestamp is empty")
    return moment


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
        detail=as_json(detail),
        evidence=tuple(as_json(evidence)),
        first_seen=_time(first),
        last_seen=_time(last),
        state=ViolationState(state),
        state_reason=reason,
        accepted_until=as_datetime(until),
        policy_version=version,
        opened_at=_time(opened),
        updated_at=_time(updated),
    )


def _merge_evidence(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {(e["agent"], e["boot"], e["seq"]): e for e in [*old, *new]}
    ordered = sorted(seen.values(), key=lambda e: (e["boot"], e["seq"], e["agent"]))
    return ordered[-MAX_EVIDENCE_REFS:]


class ViolationStore:
    """Lifecycle operations over a ``Database``; each method is one transaction."""

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- plumbing -------------------------------------------------------------------------

    def _now(self) -> str:
        return format_utc(self.clock.now())

    def _audit(self, tx: Tx, vid: str, change: Change, version: str | None = None) -> None:
        before = change.before.value if change.before else None
        self._audit_row(
            tx, vid, change.who, change.action.value, before, change.after.value, change.reason, version
        )

    def _audit_row(self, tx: Tx, vid: str, *entry: str | None) -> None:
        """Append (who, action, from_state, to_state, reason, policy_version) to the trail."""
        row = tx.one("SELECT COALESCE(MAX(seq), 0) FROM violation_audit WHERE violation_id = ?", (vid,))
        tx.execute(
            "INSERT INTO violation_audit (violation_id, seq, at, who, action, from_state, to_state, reason, "
            "policy_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (vid, int(row[0]) + 1, self._now(), *entry),
        )

    def _apply(self, tx: Tx, row: ViolationRow, change: Change) -> None:
        until = change.accepted_until
        tx.execute(
            "UPDATE violations SET state = ?, state_reason = ?, accepted_until = ?, updated_at = ? "
            "WHERE id = ?",
            (change.after.value, change.reason, format_utc(until) if until else None, self._now(), row.id),
        )
        self._audit(tx, row.id, change)

    def _engine_change(self, tx: Tx, row: ViolationRow, action: Action, who: str, reason: str) -> None:
        self._apply(tx, row, plan(row.state, action, who=who, reason=reason, now=self.clock.now()))

    def _select(self, tx: Tx, where: str = "", params: Sequence[Any] = ()) -> list[ViolationRow]:
        return [_row(values) for values in tx.all(f"SELECT {_COLUMNS} FROM violations {where}", params)]

    def _by_ids(self, tx: Tx, ids: Sequence[str]) -> dict[str, ViolationRow]:
        rows: dict[str, ViolationRow] = {}
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            where = f"WHERE id IN ({', '.join('?' for _ in chunk)})"
            rows.update((r.id, r) for r in self._select(tx, where, chunk))
        return rows

    # -- reads ----------------------------------------------------------------------------

    def get(self, vid: str) -> ViolationRow | None:
        with self.db.transaction("reading a violation") as tx:
            rows = self._select(tx, "WHERE id = ?", (vid,))
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
        with self.db.transaction("listing violations") as tx:
            rows = self._select(tx, where + " ORDER BY site, agent, device_id, rule, id", params)
        rank = {s.value: worst_first(s) for s in Severity}
        return sorted(rows, key=lambda r: rank.get(r.severity, 1))  # an unknown severity last

    def audit(self, vid: str) -> list[AuditEntry]:
        with self.db.transaction("reading the audit trail") as tx:
            rows = tx.all(
                "SELECT violation_id, seq, at, who, action, from_state, to_state, reason, policy_version "
                "FROM violation_audit WHERE violation_id = ? ORDER BY seq",
                (vid,),
            )
        return [
            AuditEntry(
                violation_id=r[0],
                seq=int(r[1]),
                at=_time(r[2]),
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
        now = self.clock.now()
        with self.db.transaction("recording an evaluation") as tx:
            existing = {r.id: r for r in self._select(tx)}
            current = {v.id: v for v in evaluation.violations}
            for vid, v in current.items():
                row = existing.get(vid)
                action = after_evaluation(row.state if row else None, observed=True)
                if row is None:
                    self._insert(tx, v, version)
                    change = plan(None, Action.OPENED, who=ENGINE, reason=plain_text(v.summary), now=now)
                    self._audit(tx, vid, change, version)
                    opened.append(vid)
                    continue
                updated += self._refresh(tx, row, v, version)
                if action is Action.REOPENED:
                    self._engine_change(tx, row, action, ENGINE, plain_text(v.summary))
                    reopened.append(vid)
            for vid, row in existing.items():
                if vid in current or (scope_sites is not None and row.site not in scope_sites):
                    continue
                if after_evaluation(row.state, observed=False) is Action.RESOLVED:
                    reason = f"no longer observed under policy {version}"
                    self._engine_change(tx, row, Action.RESOLVED, ENGINE, reason)
                    resolved.append(vid)
            tx.execute(
                "INSERT INTO policy_evaluations (at, policy_version, violations, opened, resolved) "
                "VALUES (?, ?, ?, ?, ?)",
                (format_utc(evaluation.evaluated_at), version, len(current), len(opened), len(resolved)),
            )
            fresh = self._by_ids(tx, [*opened, *reopened, *resolved])
        log.debug(  # the pass logs policy_pass once, with what it queued and sent
            "violations_recorded",
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

    def _insert(self, tx: Tx, v: Violation, version: str) -> None:
        now = self._now()
        tx.execute(
            f"INSERT INTO violations (vkey, {_COLUMNS}) VALUES ({', '.join('?' for _ in range(19))})",
            (
                plain_text(v.key),
                v.id,
                v.rule.value,
                v.severity.value,
                v.site,
                v.agent,
                plain_text(v.device_id),
                plain_text(v.address),
                plain_text(v.summary),
                json_text(dict(v.detail)),
                json_text([e.as_dict() for e in v.evidence]),
                format_utc(v.first_seen),
                format_utc(v.last_seen),
                ViolationState.OPEN.value,
                plain_text(v.summary),
                None,
                version,
                now,
                now,
            ),
        )

    def _refresh(self, tx: Tx, row: ViolationRow, v: Violation, version: str) -> bool:
        """Update a known violation from a new evaluation; False when nothing changed."""
        evidence = _merge_evidence(row.evidence, [e.as_dict() for e in v.evidence])
        detail = json.loads(json_text(dict(v.detail)))
        first, last = min(row.first_seen, v.first_seen), max(row.last_seen, v.last_seen)
        summary, address = plain_text(v.summary), plain_text(v.address)
        new = (v.severity.value, summary, detail, evidence, first, last, address, version)
        old = (row.severity, row.summary, row.detail, list(row.evidence), row.first_seen, row.last_seen)
        if new == (*old, row.address, row.policy_version):
            return False
        tx.execute(
            "UPDATE violations SET severity = ?, summary = ?, detail = ?, evidence = ?, first_seen = ?, "
            "last_seen = ?, address = ?, policy_version = ? WHERE id = ?",
            (
                v.severity.value,
                summary,
                json_text(detail),
                json_text(evidence),
                format_utc(first),
                format_utc(last),
                address,
                version,
                row.id,
            ),
        )
        if row.severity != v.severity.value:
            reason = f"severity {row.severity} -> {v.severity.value}"
            state = row.state.value
            self._audit_row(tx, row.id, ENGINE, "severity_changed", state, state, reason, version)
        return True

    def expire_risk(self) -> list[ViolationRow]:
        """Reopen every risk acceptance whose ``until`` has passed; returns the reopened rows."""
        now = self.clock.now()
        with self.db.transaction("expiring risk acceptances") as tx:
            due = [
                r
                for r in self._select(tx, "WHERE state = ?", (ViolationState.RISK_ACCEPTED.value,))
                if risk_expired(r.state, r.accepted_until, now)
            ]
            for r in due:
                until = format_utc(r.accepted_until) if r.accepted_until else "?"
                reason = f"risk acceptance expired {until} ({r.state_reason})"
                self._engine_change(tx, r, Action.RISK_EXPIRED, SYSTEM, reason)
            rows = list(self._by_ids(tx, [r.id for r in due]).values())
        for r in rows:
            log.info("risk_acceptance_expired", violation=r.id, site=r.site)
        return rows

    # -- people's side --------------------------------------------------------------------

    def _transition(
        self, vid: str, action: Action, *, by: str, reason: str, until: datetime | None = None
    ) -> ViolationRow:
        now = self.clock.now()
        check_request(action, who=by, reason=reason, now=now, until=until)
        self.expire_risk()
        with self.db.transaction(f"changing violation {vid}") as tx:
            rows = self._select(tx, "WHERE id = ?", (vid,))
            if not rows:
                raise TransitionError(f"no violation {vid}")
            row = rows[0]
            try:
                change = plan(row.state, action, who=by, reason=reason, now=now, until=until)
            except TransitionError as exc:
                raise TransitionError(f"{vid}: {exc}") from None
            self._apply(tx, row, change)
            new = self._select(tx, "WHERE id = ?", (vid,))[0]
        log.info("violation_changed", violation=vid, action=action.value, who=by, state=change.after.value)
        return new

    def acknowledge(self, vid: str, *, by: str, reason: str) -> ViolationRow:
        return self._transition(vid, Action.ACKNOWLEDGED, by=by, reason=reason)

    def accept_risk(self, vid: str, *, by: str, reason: str, until: datetime) -> ViolationRow:
        return self._transition(vid, Action.RISK_ACCEPTED, by=by, reason=reason, until=until)

    def resolve(self, vid: str, *, by: str, reason: str) -> ViolationRow:
        return self._transition(vid, Action.RESOLVED, by=by, reason=reason)

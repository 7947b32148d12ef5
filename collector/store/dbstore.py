"""The collector's store over any ``Backend``: one set of queries for SQLite and PostgreSQL.

Every statement goes through ``self.db`` (``collector.store.transaction.Database``): driver
errors become ``StoreError``; after a PostgreSQL restart a read is asked again on a new
connection, and a batch under way fails (the collector confirms nothing it could not store, so
agents send it again). A batch stores its envelopes and updates the projections
(``collector.store.projections``: devices, flows, agent health, agent status) in one
transaction. Opening checks the schema (``collector.store.schema``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from agent.wire.envelope import Envelope, Kind, encode
from agent.wire.errors import BodyError
from agent.wire.lifecycle import AgentState, StatusBody
from collector.store import projections, schema
from collector.store.backend import Backend, log
from collector.store.devices import DEVICE_COLUMNS, UPSERT_DEVICE, _text, device_order, device_rows
from collector.store.transaction import Database, Tx
from collector.store.types import AgentRow, StoredBatch
from collector.store.values import as_json, as_time_text, json_text, normal_time, stored_time

_STATUS_KEYS = ("site", "agent", "revoked_at", "state", "reason", "state_ts", "last_seen", "enrolled_at")
_PENDING_KEYS = ("site", "agent", "public_key", "host", "requested_at")


class Store:
    def __init__(self, backend: Backend, *, migrate: bool = False) -> None:
        self.backend = backend
        self.db = Database(backend)
        try:
            schema.ensure_current(self.db, migrate_old=migrate)
        except BaseException:
            self.db.close()
            raise

    def new_database(self) -> Database:
        """Another connection to the same database, for a thread that writes alongside ingest
        (the violation store and commanding in the policy pass)."""
        return Database(self.backend)

    def close(self) -> None:
        self.db.close()

    # plumbing

    def _query(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.read(what, sql, params)

    def _write(self, what: str) -> AbstractContextManager[Tx]:
        return self.db.transaction(what)

    # schema

    def schema_version(self) -> int:
        return schema.schema_version(self.db)

    def migrate(self) -> int:
        """Apply what is missing, one migration per transaction; concurrent collectors take turns."""
        return schema.migrate(self.db)

    # enrolment

    def add_agent(self, site: str, agent: str, public_key: str, now: str) -> None:
        """Enrol an agent, or replace its key (rotation): the new key takes effect at once."""
        now = stored_time(now)
        with self._write("enrolling an agent") as db:
            self._upsert_agent(db, site, agent, public_key, now)

    def _upsert_agent(self, db: Tx, site: str, agent: str, public_key: str, now: str) -> None:
        db.execute(
            "INSERT INTO agents (site, agent, public_key, enrolled_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (site, agent) DO UPDATE SET public_key = excluded.public_key, "
            "enrolled_at = excluded.enrolled_at, revoked_at = NULL",
            (site, agent, public_key, now),
        )

    def revoke_agent(self, site: str, agent: str, now: str) -> bool:
        now = stored_time(now)
        with self._write("revoking an agent") as db:
            cur = db.execute(
                "UPDATE agents SET revoked_at = ? WHERE site = ? AND agent = ? AND revoked_at IS NULL",
                (now, site, agent),
            )
            return int(cur.rowcount) > 0

    def add_pending(self, site: str, agent: str, public_key: str, host: str, now: str, limit: int) -> bool:
        """Record an enrolment request (the latest per agent); False when full or already enrolled."""
        now = stored_time(now)
        with self._write("recording an enrolment request") as db:
            enrolled = db.execute(
                "SELECT public_key FROM agents WHERE site = ? AND agent = ? AND revoked_at IS NULL",
                (site, agent),
            ).fetchone()
            if enrolled is not None and enrolled[0] == public_key:
                return False
            count = db.execute("SELECT COUNT(*) FROM pending_enrolments").fetchone()[0]
            exists = db.execute(
                "SELECT 1 FROM pending_enrolments WHERE site = ? AND agent = ?", (site, agent)
            ).fetchone()
            if exists is None and count >= limit:
                return False
            db.execute(
                "INSERT INTO pending_enrolments (site, agent, public_key, host, requested_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, agent) DO UPDATE SET "
                "public_key = excluded.public_key, host = excluded.host, "
                "requested_at = excluded.requested_at",
                (site, agent, public_key, _text(host) or "", now),
            )
            return True

    def pending(self) -> list[dict[str, str]]:
        rows = self._query(
            "listing enrolment requests", f"SELECT {', '.join(_PENDING_KEYS)} FROM pending_enrolments"
        )
        requests = [dict(zip(_PENDING_KEYS, row, strict=True)) for row in rows]
        for r in requests:
            r["requested_at"] = as_time_text(r["requested_at"]) or ""
        return sorted(requests, key=_by_agent)

    def approve_pending(self, site: str, agent: str, now: str) -> str | None:
        """Enrol the pending request's key; returns it, or None if there is no request."""
        now = stored_time(now)
        with self._write("approving an enrolment request") as db:
            row = db.execute(
                "SELECT public_key FROM pending_enrolments WHERE site = ? AND agent = ?",
                (site, agent),
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM pending_enrolments WHERE site = ? AND agent = ?", (site, agent))
            self._upsert_agent(db, site, agent, row[0], now)
            return str(row[0])

    def agents(self) -> list[AgentRow]:
        rows = self._query(
            "listing agents", "SELECT site, agent, public_key, enrolled_at, revoked_at FROM agents"
        )
        agents = (
            AgentRow(site, agent, key, as_time_text(enrolled) or "", as_time_text(revoked))
            for site, agent, key, enrolled, revoked in rows
        )
        return sorted(agents, key=lambda a: (a.site, a.agent))

    # ingest

    def store_batch(self, envelopes: Sequence[Envelope], received_at: str) -> StoredBatch:
        """Store verified envelopes idempotently by (site, agent, boot, seq), in one transaction."""
        received_at = stored_time(received_at)
        new: list[Envelope] = []
        duplicates: list[Envelope] = []
        agents = sorted({(e.site, e.agent) for e in envelopes})
        with self._write(f"storing a batch of {len(envelopes)}") as db:
            self.backend.lock_agents(db.conn, agents)
            seen = self._stored_seqs(db, envelopes)
            pruned = self._pruned_up_to(db, envelopes)
            for env in envelopes:
                ident = (env.site, env.agent, env.boot, env.seq)
                if ident in seen or env.seq <= pruned.get((env.site, env.agent, env.boot), 0):
                    duplicates.append(env)
                else:
                    seen.add(ident)
                    new.append(env)
            self._insert_envelopes(db, new, received_at)
            mark = self.backend.change_mark(db.conn)
            rows, undecodable = device_rows(new, lambda e: normal_time(e.ts) or received_at, mark)
            for env, exc in undecodable:  # stored as evidence above; no device row from it
                log.warning("inventory_body_undecodable", site=env.site, agent=env.agent, seq=env.seq,
                            detail=exc.detail)  # fmt: skip
            db.executemany(UPSERT_DEVICE, rows)
            projections.update_flows(db, new, mark)
            projections.update_health(db, new, mark)
            for env in new:
                if env.kind is Kind.STATUS:
                    self._apply_status(db, env, received_at, mark)
            self._touch_agents(db, agents, received_at, mark)
        return StoredBatch(new=new, duplicates=duplicates)

    def _insert_envelopes(self, db: Tx, new: Sequence[Envelope], received_at: str) -> None:
        # payload: the signed bytes as received, evidence anyone can verify again later. ts: the
        # agent's claim in the one stored form; one that does not parse stays readable in the
        # payload (SQLite keeps the text, PostgreSQL's TIMESTAMPTZ holds NULL).
        typed = db.engine == "postgresql"
        rows = [
            (
                e.site,
                e.agent,
                e.boot,
                e.seq,
                e.kind.value,
                normal_time(e.ts) or (None if typed else e.ts),
                received_at,
                e.raw.decode("utf-8") if e.raw else encode(e).decode("utf-8"),
                *((json_text(e.body),) if typed else ()),
            )
            for e in new
        ]
        columns = "site, agent, boot, seq, kind, ts, received_at, payload" + (", body" if typed else "")
        marks = ", ".join("?" * len(columns.split(", ")))
        db.executemany(f"INSERT INTO envelopes ({columns}) VALUES ({marks})", rows)

    def _stored_seqs(self, db: Tx, envelopes: Sequence[Envelope]) -> set[tuple[str, str, str, int]]:
        """Which of these are already stored: one range query per (site, agent, boot)."""
        ranges: dict[tuple[str, str, str], tuple[int, int]] = {}
        for e in envelopes:
            lo, hi = ranges.get((e.site, e.agent, e.boot), (e.seq, e.seq))
            ranges[(e.site, e.agent, e.boot)] = (min(lo, e.seq), max(hi, e.seq))
        found: set[tuple[str, str, str, int]] = set()
        query = "SELECT seq FROM envelopes WHERE site = ? AND agent = ? AND boot = ? AND seq BETWEEN ? AND ?"
        for (site, agent, boot), (lo, hi) in ranges.items():
            rows = db.execute(query, (site, agent, boot, lo, hi)).fetchall()
            found.update((site, agent, boot, int(seq)) for (seq,) in rows)
        return found

    def _pruned_up_to(self, db: Tx, envelopes: Sequence[Envelope]) -> dict[tuple[str, str, str], int]:
        """Retention deleted each boot's envelopes up to here: a replay of one is still a duplicate."""
        tops = {}
        for site, agent, boot in sorted({(e.site, e.agent, e.boot) for e in envelopes}):
            row = db.one(
                "SELECT up_to FROM pruned WHERE site = ? AND agent = ? AND boot = ?", (site, agent, boot)
            )
            if row is not None:
                tops[(site, agent, boot)] = int(row[0])
        return tops

    def _apply_status(self, db: Tx, env: Envelope, received_at: str, mark: int) -> None:
        state, reason = status_projection(env.body)
        if state is AgentState.UNKNOWN:
            log.warning("status_body_unknown", site=env.site, agent=env.agent, seq=env.seq, reason=reason)
        db.execute(
            "INSERT INTO agent_status (site, agent, state, reason, state_ts, last_seen, changed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, agent) DO UPDATE SET "
            "state = excluded.state, reason = excluded.reason, state_ts = excluded.state_ts, "
            "changed = excluded.changed "
            "WHERE agent_status.state_ts IS NULL OR agent_status.state_ts <= excluded.state_ts",
            (env.site, env.agent, state.value, reason, normal_time(env.ts), received_at, mark),
        )

    def _touch_agents(self, db: Tx, agents: Iterable[tuple[str, str]], received_at: str, mark: int) -> None:
        db.executemany(
            "INSERT INTO agent_status (site, agent, state, state_ts, last_seen, changed) "
            "VALUES (?, ?, 'unknown', NULL, ?, ?) ON CONFLICT (site, agent) DO UPDATE SET "
            "last_seen = excluded.last_seen, changed = excluded.changed",
            [(site, agent, received_at, mark) for site, agent in agents],
        )

    def bump_counters(self, counts: dict[tuple[str, str, str], int]) -> None:
        if not counts:
            return
        with self._write("updating counters") as db:
            db.executemany(
                "INSERT INTO counters (site, agent, name, count) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (site, agent, name) DO UPDATE SET count = counters.count + excluded.count",
                [(s, a, n, c) for (s, a, n), c in sorted(counts.items())],
            )

    # reads

    def counters(self) -> dict[tuple[str, str], dict[str, int]]:
        rows = self._query("reading counters", "SELECT site, agent, name, count FROM counters")
        result: dict[tuple[str, str], dict[str, int]] = {}
        for site, agent, name, count in rows:
            result.setdefault((site, agent), {})[name] = int(count)
        return result

    def agent_status(self) -> list[dict[str, Any]]:
        rows = self._query(
            "reading agent status",
            "SELECT a.site, a.agent, a.revoked_at, s.state, s.reason, s.state_ts, s.last_seen, a.enrolled_at "
            "FROM agents a LEFT JOIN agent_status s ON s.site = a.site AND s.agent = a.agent",
        )
        status = [dict(zip(_STATUS_KEYS, row, strict=True)) for row in rows]
        for s in status:
            for key in ("revoked_at", "state_ts", "last_seen", "enrolled_at"):
                s[key] = as_time_text(s[key])
        return sorted(status, key=_by_agent)

    def horizon(self) -> int:
        """Where a reader stands now: pass it as ``since`` next time to get only what changed
        after (some rows may come twice; none is missed). Read it before the rows."""
        return int(self._query("reading the change horizon", self.backend.horizon_sql)[0][0])

    def devices(self, since: int = 0) -> list[dict[str, Any]]:
        """The newest record of each device (those changed at or after ``since``)."""
        rows = self._query(
            "reading devices",
            f"SELECT {', '.join('d.' + c for c in DEVICE_COLUMNS)}, e.payload FROM devices d "
            "JOIN envelopes e ON e.site = d.site AND e.agent = d.agent AND e.boot = d.evidence_boot "
            "AND e.seq = d.evidence_seq WHERE d.changed >= ?",
            (since,),
        )
        devices = []
        for row in rows:
            device = dict(zip(DEVICE_COLUMNS, row[:-1], strict=True))
            device["first_seen"] = as_time_text(device["first_seen"])
            device["last_seen"] = as_time_text(device["last_seen"])
            device["record"] = json.loads(row[-1])["body"].get("device", {})
            devices.append(device)
        return sorted(devices, key=device_order)

    def flows(self, since: int = 0) -> list[dict[str, Any]]:
        """The ``flows`` projection (rows changed at or after ``since``): site, agent, the newest
        finding as ``record``, first/last_seen, count, bytes, and ``evidence`` refs."""
        rows = self._query(
            "reading flows",
            "SELECT site, agent, first_seen, last_seen, count, bytes, record, evidence FROM flows "
            "WHERE changed >= ?",
            (since,),
        )
        flows = [
            {
                "site": site,
                "agent": agent,
                "first_seen": as_time_text(first),
                "last_seen": as_time_text(last),
                "count": int(count),
                "bytes": None if nbytes is None else int(nbytes),
                "record": as_json(record),
                "evidence": as_json(evidence),
            }
            for site, agent, first, last, count, nbytes, record, evidence in rows
        ]
        return sorted(flows, key=_flow_order)

    def agent_health(self, since: int = 0) -> list[dict[str, Any]]:
        """Each agent's newest health body (those changed at or after ``since``)."""
        rows = self._query(
            "reading agent health",
            "SELECT site, agent, ts, boot, seq, body FROM agent_health WHERE changed >= ?",
            (since,),
        )
        health = [
            {"site": s, "agent": a, "ts": as_time_text(t), "boot": b, "seq": int(q), "body": as_json(body)}
            for s, a, t, b, q, body in rows
        ]
        return sorted(health, key=_by_agent)

    def count_envelopes(self, kind: str | None = None) -> int:
        if kind is None:
            rows = self._query("counting envelopes", "SELECT COUNT(*) FROM envelopes")
        else:
            rows = self._query("counting envelopes", "SELECT COUNT(*) FROM envelopes WHERE kind = ?", (kind,))
        return int(rows[0][0])

    def agent_births(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Each agent's newest ``birth`` body (by boot start, then seq), as the agent sent it."""
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.envelope_bodies(Kind.BIRTH.value):  # few: one per agent start
            key = (row["site"], row["agent"])
            prior = newest.get(key)
            if prior is None or (row["ts"] or "", row["seq"]) >= (prior["ts"] or "", prior["seq"]):
                newest[key] = row
        return newest

    def envelope_bodies(self, kind: str) -> list[dict[str, Any]]:
        rows = self._query(
            "reading envelopes",
            "SELECT site, agent, boot, seq, ts, payload FROM envelopes WHERE kind = ?",
            (kind,),
        )
        bodies = [
            {
                "site": s,
                "agent": a,
                "boot": b,
                "seq": int(q),
                "ts": as_time_text(t),
                "body": json.loads(payload)["body"],
            }
            for s, a, b, q, t, payload in rows
        ]
        return sorted(bodies, key=lambda r: (r["site"], r["agent"], r["boot"], r["seq"]))


def status_projection(body: Any) -> tuple[AgentState, str]:
    """The state and reason ``agent_status`` keeps for a status body, read through the wire
    decoder: a state this collector does not know, or a body that does not decode, is kept
    as ``unknown`` with what it said in the reason (never dropped)."""
    try:
        status = StatusBody.decode(body)
    except BodyError as exc:
        return AgentState.UNKNOWN, f"undecodable status: {exc.detail}"
    if status.state is AgentState.UNKNOWN:
        return AgentState.UNKNOWN, f"state {status.state_text!r}: {status.reason}"
    return status.state, status.reason


def _by_agent(row: dict[str, Any]) -> tuple[str, str]:
    return (row["site"], row["agent"])


def _flow_order(row: dict[str, Any]) -> tuple[str, ...]:
    r = row["record"]
    return (
        row["site"],
        row["agent"],
        *(str(r.get(k)) for k in ("device", "destination", "port", "protocol")),
    )

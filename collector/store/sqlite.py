"""SQLite store: WAL, one writer connection, batch transactions."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.wire.envelope import Envelope, Kind, encode
from agent.wire.inventory import device_key
from collector.store.migrations import MIGRATIONS

DEVICE_COLUMNS = (
    "site", "device_key", "agent", "address", "port", "mac", "manufacturer", "model", "firmware",
    "serial", "maker", "brand", "maker_confidence", "first_seen", "last_seen", "evidence_boot",
    "evidence_seq",
)  # fmt: skip
_LATEST = ("agent", "address", "port", "mac", "manufacturer", "model", "firmware", "serial", "maker", "brand",
           "maker_confidence", "last_seen", "evidence_boot", "evidence_seq")  # fmt: skip
# A backlog can deliver an older record after a newer one: the newer record's fields win,
# and first_seen keeps the earliest time either ever reported.
UPSERT_DEVICE = (
    f"INSERT INTO devices ({', '.join(DEVICE_COLUMNS)}) VALUES ({', '.join('?' * len(DEVICE_COLUMNS))}) "
    "ON CONFLICT (site, device_key) DO UPDATE SET "
    + ", ".join(
        f"{c} = CASE WHEN devices.last_seen <= excluded.last_seen THEN excluded.{c} ELSE devices.{c} END"
        for c in _LATEST
    )
    + ", first_seen = CASE WHEN excluded.first_seen < devices.first_seen "
    "THEN excluded.first_seen ELSE devices.first_seen END"
)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def device_row(env: Envelope, record: dict[str, Any]) -> tuple[Any, ...]:
    confidence = record.get("maker_confidence")
    port = record.get("port")
    return (
        env.site,
        device_key(record),
        env.agent,
        _text(record.get("address")),
        port if isinstance(port, int) and not isinstance(port, bool) else None,
        _text(record.get("mac")),
        _text(record.get("manufacturer")),
        _text(record.get("model")),
        _text(record.get("firmware")),
        _text(record.get("serial")),
        _text(record.get("maker")),
        _text(record.get("brand")),
        float(confidence) if isinstance(confidence, int | float) else None,
        env.ts,
        env.ts,
        env.boot,
        env.seq,
    )


class StoreError(RuntimeError):
    """The database refused or failed an operation."""


@dataclass(frozen=True)
class AgentRow:
    site: str
    agent: str
    public_key: str
    enrolled_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class StoredBatch:
    new: list[Envelope]
    duplicates: list[Envelope]


class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open database: {exc}") from exc
        self.migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # schema

    def schema_version(self) -> int:
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
            row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> int:
        current = self.schema_version()
        with self._lock:
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in statements:
                        self._db.execute(statement)
                    self._db.execute(
                        "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                        (version, description),
                    )
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._db.execute("ROLLBACK")
                    raise StoreError(f"migration {version} failed: {exc}") from exc
                current = version
        return current

    # enrolment

    def add_agent(self, site: str, agent: str, public_key: str, now: str) -> None:
        """Enrol an agent, or replace its key (rotation): the new key takes effect at once."""
        with self._lock:
            self._db.execute(
                "INSERT INTO agents (site, agent, public_key, enrolled_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (site, agent) DO UPDATE SET public_key = excluded.public_key, "
                "enrolled_at = excluded.enrolled_at, revoked_at = NULL",
                (site, agent, public_key, now),
            )

    def revoke_agent(self, site: str, agent: str, now: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE agents SET revoked_at = ? WHERE site = ? AND agent = ? AND revoked_at IS NULL",
                (now, site, agent),
            )
        return cur.rowcount > 0

    def add_pending(self, site: str, agent: str, public_key: str, host: str, now: str, limit: int) -> bool:
        """Record an enrolment request (the latest per agent); False when full or already enrolled."""
        with self._lock:
            enrolled = self._db.execute(
                "SELECT public_key FROM agents WHERE site = ? AND agent = ? AND revoked_at IS NULL",
                (site, agent),
            ).fetchone()
            if enrolled is not None and enrolled[0] == public_key:
                return False
            count = self._db.execute("SELECT COUNT(*) FROM pending_enrolments").fetchone()[0]
            exists = self._db.execute(
                "SELECT 1 FROM pending_enrolments WHERE site = ? AND agent = ?", (site, agent)
            ).fetchone()
            if exists is None and count >= limit:
                return False
            self._db.execute(
                "INSERT INTO pending_enrolments (site, agent, public_key, host, requested_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, agent) DO UPDATE SET "
                "public_key = excluded.public_key, host = excluded.host, "
                "requested_at = excluded.requested_at",
                (site, agent, public_key, host, now),
            )
        return True

    def pending(self) -> list[dict[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT site, agent, public_key, host, requested_at FROM pending_enrolments "
                "ORDER BY site, agent"
            ).fetchall()
        keys = ("site", "agent", "public_key", "host", "requested_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def approve_pending(self, site: str, agent: str, now: str) -> str | None:
        """Enrol the pending request's key; returns it, or None if there is no request."""
        with self._lock:
            row = self._db.execute(
                "SELECT public_key FROM pending_enrolments WHERE site = ? AND agent = ?", (site, agent)
            ).fetchone()
            if row is None:
                return None
            self._db.execute("DELETE FROM pending_enrolments WHERE site = ? AND agent = ?", (site, agent))
        self.add_agent(site, agent, row[0], now)
        return str(row[0])

    def agents(self) -> list[AgentRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT site, agent, public_key, enrolled_at, revoked_at FROM agents ORDER BY site, agent"
            ).fetchall()
        return [AgentRow(*row) for row in rows]

    # ingest

    def store_batch(self, envelopes: Sequence[Envelope], received_at: str) -> StoredBatch:
        """Store verified envelopes idempotently by (site, agent, boot, seq), in one transaction."""
        new: list[Envelope] = []
        duplicates: list[Envelope] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seen = self._stored_seqs(envelopes)
                for env in envelopes:
                    ident = (env.site, env.agent, env.boot, env.seq)
                    if ident in seen:
                        duplicates.append(env)
                    else:
                        seen.add(ident)
                        new.append(env)
                self._db.executemany(
                    "INSERT INTO envelopes (site, agent, boot, seq, kind, ts, received_at, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            e.site,
                            e.agent,
                            e.boot,
                            e.seq,
                            e.kind.value,
                            e.ts,
                            received_at,
                            # the signed bytes as received: evidence anyone can verify again later
                            e.raw.decode("utf-8") if e.raw else encode(e).decode("utf-8"),
                        )
                        for e in new
                    ],
                )
                self._db.executemany(
                    UPSERT_DEVICE,
                    [
                        device_row(e, e.body["device"])
                        for e in new
                        if e.kind is Kind.INVENTORY and isinstance(e.body.get("device"), dict)
                    ],
                )
                for env in new:
                    if env.kind is Kind.STATUS:
                        self._apply_status(env, received_at)
                self._touch_agents({(e.site, e.agent) for e in envelopes}, received_at)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"storing a batch of {len(envelopes)} failed: {exc}") from exc
        return StoredBatch(new=new, duplicates=duplicates)

    def _stored_seqs(self, envelopes: Sequence[Envelope]) -> set[tuple[str, str, str, int]]:
        """Which of these are already stored: one range query per (site, agent, boot)."""
        ranges: dict[tuple[str, str, str], tuple[int, int]] = {}
        for e in envelopes:
            lo, hi = ranges.get((e.site, e.agent, e.boot), (e.seq, e.seq))
            ranges[(e.site, e.agent, e.boot)] = (min(lo, e.seq), max(hi, e.seq))
        found: set[tuple[str, str, str, int]] = set()
        for (site, agent, boot), (lo, hi) in ranges.items():
            rows = self._db.execute(
                "SELECT seq FROM envelopes WHERE site = ? AND agent = ? AND boot = ? AND seq BETWEEN ? AND ?",
                (site, agent, boot, lo, hi),
            )
            found.update((site, agent, boot, seq) for (seq,) in rows)
        return found

    def _apply_status(self, env: Envelope, received_at: str) -> None:
        state = env.body.get("state")
        if isinstance(state, str):
            self._db.execute(
                "INSERT INTO agent_status (site, agent, state, reason, state_ts, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, agent) DO UPDATE SET "
                "state = excluded.state, reason = excluded.reason, state_ts = excluded.state_ts "
                "WHERE agent_status.state_ts <= excluded.state_ts",
                (env.site, env.agent, state, _text(env.body.get("reason")), env.ts, received_at),
            )

    def _touch_agents(self, agents: Iterable[tuple[str, str]], received_at: str) -> None:
        for site, agent in agents:
            self._db.execute(
                "INSERT INTO agent_status (site, agent, state, state_ts, last_seen) "
                "VALUES (?, ?, 'unknown', '', ?) ON CONFLICT (site, agent) DO UPDATE SET "
                "last_seen = excluded.last_seen",
                (site, agent, received_at),
            )

    def bump_counters(self, counts: dict[tuple[str, str, str], int]) -> None:
        if not counts:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO counters (site, agent, name, count) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (site, agent, name) DO UPDATE SET count = counters.count + excluded.count",
                    [(s, a, n, c) for (s, a, n), c in counts.items()],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"updating counters failed: {exc}") from exc

    # reads

    def counters(self) -> dict[tuple[str, str], dict[str, int]]:
        with self._lock:
            rows = self._db.execute("SELECT site, agent, name, count FROM counters").fetchall()
        result: dict[tuple[str, str], dict[str, int]] = {}
        for site, agent, name, count in rows:
            result.setdefault((site, agent), {})[name] = int(count)
        return result

    def agent_status(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT a.site, a.agent, a.revoked_at, s.state, s.reason, s.state_ts, s.last_seen "
                "FROM agents a LEFT JOIN agent_status s ON s.site = a.site AND s.agent = a.agent "
                "ORDER BY a.site, a.agent"
            ).fetchall()
        keys = ("site", "agent", "revoked_at", "state", "reason", "state_ts", "last_seen")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def devices(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(
                f"SELECT {', '.join('d.' + c for c in DEVICE_COLUMNS)}, e.payload FROM devices d "
                "JOIN envelopes e ON e.site = d.site AND e.agent = d.agent AND e.boot = d.evidence_boot "
                "AND e.seq = d.evidence_seq ORDER BY d.site, d.address, d.port"
            )
            rows = cur.fetchall()
        devices = []
        for row in rows:
            device = dict(zip(DEVICE_COLUMNS, row[:-1], strict=True))
            device["record"] = json.loads(row[-1])["body"].get("device", {})
            devices.append(device)
        return devices

    def count_envelopes(self, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                row = self._db.execute("SELECT COUNT(*) FROM envelopes").fetchone()
            else:
                row = self._db.execute("SELECT COUNT(*) FROM envelopes WHERE kind = ?", (kind,)).fetchone()
        return int(row[0])

    def envelope_bodies(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT site, agent, boot, seq, ts, payload FROM envelopes WHERE kind = ? "
                "ORDER BY site, agent, boot, seq",
                (kind,),
            ).fetchall()
        return [
            {"site": s, "agent": a, "boot": b, "seq": q, "ts": t, "body": json.loads(payload)["body"]}
            for s, a, b, q, t, payload in rows
        ]

"""SQLite store: WAL, one writer connection, batch transactions."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.wire.envelope import Envelope, Kind
from agent.wire.inventory import device_key
from collector.store.migrations import MIGRATIONS


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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
                for env in envelopes:
                    cur = self._db.execute(
                        "INSERT INTO envelopes (site, agent, boot, seq, kind, ts, received_at, body) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (
                            env.site,
                            env.agent,
                            env.boot,
                            env.seq,
                            env.kind.value,
                            env.ts,
                            received_at,
                            json.dumps(env.body, separators=(",", ":"), sort_keys=True),
                        ),
                    )
                    if cur.rowcount == 1:
                        new.append(env)
                        self._apply(env, received_at)
                    else:
                        duplicates.append(env)
                self._touch_agents({(e.site, e.agent) for e in envelopes}, received_at)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"storing a batch of {len(envelopes)} failed: {exc}") from exc
        return StoredBatch(new=new, duplicates=duplicates)

    def _apply(self, env: Envelope, received_at: str) -> None:
        if env.kind is Kind.INVENTORY:
            record = env.body.get("device")
            if isinstance(record, dict):
                self._upsert_device(env, record)
        elif env.kind is Kind.STATUS:
            state = env.body.get("state")
            if isinstance(state, str):
                self._db.execute(
                    "INSERT INTO agent_status (site, agent, state, reason, state_ts, last_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, agent) DO UPDATE SET "
                    "state = excluded.state, reason = excluded.reason, state_ts = excluded.state_ts "
                    "WHERE agent_status.state_ts <= excluded.state_ts",
                    (
                        env.site,
                        env.agent,
                        state,
                        _text(env.body.get("reason")),
                        env.ts,
                        received_at,
                    ),
                )

    def _upsert_device(self, env: Envelope, record: dict[str, Any]) -> None:
        confidence = record.get("maker_confidence")
        port = record.get("port")
        values = (
            env.site,
            device_key(record),
            env.agent,
            _text(record.get("address")),
            port if isinstance(port, int) else None,
            _text(record.get("mac")),
            _text(record.get("manufacturer")),
            _text(record.get("model")),
            _text(record.get("firmware")),
            _text(record.get("serial")),
            _text(record.get("maker")),
            _text(record.get("brand")),
            float(confidence) if isinstance(confidence, int | float) else None,
            json.dumps(record, separators=(",", ":"), sort_keys=True),
            env.ts,
            env.ts,
            env.boot,
            env.seq,
        )
        # A backlog can deliver an older record after a newer one: never let it win.
        self._db.execute(
            "INSERT INTO devices (site, device_key, agent, address, port, mac, manufacturer, model, "
            "firmware, serial, maker, brand, maker_confidence, record, first_seen, last_seen, "
            "evidence_boot, evidence_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (site, device_key) DO UPDATE SET agent = excluded.agent, "
            "address = excluded.address, port = excluded.port, mac = excluded.mac, "
            "manufacturer = excluded.manufacturer, model = excluded.model, "
            "firmware = excluded.firmware, serial = excluded.serial, maker = excluded.maker, "
            "brand = excluded.brand, maker_confidence = excluded.maker_confidence, "
            "record = excluded.record, last_seen = excluded.last_seen, "
            "evidence_boot = excluded.evidence_boot, evidence_seq = excluded.evidence_seq "
            "WHERE devices.last_seen <= excluded.last_seen",
            values,
        )
        self._db.execute(
            "UPDATE devices SET first_seen = ? WHERE site = ? AND device_key = ? AND first_seen > ?",
            (env.ts, env.site, values[1], env.ts),
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
                "SELECT site, agent, device_key, address, port, mac, manufacturer, model, firmware, "
                "serial, maker, brand, maker_confidence, first_seen, last_seen, record, "
                "evidence_boot, evidence_seq FROM devices ORDER BY site, address, port"
            )
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

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
                "SELECT site, agent, boot, seq, ts, body FROM envelopes WHERE kind = ? "
                "ORDER BY site, agent, boot, seq",
                (kind,),
            ).fetchall()
        return [
            {"site": s, "agent": a, "boot": b, "seq": q, "ts": t, "body": json.loads(body)}
            for s, a, b, q, t, body in rows
        ]

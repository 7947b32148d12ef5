"""The collector's schema: every table, in versioned migration steps; each runs once, in order.

This module owns the DDL of every table the collector keeps (envelopes, devices, agents,
violations, commands, ...); the modules that read and write them import nothing here.
``collector.store.schema`` applies the steps, one transaction each, under a lock so that
collectors started together migrate once.

Adding a table or a column (the only way to change the schema)::

    1. Append ``Migration(N + 1, "what and why", [statements...])`` to ``MIGRATIONS``, with N
       the last version. If a rebase finds another engineer's step at N + 1, renumber yours.
    2. Never edit a step that has been merged: databases in the field already ran it.
    3. Write SQL both engines accept. Column types: ``{ts}`` for a UTC timestamp and
       ``{json}`` for a JSON document; they become TEXT on SQLite and TIMESTAMPTZ / JSONB
       on PostgreSQL (``expand``). Read such values with ``collector.store.values``
       (``as_datetime``, ``as_json``): PostgreSQL hands back datetime and dict, SQLite str.
       Where the engines must differ, give ``sqlite=[...]`` and ``postgresql=[...]``
       (run after the shared statements). Filling a new table from stored rows: ``backfill``.
    4. Add an index for every query a report runs per row; test the step on both engines
       (``tests/collector/test_migrations.py``: an old schema with rows, migrated, rows intact).

``maker_confidence`` was declared REAL until PostgreSQL support: SQLite gives both names the
same (8-byte) storage, so existing SQLite files are unchanged, while PostgreSQL's REAL would
round 0.98 to 0.9800000190734863.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from collector.store import projections
from collector.store.transaction import Tx

# Column types that differ by engine, written as these tokens in the DDL.
TYPE_TOKENS = {
    "sqlite": {"{ts}": "TEXT", "{json}": "TEXT"},
    "postgresql": {"{ts}": "TIMESTAMPTZ", "{json}": "JSONB"},
}


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Sequence[str] = ()
    sqlite: Sequence[str] = field(default=())
    postgresql: Sequence[str] = field(default=())
    # Python run after the statements, in the same transaction (filling a new table from rows
    # already stored); it gets the transaction and the step's change mark.
    backfill: Callable[[Tx, int], object] | None = None

    def for_engine(self, engine: str) -> list[str]:
        """The statements to run on ``engine`` ("sqlite" or "postgresql"), types expanded."""
        extra = self.sqlite if engine == "sqlite" else self.postgresql
        return [expand(s, engine) for s in (*self.statements, *extra)]


def expand(statement: str, engine: str) -> str:
    for token, sql_type in TYPE_TOKENS[engine].items():
        statement = statement.replace(token, sql_type)
    return statement


# Step 3 as released: the violation store's tables, then kept in collector/violations.py.
_VIOLATIONS_TABLES: list[str] = [
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

# Step 4. Every time column the collector writes, by table; each held RFC 3339 text in one of
# two forms ("+00:00" from isoformat(), "Z" from the wire), which text comparison mis-orders.
_TIME_COLUMNS = {
    "agents": ("enrolled_at", "revoked_at"),
    "envelopes": ("ts", "received_at"),
    "devices": ("first_seen", "last_seen"),
    "agent_status": ("state_ts", "last_seen"),
    "pending_enrolments": ("requested_at",),
    "violations": ("first_seen", "last_seen", "accepted_until", "opened_at", "updated_at"),
    "violation_audit": ("at",),
    "policy_evaluations": ("at",),
    "commands": ("issued", "expires", "acked_at"),
}
_JSON_COLUMNS = {"violations": ("detail", "evidence"), "commands": ("params",)}
# Columns whose old rows may hold "" or unreadable text (an agent's own ts, a status never
# received): they become NULL instead of failing the migration.
_NULLABLE_TIMES = {("envelopes", "ts"), ("agent_status", "state_ts")}

# SQLite keeps TEXT, rewritten in the one form (agent.wire.timefmt: ms, "Z"); text it cannot
# read stays as it was. agent_status is rebuilt so that "no status yet" is NULL, not "".
_SQLITE_ONE_TIME_FORMAT: list[str] = [
    f"UPDATE {table} SET {col} = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', {col}), {col}) "
    f"WHERE {col} IS NOT NULL AND {col} <> ''"
    for table, cols in _TIME_COLUMNS.items()
    for col in cols
] + [
    """CREATE TABLE agent_status_v4 (
        site TEXT NOT NULL,
        agent TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        state_ts TEXT,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (site, agent)
    )""",
    "INSERT INTO agent_status_v4 SELECT site, agent, state, reason, NULLIF(state_ts, ''), last_seen "
    "FROM agent_status",
    "DROP TABLE agent_status",
    "ALTER TABLE agent_status_v4 RENAME TO agent_status",
]

# PostgreSQL: TIMESTAMPTZ and JSONB, converted in place (every row kept). The helpers live in
# pg_temp for the migration only; text that does not convert becomes NULL (times) or a JSON
# string holding the text (documents), never a failed upgrade.
_POSTGRES_TYPED: list[str] = [
    "CREATE FUNCTION pg_temp.cs_ts(t text) RETURNS timestamptz LANGUAGE plpgsql AS $f$ "
    "BEGIN RETURN NULLIF(t, '')::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END $f$",
    "CREATE FUNCTION pg_temp.cs_json(t text) RETURNS jsonb LANGUAGE plpgsql AS $f$ "
    "BEGIN RETURN t::jsonb; EXCEPTION WHEN others THEN RETURN to_jsonb(t); END $f$",
    "ALTER TABLE envelopes ALTER COLUMN ts DROP NOT NULL",
    "ALTER TABLE agent_status ALTER COLUMN state_ts DROP NOT NULL",
    *(
        f"ALTER TABLE {table} "
        + ", ".join(
            f"ALTER COLUMN {col} TYPE TIMESTAMPTZ USING "
            + (
                f"pg_temp.cs_ts({col})"
                if (table, col) in _NULLABLE_TIMES or col in ("revoked_at", "accepted_until", "acked_at")
                else f"COALESCE(pg_temp.cs_ts({col}), TIMESTAMPTZ 'epoch')"
            )
            for col in cols
        )
        for table, cols in _TIME_COLUMNS.items()
    ),
    *(
        f"ALTER TABLE {table} "
        + ", ".join(f"ALTER COLUMN {col} TYPE JSONB USING pg_temp.cs_json({col})" for col in cols)
        for table, cols in _JSON_COLUMNS.items()
    ),
    # The body as JSONB for tools (payload keeps the exact signed bytes, the evidence).
    "ALTER TABLE envelopes ADD COLUMN body JSONB",
    "UPDATE envelopes SET body = pg_temp.cs_json(payload) -> 'body'",
    "DROP FUNCTION pg_temp.cs_ts(text)",
    "DROP FUNCTION pg_temp.cs_json(text)",
]

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "agents, envelopes, devices, status, counters",
        [
            """CREATE TABLE agents (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                public_key TEXT NOT NULL,
                enrolled_at TEXT NOT NULL,
                revoked_at TEXT,
                PRIMARY KEY (site, agent)
            )""",
            """CREATE TABLE envelopes (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                boot TEXT NOT NULL,
                seq BIGINT NOT NULL,
                kind TEXT NOT NULL,
                ts TEXT NOT NULL,
                received_at TEXT NOT NULL,
                payload TEXT NOT NULL,
                PRIMARY KEY (site, agent, boot, seq)
            )""",
            "CREATE INDEX envelopes_kind ON envelopes (site, agent, kind)",
            """CREATE TABLE devices (
                site TEXT NOT NULL,
                device_key TEXT NOT NULL,
                agent TEXT NOT NULL,
                address TEXT,
                port INTEGER,
                mac TEXT,
                manufacturer TEXT,
                model TEXT,
                firmware TEXT,
                serial TEXT,
                maker TEXT,
                brand TEXT,
                maker_confidence DOUBLE PRECISION,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                evidence_boot TEXT NOT NULL,
                evidence_seq BIGINT NOT NULL,
                PRIMARY KEY (site, device_key)
            )""",
            """CREATE TABLE agent_status (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                state TEXT NOT NULL,
                reason TEXT,
                state_ts TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                PRIMARY KEY (site, agent)
            )""",
            """CREATE TABLE counters (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                name TEXT NOT NULL,
                count BIGINT NOT NULL,
                PRIMARY KEY (site, agent, name)
            )""",
        ],
    ),
    Migration(
        2,
        "enrolment requests awaiting an operator",
        [
            """CREATE TABLE pending_enrolments (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                public_key TEXT NOT NULL,
                host TEXT NOT NULL,
                requested_at TEXT NOT NULL,
                PRIMARY KEY (site, agent)
            )""",
        ],
    ),
    Migration(3, "violations, their audit trail, policy evaluations, commands", _VIOLATIONS_TABLES),
    Migration(
        4,
        "typed times and JSON on PostgreSQL, one time format on SQLite, indexes for reports",
        [
            "CREATE INDEX violations_rule_state ON violations (rule, state)",
            "CREATE INDEX commands_action ON commands (action, site, agent, id)",
            "CREATE INDEX devices_last_seen ON devices (site, last_seen)",
        ],
        sqlite=_SQLITE_ONE_TIME_FORMAT,
        postgresql=_POSTGRES_TYPED,
    ),
    Migration(
        5,
        "the imported asset register (collector.register), replaced whole on each import",
        [
            """CREATE TABLE register_assets (
                asset_tag TEXT PRIMARY KEY,
                site TEXT NOT NULL,
                make TEXT NOT NULL,
                model TEXT NOT NULL,
                serial TEXT NOT NULL,
                mac TEXT NOT NULL,
                ip TEXT NOT NULL,
                purchase_date TEXT NOT NULL,
                supplier TEXT NOT NULL,
                line INTEGER NOT NULL,
                source TEXT NOT NULL,
                imported_at {ts} NOT NULL
            )""",
        ],
    ),
    Migration(
        6,
        "daily snapshots of restricted devices per site, the removal plan's progress",
        [
            """CREATE TABLE removal_snapshots (
                day VARCHAR(10) NOT NULL,
                site VARCHAR(64) NOT NULL,
                department TEXT NOT NULL,
                restricted INTEGER NOT NULL,
                prohibited INTEGER NOT NULL,
                taken_at {ts} NOT NULL,
                PRIMARY KEY (day, site)
            )""",
        ],
    ),
    Migration(
        7,
        "web view accounts (Argon2id hashes)",
        [
            """CREATE TABLE web_users (
                username VARCHAR(64) PRIMARY KEY,
                role VARCHAR(16) NOT NULL,
                password_hash TEXT NOT NULL,
                created_at {ts} NOT NULL
            )""",
        ],
    ),
    Migration(
        8,
        "web view sessions (SHA-256 of the token only)",
        [
            """CREATE TABLE web_sessions (
                token_hash VARCHAR(64) PRIMARY KEY,
                username VARCHAR(64) NOT NULL,
                csrf VARCHAR(64) NOT NULL,
                created_at {ts} NOT NULL,
                expires_at {ts} NOT NULL
            )""",
            "CREATE INDEX web_sessions_user ON web_sessions (username)",
        ],
    ),
    Migration(
        9,
        "web view audit trail: logins, refusals, actions, downloads under the logged-in name",
        [
            """CREATE TABLE web_audit (
                at {ts} NOT NULL,
                username VARCHAR(64) NOT NULL,
                action VARCHAR(32) NOT NULL,
                target TEXT NOT NULL,
                detail TEXT NOT NULL,
                client TEXT NOT NULL
            )""",
            "CREATE INDEX web_audit_at ON web_audit (at)",
        ],
    ),
    Migration(
        10,
        "imported vulnerability data (KEV catalogue, CVE JSON 5 records) and the centre's verdicts",
        [
            """CREATE TABLE vulndb_kev (
                cve TEXT PRIMARY KEY,
                vendor TEXT NOT NULL,
                product TEXT NOT NULL,
                date_added TEXT NOT NULL,
                catalog_version TEXT NOT NULL,
                imported_at {ts} NOT NULL
            )""",
            """CREATE TABLE vulndb_cve (
                cve TEXT PRIMARY KEY,
                date_updated TEXT NOT NULL,
                record {json} NOT NULL,
                imported_at {ts} NOT NULL
            )""",
            """CREATE TABLE vulndb_imports (
                imported_at {ts} NOT NULL,
                kind TEXT NOT NULL,
                source TEXT NOT NULL,
                version TEXT NOT NULL,
                entries INTEGER NOT NULL,
                digest TEXT NOT NULL
            )""",
            """CREATE TABLE device_verdicts (
                site TEXT NOT NULL,
                device_key TEXT NOT NULL,
                tables_version TEXT NOT NULL,
                record_fingerprint TEXT NOT NULL,
                verdict {json} NOT NULL,
                judged_at {ts} NOT NULL,
                PRIMARY KEY (site, device_key)
            )""",
        ],
    ),
    Migration(
        11,
        "alert queue (collector.alerts.queue), operator commands queued for the service and its "
        "heartbeat (collector.cmdqueue)",
        [
            # One row per (alert, sink); due_at (epoch seconds) schedules retries, ord keeps order.
            """CREATE TABLE alert_queue (
                id VARCHAR(32) PRIMARY KEY,
                sink VARCHAR(16) NOT NULL,
                kind VARCHAR(16) NOT NULL,
                event VARCHAR(16) NOT NULL,
                rule VARCHAR(64) NOT NULL,
                site VARCHAR(64) NOT NULL,
                severity VARCHAR(16) NOT NULL,
                payload {json} NOT NULL,
                created_at {ts} NOT NULL,
                state VARCHAR(16) NOT NULL,
                attempts INTEGER NOT NULL,
                due_at DOUBLE PRECISION NOT NULL,
                ord BIGINT NOT NULL,
                last_error TEXT,
                done_at {ts}
            )""",
            "CREATE INDEX alert_queue_due ON alert_queue (state, sink, due_at)",
            """CREATE TABLE command_queue (
                site VARCHAR(64) NOT NULL,
                agent VARCHAR(64) NOT NULL,
                id INTEGER NOT NULL,
                queued_at {ts} NOT NULL,
                sent_at {ts},
                PRIMARY KEY (site, agent, id)
            )""",
            "CREATE INDEX command_queue_unsent ON command_queue (sent_at)",
            """CREATE TABLE collector_heartbeat (
                name VARCHAR(128) PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                beat_at DOUBLE PRECISION NOT NULL
            )""",
        ],
    ),
    Migration(
        12,
        "projections kept at ingest (flows, agent health), change marks, retention",
        [
            # One row per flow an agent reported: the newest finding (counters are cumulative),
            # the earliest first_seen, and the newest envelopes that carried it.
            """CREATE TABLE flows (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                device TEXT NOT NULL,
                destination TEXT NOT NULL,
                port INTEGER NOT NULL,
                protocol TEXT NOT NULL,
                first_seen {ts},
                last_seen {ts},
                count BIGINT NOT NULL,
                bytes BIGINT,
                record {json} NOT NULL,
                evidence {json} NOT NULL,
                changed BIGINT NOT NULL,
                PRIMARY KEY (site, agent, device, destination, port, protocol)
            )""",
            "CREATE INDEX flows_changed ON flows (changed)",
            """CREATE TABLE agent_health (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                ts {ts},
                boot TEXT NOT NULL,
                seq BIGINT NOT NULL,
                body {json} NOT NULL,
                changed BIGINT NOT NULL,
                PRIMARY KEY (site, agent)
            )""",
            # The change mark of the write that last touched a row (see collector.store.changes).
            "ALTER TABLE devices ADD COLUMN changed BIGINT NOT NULL DEFAULT 0",
            "CREATE INDEX devices_changed ON devices (changed)",
            "ALTER TABLE agent_status ADD COLUMN changed BIGINT NOT NULL DEFAULT 0",
            "CREATE TABLE change_counter (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)",
            "INSERT INTO change_counter (id, value) VALUES (1, 0)",
            # Envelopes something outside the store points at (a report, an export): never pruned.
            """CREATE TABLE evidence_holds (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                boot TEXT NOT NULL,
                seq BIGINT NOT NULL,
                held_by TEXT NOT NULL,
                held_at {ts} NOT NULL,
                PRIMARY KEY (site, agent, boot, seq, held_by)
            )""",
            "CREATE INDEX envelopes_received ON envelopes (received_at)",
            # Per (site, agent, boot), the highest seq retention deleted: a replay of a pruned
            # envelope is still a duplicate.
            """CREATE TABLE pruned (
                site TEXT NOT NULL,
                agent TEXT NOT NULL,
                boot TEXT NOT NULL,
                up_to BIGINT NOT NULL,
                PRIMARY KEY (site, agent, boot)
            )""",
        ],
        backfill=projections.rebuild,
    ),
    Migration(
        13,
        "indexes: evidence looked up by (agent, boot, seq); retention pages in received order",
        [
            "CREATE INDEX envelopes_ref ON envelopes (agent, boot, seq)",
            # Retention pages by (received_at, key): the whole key in the index lets each page
            # start where the last ended instead of reading the pruned range again.
            "DROP INDEX envelopes_received",
            "CREATE INDEX envelopes_received ON envelopes (received_at, site, agent, boot, seq)",
        ],
    ),
    Migration(
        14,
        "schema_version.applied_at as TIMESTAMPTZ on PostgreSQL",
        postgresql=[
            "ALTER TABLE schema_version ALTER COLUMN applied_at DROP DEFAULT, "
            "ALTER COLUMN applied_at TYPE TIMESTAMPTZ USING applied_at::timestamptz, "
            "ALTER COLUMN applied_at SET DEFAULT CURRENT_TIMESTAMP",
        ],
    ),
]

LATEST_VERSION = MIGRATIONS[-1].version

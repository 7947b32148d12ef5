"""Versioned schema migrations; each runs once, in order, inside a transaction.

Statements are kept to SQL that SQLite and PostgreSQL both accept. ``maker_confidence`` was
declared REAL until PostgreSQL support: SQLite gives both names the same (8-byte) storage, so
existing SQLite files are unchanged, while PostgreSQL's REAL would round 0.98 to 0.9800000190734863.
"""

from __future__ import annotations

from collector.violations import VIOLATIONS_SCHEMA

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
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
    (
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
    (3, "violations, their audit trail, policy evaluations, commands", list(VIOLATIONS_SCHEMA)),
]

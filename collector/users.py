"""Local accounts, sessions and the web audit trail, kept in the collector's database.

Passwords are stored only as Argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended option). A session is a random token the browser holds; the database keeps its
SHA-256 only, so a copy of the database does not log anyone in. Roles: ``viewer`` reads,
``operator`` also changes violations and sends quarantine commands.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agent.runtime.errors import CamsentryError
from agent.wire.timefmt import format_utc
from collector.store.transaction import Database
from collector.store.values import as_datetime, as_time_text

MIN_PASSWORD_CHARS = 12
SESSION_LIFETIME = timedelta(hours=8)  # a working day; log in again tomorrow
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


class UserError(CamsentryError):
    """A bad user name, a weak password, an account that exists already or does not exist."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    created_at: str


@dataclass(frozen=True)
class Session:
    username: str
    role: Role
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class AuditEvent:
    at: str
    username: str
    action: str
    target: str
    detail: str
    client: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    def __init__(self, db: Database, *, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def _dummy_hash(self) -> str:
        """Verified against when the name is unknown, so a wrong name costs what a wrong password does."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_hex(16))
        return self._dummy

    def _run(self, sql: str, params: Sequence[Any] = (), *, fetch: bool = False) -> list[Any]:
        if fetch:
            return self.db.read("reading web accounts", sql, params)
        with self.db.transaction("writing web accounts") as tx:
            tx.execute(sql, params)
        return []

    # accounts

    def add(self, username: str, role: Role, password: str, *, now: datetime) -> User:
        if not _NAME.match(username):
            raise UserError(f"user name {username!r}: use 1-64 of A-Z a-z 0-9 _ . @ -")
        if len(password) < MIN_PASSWORD_CHARS:
            raise UserError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
        if self._run("SELECT 1 FROM web_users WHERE username = ?", (username,), fetch=True):
            raise UserError(f"user {username!r} exists already")
        self._run(
            "INSERT INTO web_users (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (username, role.value, self.hasher.hash(password), format_utc(now)),
        )
        return User(username, role, format_utc(now))

    def remove(self, username: str) -> None:
        if not self._run("SELECT 1 FROM web_users WHERE username = ?", (username,), fetch=True):
            raise UserError(f"no user {username!r}")
        self._run("DELETE FROM web_sessions WHERE username = ?", (username,))
        self._run("DELETE FROM web_users WHERE username = ?", (username,))

    def users(self) -> list[User]:
        rows = self._run("SELECT username, role, created_at FROM web_users ORDER BY username", fetch=True)
        return [User(u, Role(r), as_time_text(c) or "") for u, r, c in rows]

    def authenticate(self, username: str, password: str) -> User | None:
        rows = self._run(
            "SELECT role, password_hash, created_at FROM web_users WHERE username = ?",
            (username,),
            fetch=True,
        )
        stored = rows[0][1] if rows else self._dummy_hash()
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        return User(username, Role(rows[0][0]), as_time_text(rows[0][2]) or "")

    # sessions

    def open_session(self, user: User, *, now: datetime) -> tuple[str, Session]:
        """A new session; returns the token for the cookie (kept nowhere else) and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(user.username, user.role, secrets.token_urlsafe(32), now + SESSION_LIFETIME)
        self._run(
            "INSERT INTO web_sessions (token_hash, username, csrf, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                _hash_token(token),
                user.username,
                session.csrf,
                format_utc(now),
                format_utc(session.expires_at),
            ),
        )
        return token, session

    def session(self, token: str, *, now: datetime) -> Session | None:
        rows = self._run(
            "SELECT s.username, u.role, s.csrf, s.expires_at FROM web_sessions s "
            "JOIN web_users u ON u.username = s.username WHERE s.token_hash = ?",
            (_hash_token(token),),
            fetch=True,
        )
        if not rows:
            return None
        username, role, csrf, expires = rows[0]
        expires_at = as_datetime(expires)
        if expires_at is None or expires_at <= now:
            self.close_session(token)
            return None
        return Session(username, Role(role), csrf, expires_at)

    def close_session(self, token: str) -> None:
        self._run("DELETE FROM web_sessions WHERE token_hash = ?", (_hash_token(token),))

    # audit

    def record(
        self, username: str, action: str, target: str, detail: str, client: str, *, now: datetime
    ) -> None:
        self._run(
            "INSERT INTO web_audit (at, username, action, target, detail, client) VALUES (?, ?, ?, ?, ?, ?)",
            (format_utc(now), username, action, target, detail, client),
        )

    def audit(self, limit: int = 200) -> list[AuditEvent]:
        rows = self._run(
            "SELECT at, username, action, target, detail, client FROM web_audit "
            f"ORDER BY at DESC LIMIT {int(limit)}",
            fetch=True,
        )
        return [AuditEvent(as_time_text(at) or "", *rest) for at, *rest in rows]

"""WS-Security UsernameToken checking as a camera does it (pure; time is passed in).

PasswordDigest = Base64(SHA-1(nonce + created + password)) (OASIS UsernameToken Profile 1.0 §3.1).
A sound camera checks the digest, requires ``Created`` within a freshness window of its own clock and
refuses a nonce it has already seen inside that window. A replay-vulnerable one (CVE-2022-30563 class)
checks only the digest, so a sniffed header works again and again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

_UT_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_DIGEST = _UT_PROFILE + "#PasswordDigest"
PASSWORD_TEXT = _UT_PROFILE + "#PasswordText"
# Bound on remembered nonces per camera; a flood of fresh nonces evicts the oldest, never grows memory.
MAX_NONCES = 1024


class AuthOutcome(StrEnum):
    OK = "ok"
    MISSING = "missing"
    UNKNOWN_USER = "unknown_user"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - an outcome name
    MALFORMED = "malformed"
    STALE = "stale"  # Created older than the freshness window
    FUTURE = "future"  # Created ahead of the camera's clock by more than the window
    REPLAY = "replay"  # nonce already used


@dataclass(frozen=True)
class UsernameToken:
    username: str
    password: str
    password_type: str
    nonce: str | None
    created: str | None


def digest(nonce: bytes, created: str, password: str) -> str:
    """The PasswordDigest value for these inputs."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()  # noqa: S324


def parse_created(text: str) -> datetime | None:
    """xs:dateTime as cameras accept it: ``Z`` or an offset, optional fraction; None when unreadable."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


class NonceCache:
    """Nonces seen recently, bounded by count; entries older than the window are forgotten."""

    def __init__(self, max_entries: int = MAX_NONCES) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries

    def seen_before(self, nonce: str, now: float, window_s: float) -> bool:
        """True if ``nonce`` was used within ``window_s``; records it either way."""
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= window_s and len(self._seen) < self._max:
                break
            del self._seen[oldest]
        if nonce in self._seen:
            return True
        self._seen[nonce] = now
        return False

    def __len__(self) -> int:
        return len(self._seen)


def check_token(
    token: UsernameToken | None,
    *,
    username: str,
    password: str,
    now: datetime,
    window_s: float,
    nonces: NonceCache | None,
) -> AuthOutcome:
    """Judge a token against the camera's credentials and clock; ``nonces=None`` means no replay check."""
    if token is None:
        return AuthOutcome.MISSING
    if token.username != username:
        return AuthOutcome.UNKNOWN_USER
    if token.password_type == PASSWORD_TEXT or (not token.password_type and token.nonce is None):
        ok = hmac.compare_digest(token.password.encode(), password.encode())
        return AuthOutcome.OK if ok else AuthOutcome.BAD_PASSWORD
    if token.password_type != PASSWORD_DIGEST or token.nonce is None or token.created is None:
        return AuthOutcome.MALFORMED
    try:
        nonce = base64.b64decode(token.nonce, validate=True)
    except (binascii.Error, ValueError):
        return AuthOutcome.MALFORMED
    if not hmac.compare_digest(digest(nonce, token.created, password), token.password.strip()):
        return AuthOutcome.BAD_PASSWORD
    if nonces is None:
        return AuthOutcome.OK
    created = parse_created(token.created)
    if created is None:
        return AuthOutcome.MALFORMED
    age = (now - created).total_seconds()
    if age > window_s:
        return AuthOutcome.STALE
    if age < -window_s:
        return AuthOutcome.FUTURE
    if nonces.seen_before(token.nonce, now.timestamp(), 2 * window_s):
        return AuthOutcome.REPLAY
    return AuthOutcome.OK

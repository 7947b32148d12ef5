"""Pure checks of the UsernameToken verifier with an injected clock (no network)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from simulator.wsse import (
    PASSWORD_DIGEST,
    PASSWORD_TEXT,
    AuthOutcome,
    NonceCache,
    UsernameToken,
    check_token,
    digest,
    parse_created,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def token(
    created: str = "2026-01-02T03:04:05Z", nonce: bytes = b"n" * 16, pw: str = "secret"
) -> UsernameToken:
    return UsernameToken(
        "admin", digest(nonce, created, pw), PASSWORD_DIGEST, base64.b64encode(nonce).decode(), created
    )


def check(tok: UsernameToken | None, nonces: NonceCache | None = None, now: datetime = NOW) -> AuthOutcome:
    return check_token(tok, username="admin", password="secret", now=now, window_s=300, nonces=nonces)


def test_digest_matches_the_oasis_example_shape() -> None:
    # Independent re-computation: SHA-1 over nonce || created || password, base64.
    import hashlib

    expected = base64.b64encode(hashlib.sha1(b"abc" + b"2020-01-01T00:00:00Z" + b"pw").digest()).decode()  # noqa: S324
    assert digest(b"abc", "2020-01-01T00:00:00Z", "pw") == expected


def test_outcomes() -> None:
    assert check(None) is AuthOutcome.MISSING
    assert check(token(), NonceCache()) is AuthOutcome.OK
    assert check(token(pw="nope"), NonceCache()) is AuthOutcome.BAD_PASSWORD
    assert check(token(created="2026-01-02T02:00:00Z"), NonceCache()) is AuthOutcome.STALE
    assert check(token(created="2026-01-02T04:00:00+00:00"), NonceCache()) is AuthOutcome.FUTURE
    assert check(token(created="yesterday"), NonceCache()) is AuthOutcome.MALFORMED
    bad_nonce = UsernameToken("admin", "x", PASSWORD_DIGEST, "***", "2026-01-02T03:04:05Z")
    assert check(bad_nonce, NonceCache()) is AuthOutcome.MALFORMED
    assert check(UsernameToken("root", "x", PASSWORD_DIGEST, None, None)) is AuthOutcome.UNKNOWN_USER
    assert check(UsernameToken("admin", "secret", PASSWORD_TEXT, None, None)) is AuthOutcome.OK
    assert check(UsernameToken("admin", "secrex", PASSWORD_TEXT, None, None)) is AuthOutcome.BAD_PASSWORD


def test_nonce_reuse_refused_within_window_and_not_checked_without_cache() -> None:
    cache = NonceCache()
    assert check(token(), cache) is AuthOutcome.OK
    assert check(token(), cache) is AuthOutcome.REPLAY
    assert check(token(), None) is AuthOutcome.OK  # the replay-vulnerable camera
    assert check(token(created="2025-01-01T00:00:00Z"), None) is AuthOutcome.OK


def test_nonce_cache_is_bounded_and_forgets_old_entries() -> None:
    cache = NonceCache(max_entries=8)
    for i in range(100):
        cache.seen_before(f"n{i}", now=float(i), window_s=1000)
    assert len(cache) <= 8
    cache2 = NonceCache()
    cache2.seen_before("a", now=0.0, window_s=10)
    assert not cache2.seen_before("b", now=100.0, window_s=10)
    assert len(cache2) == 1


def test_created_formats_cameras_accept() -> None:
    assert parse_created("2026-01-02T03:04:05.123Z") == NOW + timedelta(microseconds=123000)
    assert parse_created("2026-01-02T03:04:05+00:00") == NOW
    assert parse_created("2026-01-02T03:04:05") == NOW
    assert parse_created("garbage") is None

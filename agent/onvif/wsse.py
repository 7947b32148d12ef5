"""WS-Security UsernameToken with PasswordDigest, timestamped on the camera's clock (pure)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.wire.timefmt import format_utc

WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)
NONCE_ENCODING = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)


@dataclass(frozen=True)
class TokenValues:
    """What one UsernameToken carries; replaying the same values is the replay check."""

    username: str
    digest: str
    nonce_b64: str
    created: str

    def __repr__(self) -> str:
        return f"TokenValues(username={self.username!r}, created={self.created!r})"


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)), WSS UsernameToken Profile 1.0 section 3.1."""
    sha = hashlib.sha1(nonce + created.encode() + password.encode(), usedforsecurity=False)
    return base64.b64encode(sha.digest()).decode()


def make_token(
    username: str,
    password: str,
    *,
    now: datetime,
    offset_s: float,
    nonce: bytes | None = None,
) -> TokenValues:
    """A token stamped ``now + offset_s``: the time on the camera's clock, not ours."""
    nonce = os.urandom(16) if nonce is None else nonce
    # ``Z``, not ``+00:00``: some Hikvision firmware rejects the latter (DESIGN.md field notes).
    created = format_utc(now + timedelta(seconds=offset_s))
    return TokenValues(
        username=username,
        digest=password_digest(nonce, created, password),
        nonce_b64=base64.b64encode(nonce).decode(),
        created=created,
    )

"""HTTP Digest authentication (RFC 7616, MD5 and SHA-256; qop=auth) for cameras that ask for it
with a 401 instead of (or on top of) WS-Security. Pure: challenge in, header value out."""

from __future__ import annotations

import hashlib
import re

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_challenge(header: str) -> dict[str, str] | None:
    """``Digest realm="x", nonce="y", qop="auth"`` into lower-case keys; None if not Digest."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return params if "nonce" in params and "realm" in params else None


def digest_authorization(
    challenge: dict[str, str],
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
) -> str | None:
    """The ``Authorization`` value answering ``challenge``; None for algorithms we do not speak."""
    algorithm = challenge.get("algorithm", "MD5").upper()
    hasher = _HASHES.get(algorithm)
    if hasher is None:
        return None

    def h(text: str) -> str:
        return hasher(text.encode(), usedforsecurity=False).hexdigest()

    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = h(f"{username}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        count = f"{nc:08x}"
        response = h(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    elif qops:
        return None  # auth-int only: would need the body hashed; no camera seen asks for it
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    if "algorithm" in challenge:
        parts.append(f"algorithm={algorithm}")
    return "Digest " + ", ".join(parts)

"""Enrolment requests: an agent that is not yet enrolled asks to be, signed with its own key.

Topic ``camsentry/v1/<site>/<agent>/enrol``. The signature proves the requester holds the
key it names; it proves nothing about who the requester is. That is the operator's call:
``camsentry-collector agents pending`` shows each request's key fingerprint, which the
installer reads off the box (``camsentry-agent keygen`` prints it) before approving.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.canonical import canonical_json
from agent.wire.envelope import WIRE_VERSION
from agent.wire.jsonload import JSON_DECODE_ERRORS, load_untrusted
from agent.wire.signing import (
    KeyFormatError,
    public_key_from_text,
    public_key_to_text,
    sign_document,
    verify_document,
)
from agent.wire.timefmt import format_utc

ENROL_KIND = "enrol"
MAX_ENROL_BYTES = 4096


@dataclass(frozen=True)
class EnrolRequest:
    site: str
    agent: str
    public_key: str
    host: str
    ts: str

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_key)


def key_fingerprint(public_key: str) -> str:
    """Short, readable digest of a public key for people to compare: SHA-256, first 16 hex, grouped."""
    digest = hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]
    return ":".join(digest[i : i + 4] for i in range(0, 16, 4))


def seal_enrol(key: Ed25519PrivateKey, *, site: str, agent: str, host: str, now: datetime) -> bytes:
    fields = {
        "v": WIRE_VERSION,
        "site": site,
        "agent": agent,
        "public_key": public_key_to_text(key.public_key()),
        "host": host[:255],
        "ts": format_utc(now),
    }
    return canonical_json(sign_document(key, fields))


def open_enrol(payload: bytes) -> EnrolRequest | None:
    """A request whose signature matches the key it carries; None for anything else."""
    if len(payload) > MAX_ENROL_BYTES:
        return None
    try:
        doc = load_untrusted(payload)
    except JSON_DECODE_ERRORS:
        return None
    if not isinstance(doc, dict) or doc.get("v") != WIRE_VERSION:
        return None
    fields = ("site", "agent", "public_key", "host", "ts")
    if not all(isinstance(doc.get(f), str) for f in fields):
        return None
    try:
        key = public_key_from_text(doc["public_key"])
    except KeyFormatError:
        return None
    if not verify_document(key, doc):
        return None
    return EnrolRequest(**{f: doc[f] for f in fields})

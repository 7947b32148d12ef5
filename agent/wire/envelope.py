"""Telemetry envelopes: build and sign (agent), decode and verify (collector). Pure functions."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.wire.canonical import canonical_json
from agent.wire.errors import RejectReason, WireError
from agent.wire.jsonload import JSON_DECODE_ERRORS, load_untrusted
from agent.wire.signing import SIG_FIELD, verify_document
from agent.wire.timefmt import format_utc
from agent.wire.topics import TopicParts

WIRE_VERSION = 1
# DESIGN.md: oversize payloads are refused; 256 KiB unless the collector is configured otherwise.
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024


_SITE_MARK = b',"site":"'


class Kind(StrEnum):
    BIRTH = "birth"
    INVENTORY = "inventory"
    FLOW = "flow"
    HEALTH = "health"
    ACK = "ack"
    STATUS = "status"


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "agent": str,
    "site": str,
    "boot": str,
    "seq": int,
    "ts": str,
    "kind": str,
    "body": dict,
    SIG_FIELD: str,
}
_FIELD_NAMES = frozenset(_FIELDS)
_KINDS = {k.value: k for k in Kind}


@dataclass(frozen=True)
class Envelope:
    v: int
    agent: str
    site: str
    boot: str
    seq: int
    ts: str
    kind: Kind
    body: dict[str, Any]
    sig: str
    # The payload it was decoded from, kept for the fast signature check and as stored evidence.
    raw: bytes = field(default=b"", compare=False, repr=False)

    def as_document(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "agent": self.agent,
            "site": self.site,
            "boot": self.boot,
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind.value,
            "body": self.body,
            SIG_FIELD: self.sig,
        }


def seal(
    key: Ed25519PrivateKey,
    *,
    agent: str,
    site: str,
    boot: str,
    seq: int,
    ts: datetime,
    kind: Kind,
    body: dict[str, Any],
) -> Envelope:
    """Build and sign one envelope."""
    if seq < 1:
        raise ValueError("seq starts at 1")
    fields: dict[str, Any] = {
        "v": WIRE_VERSION,
        "agent": agent,
        "site": site,
        "boot": boot,
        "seq": seq,
        "ts": format_utc(ts),
        "kind": kind.value,
        "body": body,
    }
    unsigned = canonical_json(fields)
    sig = base64.b64encode(key.sign(unsigned)).decode("ascii")
    # Canonical order puts "sig" just before "site", the last top-level `,"site":"` in the text;
    # splicing it in is the same bytes as encoding the whole document again, at a fraction of the cost.
    cut = unsigned.rfind(_SITE_MARK)
    payload = unsigned[:cut] + b',"sig":"' + sig.encode("ascii") + b'"' + unsigned[cut:]
    return Envelope(
        v=WIRE_VERSION,
        agent=agent,
        site=site,
        boot=boot,
        seq=seq,
        ts=str(fields["ts"]),
        kind=kind,
        body=body,
        sig=sig,
        raw=payload,
    )


def encode(envelope: Envelope) -> bytes:
    """The payload: the bytes it was sealed or received as, else its canonical JSON."""
    return envelope.raw or canonical_json(envelope.as_document())


def decode(payload: bytes, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Envelope:
    """Parse a payload into an unverified Envelope; the size check comes before any parsing."""
    if len(payload) > max_bytes:
        raise WireError(RejectReason.OVERSIZE, f"{len(payload)} bytes > {max_bytes}")
    try:
        document = load_untrusted(payload)
    except JSON_DECODE_ERRORS as exc:
        raise WireError(RejectReason.MALFORMED_JSON, str(exc)[:200]) from exc
    if not isinstance(document, dict):
        raise WireError(RejectReason.MALFORMED_JSON, "payload is not a JSON object")
    version = document.get("v")
    if type(version) is not int:
        raise WireError(RejectReason.MALFORMED_ENVELOPE, "field v missing or not an integer")
    if version != WIRE_VERSION:
        raise WireError(RejectReason.UNKNOWN_VERSION, f"v={version}")
    for name, expected in _FIELDS.items():
        value = document.get(name)
        # bool is an int subclass; a seq of true is malformed, not 1.
        if not isinstance(value, expected) or isinstance(value, bool):
            raise WireError(RejectReason.MALFORMED_ENVELOPE, f"field {name} missing or wrong type")
    if len(document) != len(_FIELD_NAMES):  # every field is present, so more means extras
        extra = sorted(document.keys() - _FIELD_NAMES)
        raise WireError(RejectReason.MALFORMED_ENVELOPE, f"unexpected fields {extra}")
    kind = _KINDS.get(document["kind"])
    if kind is None:
        raise WireError(RejectReason.MALFORMED_ENVELOPE, "unknown kind")
    if document["seq"] < 1:
        raise WireError(RejectReason.MALFORMED_ENVELOPE, "seq must be >= 1")
    document["kind"] = kind
    return Envelope(**document, raw=payload)


_SIG_MARK = b',"' + SIG_FIELD.encode() + b'":"'


def signed_bytes(payload: bytes) -> tuple[bytes, str] | None:
    """Cut the top-level signature out of a canonical payload: (signed bytes, signature).

    In canonical JSON the top-level ``sig`` member is the last ``,"sig":"`` in the text:
    only ``site``, ``ts`` and ``v`` follow it, and a string cannot hold an unescaped quote.
    For a payload that is not canonical the cut is simply wrong and verification falls back.
    """
    start = payload.rfind(_SIG_MARK)
    if start < 0:
        return None
    value_start = start + len(_SIG_MARK)
    end = payload.find(b'"', value_start)
    if end < 0:
        return None
    return payload[:start] + payload[end + 1 :], payload[value_start:end].decode("ascii", "replace")


def check_topic(envelope: Envelope, parts: TopicParts) -> None:
    """The topic must name the same site, agent and kind as the signed body."""
    if (envelope.site, envelope.agent, envelope.kind.value) != (
        parts.site,
        parts.agent,
        parts.kind,
    ):
        raise WireError(
            RejectReason.TOPIC_MISMATCH,
            f"topic says {parts.site}/{parts.agent}/{parts.kind}, "
            f"body says {envelope.site}/{envelope.agent}/{envelope.kind.value}",
        )


def verify(envelope: Envelope, public_key: Ed25519PublicKey) -> None:
    """Check the signature; from the received bytes when canonical, else by re-encoding."""
    cut = signed_bytes(envelope.raw) if envelope.raw else None
    if cut is not None and cut[1] == envelope.sig:
        try:
            public_key.verify(base64.b64decode(envelope.sig, validate=True), cut[0])
            return
        except (InvalidSignature, ValueError, binascii.Error):
            pass  # not canonical, or not genuine: the full check below decides
    if not verify_document(public_key, envelope.as_document()):
        raise WireError(
            RejectReason.BAD_SIGNATURE, f"{envelope.agent} boot={envelope.boot} seq={envelope.seq}"
        )

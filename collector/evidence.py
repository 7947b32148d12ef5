"""Evidence bundles: the signed envelopes behind a figure plus the agents' public keys, checked
offline by someone who does not trust the collector.

A bundle is one JSON document::

    {"format": "camsentry-evidence/1", "created_at": ..., "subject": {...},
     "agents": [{"site", "agent", "public_key", "fingerprint"}],
     "envelopes": ["<payload exactly as the agent signed it>", ...]}

``verify_bundle`` needs nothing but this file: it decodes each payload with the wire contract,
finds its agent's key in the bundle and checks the Ed25519 signature. Compare the printed key
fingerprints with the ones the agents' boxes show (``camsentry-agent keygen``); a bundle whose
keys you have not compared proves only that its envelopes are consistent with its own keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.wire.enrol import key_fingerprint
from agent.wire.envelope import decode, verify
from agent.wire.errors import WireError
from agent.wire.signing import KeyFormatError, public_key_from_text
from agent.wire.timefmt import format_utc
from collector.reports.refs import EnvelopeRef
from collector.store.transaction import Database

FORMAT = "camsentry-evidence/1"
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
# An envelope is at most 256 KiB by default; a bundle can hold envelopes from any collector config.
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024


class BundleError(ValueError):
    """The file is not an evidence bundle this version can read."""


@dataclass(frozen=True)
class StoredEnvelope:
    site: str
    agent: str
    boot: str
    seq: int
    kind: str
    payload: str


def envelopes_for_refs(db: Database, refs: Iterable[EnvelopeRef]) -> list[StoredEnvelope]:
    out: dict[tuple[str, str, int], StoredEnvelope] = {}
    for ref in sorted(set(refs)):
        rows = db.read(
            "reading evidence envelopes",
            "SELECT site, agent, boot, seq, kind, payload FROM envelopes "
            "WHERE agent = ? AND boot = ? AND seq = ?",
            (ref.agent, ref.boot, ref.seq),
        )
        for s, a, b, q, k, p in rows:
            out[(a, b, int(q))] = StoredEnvelope(s, a, b, int(q), k, p)
    return [out[k] for k in sorted(out)]


def envelopes_for_device(db: Database, site: str, device_key: str) -> list[StoredEnvelope]:
    """Every inventory envelope that reported this device (its full history, oldest first)."""
    # The body's device key, read by the database itself (PostgreSQL keeps the body as JSONB).
    key = "body ->> 'key'" if db.engine == "postgresql" else "json_extract(payload, '$.body.key')"
    rows = db.read(
        "reading a device's envelopes",
        "SELECT site, agent, boot, seq, kind, payload FROM envelopes "
        f"WHERE site = ? AND kind = 'inventory' AND {key} = ?",
        (site, device_key),
    )
    out = []
    for s, a, b, q, k, p in rows:
        try:
            body = json.loads(p).get("body", {})
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("key") == device_key:
            out.append(StoredEnvelope(s, a, b, int(q), k, p))
    return sorted(out, key=lambda e: (e.agent, e.boot, e.seq))


def build_bundle(
    envelopes: Sequence[StoredEnvelope],
    agent_keys: dict[tuple[str, str], str],
    *,
    subject: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The bundle document: the envelopes as stored (the signed bytes) and the keys that signed them."""
    agents = sorted({(e.site, e.agent) for e in envelopes})
    return {
        "format": FORMAT,
        "created_at": format_utc(now),
        "subject": subject,
        "agents": [
            {
                "site": site,
                "agent": agent,
                "public_key": agent_keys.get((site, agent), ""),
                "fingerprint": key_fingerprint(agent_keys[(site, agent)])
                if (site, agent) in agent_keys
                else "",
            }
            for site, agent in agents
        ],
        "envelopes": [e.payload for e in envelopes],
    }


@dataclass(frozen=True)
class Check:
    ref: str
    ok: bool
    why: str = ""


@dataclass(frozen=True)
class Verdict:
    subject: dict[str, Any]
    agents: tuple[dict[str, str], ...]
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def load_bundle(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"bundle larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BundleError(f"not a {FORMAT} bundle")
    if not isinstance(doc.get("envelopes"), list) or not isinstance(doc.get("agents"), list):
        raise BundleError("bundle lacks its envelopes or agents list")
    return doc


def verify_bundle(doc: dict[str, Any]) -> Verdict:
    """Check every envelope's signature against its agent's key in the bundle. Pure."""
    keys: dict[tuple[str, str], Any] = {}
    agents: list[dict[str, str]] = []
    for entry in doc["agents"]:
        if not isinstance(entry, dict):
            continue
        site, agent, text = str(entry.get("site")), str(entry.get("agent")), str(entry.get("public_key"))
        try:
            keys[(site, agent)] = public_key_from_text(text)
            fingerprint = key_fingerprint(text)
        except (KeyFormatError, ValueError):
            fingerprint = "(unreadable key)"
        agents.append({"site": site, "agent": agent, "fingerprint": fingerprint})
    checks = []
    for index, payload in enumerate(doc["envelopes"]):
        label = f"envelope {index + 1}"
        if not isinstance(payload, str) or len(payload) > MAX_ENVELOPE_BYTES:
            checks.append(Check(label, False, "not a payload string"))
            continue
        try:
            env = decode(payload.encode("utf-8"), max_bytes=MAX_ENVELOPE_BYTES)
        except WireError as exc:
            checks.append(Check(label, False, f"does not decode: {exc}"))
            continue
        label = str(EnvelopeRef(env.agent, env.boot, env.seq))
        key = keys.get((env.site, env.agent))
        if key is None:
            checks.append(Check(label, False, f"no key in the bundle for {env.site}/{env.agent}"))
            continue
        try:
            verify(env, key)
        except WireError:
            checks.append(Check(label, False, "bad signature"))
            continue
        checks.append(Check(label, True))
    subject = doc.get("subject") if isinstance(doc.get("subject"), dict) else {}
    assert isinstance(subject, dict)
    return Verdict(subject, tuple(agents), tuple(checks))

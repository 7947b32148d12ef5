"""Device rows from inventory records, and the newest-wins upsert both engines accept."""

from __future__ import annotations

from typing import Any

from agent.wire.envelope import Envelope
from agent.wire.inventory import device_key

DEVICE_COLUMNS = (
    "site", "device_key", "agent", "address", "port", "mac", "manufacturer", "model", "firmware",
    "serial", "maker", "brand", "maker_confidence", "first_seen", "last_seen", "evidence_boot",
    "evidence_seq",
)  # fmt: skip
_LATEST = ("agent", "address", "port", "mac", "manufacturer", "model", "firmware", "serial", "maker", "brand",
           "maker_confidence", "last_seen", "evidence_boot", "evidence_seq")  # fmt: skip
# A backlog can deliver an older record after a newer one: the newer record's fields win,
# and first_seen keeps the earliest time either ever reported. A row gets the batch's change
# mark (collector.store.projections) as a last parameter.
UPSERT_DEVICE = (
    f"INSERT INTO devices ({', '.join(DEVICE_COLUMNS)}, changed) "
    f"VALUES ({', '.join('?' * (len(DEVICE_COLUMNS) + 1))}) "
    "ON CONFLICT (site, device_key) DO UPDATE SET "
    + ", ".join(
        f"{c} = CASE WHEN devices.last_seen <= excluded.last_seen THEN excluded.{c} ELSE devices.{c} END"
        for c in _LATEST
    )
    + ", first_seen = CASE WHEN excluded.first_seen < devices.first_seen "
    "THEN excluded.first_seen ELSE devices.first_seen END, changed = excluded.changed"
)


# TCP/UDP ports; anything else a record claims is not a port (and would not fit PostgreSQL's INTEGER).
MAX_PORT = 65535


def _text(value: Any) -> str | None:
    """A non-empty string, or None; NUL (which PostgreSQL text cannot hold) becomes U+FFFD."""
    if not isinstance(value, str) or not value:
        return None
    return value.replace("\x00", "\ufffd")


def device_row(env: Envelope, record: dict[str, Any], seen: str) -> tuple[Any, ...]:
    """The devices row for one inventory record, dated ``seen`` (the envelope's time)."""
    confidence = record.get("maker_confidence")
    if not isinstance(confidence, int | float) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
        confidence = None
    port = record.get("port")
    return (
        env.site,
        device_key(record).replace("\x00", "\ufffd"),
        env.agent,
        _text(record.get("address")),
        port if isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= MAX_PORT else None,
        _text(record.get("mac")),
        _text(record.get("manufacturer")),
        _text(record.get("model")),
        _text(record.get("firmware")),
        _text(record.get("serial")),
        _text(record.get("maker")),
        _text(record.get("brand")),
        None if confidence is None else float(confidence),
        seen,
        seen,
        env.boot,
        env.seq,
    )


def device_order(device: dict[str, Any]) -> tuple[Any, ...]:
    """Site, address, port, with absent values first: one order whatever the engine's collation."""
    return (
        device["site"],
        device["address"] is not None,
        device["address"] or "",
        device["port"] is not None,
        device["port"] or 0,
        device["device_key"],
    )

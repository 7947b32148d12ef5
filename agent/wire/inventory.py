"""Inventory body shape shared by agent and collector: one envelope per device record."""

from __future__ import annotations

import hashlib
from typing import Any

from agent.wire.canonical import canonical_json

# Fields that change on every poll without the device changing; not a reason to resend.
VOLATILE_FIELDS = frozenset({"clock_offset_s", "polled_at", "poll_duration_s"})


def device_key(record: dict[str, Any]) -> str:
    """A stable identity for a device: MAC if known, else serial and model, else address:port."""
    mac = record.get("mac")
    if isinstance(mac, str) and mac:
        return "mac:" + mac.lower()
    serial, model = record.get("serial"), record.get("model")
    if isinstance(serial, str) and serial:
        return f"serial:{model or ''}:{serial}"
    return f"addr:{record.get('address')}:{record.get('port')}"


def record_fingerprint(record: dict[str, Any]) -> str:
    stable = {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
    return hashlib.sha256(canonical_json(stable)).hexdigest()


def inventory_body(record: dict[str, Any], *, sweep: str, snapshot: bool) -> dict[str, Any]:
    return {"device": record, "key": device_key(record), "sweep": sweep, "snapshot": snapshot}

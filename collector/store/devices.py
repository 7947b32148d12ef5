"""Device rows from inventory records, and the newest-wins upsert both engines accept.

Bodies are read through the wire decoder (``InventoryBody.decode``): an inventory envelope whose
body does not decode is still stored (it is signed evidence) but gives no device row, and is
counted. A record of a device that did not answer (``reachable`` false) makes no row and moves
none: ``last_seen`` stays the last time the device answered, so a camera that stopped answering
becomes ``device_vanished`` once the policy's threshold passes (and an unanswered poll, which
carries no MAC or serial, cannot be told apart from a new device keyed by its address alone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agent.wire.envelope import Envelope, Kind
from agent.wire.errors import BodyError
from agent.wire.inventory import DeviceRecord, InventoryBody

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

Row = tuple[Any, ...]


def _text(value: Any) -> str | None:
    """A non-empty string, or None; NUL (which PostgreSQL text cannot hold) becomes U+FFFD."""
    if not isinstance(value, str) or not value:
        return None
    return value.replace("\x00", "\ufffd")


def device_row(env: Envelope, record: DeviceRecord, seen: str) -> Row:
    """The ``DEVICE_COLUMNS`` values for one record dated ``seen`` (the envelope's time)."""
    return (
        env.site,
        record.key.replace("\x00", "\ufffd"),
        env.agent,
        _text(record.address),
        record.port,
        _text(record.mac),
        _text(record.manufacturer),
        _text(record.model),
        _text(record.firmware),
        _text(record.serial),
        _text(record.maker),
        _text(record.brand),
        record.maker_confidence,
        seen,
        seen,
        env.boot,
        env.seq,
    )


def device_rows(
    envelopes: Iterable[Envelope], seen: Callable[[Envelope], str], mark: Any
) -> tuple[list[Row], list[tuple[Envelope, BodyError]]]:
    """``UPSERT_DEVICE`` parameters for the inventory envelopes of devices that answered, sorted so
    two collectors lock rows in one order, and the envelopes whose body did not decode."""
    rows: list[Row] = []
    bad: list[tuple[Envelope, BodyError]] = []
    for env in envelopes:
        if env.kind is not Kind.INVENTORY:
            continue
        try:
            record = InventoryBody.decode(env.body).device
        except BodyError as exc:
            bad.append((env, exc))
            continue
        if record.reachable is not False:
            rows.append((*device_row(env, record, seen(env)), mark))
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows, bad


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

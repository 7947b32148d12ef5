"""Estate inventory: one row per device, with who made it and the evidence envelope it came from."""

from __future__ import annotations

from typing import Any

from collector.store import Store

INVENTORY_COLUMNS = [
    "site",
    "agent",
    "address",
    "mac",
    "manufacturer",
    "model",
    "firmware",
    "serial",
    "maker",
    "brand",
    "maker_confidence",
    "first_seen",
    "last_seen",
    "evidence",
]


def inventory_rows(store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    rows = []
    for device in store.devices():
        address = device["address"]
        if address and device["port"]:
            address = f"{address}:{device['port']}"
        rows.append(
            {
                **{k: device[k] for k in INVENTORY_COLUMNS if k in device},
                "address": address,
                "evidence": f"{device['agent']}/{device['evidence_boot']}/{device['evidence_seq']}",
            }
        )
    return rows, INVENTORY_COLUMNS

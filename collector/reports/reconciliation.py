"""Register reconciliation: what is seen but not registered, registered but never seen, and
registered under another maker than the hardware's (a HiLook entry for Hikvision-made hardware)."""

from __future__ import annotations

from typing import Any

from agent.identify.tables import Tables
from collector.register import Asset
from collector.reports.document import Report, Section
from collector.reports.estate import DeviceView, Estate


def registered_identity(make: str, tables: Tables) -> str | None:
    """The vendor or brand a register's free-text make names (``HIKVISION Digital`` -> hikvision)."""
    text = make.strip().lower()
    if not text:
        return None
    if tables.known(text):
        return text
    for pattern, ident in tables.name_patterns:
        if pattern.search(text):
            return ident
    return None


def maker_mismatch(make: str, device: DeviceView, tables: Tables) -> str | None:
    """Why a register's make differs from the hardware's maker, or None when they agree."""
    if not device.maker or not make.strip():
        return None
    ident = registered_identity(make, tables)
    if ident == device.maker:
        return None
    if ident is not None and tables.maker_of(ident) == device.maker:
        return f"{make} is a {device.maker} brand"
    return f"hardware made by {device.maker}"


_DEVICE_COLUMNS = ("site", "address", "mac", "serial", "maker", "brand", "model", "first_seen", "evidence")
_ASSET_COLUMNS = ("asset_tag", "site", "make", "model", "serial", "mac", "ip", "purchase_date", "line")


def _device(d: DeviceView) -> dict[str, Any]:
    return {c: getattr(d, c) for c in _DEVICE_COLUMNS}


def _asset(a: Asset) -> dict[str, Any]:
    return {c: getattr(a, c) for c in _ASSET_COLUMNS}


def build_reconciliation(estate: Estate) -> Report:
    matched = [d for d in estate.devices if d.asset is not None]
    unregistered = [d for d in estate.devices if d.asset is None]
    used = {d.asset.asset_tag for d in matched if d.asset}
    never_seen = [a for a in estate.assets if a.asset_tag not in used]
    mismatched = []
    for d in matched:
        assert d.asset is not None
        why = maker_mismatch(d.asset.make, d, estate.tables)
        if why:
            mismatched.append((d, why))
    figures = {
        "devices_seen": len(estate.devices),
        "registered_assets": len(estate.assets),
        "matched": len(matched),
        "seen_not_registered": len(unregistered),
        "registered_never_seen": len(never_seen),
        "registered_under_another_maker": len(mismatched),
    }
    summary = (
        f"{len(estate.devices)} devices seen, {len(estate.assets)} assets in the register: "
        f"{len(matched)} matched (by MAC, then serial, then address within the site), "
        f"{len(unregistered)} seen but not registered, {len(never_seen)} registered but never seen, "
        f"{len(mismatched)} registered under another maker than the hardware's.",
    )
    return Report(
        name="reconciliation",
        title="Asset register reconciliation",
        generated_at=estate.generated_at,
        figures=figures,
        summary=summary,
        sections=(
            Section("Seen, not in the register", _DEVICE_COLUMNS, tuple(_device(d) for d in unregistered)),
            Section("Registered, never seen", _ASSET_COLUMNS, tuple(_asset(a) for a in never_seen)),
            Section(
                "Registered under another maker",
                (
                    "asset_tag",
                    "registered_make",
                    "maker",
                    "brand",
                    "verdict",
                    "site",
                    "address",
                    "matched_by",
                    "why",
                    "evidence",
                ),
                tuple(
                    {
                        "asset_tag": d.asset.asset_tag if d.asset else None,
                        "registered_make": d.asset.make if d.asset else None,
                        "maker": d.maker,
                        "brand": d.brand,
                        "verdict": d.verdict_source,
                        "site": d.site,
                        "address": d.address,
                        "matched_by": d.matched_by,
                        "why": why,
                        "evidence": d.evidence,
                    }
                    for d, why in mismatched
                ),
            ),
            Section(
                "Matched",
                ("asset_tag", "matched_by", "site", "address", "maker", "model", "evidence"),
                tuple(
                    {
                        "asset_tag": d.asset.asset_tag if d.asset else None,
                        "matched_by": d.matched_by,
                        "site": d.site,
                        "address": d.address,
                        "maker": d.maker,
                        "model": d.model,
                        "evidence": d.evidence,
                    }
                    for d in matched
                ),
            ),
        ),
    )

"""Estate inventory: one row per device — who made it (with evidence), where, what the register says."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.reports.document import Report, Section
from collector.reports.estate import DeviceView, Estate

__all__ = ["INVENTORY_COLUMNS", "RESTRICTED_CHOICES", "InventoryFilter", "build_inventory", "inventory_row"]

INVENTORY_COLUMNS = (
    "site",
    "department",
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
    "restricted",
    "verdict",
    "maker_evidence",
    "cves",
    "findings",
    "asset_tag",
    "purchase_date",
    "first_seen",
    "last_seen",
    "evidence",
)


# ``--restricted WHICH``: the restricted statuses each choice keeps.
RESTRICTED_CHOICES: dict[str, frozenset[str]] = {
    "yes": frozenset({"yes"}),
    "probable": frozenset({"probable"}),
    "any": frozenset({"yes", "probable"}),
    "no": frozenset({"no", "unknown"}),  # neither restricted nor probably so
    "unknown": frozenset({"unknown"}),
}
_DESCRIBE = {
    "yes": "restricted only",
    "probable": "probably restricted only",
    "any": "restricted or probably restricted",
    "no": "unrestricted only",
    "unknown": "maker unknown only",
}


@dataclass(frozen=True)
class InventoryFilter:
    sites: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    makers: tuple[str, ...] = ()  # the hardware's maker or the brand on its label
    restricted: str | None = None  # a key of RESTRICTED_CHOICES

    def __post_init__(self) -> None:
        if self.restricted is not None and self.restricted not in RESTRICTED_CHOICES:
            raise ValueError(f"restricted: use one of {', '.join(RESTRICTED_CHOICES)}")

    def keeps(self, d: DeviceView) -> bool:
        if self.sites and d.site not in self.sites:
            return False
        if self.departments and d.department.lower() not in {x.lower() for x in self.departments}:
            return False
        makers = {m.lower() for m in self.makers}
        if makers and d.maker not in makers and d.brand not in makers:
            return False
        return self.restricted is None or d.restricted in RESTRICTED_CHOICES[self.restricted]

    def describe(self) -> str:
        parts = [f"site {', '.join(self.sites)}"] if self.sites else []
        parts += [f"department {', '.join(self.departments)}"] if self.departments else []
        parts += [f"maker {', '.join(self.makers)}"] if self.makers else []
        if self.restricted is not None:
            parts.append(_DESCRIBE[self.restricted])
        return "; ".join(parts)


def inventory_row(d: DeviceView) -> dict[str, Any]:
    address = f"{d.address}:{d.port}" if d.address and d.port else d.address
    return {
        "site": d.site,
        "department": d.department,
        "agent": d.agent,
        "address": address,
        "mac": d.mac,
        "manufacturer": d.manufacturer,
        "model": d.model,
        "firmware": d.firmware,
        "serial": d.serial,
        "maker": d.maker or None,
        "brand": d.brand or None,
        "maker_confidence": d.maker_confidence,
        "restricted": d.restricted,
        "verdict": d.verdict_source,
        "maker_evidence": list(d.maker_evidence),
        "cves": list(d.cves),
        "findings": list(d.findings),
        "asset_tag": d.asset.asset_tag if d.asset else None,
        "purchase_date": (d.asset.purchase_date or None) if d.asset else None,
        "first_seen": d.first_seen,
        "last_seen": d.last_seen,
        "evidence": d.evidence,
        "device_id": d.device_id,
    }


def build_inventory(estate: Estate, filters: InventoryFilter | None = None) -> Report:
    chosen: Sequence[DeviceView] = [d for d in estate.devices if (filters or InventoryFilter()).keeps(d)]
    figures = {
        "devices": len(chosen),
        "restricted": sum(d.is_restricted for d in chosen),
        "probably_restricted": sum(d.restricted == "probable" for d in chosen),
        "with_known_cves": sum(bool(d.cves) for d in chosen),
        "registered": sum(d.asset is not None for d in chosen),
    }
    scope = filters.describe() if filters else ""
    return Report(
        name="inventory",
        title="Estate inventory" + (f" ({scope})" if scope else ""),
        generated_at=estate.generated_at,
        figures=figures,
        sections=(Section("Devices", INVENTORY_COLUMNS, tuple(inventory_row(d) for d in chosen)),),
    )

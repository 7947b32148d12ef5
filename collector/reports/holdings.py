"""The written question: how many devices of these makers, where, bought when, still connected.

Figures come from evidence (the devices seen, first/last seen, violations) and the register
(purchase dates, asset tags); every figure is a count of the rows in the device table below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from collector.policy.engine import Rule
from collector.reports.document import Report, Section
from collector.reports.estate import DeviceView, Estate
from collector.violations import ViolationState

DEFAULT_MAKERS = ("hikvision", "dahua")


def _open_rule(estate: Estate, rule: Rule) -> set[tuple[str, str]]:
    return {
        (v.site, v.device_id)
        for v in estate.violations
        if v.rule == rule and v.state is not ViolationState.RESOLVED
    }


def _row(d: DeviceView, connected: bool, on_core: bool) -> dict[str, Any]:
    return {
        "department": d.department,
        "site": d.site,
        "maker": d.maker,
        "brand": d.brand,
        "restricted": d.restricted,
        "verdict": d.verdict_source,
        "model": d.model,
        "address": d.address,
        "asset_tag": d.asset.asset_tag if d.asset else None,
        "purchase_date": (d.asset.purchase_date or None) if d.asset else None,
        "first_seen": d.first_seen,
        "last_seen": d.last_seen,
        "connected": connected,
        "on_core_network": on_core,
        "removed": not connected,
        "evidence": d.evidence,
    }


def build_holdings(
    estate: Estate, makers: Sequence[str] = DEFAULT_MAKERS, since: date | None = None
) -> Report:
    wanted = {m.lower() for m in makers} or set(DEFAULT_MAKERS)
    vanished = _open_rule(estate, Rule.DEVICE_VANISHED)
    core = _open_rule(estate, Rule.RESTRICTED_ON_CORE_NETWORK)
    rows = []
    for d in estate.devices:
        if d.maker not in wanted:
            continue
        bought = d.asset.purchase_date if d.asset and d.asset.purchase_date else ""
        if since is not None and bought and bought < since.isoformat():
            continue
        rows.append(_row(d, (d.site, d.device_id) not in vanished, (d.site, d.device_id) in core))
    rows.sort(key=lambda r: (r["department"], r["site"], r["maker"], r["address"]))
    since_text = since.isoformat() if since else ""
    bought_since = [r for r in rows if r["purchase_date"]]
    figures = {
        "devices": len(rows),
        "sites": len({r["site"] for r in rows}),
        "departments": len({r["department"] for r in rows}),
        "purchased_" + ("since" if since else "known"): len(bought_since),
        "purchase_date_unknown": len(rows) - len(bought_since),
        "still_connected": sum(r["connected"] for r in rows),
        "on_core_network": sum(r["on_core_network"] for r in rows),
        "removed": sum(r["removed"] for r in rows),
    }
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["department"], r["site"]), []).append(r)
    by_place = tuple(
        {
            "department": dept,
            "site": site,
            "devices": len(g),
            "makers": sorted({r["maker"] for r in g}),
            "purchased": sorted({r["purchase_date"][:4] for r in g if r["purchase_date"]}),
            "first_seen": min(r["first_seen"] for r in g),
            "last_seen": max(r["last_seen"] for r in g),
            "still_connected": sum(r["connected"] for r in g),
            "on_core_network": sum(r["on_core_network"] for r in g),
            "removed": sum(r["removed"] for r in g),
        }
        for (dept, site), g in sorted(groups.items())
    )
    names = " and ".join(sorted(m.capitalize() for m in wanted))
    brands = sorted({r["brand"] for r in rows if r["brand"] and r["brand"] not in wanted})
    sold_as = f" (including some sold as {', '.join(brands)})"
    answer = (
        f"The estate holds {len(rows)} {names}-made device{'s' if len(rows) != 1 else ''}"
        f"{sold_as if brands else ''} at {figures['sites']} site(s) in {figures['departments']} department(s)"
        + (f", counting those bought since {since_text} or of unknown purchase date" if since else "")
        + f". {len(bought_since)} have a purchase date in the asset register, "
        f"{figures['purchase_date_unknown']} do not. {figures['still_connected']} are still connected, "
        f"{figures['on_core_network']} on a core network, {figures['removed']} removed. "
        "Each device below names the signed envelope that shows it."
    )
    return Report(
        name="holdings",
        title=f"Holdings: {names}" + (f" since {since_text}" if since else ""),
        generated_at=estate.generated_at,
        figures=figures,
        summary=(answer,),
        sections=(
            Section(
                "By department and site",
                (
                    "department",
                    "site",
                    "devices",
                    "makers",
                    "purchased",
                    "first_seen",
                    "last_seen",
                    "still_connected",
                    "on_core_network",
                    "removed",
                ),
                by_place,
            ),
            Section("Devices", _row_columns(), tuple(rows)),
        ),
    )


def _row_columns() -> tuple[str, ...]:
    return ("department", "site", "maker", "brand", "restricted", "verdict", "model", "address",
            "asset_tag", "purchase_date", "first_seen", "last_seen", "connected", "on_core_network",
            "removed", "evidence")  # fmt: skip

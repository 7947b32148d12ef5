"""Removal plan: per department and site, sensitive sites first — restricted devices still there,
the deadline, days left or overdue, removed since the plan began — and the burn-down over time
from the daily snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from collector.reports.burndown import BurnLine, burndown_svg
from collector.reports.document import Report, Section
from collector.reports.estate import Estate
from collector.reports.snapshots import SiteSnapshot, site_counts

SITE_CLASS_ORDER = {"sensitive": 0, "standard": 1}
_SITE_COLUMNS = (
    "department", "site", "class", "restricted_present", "prohibited_present", "removal_deadline",
    "days_left", "days_overdue", "plan_began", "restricted_at_start", "removed_since_start",
)  # fmt: skip
_DEPARTMENT_COLUMNS = (
    "department", "sites", "restricted_present", "earliest_deadline", "sites_overdue", "removed_since_start",
)  # fmt: skip


def current_snapshot(estate: Estate) -> list[SiteSnapshot]:
    """Today's figures per site: restricted devices present, and those the policy prohibits there."""
    pairs = ((d.site, d.maker if d.is_restricted else "") for d in estate.devices)
    return site_counts(estate.policy, pairs, estate.now.date())


def build_removal_plan(estate: Estate, history: Sequence[SiteSnapshot]) -> Report:
    today = estate.now.date()
    now_rows = current_snapshot(estate)
    snaps = [s for s in history if s.day != today.isoformat()] + now_rows
    first_by_site: dict[str, SiteSnapshot] = {}
    for s in sorted(snaps, key=lambda s: s.day):
        first_by_site.setdefault(s.site, s)
    rows: list[dict[str, Any]] = []
    for s in now_rows:
        site = estate.policy.site(s.site)
        deadline = site.removal_deadline
        start = first_by_site.get(s.site, s)
        days = (deadline - today).days if deadline else None
        rows.append(
            {
                "department": s.department,
                "site": s.site,
                "class": site.site_class.value,
                "restricted_present": s.restricted,
                "prohibited_present": s.prohibited,
                "removal_deadline": deadline.isoformat() if deadline else None,
                "days_left": days if days is not None and days >= 0 else None,
                "days_overdue": -days if days is not None and days < 0 and s.restricted else None,
                "plan_began": start.day,
                "restricted_at_start": start.restricted,
                "removed_since_start": max(0, start.restricted - s.restricted),
            }
        )
    rows.sort(
        key=lambda r: (SITE_CLASS_ORDER.get(str(r["class"]), 2), r["removal_deadline"] or "9999", r["site"])
    )
    devices = tuple(
        {
            "site": d.site,
            "department": d.department,
            "address": d.address,
            "maker": d.maker,
            "brand": d.brand,
            "model": d.model,
            "asset_tag": d.asset.asset_tag if d.asset else None,
            "removal_deadline": (
                dl.isoformat() if (dl := estate.policy.site(d.site).removal_deadline) is not None else None
            ),
            "evidence": d.evidence,
        }
        for d in estate.devices
        if d.is_restricted
    )
    by_department = []
    for dept in sorted({str(r["department"]) for r in rows}):
        mine = [r for r in rows if r["department"] == dept]
        deadlines = [str(r["removal_deadline"]) for r in mine if r["removal_deadline"]]
        by_department.append(
            {
                "department": dept,
                "sites": len(mine),
                "restricted_present": sum(r["restricted_present"] for r in mine),
                "earliest_deadline": min(deadlines) if deadlines else None,
                "sites_overdue": sum(1 for r in mine if r["days_overdue"]),
                "removed_since_start": sum(r["removed_since_start"] for r in mine),
            }
        )
    history_rows = tuple(
        {"day": s.day, "department": s.department, "site": s.site, "restricted": s.restricted}
        for s in sorted(snaps, key=lambda s: (s.day, s.site))
    )
    lines = _burn_lines(estate, snaps)
    figures = {
        "restricted_present": sum(r["restricted_present"] for r in rows),
        "sites_with_restricted": sum(1 for r in rows if r["restricted_present"]),
        "sites_overdue": sum(1 for r in rows if r["days_overdue"]),
        "removed_since_start": sum(r["removed_since_start"] for r in rows),
    }
    return Report(
        name="removal-plan",
        title="Removal plan",
        generated_at=estate.generated_at,
        figures=figures,
        summary=(
            f"{figures['restricted_present']} restricted devices remain at "
            f"{figures['sites_with_restricted']} "
            f"site(s); {figures['sites_overdue']} site(s) are past their removal deadline; "
            f"{figures['removed_since_start']} removed since the plan began.",
        ),
        sections=(
            Section("By site, sensitive first", _SITE_COLUMNS, tuple(rows)),
            Section("By department", _DEPARTMENT_COLUMNS, tuple(by_department)),
            Section(
                "Restricted devices to remove",
                (
                    "site",
                    "department",
                    "address",
                    "maker",
                    "brand",
                    "model",
                    "asset_tag",
                    "removal_deadline",
                    "evidence",
                ),
                devices,
            ),
            Section("Progress (daily snapshots)", ("day", "department", "site", "restricted"), history_rows),
        ),
        charts=(burndown_svg(lines, today=today),),
    )


def _burn_lines(estate: Estate, snaps: Sequence[SiteSnapshot]) -> list[BurnLine]:
    by_dept: dict[str, dict[str, int]] = {}
    deadlines: dict[str, date] = {}
    for s in snaps:
        day = by_dept.setdefault(s.department or "(no department)", {})
        day[s.day] = day.get(s.day, 0) + s.restricted
        deadline = estate.policy.site(s.site).removal_deadline
        dept = s.department or "(no department)"
        if deadline is not None and (dept not in deadlines or deadline < deadlines[dept]):
            deadlines[dept] = deadline
    return [
        BurnLine(
            dept, tuple((date.fromisoformat(d), n) for d, n in sorted(points.items())), deadlines.get(dept)
        )
        for dept, points in sorted(by_dept.items())
    ]

"""Every report by name: what options it takes, how it is built from the estate, how it renders.

The CLI and the web view both go through ``render_named``, so a download from the web is the
file ``camsentry-collector report NAME --format FMT`` prints for the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from collector.reports import compliance
from collector.reports.document import FORMATS, Report, render_report
from collector.reports.estate import Estate
from collector.reports.holdings import DEFAULT_MAKERS, build_holdings
from collector.reports.inventory import InventoryFilter, build_inventory
from collector.reports.patch import build_patch_status
from collector.reports.reconciliation import build_reconciliation
from collector.reports.removal import build_removal_plan

__all__ = ["FORMATS", "REPORTS", "ReportOptions", "build_report", "render_named"]


@dataclass(frozen=True)
class ReportOptions:
    filters: InventoryFilter = field(default_factory=InventoryFilter)
    makers: tuple[str, ...] = DEFAULT_MAKERS
    since: date | None = None


def _compliance_report(estate: Estate) -> compliance.ComplianceReport:
    return compliance.build_compliance(estate.policy, estate.violations, estate.facts, estate.now)


_BUILDERS: dict[str, Callable[[Estate, ReportOptions], Report]] = {
    "inventory": lambda e, o: build_inventory(e, o.filters),
    "compliance": lambda e, o: compliance.compliance_document(_compliance_report(e)),
    "reconciliation": lambda e, o: build_reconciliation(e),
    "holdings": lambda e, o: build_holdings(e, o.makers, o.since),
    "patch-status": lambda e, o: build_patch_status(e),
    "removal-plan": lambda e, o: build_removal_plan(e, e.snapshots),
}
REPORTS = tuple(_BUILDERS)
TITLES = {
    "inventory": "Estate inventory",
    "compliance": "Compliance by site and department",
    "reconciliation": "Asset register reconciliation",
    "holdings": "Holdings (the written question)",
    "patch-status": "Patch status per vulnerability",
    "removal-plan": "Removal plan and burn-down",
}


def build_report(name: str, estate: Estate, options: ReportOptions | None = None) -> Report:
    if name not in _BUILDERS:
        raise ValueError(f"unknown report {name!r}: use one of {', '.join(REPORTS)}")
    return _BUILDERS[name](estate, options or ReportOptions())


def render_named(name: str, estate: Estate, fmt: str, options: ReportOptions | None = None) -> str:
    """The report in one of ``FORMATS``; compliance keeps its established terminal, CSV and JSON shapes."""
    if name == "compliance" and fmt != "html":
        return compliance.RENDERERS[fmt](_compliance_report(estate))
    return render_report(build_report(name, estate, options), fmt)

"""Compliance by site and department: restricted devices, on core networks, past deadline, open
violations by severity. ``build_compliance`` is pure; ``render_*`` turn its result into a
terminal table, JSON or CSV.

"Restricted" means made by a restricted maker (after OEM resolution), wherever it is, as the
centre's verdict says (the one the policy's violations come from) at the policy's confidence
threshold; a device only probably so is listed too, as ``restricted: probable`` with its
evidence, and counted under ``probable``, never among the restricted. ``prohibited`` marks
those at a site class where the policy forbids them. "On core network"
is an unresolved ``restricted_on_core_network`` violation. "Past deadline" is a prohibited
device at a site whose removal deadline has passed. "Open" counts open and acknowledged
violations; accepted risks are counted apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from agent.runtime.table import Column, render
from agent.wire.findings import WORST_FIRST
from agent.wire.timefmt import format_utc
from collector.policy.engine import DeviceFact, Rule
from collector.policy.model import Policy
from collector.reports.document import Report, Section
from collector.reports.identity import AGENT_SOURCE, restricted_status, verdict_source
from collector.reports.refs import evidence_ref
from collector.violations import ViolationRow, ViolationState

OPEN_STATES = frozenset({ViolationState.OPEN, ViolationState.ACKNOWLEDGED})
DEVICE_RULES = frozenset(
    {Rule.RESTRICTED_AT_SENSITIVE_SITE, Rule.RESTRICTED_ON_CORE_NETWORK, Rule.PAST_REMOVAL_DEADLINE}
)


@dataclass(frozen=True)
class RestrictedDevice:
    site: str
    agent: str
    device_id: str
    address: str
    maker: str
    brand: str
    model: str
    firmware: str
    prohibited: bool
    on_core_network: bool
    past_deadline: bool
    maker_evidence: tuple[str, ...]
    envelopes: tuple[str, ...]
    restricted: str = "yes"  # or probable (collector.reports.identity.restricted_status)
    verdict: str = AGENT_SOURCE  # centre <tables_version> | agent


@dataclass(frozen=True)
class Counts:
    devices: int = 0
    restricted: int = 0
    probable: int = 0
    prohibited: int = 0
    on_core_network: int = 0
    past_deadline: int = 0
    open_by_severity: dict[str, int] = field(default_factory=dict)
    risk_accepted: int = 0


@dataclass(frozen=True)
class SiteLine:
    site: str
    department: str
    site_class: str
    removal_deadline: str | None
    enforcement: str
    counts: Counts


@dataclass(frozen=True)
class DepartmentLine:
    department: str
    sites: int
    counts: Counts


@dataclass(frozen=True)
class ComplianceReport:
    generated_at: str
    policy_version: str
    sites: tuple[SiteLine, ...]
    departments: tuple[DepartmentLine, ...]
    restricted_devices: tuple[RestrictedDevice, ...]
    totals: Counts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _signal_text(signal: Any) -> str:
    if not isinstance(signal, dict):
        return str(signal)
    return f"{signal.get('signal')}={signal.get('value')}->{signal.get('points_to')}"


def _add(total: dict[str, int], part: dict[str, int]) -> dict[str, int]:
    return {s.value: total.get(s.value, 0) + part.get(s.value, 0) for s in WORST_FIRST}


def _sum(counts: Sequence[Counts]) -> Counts:
    by_sev: dict[str, int] = {s.value: 0 for s in WORST_FIRST}
    for c in counts:
        by_sev = _add(by_sev, c.open_by_severity)
    return Counts(
        devices=sum(c.devices for c in counts),
        restricted=sum(c.restricted for c in counts),
        probable=sum(c.probable for c in counts),
        prohibited=sum(c.prohibited for c in counts),
        on_core_network=sum(c.on_core_network for c in counts),
        past_deadline=sum(c.past_deadline for c in counts),
        open_by_severity=by_sev,
        risk_accepted=sum(c.risk_accepted for c in counts),
    )


def _from_devices(
    policy: Policy, devices: Sequence[DeviceFact], core: set[str], today: Any
) -> list[RestrictedDevice]:
    out = []
    for d in devices:
        status = restricted_status(policy, d.record)
        if status not in ("yes", "probable"):
            continue
        maker = d.record.maker or ""
        site = policy.site(d.site)
        prohibited = status == "yes" and policy.restricted_at(maker, d.site)
        deadline = site.removal_deadline
        out.append(
            RestrictedDevice(
                site=d.site,
                agent=d.agent,
                device_id=d.device_id,
                address=d.address,
                maker=maker.lower(),
                brand=d.record.brand or "",
                model=d.record.model or "",
                firmware=d.record.firmware or "",
                prohibited=prohibited,
                on_core_network=d.device_id in core,
                past_deadline=prohibited and deadline is not None and deadline < today,
                maker_evidence=tuple(_signal_text(e.to_json()) for e in d.record.evidence[:10]),
                envelopes=tuple(evidence_ref(e.agent, e.boot, e.seq) for e in d.evidence),
                restricted=status,
                verdict=verdict_source(d.record.extra),
            )
        )
    return out


def _from_violations(rows: Sequence[ViolationRow], known: set[str], core: set[str]) -> list[RestrictedDevice]:
    """Restricted devices the violation store knows of but the device list does not."""
    by_device: dict[str, list[ViolationRow]] = {}
    for r in rows:
        if r.rule in DEVICE_RULES and r.device_id not in known and r.state is not ViolationState.RESOLVED:
            by_device.setdefault(r.device_id, []).append(r)
    out = []
    for device_id, group in by_device.items():
        first = group[0]
        detail = first.detail
        rules = {r.rule for r in group}
        out.append(
            RestrictedDevice(
                site=first.site,
                agent=first.agent,
                device_id=device_id,
                address=first.address,
                maker=str(detail.get("maker") or "").lower(),
                brand=str(detail.get("brand") or ""),
                model=str(detail.get("model") or ""),
                firmware=str(detail.get("firmware") or ""),
                prohibited=bool(rules & {Rule.RESTRICTED_AT_SENSITIVE_SITE, Rule.PAST_REMOVAL_DEADLINE}),
                on_core_network=device_id in core,
                past_deadline=Rule.PAST_REMOVAL_DEADLINE in rules,
                maker_evidence=tuple(_signal_text(s) for s in detail.get("maker_evidence", [])[:10]),
                envelopes=tuple(
                    sorted({evidence_ref(e["agent"], e["boot"], e["seq"]) for r in group for e in r.evidence})
                ),
            )
        )
    return out


def build_compliance(
    policy: Policy,
    violations: Sequence[ViolationRow],
    devices: Sequence[DeviceFact],
    now: datetime,
) -> ComplianceReport:
    """The compliance report from store rows; sites are those the policy names plus any seen."""
    core = {
        r.device_id
        for r in violations
        if r.rule == Rule.RESTRICTED_ON_CORE_NETWORK and r.state is not ViolationState.RESOLVED
    }
    restricted = _from_devices(policy, devices, core, now.date())
    restricted += _from_violations(violations, {d.device_id for d in devices}, core)
    restricted.sort(
        key=lambda r: (r.site, not r.past_deadline, not r.on_core_network, r.address, r.device_id)
    )

    names = sorted(set(policy.sites) | {d.site for d in devices} | {r.site for r in violations})
    lines: list[SiteLine] = []
    for name in names:
        site = policy.site(name)
        listed = [r for r in restricted if r.site == name]
        mine = [r for r in listed if r.restricted == "yes"]
        rows = [r for r in violations if r.site == name]
        by_sev = {s.value: 0 for s in WORST_FIRST}
        for r in rows:
            if r.state in OPEN_STATES and r.severity in by_sev:
                by_sev[r.severity] += 1
        counts = Counts(
            devices=sum(1 for d in devices if d.site == name),
            restricted=len(mine),
            probable=len(listed) - len(mine),
            prohibited=sum(r.prohibited for r in mine),
            on_core_network=sum(r.on_core_network for r in mine),
            past_deadline=sum(r.past_deadline for r in mine),
            open_by_severity=by_sev,
            risk_accepted=sum(1 for r in rows if r.state is ViolationState.RISK_ACCEPTED),
        )
        lines.append(
            SiteLine(
                site=name,
                department=site.department,
                site_class=site.site_class.value,
                removal_deadline=site.removal_deadline.isoformat() if site.removal_deadline else None,
                enforcement=site.enforcement.value,
                counts=counts,
            )
        )
    departments: list[DepartmentLine] = []
    for dept in sorted({line.department for line in lines}):
        members = [line for line in lines if line.department == dept]
        departments.append(DepartmentLine(dept, len(members), _sum([m.counts for m in members])))
    return ComplianceReport(
        generated_at=format_utc(now),
        policy_version=policy.version,
        sites=tuple(lines),
        departments=tuple(departments),
        restricted_devices=tuple(restricted),
        totals=_sum([line.counts for line in lines]),
    )


def render_json(report: ComplianceReport) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n"


_SEVERITIES = [s.value for s in WORST_FIRST]
_CSV_COLUMNS = [
    Column(name)
    for name in (
        "scope",
        "name",
        "department",
        "class",
        "removal_deadline",
        "devices",
        "restricted",
        "probable",
        "prohibited",
        "on_core_network",
        "past_deadline",
        *[f"open_{s}" for s in _SEVERITIES],
        "risk_accepted",
    )
]


def _counts_row(c: Counts) -> dict[str, Any]:
    return {
        "devices": c.devices,
        "restricted": c.restricted,
        "probable": c.probable,
        "prohibited": c.prohibited,
        "on_core_network": c.on_core_network,
        "past_deadline": c.past_deadline,
        **{f"open_{s}": c.open_by_severity.get(s, 0) for s in _SEVERITIES},
        "risk_accepted": c.risk_accepted,
        "open": _sev(c),
    }


def render_csv(report: ComplianceReport) -> str:
    """One row per site, then one per department, then the estate total."""
    rows = [
        {"scope": "site", "name": s.site, "department": s.department, "class": s.site_class,
         "removal_deadline": s.removal_deadline, **_counts_row(s.counts)}
        for s in report.sites
    ]  # fmt: skip
    rows += [
        {"scope": "department", "name": d.department, "department": d.department, **_counts_row(d.counts)}
        for d in report.departments
    ]
    rows.append({"scope": "estate", **_counts_row(report.totals)})
    return render(rows, _CSV_COLUMNS, "csv")


def _sev(c: Counts) -> str:
    return "/".join(str(c.open_by_severity.get(s, 0)) for s in _SEVERITIES[:4])


_COUNT_COLUMNS = [
    Column("devices", align="right"),
    Column("restricted", align="right"),
    Column("probable", align="right"),
    Column("on_core_network", "ON CORE", align="right"),
    Column("past_deadline", align="right"),
    Column("open"),
]
_SITE_COLUMNS = [
    Column("site"),
    Column("department"),
    Column("class"),
    Column("removal_deadline", "DEADLINE"),
    *_COUNT_COLUMNS,
]
_DEPARTMENT_COLUMNS = [Column("department"), Column("sites", align="right"), *_COUNT_COLUMNS]


def render_table(report: ComplianceReport) -> str:
    out = [
        f"Compliance report  {report.generated_at}  policy {report.policy_version[:19]}",
        "",
        "By site (open violations: critical/high/medium/low)",
    ]
    out.append(
        render(
            [
                {"site": s.site, "department": s.department, "class": s.site_class,
                 "removal_deadline": s.removal_deadline, **_counts_row(s.counts)}
                for s in report.sites
            ],
            _SITE_COLUMNS,
        )
    )  # fmt: skip
    out += ["By department"]
    out.append(
        render(
            [
                {"department": d.department, "sites": d.sites, **_counts_row(d.counts)}
                for d in report.departments
            ],
            _DEPARTMENT_COLUMNS,
        )
    )
    out += ["Restricted devices (and those only probably so)"]
    if not report.restricted_devices:
        out.append("(none)")
    for r in report.restricted_devices:
        flags = ["PROBABLE"] if r.restricted == "probable" else []
        flags += [f for f, on in (("PROHIBITED", r.prohibited), ("CORE", r.on_core_network)) if on]
        flags += ["PAST-DEADLINE"] if r.past_deadline else []
        label = f" (sold as {r.brand})" if r.brand and r.brand.lower() != r.maker else ""
        out.append(
            f"{r.site}  {r.address or r.device_id}  {r.maker}{label}  {r.model or '?'}  "
            f"fw {r.firmware or '?'}  {' '.join(flags)}".rstrip()
        )
        if r.maker_evidence:
            out.append(f"    evidence: {'; '.join(r.maker_evidence)}  (verdict: {r.verdict})")
        if r.envelopes:
            out.append(f"    envelopes: {', '.join(r.envelopes)}")
    t = report.totals
    out += [
        "",
        f"Estate: {t.devices} devices, {t.restricted} restricted, {t.probable} probably restricted, "
        f"{t.on_core_network} on core networks, "
        f"{t.past_deadline} past deadline, open {_sev(t)}, {t.risk_accepted} risk-accepted",
    ]
    return "\n".join(out) + "\n"


# The count columns of the CSV, in its order (the document's tables use the same names).
_DOC_COUNT_COLUMNS = tuple(c.name for c in _CSV_COLUMNS[5:])


def compliance_document(report: ComplianceReport) -> Report:
    """The same report as a ``Report`` (the HTML page and the web view draw it from this)."""
    t = report.totals
    figures = {
        "devices": t.devices,
        "restricted": t.restricted,
        "probable": t.probable,
        "prohibited": t.prohibited,
        "on_core_network": t.on_core_network,
        "past_deadline": t.past_deadline,
        "open_violations": sum(t.open_by_severity.values()),
        "risk_accepted": t.risk_accepted,
    }
    sites = tuple(
        {
            "site": s.site,
            "department": s.department,
            "class": s.site_class,
            "removal_deadline": s.removal_deadline,
            "enforcement": s.enforcement,
            **_counts_row(s.counts),
        }
        for s in report.sites
    )
    departments = tuple(
        {"department": d.department, "sites": d.sites, **_counts_row(d.counts)} for d in report.departments
    )
    devices = tuple(
        {
            "site": r.site,
            "address": r.address,
            "maker": r.maker,
            "brand": r.brand,
            "model": r.model,
            "firmware": r.firmware,
            "restricted": r.restricted,
            "verdict": r.verdict,
            "prohibited": r.prohibited,
            "on_core_network": r.on_core_network,
            "past_deadline": r.past_deadline,
            "maker_evidence": list(r.maker_evidence),
            "envelopes": list(r.envelopes),
            "device_id": r.device_id,
        }
        for r in report.restricted_devices
    )
    return Report(
        name="compliance",
        title=f"Compliance (policy {report.policy_version[:19]})",
        generated_at=report.generated_at,
        figures=figures,
        sections=(
            Section(
                "By site",
                ("site", "department", "class", "removal_deadline", "enforcement", *_DOC_COUNT_COLUMNS),
                sites,
            ),
            Section("By department", ("department", "sites", *_DOC_COUNT_COLUMNS), departments),
            Section(
                "Restricted devices",
                (
                    "site",
                    "address",
                    "maker",
                    "brand",
                    "model",
                    "firmware",
                    "restricted",
                    "verdict",
                    "prohibited",
                    "on_core_network",
                    "past_deadline",
                    "maker_evidence",
                    "envelopes",
                ),
                devices,
            ),
        ),
    )


def render_html(report: ComplianceReport) -> str:
    from collector.reports.html import render_html as page

    return page(compliance_document(report))


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv, "html": render_html}

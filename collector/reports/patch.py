"""Patch status per vulnerability: for each CVE (KEV first), the devices it could apply to split
into affected, fixed and unknown firmware. Judged again here from the stored model and firmware
with the collector's own vulnerability table, so a new table re-judges the estate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.identify.firmware import Constraint, Version, in_range, parse_version
from agent.identify.tables import Vulnerability
from collector.reports.document import Report, Section
from collector.reports.estate import DeviceView, Estate


def _version_text(v: Version | None) -> str:
    if v is None:
        return "?"
    text = ".".join(str(p) for p in v.parts)
    return f"{text} build {v.build:06d}" if v.build is not None else text


def fixed_in(constraints: tuple[Constraint, ...]) -> str:
    """What firmware no longer falls in the affected range, from its upper bound."""
    parts = []
    for c in constraints:
        if c.op == "build<":
            parts.append(f"build {c.build:06d} or later")
        elif c.op == "<":
            parts.append(f"{_version_text(c.version)} or later")
        elif c.op == "<=":
            parts.append(f"later than {_version_text(c.version)}")
        elif c.op == "branch=":
            parts.append(f"(branch {c.branch})")
    return " ".join(parts) or "-"


@dataclass
class _Tally:
    cve: str
    kev: bool
    maker: str
    summary: str
    fixed_in: set[str]
    affected: dict[str, DeviceView]
    fixed: dict[str, DeviceView]
    unknown: dict[str, DeviceView]


def _applies(v: Vulnerability, d: DeviceView) -> bool:
    return d.maker == v.maker and (not v.brand or v.brand == d.brand) and bool(v.models.search(d.model))


def build_patch_status(estate: Estate) -> Report:
    tallies: dict[str, _Tally] = {}
    for vuln in estate.tables.vulnerabilities:
        t = tallies.setdefault(
            vuln.cve, _Tally(vuln.cve, vuln.kev, vuln.maker, vuln.summary, set(), {}, {}, {})
        )
        t.kev = t.kev or vuln.kev
        t.fixed_in.add(fixed_in(vuln.affected))
        for d in estate.devices:
            if not _applies(vuln, d):
                continue
            key = f"{d.site}|{d.device_id}"
            version = parse_version(d.firmware) if d.firmware else None
            if version is None:
                t.unknown[key] = d
            elif in_range(version, vuln.affected):
                t.affected[key] = d
                t.fixed.pop(key, None)
            elif key not in t.affected:
                t.fixed[key] = d
    ordered = sorted(tallies.values(), key=lambda t: (not t.kev, -len(t.affected), t.cve))
    per_cve = tuple(
        {
            "cve": t.cve,
            "kev": t.kev,
            "maker": t.maker,
            "fixed_in": sorted(t.fixed_in),
            "devices_of_model": len(t.affected) + len(t.fixed) + len(t.unknown),
            "affected": len(t.affected),
            "fixed": len(t.fixed),
            "unknown_firmware": len(t.unknown),
            "summary": t.summary,
        }
        for t in ordered
        if t.affected or t.fixed or t.unknown
    )
    details: list[dict[str, Any]] = []
    for t in ordered:
        for status, group in (("affected", t.affected), ("fixed", t.fixed), ("unknown", t.unknown)):
            for d in sorted(group.values(), key=lambda d: (d.site, d.address)):
                details.append(
                    {
                        "cve": t.cve,
                        "kev": t.kev,
                        "status": status,
                        "site": d.site,
                        "address": d.address,
                        "maker": d.maker,
                        "brand": d.brand,
                        "model": d.model,
                        "firmware": d.firmware,
                        "verdict": d.verdict_source,
                        "evidence": d.evidence,
                    }
                )
    affected_devices = {k for t in ordered for k in t.affected}
    kev_devices = {k for t in ordered if t.kev for k in t.affected}
    unknown = {k for t in ordered for k in t.unknown}
    figures = {
        "cves_with_affected_devices": sum(1 for t in ordered if t.affected),
        "affected_devices": len(affected_devices),
        "kev_affected_devices": len(kev_devices),
        "unknown_firmware_devices": len(unknown),
    }
    answers = [
        f"{r['cve']}{' (CISA KEV)' if r['kev'] else ''}: {r['fixed']} of {r['devices_of_model']} "
        f"{r['maker']}-made devices of affected models are patched; not patched: {r['affected']}; "
        f"firmware unreadable: {r['unknown_firmware']}."
        for r in per_cve
        if r["affected"] or r["unknown_firmware"]
    ]
    return Report(
        name="patch-status",
        title="Patch status per vulnerability",
        generated_at=estate.generated_at,
        figures=figures,
        summary=tuple(answers),
        sections=(
            Section(
                "Per vulnerability",
                (
                    "cve",
                    "kev",
                    "maker",
                    "fixed_in",
                    "devices_of_model",
                    "affected",
                    "fixed",
                    "unknown_firmware",
                    "summary",
                ),
                per_cve,
            ),
            Section(
                "Devices",
                (
                    "cve",
                    "kev",
                    "status",
                    "site",
                    "address",
                    "maker",
                    "brand",
                    "model",
                    "firmware",
                    "verdict",
                    "evidence",
                ),
                tuple(details),
            ),
        ),
    )

"""Patch status per vulnerability: for each CVE (KEV first), the devices it could apply to split
into affected, fixed, never affected and unknown firmware (``exposure.classify``). Judged again
here from the stored model and firmware with the collector's own vulnerability table, so a new
table re-judges the estate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.identify.firmware import Constraint, Version
from agent.identify.tables import Vulnerability
from collector.reports.document import Report, Section
from collector.reports.estate import DeviceView, Estate
from collector.reports.exposure import Exposure, classify, read_firmware, worst


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


_STATUSES = (Exposure.AFFECTED, Exposure.FIXED, Exposure.NOT_AFFECTED, Exposure.UNKNOWN)


@dataclass
class _Tally:
    cve: str
    kev: bool
    maker: str
    summary: str
    fixed_in: set[str]
    status: dict[str, Exposure]
    devices: dict[str, DeviceView]

    def group(self, status: Exposure) -> list[DeviceView]:
        found = [self.devices[k] for k, s in self.status.items() if s is status]
        return sorted(found, key=lambda d: (d.site, d.address))


def _applies(v: Vulnerability, d: DeviceView) -> bool:
    return d.maker == v.maker and (not v.brand or v.brand == d.brand) and bool(v.models.search(d.model))


def _tally(estate: Estate) -> list[_Tally]:
    tallies: dict[str, _Tally] = {}
    for vuln in estate.tables.vulnerabilities:
        t = tallies.setdefault(vuln.cve, _Tally(vuln.cve, vuln.kev, vuln.maker, vuln.summary, set(), {}, {}))
        t.kev = t.kev or vuln.kev
        t.fixed_in.add(fixed_in(vuln.affected))
        for d in estate.devices:
            if not _applies(vuln, d):
                continue
            key = f"{d.site}|{d.device_id}"
            t.devices[key] = d
            found = classify(read_firmware(d.firmware, d.maker), vuln.affected)
            t.status[key] = worst(t.status.get(key), found)
    return sorted(tallies.values(), key=lambda t: (not t.kev, -len(t.group(Exposure.AFFECTED)), t.cve))


def _maker_name(maker: str) -> str:
    return maker.capitalize()


def _addresses(devices: list[DeviceView]) -> str:
    return ", ".join(f"{d.site}/{d.address}" for d in devices) or "none"


def _answer(t: _Tally) -> str:
    groups = {s: t.group(s) for s in _STATUSES}
    n = len(t.devices)
    kev = " (CISA KEV)" if t.kev else ""
    return (
        f"{t.cve}{kev}: {len(groups[Exposure.AFFECTED])} of {n} {_maker_name(t.maker)} devices in scope"
        f" are affected; {len(groups[Exposure.FIXED])} fixed;"
        f" {len(groups[Exposure.NOT_AFFECTED])} never affected;"
        f" {len(groups[Exposure.UNKNOWN])} unknown firmware."
        f" Affected: {_addresses(groups[Exposure.AFFECTED])}."
        f" Fixed: {_addresses(groups[Exposure.FIXED])}."
        f" Never affected: {_addresses(groups[Exposure.NOT_AFFECTED])}."
        f" Unknown firmware: {_addresses(groups[Exposure.UNKNOWN])}."
    )


def build_patch_status(estate: Estate) -> Report:
    ordered = [t for t in _tally(estate) if t.devices]
    per_cve = tuple(
        {
            "cve": t.cve,
            "kev": t.kev,
            "maker": t.maker,
            "fixed_in": sorted(t.fixed_in),
            "devices_in_scope": len(t.devices),
            "affected": len(t.group(Exposure.AFFECTED)),
            "fixed": len(t.group(Exposure.FIXED)),
            "not_affected": len(t.group(Exposure.NOT_AFFECTED)),
            "unknown_firmware": len(t.group(Exposure.UNKNOWN)),
            "summary": t.summary,
        }
        for t in ordered
    )
    details: list[dict[str, Any]] = []
    for t in ordered:
        for status in _STATUSES:
            for d in t.group(status):
                details.append(
                    {
                        "cve": t.cve,
                        "kev": t.kev,
                        "status": str(status),
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
    affected_devices = {k for t in ordered for k, s in t.status.items() if s is Exposure.AFFECTED}
    kev_devices = {k for t in ordered if t.kev for k, s in t.status.items() if s is Exposure.AFFECTED}
    unknown = {k for t in ordered for k, s in t.status.items() if s is Exposure.UNKNOWN}
    figures = {
        "cves_with_affected_devices": sum(1 for t in ordered if t.group(Exposure.AFFECTED)),
        "affected_devices": len(affected_devices),
        "kev_affected_devices": len(kev_devices),
        "unknown_firmware_devices": len(unknown),
    }
    answers = [_answer(t) for t in ordered]
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
                    "devices_in_scope",
                    "affected",
                    "fixed",
                    "not_affected",
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

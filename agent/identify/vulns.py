"""Firmware against the vulnerability table: which CVEs apply, KEV first (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.identify.firmware import in_range, parse_version, scheme_for
from agent.identify.tables import Tables


@dataclass(frozen=True)
class VulnMatch:
    cve: str
    kev: bool
    summary: str
    source: str

    def as_json(self) -> dict[str, object]:
        return {"cve": self.cve, "kev": self.kev, "summary": self.summary}


def match_vulnerabilities(
    tables: Tables, *, maker: str | None, brand: str | None, model: str, firmware: str
) -> list[VulnMatch]:
    """CVEs whose maker, brand, model pattern and firmware range all match; KEV first.

    The firmware is read by the scheme of ``maker`` (the hardware's maker, so a Dahua-made
    Amcrest's string is read as Dahua's).
    """
    if maker is None or not firmware:
        return []
    version = parse_version(firmware, scheme_for(maker))
    if version is None:
        return []
    found: dict[str, VulnMatch] = {}
    for vuln in tables.vulnerabilities:
        if vuln.maker != maker or (vuln.brand and vuln.brand != brand) or vuln.cve in found:
            continue
        if not vuln.models.search(model or ""):
            continue
        if in_range(version, vuln.affected):
            found[vuln.cve] = VulnMatch(vuln.cve, vuln.kev, vuln.summary, vuln.source)
    return sorted(found.values(), key=lambda v: (not v.kev, v.cve))

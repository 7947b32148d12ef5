"""Imported vulnerability data applied to the identification tables (pure).

Two effects, both recorded in the table version the verdicts carry:

- The KEV catalogue sets the KEV flag (and its date) of every CVE it lists, in the bundled
  table's rows and in imported ones. It never clears one: CISA removes entries almost never,
  and an older catalogue imported by mistake must not make a listed CVE look harmless.
- A CVE JSON 5 record for a CVE the bundled table does not know becomes match rows where its
  ``affected`` entries can be read: the vendor names a maker or brand of the tables, the
  product has a model number (``IPC-HFW2XXX``: an X after a digit stands for any character),
  and a version bound is written as ``lessThan``/``lessThanOrEqual`` (with ``version`` as the
  lower bound) or as Dahua's "Build time before <Month>, <Year>". The bundled table's curated
  ranges win for CVEs it has; entries that cannot be read are counted, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from agent.identify.classify import find_name
from agent.identify.firmware import Constraint, RangeError, parse_range
from agent.identify.tables import Tables, Vulnerability
from collector.judge.vulndb import AffectedVersion, CveRecord, KevEntry

_BEFORE = re.compile(r"build\s*(?:time|date)?\s*before\s+([A-Za-z]+)\.?,?\s*(\d{4})", re.IGNORECASE)
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
)}  # fmt: skip
_NO_BOUND = {"", "0", "*", "-", "n/a", "unspecified", "all"}


@dataclass(frozen=True)
class Applied:
    """The tables with imported data applied, and what could not be used."""

    tables: Tables
    kev_flagged: int
    imported_rules: int
    unreadable: tuple[str, ...]  # "CVE-...: why", at most a few hundred


def product_pattern(product: str) -> re.Pattern[str] | None:
    """A model regex for a CVE product string, or None if it names no model number."""
    alternatives = []
    for part in re.split(r"[,/;]| and ", product):
        name = part.strip()
        if not re.search(r"\d", name) or " " in name or len(name) > 64:
            continue
        out, prev_placeholder, prev = [], False, ""
        for ch in name:
            placeholder = ch in "xX" and (prev.isdigit() or prev_placeholder)
            out.append("[0-9A-Z]" if placeholder else re.escape(ch.upper()))
            prev_placeholder, prev = placeholder, ch
        alternatives.append("".join(out))
    if not alternatives:
        return None
    return re.compile(r"^(?:[A-Z]{2,4}-)?(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


def version_range(v: AffectedVersion) -> tuple[Constraint, ...] | None:
    """The constraints one affected version item states, or None if it states none we can read."""
    if v.status and v.status.lower() != "affected":
        return None
    m = _BEFORE.search(v.version)
    month = _MONTHS.get(m.group(1)[:3].lower()) if m else None
    if m and month:
        return parse_range(f"build<{int(m.group(2)) % 100:02d}{month:02d}01")
    items = []
    low = "" if v.version.strip().lower() in _NO_BOUND else v.version.strip()
    if v.less_than or v.less_than_or_equal:
        if low:
            items.append(f">={low}")
        items += [f"<{v.less_than}"] if v.less_than else [f"<={v.less_than_or_equal}"]
    elif low:
        items += [f">={low}", f"<={low}"]
    if not items:
        return None
    try:
        return parse_range(",".join(items))
    except RangeError:
        return None


def rules_of(record: CveRecord, tables: Tables) -> tuple[list[Vulnerability], str]:
    """Match rows for one CVE record, and why none could be made if so."""
    rows: list[Vulnerability] = []
    why = "no affected entry"
    for affected in record.affected:
        ident = find_name(tables, affected.vendor) if affected.vendor else None
        if ident is None:
            why = f"vendor {affected.vendor!r} is not in the tables"
            continue
        brand_row = tables.brands.get(ident)
        maker, brand = (brand_row.maker, ident) if brand_row and ident not in tables.vendors else (ident, "")
        models = product_pattern(affected.product)
        if models is None:
            why = f"product {affected.product!r} names no model number"
            continue
        ranges = [r for v in affected.versions if (r := version_range(v)) is not None]
        if not ranges:
            why = f"no readable version bound for {affected.product!r}"
            continue
        for constraints in ranges:
            rows.append(
                Vulnerability(
                    cve=record.cve,
                    maker=maker,
                    brand=brand,
                    models=models,
                    affected=constraints,
                    kev=False,
                    kev_added="",
                    summary=record.summary[:200] or record.cve,
                    source=f"CVE JSON 5 record {record.cve} (updated {record.date_updated or '?'}), imported",
                )
            )
    return rows, "" if rows else why


def apply_vulndb(tables: Tables, kev: Iterable[KevEntry], cves: Iterable[CveRecord]) -> Applied:
    """``tables`` with the KEV flags and the readable CVE records applied."""
    listed: Mapping[str, KevEntry] = {e.cve: e for e in kev}
    known = {v.cve for v in tables.vulnerabilities}
    rows = list(tables.vulnerabilities)
    unreadable: list[str] = []
    imported = 0
    for record in sorted(cves, key=lambda r: r.cve):
        if record.cve in known:
            continue
        new, why = rules_of(record, tables)
        if why and len(unreadable) < 500:
            unreadable.append(f"{record.cve}: {why}")
        rows += new
        imported += len(new)
    flagged = 0
    out = []
    for row in rows:
        entry = listed.get(row.cve)
        if entry is not None:
            flagged += 1
            out.append(replace(row, kev=True, kev_added=entry.date_added))
        else:
            out.append(row)
    return Applied(replace(tables, vulnerabilities=tuple(out)), flagged, imported, tuple(unreadable))

"""Vulnerability data from files (pure): the CISA KEV catalogue and CVE JSON 5 records.

The collector never fetches them itself; an operator downloads
``known_exploited_vulnerabilities.json`` (https://www.cisa.gov/known-exploited-vulnerabilities-catalog)
and CVE records (https://github.com/CVEProject/cvelistV5) and runs
``camsentry-collector vulndb import FILE``. ``parse_vulndb_file`` tells the formats apart by
their shape: ``{"catalogVersion", "vulnerabilities": [{"cveID", ...}]}`` is KEV;
``{"dataType": "CVE_RECORD", "cveMetadata": {"cveId"}, "containers": {"cna": {"affected"}}}``
(one record, or a JSON list of them) is CVE JSON 5. Anything else is a ``VulnDbError`` naming
the file and what is wrong, and nothing of that file is imported.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_FILE_BYTES = 64 * 1024 * 1024  # the KEV catalogue is about 1.5 MB; cvelistV5 records a few KB each
MAX_ENTRIES = 200_000  # KEV lists about 1,300; the whole CVE list is about 280,000 records
MAX_LIST_ITEMS = 256  # affected[] and versions[] items read per record; the rest are passed over
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,7}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class VulnDbError(ValueError):
    """A vulnerability file that cannot be used, as ``file: problem``."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class KevEntry:
    cve: str
    vendor: str
    product: str
    date_added: str  # YYYY-MM-DD


@dataclass(frozen=True)
class AffectedVersion:
    """One ``versions[]`` item of a CVE 5 ``affected`` entry, as written."""

    version: str
    status: str
    less_than: str = ""
    less_than_or_equal: str = ""


@dataclass(frozen=True)
class Affected:
    vendor: str
    product: str
    versions: tuple[AffectedVersion, ...] = ()


@dataclass(frozen=True)
class CveRecord:
    cve: str
    date_updated: str
    summary: str
    affected: tuple[Affected, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "cve": self.cve,
            "date_updated": self.date_updated,
            "summary": self.summary,
            "affected": [
                {
                    "vendor": a.vendor,
                    "product": a.product,
                    "versions": [
                        {
                            "version": v.version,
                            "status": v.status,
                            "lessThan": v.less_than,
                            "lessThanOrEqual": v.less_than_or_equal,
                        }
                        for v in a.versions
                    ],
                }
                for a in self.affected
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CveRecord:
        """From ``to_json`` (as stored); trusts its own writing."""
        return cls(
            str(data["cve"]),
            str(data.get("date_updated", "")),
            str(data.get("summary", "")),
            tuple(
                Affected(
                    str(a.get("vendor", "")),
                    str(a.get("product", "")),
                    tuple(
                        AffectedVersion(
                            str(v.get("version", "")),
                            str(v.get("status", "")),
                            str(v.get("lessThan", "")),
                            str(v.get("lessThanOrEqual", "")),
                        )
                        for v in a.get("versions", [])
                    ),
                )
                for a in data.get("affected", [])
            ),
        )


@dataclass(frozen=True)
class VulnFile:
    """One parsed file: its kind, the version it states (KEV ``catalogVersion``), its entries."""

    source: str
    kind: str  # "kev" | "cve"
    version: str
    digest: str  # SHA-256 of the file's bytes
    kev: tuple[KevEntry, ...] = ()
    cves: tuple[CveRecord, ...] = ()

    @property
    def entries(self) -> int:
        return len(self.kev) + len(self.cves)


def _text(obj: Mapping[str, Any], key: str, where: str, source: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise VulnDbError(source, f"{where}.{key}: expected a string")
    return value.strip()[:4096]


def _cve_id(value: str, where: str, source: str) -> str:
    cve = value.strip().upper()
    if not _CVE_ID.match(cve):
        raise VulnDbError(source, f"{where}: {value[:40]!r} is not a CVE id")
    return cve


def parse_kev(data: Mapping[str, Any], source: str) -> tuple[str, tuple[KevEntry, ...]]:
    """(catalogVersion, entries) of a KEV catalogue document."""
    version = _text(data, "catalogVersion", "catalog", source)
    items = data.get("vulnerabilities")
    if not isinstance(items, list):
        raise VulnDbError(source, "vulnerabilities: expected a list")
    if len(items) > MAX_ENTRIES:
        raise VulnDbError(source, f"vulnerabilities: more than {MAX_ENTRIES} entries")
    out: dict[str, KevEntry] = {}
    for i, item in enumerate(items):
        where = f"vulnerabilities[{i}]"
        if not isinstance(item, Mapping):
            raise VulnDbError(source, f"{where}: expected an object")
        cve = _cve_id(_text(item, "cveID", where, source), f"{where}.cveID", source)
        added = _text(item, "dateAdded", where, source)
        if not _DATE.match(added):
            raise VulnDbError(source, f"{where}.dateAdded: expected YYYY-MM-DD")
        out[cve] = KevEntry(
            cve,
            _text(item, "vendorProject", where, source, required=False),
            _text(item, "product", where, source, required=False),
            added[:10],
        )
    return version, tuple(sorted(out.values(), key=lambda e: e.cve))


def _objects(raw: Any, where: str, source: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(place, item) for the first ``MAX_LIST_ITEMS`` items of a list that must hold objects."""
    if not isinstance(raw, list):
        raise VulnDbError(source, f"{where}: expected a list")
    for i, item in enumerate(raw[:MAX_LIST_ITEMS]):
        w = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise VulnDbError(source, f"{w}: expected an object")
        yield w, item


def _versions(raw: Any, where: str, source: str) -> tuple[AffectedVersion, ...]:
    if raw is None:
        return ()
    return tuple(
        AffectedVersion(
            _text(v, "version", w, source, required=False),
            _text(v, "status", w, source, required=False),
            _text(v, "lessThan", w, source, required=False),
            _text(v, "lessThanOrEqual", w, source, required=False),
        )
        for w, v in _objects(raw, f"{where}.versions", source)
    )


def parse_cve_record(data: Mapping[str, Any], source: str, where: str = "record") -> CveRecord:
    """One CVE JSON 5 record: its id, last update, English summary and CNA ``affected`` list."""
    if data.get("dataType") != "CVE_RECORD":
        raise VulnDbError(source, f"{where}.dataType: expected CVE_RECORD")
    meta = data.get("cveMetadata")
    cna = (data.get("containers") or {}).get("cna") if isinstance(data.get("containers"), Mapping) else None
    if not isinstance(meta, Mapping) or not isinstance(cna, Mapping):
        raise VulnDbError(source, f"{where}: needs cveMetadata and containers.cna")
    cve = _cve_id(_text(meta, "cveId", f"{where}.cveMetadata", source), f"{where}.cveMetadata.cveId", source)
    affected = [
        Affected(
            _text(a, "vendor", w, source, required=False),
            _text(a, "product", w, source, required=False),
            _versions(a.get("versions"), w, source),
        )
        for w, a in _objects(cna.get("affected", []), f"{where}.containers.cna.affected", source)
    ]
    summary = ""
    for d in cna.get("descriptions", []) if isinstance(cna.get("descriptions"), list) else []:
        if (
            isinstance(d, Mapping)
            and str(d.get("lang", "")).startswith("en")
            and isinstance(d.get("value"), str)
        ):
            summary = d["value"].strip()[:500]
            break
    updated = meta.get("dateUpdated") or meta.get("datePublished") or ""
    return CveRecord(cve, str(updated)[:40], summary, tuple(affected))


def parse_vulndb_file(data: bytes, source: str) -> VulnFile:
    """A KEV catalogue or CVE JSON 5 record(s), told apart by shape; VulnDbError if neither."""
    if len(data) > MAX_FILE_BYTES:
        raise VulnDbError(source, f"larger than {MAX_FILE_BYTES} bytes")
    digest = hashlib.sha256(data).hexdigest()
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise VulnDbError(source, f"not JSON: {exc}") from None
    if isinstance(doc, Mapping) and "catalogVersion" in doc:
        version, kev = parse_kev(doc, source)
        return VulnFile(source, "kev", version, digest, kev=kev)
    records: Sequence[Any] = doc if isinstance(doc, list) else [doc]
    if not records or len(records) > MAX_ENTRIES:
        raise VulnDbError(source, "neither a KEV catalogue nor CVE JSON 5 records")
    if not all(isinstance(r, Mapping) and r.get("dataType") == "CVE_RECORD" for r in records):
        raise VulnDbError(
            source, "neither a KEV catalogue (catalogVersion) nor CVE JSON 5 (dataType CVE_RECORD)"
        )
    cves = tuple(parse_cve_record(r, source, f"record[{i}]") for i, r in enumerate(records))
    return VulnFile(source, "cve", digest[:12], digest, cves=cves)

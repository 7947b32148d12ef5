"""The judge's tables in the collector database (migration 10): imported vulnerability data and
the centre's verdicts. Every statement goes through ``collector.store.Database``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.wire.timefmt import format_utc
from collector.judge.vulndb import CveRecord, KevEntry, VulnFile
from collector.store import Database
from collector.store.values import as_json, as_time_text

_UPSERT_KEV = (
    "INSERT INTO vulndb_kev (cve, vendor, product, date_added, catalog_version, imported_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cve) DO UPDATE SET vendor = excluded.vendor, "
    "product = excluded.product, date_added = excluded.date_added, "
    "catalog_version = excluded.catalog_version, imported_at = excluded.imported_at"
)
_UPSERT_CVE = (
    "INSERT INTO vulndb_cve (cve, date_updated, record, imported_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (cve) DO UPDATE SET date_updated = excluded.date_updated, record = excluded.record, "
    "imported_at = excluded.imported_at"
)
_UPSERT_VERDICT = (
    "INSERT INTO device_verdicts (site, device_key, tables_version, record_fingerprint, verdict, judged_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, device_key) DO UPDATE SET "
    "tables_version = excluded.tables_version, record_fingerprint = excluded.record_fingerprint, "
    "verdict = excluded.verdict, judged_at = excluded.judged_at"
)


def import_file(db: Database, vf: VulnFile, now: datetime) -> None:
    """Store one parsed file in one transaction: all of it, or (on any error) nothing."""
    at = format_utc(now)
    with db.transaction("importing vulnerability data") as tx:
        if vf.kind == "kev":
            tx.executemany(
                _UPSERT_KEV, [(e.cve, e.vendor, e.product, e.date_added, vf.version, at) for e in vf.kev]
            )
        else:
            tx.executemany(
                _UPSERT_CVE,
                [(r.cve, r.date_updated, json.dumps(r.to_json(), sort_keys=True), at) for r in vf.cves],
            )
        tx.execute(
            "INSERT INTO vulndb_imports (imported_at, kind, source, version, entries, digest) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (at, vf.kind, vf.source[:500], vf.version, vf.entries, vf.digest),
        )


def import_stamp(db: Database) -> str:
    """Changes whenever anything is imported (cheap: read every policy pass)."""
    rows = db.read("reading vulnerability imports", "SELECT COUNT(*), MAX(digest) FROM vulndb_imports")
    count, digest = rows[0] if rows else (0, None)
    return f"{int(count or 0)}:{digest or ''}"


@dataclass(frozen=True)
class VulnData:
    kev: tuple[KevEntry, ...]
    cves: tuple[CveRecord, ...]
    kev_catalog: str  # the newest catalogVersion imported, "" if none


def load_vulndb(db: Database) -> VulnData:
    kev_rows = db.read(
        "reading the KEV catalogue",
        "SELECT cve, vendor, product, date_added, catalog_version FROM vulndb_kev ORDER BY cve",
    )
    cve_rows = db.read("reading CVE records", "SELECT record FROM vulndb_cve ORDER BY cve")
    kev = tuple(KevEntry(str(c), str(v), str(p), str(d)) for c, v, p, d, _ in kev_rows)
    catalog = max((str(r[4]) for r in kev_rows), default="")
    return VulnData(kev, tuple(CveRecord.from_json(as_json(r[0])) for r in cve_rows), catalog)


def import_history(db: Database) -> list[dict[str, Any]]:
    rows = db.read(
        "reading vulnerability imports",
        "SELECT imported_at, kind, source, version, entries FROM vulndb_imports ORDER BY imported_at",
    )
    return [
        {"imported_at": as_time_text(at), "kind": k, "source": s, "version": v, "entries": int(n)}
        for at, k, s, v, n in rows
    ]


@dataclass(frozen=True)
class StoredVerdict:
    site: str
    device_key: str
    tables_version: str
    record_fingerprint: str
    verdict: dict[str, Any]


def load_verdicts(db: Database) -> dict[tuple[str, str], StoredVerdict]:
    rows = db.read(
        "reading verdicts",
        "SELECT site, device_key, tables_version, record_fingerprint, verdict FROM device_verdicts",
    )
    return {(s, k): StoredVerdict(s, k, t, f, dict(as_json(v))) for s, k, t, f, v in rows}


def save_verdicts(db: Database, verdicts: Sequence[StoredVerdict], now: datetime) -> None:
    if not verdicts:
        return
    at = format_utc(now)
    with db.transaction("storing verdicts") as tx:
        tx.executemany(
            _UPSERT_VERDICT,
            [
                (v.site, v.device_key, v.tables_version, v.record_fingerprint, json.dumps(v.verdict), at)
                for v in verdicts
            ],
        )

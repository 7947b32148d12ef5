"""The centre's verdict: identification and firmware matching run again at the collector over
each device's stored raw signals, with the collector's tables and imported vulnerability data.

The agent judged at the edge with the tables it shipped with; a better table (a new model
family, an OEM brand, a CVE) or a new KEV listing reaches the whole estate here, without
touching a site box. ``CentreJudge.refresh()`` runs before every policy pass and is cheap
when nothing changed (file sizes and times, one count of imports); when the bundled data files
or the imported data change it rebuilds the tables and every device is judged again, at once.
Each verdict carries ``tables_version`` (SHA-256 of the data files, the KEV catalogue version
and a digest of the imported records) and is stored in ``device_verdicts``; a stored verdict
of the same version for the same record is reused after a restart.

``apply(rows)`` gives the policy the centre's verdict in each device record (maker, brand,
confidence, restricted, evidence, vulnerabilities) and keeps the agent's under
``agent_verdict`` as evidence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import structlog

from agent.identify.classify import Signals, classify
from agent.identify.tables import DATA_FILES, TableError, Tables, parse_tables, read_data_files
from agent.identify.vulns import match_vulnerabilities
from agent.runtime.clock import Clock
from agent.wire.errors import BodyError
from agent.wire.inventory import DeviceRecord
from collector.judge.dbio import (
    StoredVerdict,
    VulnData,
    import_stamp,
    load_verdicts,
    load_vulndb,
    save_verdicts,
)
from collector.judge.rules import apply_vulndb
from collector.store import Database

log = structlog.get_logger(__name__)

# ``restricted``: yes / probable / no / unknown (agent.identify); records of agents that predate it lack it.
VERDICT_KEYS = (
    "maker",
    "brand",
    "maker_confidence",
    "maker_restricted",
    "restricted",
    "evidence",
    "vulnerabilities",
)
# The raw signal fields a record carries under ``signals`` (agent.wire.inventory.Signals; rebuilt
# from the flat version 1 fields by the decoder when a record has none).
_TEXT = ("manufacturer", "model", "firmware", "serial", "mac", "http_server", "login_title")
_LISTS = ("scopes", "hostnames", "probe_scopes", "xaddr_hints", "macs")
MAX_SIGNAL_ITEMS = 256
_VOLATILE = frozenset({"clock_offset_s", "polled_at", "poll_duration_s"})  # change every poll


def record_digest(record: Mapping[str, Any]) -> str:
    """Changes when anything but the per-poll noise of a record changes."""
    stable = {k: v for k, v in record.items() if k not in _VOLATILE}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()


def data_version(files: Mapping[str, str]) -> str:
    """``data-<hex>``: SHA-256 over the data files' names and contents."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return "data-" + h.hexdigest()[:16]


def vulndb_version(data: VulnData) -> str:
    h = hashlib.sha256()
    for e in data.kev:
        h.update(f"k{e.cve}{e.date_added}\0".encode())
    for r in data.cves:
        h.update(f"c{r.cve}{r.date_updated}\0".encode())
    return (
        f"kev-{data.kev_catalog or 'none'}+vulndb-{h.hexdigest()[:12] if data.kev or data.cves else 'none'}"
    )


def package_stamp() -> tuple[Any, ...]:
    """Sizes and modification times of the bundled data files (a cheap change check)."""
    base = resources.files("agent").joinpath("data")
    out: list[Any] = []
    for name in DATA_FILES:
        try:
            st = base.joinpath(name).stat()  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            out.append((name, None))
            continue
        out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def signals_of_record(record: Mapping[str, Any]) -> tuple[Signals, str]:
    """The raw signals in a stored record, read through the wire decoder (``DeviceRecord``), and
    where they came from: ``signals``, the flat version 1 fields (which lack the login page title
    and the ProbeMatch), or nothing for a record that does not decode."""
    try:
        wire = DeviceRecord.decode(record).signals
    except BodyError:
        return Signals(), "undecodable"
    fields = {k: getattr(wire, k) for k in _TEXT}
    lists = {k: getattr(wire, k)[:MAX_SIGNAL_ITEMS] for k in _LISTS}
    return Signals(**fields, **lists), "signals" if "signals" in record else "record fields"


def judge_record(record: Mapping[str, Any], tables: Tables, version: str) -> dict[str, Any]:
    """The centre's verdict on one record (pure)."""
    signals, origin = signals_of_record(record)
    ident = classify(signals, tables)
    vulns = match_vulnerabilities(
        tables, maker=ident.maker, brand=ident.brand, model=signals.model, firmware=signals.firmware
    )
    kev_dates = {v.cve: v.kev_added for v in tables.vulnerabilities if v.kev}
    maker_row = tables.vendors.get(ident.maker or "")
    return {
        "maker": ident.maker,
        "brand": ident.brand,
        "maker_confidence": ident.confidence,
        "maker_restricted": bool(maker_row and maker_row.restricted),
        "restricted": str(ident.restricted),
        "evidence": [e.as_json() for e in ident.evidence],
        "vulnerabilities": [
            {**v.as_json(), **({"kev_added": kev_dates[v.cve]} if v.kev and kev_dates.get(v.cve) else {})}
            for v in vulns
        ],
        "tables_version": version,
        "signals_from": origin,
    }


def with_verdict(record: Mapping[str, Any], verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the policy sees it: the centre's verdict, the agent's kept as evidence."""
    out = dict(record)
    out["agent_verdict"] = {k: record.get(k) for k in VERDICT_KEYS}
    out.update({k: verdict.get(k) for k in VERDICT_KEYS})
    out["verdict"] = {
        "by": "collector",
        "tables_version": verdict.get("tables_version"),
        "restricted": verdict.get("restricted"),
        "signals_from": verdict.get("signals_from"),
    }
    return out


class CentreJudge:
    """Judges every stored device with the current tables; see the module docstring."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        read_files: Callable[[], dict[str, str]] = read_data_files,
        files_stamp: Callable[[], Any] = package_stamp,
    ) -> None:
        self.db = db
        self.clock = clock
        self._read_files = read_files
        self._files_stamp = files_stamp
        self._stamp: tuple[Any, str] | None = None
        self._data_version = ""
        self._base: Tables | None = None
        self.tables: Tables | None = None
        self.version = ""
        self._stored: dict[tuple[str, str], StoredVerdict] | None = None
        # (site, device_key) -> ((evidence boot, seq, tables version), record with the verdict)
        self._memo: dict[tuple[str, str], tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def refresh(self) -> bool:
        """Reload the tables if the data files or the imported data changed; True if so."""
        stamp = (self._files_stamp(), import_stamp(self.db))
        if stamp == self._stamp and self.tables is not None:
            return False
        if self._stamp is None or stamp[0] != self._stamp[0] or self._base is None:
            files = self._read_files()
            try:
                self._base = parse_tables(files)
            except TableError as exc:
                if self._base is None:
                    raise  # at start-up: nothing to judge with, say so
                # A half-written or broken release: keep judging with the tables in use.
                log.error("judge_tables_invalid", error=str(exc), tables_version=self.version)
                self._stamp = (stamp[0], self._stamp[1] if self._stamp else "")
                return False
            self._data_version = data_version(files)
        data = load_vulndb(self.db)
        applied = apply_vulndb(self._base, data.kev, data.cves)
        previous, self.version = self.version, f"{self._data_version}+{vulndb_version(data)}"
        self.tables, self._stamp = applied.tables, stamp
        if self.version != previous:
            log.info(
                "judge_tables_loaded",
                tables_version=self.version,
                previous=previous or None,
                kev_flagged=applied.kev_flagged,
                imported_rules=applied.imported_rules,
                unreadable_records=len(applied.unreadable),
            )
        return self.version != previous

    def apply(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``devices()`` rows with each record replaced by its centre-judged form.

        A row whose record (its evidence envelope) and tables are those of the last pass costs
        a dictionary look-up: the policy pass reads only what changed, and so does the judge."""
        if self.tables is None:
            self.refresh()
        assert self.tables is not None
        if self._stored is None:
            self._stored = load_verdicts(self.db)
        out: list[dict[str, Any]] = []
        fresh: list[StoredVerdict] = []
        for row in rows:
            record = row.get("record")
            if not isinstance(record, Mapping):
                out.append(dict(row))
                continue
            key = (str(row.get("site")), str(row.get("device_key")))
            ref = (row.get("evidence_boot"), row.get("evidence_seq"), self.version)
            memo = self._memo.get(key)
            if memo is not None and memo[0] == ref:
                out.append({**row, "record": memo[1]})
                continue
            judged = self._judge(key, record, fresh)
            if judged is None:
                out.append(dict(row))
                continue
            self._memo[key] = (ref, judged)
            out.append({**row, "record": judged})
        if fresh:
            save_verdicts(self.db, fresh, self.clock.now())
            log.info("devices_judged", devices=len(fresh), tables_version=self.version)
        return out

    def _judge(
        self, key: tuple[str, str], record: Mapping[str, Any], fresh: list[StoredVerdict]
    ) -> dict[str, Any] | None:
        """The record with the centre's verdict: the stored one if it is for this record and
        these tables, else judged now (and appended to ``fresh``); None if judging failed."""
        assert self._stored is not None and self.tables is not None
        fingerprint = record_digest(record)
        stored = self._stored.get(key)
        if stored is None or (stored.tables_version, stored.record_fingerprint) != (
            self.version,
            fingerprint,
        ):
            try:
                verdict = judge_record(record, self.tables, self.version)
            except Exception:  # one odd record must not cost the estate its pass
                log.exception("judge_failed", site=key[0], device=key[1])
                return None
            stored = StoredVerdict(key[0], key[1], self.version, fingerprint, verdict)
            self._stored[key] = stored
            fresh.append(stored)
        return with_verdict(record, stored.verdict)

    def verdicts(self) -> Sequence[StoredVerdict]:
        return list((self._stored or {}).values())

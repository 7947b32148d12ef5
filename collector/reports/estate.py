"""What the reports read, gathered once: devices as seen, violations, agents, the register, policy.

``load_estate`` is the one edge that reads the database; ``Estate`` and ``DeviceView`` are plain
data the report builders judge without I/O. Every device's maker, brand, confidence and
restricted status are the centre's verdict when one was stored for its current record (the
verdict the policy raised its violations from; ``collector.reports.identity``), else the
agent's, and ``verdict_source`` says which. A device's register entry is found by MAC, then
serial, then address within the site (``match_register``), each asset matched at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.identify.tables import Tables, load_tables
from agent.wire.errors import BodyError
from agent.wire.inventory import DeviceRecord
from agent.wire.timefmt import format_utc
from collector.judge.dbio import load_verdicts, load_vulndb
from collector.judge.rules import apply_vulndb
from collector.policy.engine import DeviceFact
from collector.policy.facts import device_facts
from collector.policy.model import Policy
from collector.register import Asset, RegisterStore, normalise_mac
from collector.reports.identity import (
    AGENT_SOURCE,
    restricted_status,
    status_of_columns,
    verdict_source,
    with_centre_verdicts,
)
from collector.reports.refs import evidence_ref
from collector.reports.snapshots import SiteSnapshot, snapshots
from collector.store import Store
from collector.violations import ViolationRow, ViolationStore


@dataclass(frozen=True)
class DeviceView:
    """One device as last reported, with what the policy and the register say about it."""

    site: str
    agent: str
    device_id: str
    address: str
    port: int | None
    mac: str
    serial: str
    manufacturer: str
    model: str
    firmware: str
    maker: str
    brand: str
    maker_confidence: float | None
    first_seen: str
    last_seen: str
    evidence: str
    department: str
    restricted: str  # yes | probable | no | unknown (collector.reports.identity.restricted_status)
    cves: tuple[str, ...]
    kev_cves: tuple[str, ...]
    findings: tuple[str, ...]
    # Why this maker: (signal, value, points_to) as the identification reported them.
    signals: tuple[tuple[str, str, str], ...] = ()
    asset: Asset | None = None
    matched_by: str = ""
    verdict_source: str = AGENT_SOURCE  # "centre <tables_version>" or "agent"
    agent_maker: str = ""  # what the agent's own verdict said, kept beside the centre's

    @property
    def is_restricted(self) -> bool:
        """Counted as restricted-made, as the restricted-device rules count it."""
        return self.restricted == "yes"

    @property
    def maker_evidence(self) -> tuple[str, ...]:
        return tuple(f"{s}={v}->{p}" for s, v, p in self.signals)


@dataclass(frozen=True)
class Estate:
    now: datetime
    policy: Policy
    devices: tuple[DeviceView, ...]
    violations: tuple[ViolationRow, ...]
    agents: tuple[dict[str, Any], ...]
    assets: tuple[Asset, ...]
    tables: Tables
    facts: tuple[DeviceFact, ...] = ()
    snapshots: tuple[SiteSnapshot, ...] = ()

    @property
    def generated_at(self) -> str:
        return format_utc(self.now)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _record(row: dict[str, Any]) -> DeviceRecord | None:
    try:
        return DeviceRecord.decode(row.get("record"))
    except BodyError:
        return None  # the columns still tell where and what it is; CVEs and findings stay unknown


def device_view(row: dict[str, Any], policy: Policy) -> DeviceView:
    """From one ``Store.devices()`` row; its record is read through the wire contract's decoder."""
    record = _record(row)
    vulns = record.vulnerabilities if record else ()
    maker = _str(record.maker if record else row.get("maker")).lower()
    confidence = record.maker_confidence if record else row.get("maker_confidence")
    raw: dict[str, Any] = row["record"] if isinstance(row.get("record"), dict) else {}
    agent_verdict: dict[str, Any] = (
        raw["agent_verdict"] if isinstance(raw.get("agent_verdict"), dict) else raw
    )
    return DeviceView(
        site=str(row["site"]),
        agent=str(row["agent"]),
        device_id=str(row["device_key"]),
        address=_str(row.get("address")),
        port=row.get("port"),
        mac=_str(row.get("mac")).lower(),
        serial=_str(row.get("serial")),
        manufacturer=_str(row.get("manufacturer")),
        model=_str(row.get("model")),
        firmware=_str(row.get("firmware")),
        maker=maker,
        brand=_str(record.brand if record else row.get("brand")).lower(),
        maker_confidence=confidence,
        first_seen=str(row["first_seen"]),
        last_seen=str(row["last_seen"]),
        evidence=evidence_ref(str(row["agent"]), str(row["evidence_boot"]), int(row["evidence_seq"])),
        department=policy.site(str(row["site"])).department,
        restricted=restricted_status(policy, record)
        if record
        else status_of_columns(policy, maker, confidence),
        cves=tuple(sorted({v.cve for v in vulns})),
        kev_cves=tuple(sorted({v.cve for v in vulns if v.kev})),
        findings=tuple(sorted({f.name for f in record.findings})) if record else (),
        signals=tuple((e.signal, e.value, e.points_to) for e in record.evidence) if record else (),
        verdict_source=verdict_source(raw),
        agent_maker=_str(agent_verdict.get("maker")).lower(),
    )


def _mac(text: str) -> str:
    try:
        return normalise_mac(text)
    except ValueError:
        return ""


@dataclass(frozen=True)
class RegisterMatch:
    device_id: str
    site: str
    asset: Asset
    by: str  # mac | serial | address


def match_register(devices: Sequence[DeviceView], assets: Sequence[Asset]) -> list[RegisterMatch]:
    """Pair devices with register entries: by MAC, then serial, then IP address within the site."""
    free = list(assets)
    taken: set[tuple[str, str]] = set()
    matches: list[RegisterMatch] = []

    def keys(d: DeviceView, by: str) -> str:
        if by == "mac":
            return _mac(d.mac) if d.mac else ""
        if by == "serial":
            return d.serial.strip().lower()
        return f"{d.site}|{d.address}" if d.address else ""

    def asset_key(a: Asset, by: str) -> str:
        if by == "mac":
            return a.mac
        if by == "serial":
            return a.serial.strip().lower()
        return f"{a.site}|{a.ip}" if a.ip and a.site else ""

    for by in ("mac", "serial", "address"):
        index: dict[str, DeviceView] = {}
        for d in devices:
            key = keys(d, by)
            if key and (d.site, d.device_id) not in taken:
                index.setdefault(key, d)
        remaining = []
        for a in free:
            key = asset_key(a, by)
            device = index.get(key) if key else None
            if device is None or (device.site, device.device_id) in taken:
                remaining.append(a)
                continue
            taken.add((device.site, device.device_id))
            matches.append(RegisterMatch(device.device_id, device.site, a, by))
        free = remaining
    return matches


def with_register(devices: Sequence[DeviceView], assets: Sequence[Asset]) -> tuple[DeviceView, ...]:
    from dataclasses import replace

    found = {(m.site, m.device_id): m for m in match_register(devices, assets)}
    out = []
    for d in devices:
        m = found.get((d.site, d.device_id))
        out.append(replace(d, asset=m.asset, matched_by=m.by) if m else d)
    return tuple(out)


def load_estate(store: Store, policy: Policy, now: datetime, *, tables: Tables | None = None) -> Estate:
    """Read everything the reports need from the database, once."""
    conn = store.new_database()
    try:
        violations = ViolationStore(conn, clock=_Fixed(now)).list_violations()
        assets = RegisterStore(conn).assets()
        history = snapshots(conn)
        # What 'vulndb import' stored (KEV flags, CVE records) counts here as in the policy pass.
        vulndb = load_vulndb(conn)
        verdicts = load_verdicts(conn)
    finally:
        conn.close()
    # The rows as the policy pass saw them: the centre's verdict where one is stored.
    rows = with_centre_verdicts(store.devices(), verdicts)
    devices = tuple(device_view(row, policy) for row in rows)
    return Estate(
        now=now,
        policy=policy,
        devices=with_register(devices, assets),
        violations=tuple(violations),
        agents=tuple(store.agent_status()),
        assets=tuple(assets),
        tables=apply_vulndb(tables or load_tables(), vulndb.kev, vulndb.cves).tables,
        facts=tuple(device_facts(rows)),
        snapshots=tuple(history),
    )


class _Fixed:
    """The clock the violation store is read with: the report's own ``now``."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return 0.0

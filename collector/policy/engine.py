"""The policy engine: facts (inventory, flows, agent liveness, now) in, violations out. Pure.

``evaluate(facts, policy)`` never reads a clock, a file or a database: the caller gathers the
facts from the store and passes ``now``. Each ``Violation`` has a stable ``key`` (rule, site,
agent, device and what makes it distinct) and an ``id`` derived from it, so evaluating the same
facts twice yields the same violations and the lifecycle store can follow them over time.

Device records and flow records are the dicts the identification and egress code publish
(see ``DeviceFact`` and ``FlowFact``); unknown or missing fields are tolerated, never fatal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from agent.wire.timefmt import parse_utc
from collector.policy.model import Enforcement, Policy, Severity


class Rule(StrEnum):
    RESTRICTED_AT_SENSITIVE_SITE = "restricted_at_sensitive_site"
    RESTRICTED_ON_CORE_NETWORK = "restricted_on_core_network"
    UNEXPECTED_EGRESS = "unexpected_egress"
    VULNERABLE_FIRMWARE = "vulnerable_firmware"
    WEAK_AUTHENTICATION = "weak_authentication"
    CLOCK_SKEW = "clock_skew"
    AGENT_SILENT = "agent_silent"
    # The agent lost evidence it had gathered (outbox full, or disk full): the record has a gap.
    EVIDENCE_DROPPED = "evidence_dropped"
    DEVICE_VANISHED = "device_vanished"
    UNIDENTIFIED_DEVICE = "unidentified_device"
    PAST_REMOVAL_DEADLINE = "past_removal_deadline"


# Finding kinds from identification that mean weak or absent authentication, and how bad.
WEAK_AUTH_SEVERITY: Mapping[str, Severity] = {
    "auth_bypass": Severity.CRITICAL,
    "no_auth": Severity.CRITICAL,
    "default_credentials": Severity.HIGH,
    "replayable_digest": Severity.MEDIUM,
}
# Rules whose violations a site in ``quarantine`` mode enforces by cutting the device off.
QUARANTINE_RULES = frozenset(
    {Rule.RESTRICTED_AT_SENSITIVE_SITE, Rule.RESTRICTED_ON_CORE_NETWORK, Rule.PAST_REMOVAL_DEADLINE}
)
VENDOR_CLOUD_TAG = "vendor_cloud:"
CORE_NETWORK_TAG = "core_network"
# One violation refers to at most this many envelopes: the newest, enough to open the evidence.
MAX_EVIDENCE_REFS = 20


@dataclass(frozen=True, order=True)
class EvidenceRef:
    """The envelope that carried a fact: (agent, boot, seq) is its identity in the store."""

    agent: str
    boot: str
    seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "boot": self.boot, "seq": self.seq}


@dataclass(frozen=True)
class DeviceFact:
    """One device as last reported: ``record`` is the identification record (address, maker, ...)."""

    site: str
    agent: str
    device_id: str
    record: Mapping[str, Any]
    first_seen: datetime
    last_seen: datetime
    evidence: tuple[EvidenceRef, ...] = ()

    @property
    def address(self) -> str:
        return str(self.record.get("address") or "")


@dataclass(frozen=True)
class FlowFact:
    """One aggregated flow finding (device, destination, port, protocol, hostname, tags, ...)."""

    site: str
    agent: str
    record: Mapping[str, Any]
    evidence: tuple[EvidenceRef, ...] = ()


@dataclass(frozen=True)
class AgentFact:
    site: str
    agent: str
    last_seen: datetime
    evidence: tuple[EvidenceRef, ...] = ()
    # Inventory/flow envelopes the agent's newest health says it dropped or refused, by kind.
    evidence_lost: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    devices: Sequence[DeviceFact]
    flows: Sequence[FlowFact]
    agents: Sequence[AgentFact]
    now: datetime


@dataclass(frozen=True)
class Violation:
    rule: Rule
    severity: Severity
    site: str
    agent: str
    device_id: str
    address: str
    discriminator: str
    summary: str
    first_seen: datetime
    last_seen: datetime
    evidence: tuple[EvidenceRef, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return "|".join((self.rule.value, self.site, self.agent, self.device_id, self.discriminator))

    @property
    def id(self) -> str:
        return "V-" + hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Evaluation:
    policy_version: str
    evaluated_at: datetime
    violations: tuple[Violation, ...]


@dataclass(frozen=True)
class QuarantineAction:
    site: str
    agent: str
    device_id: str
    address: str
    recorders: tuple[str, ...]
    violation_ids: tuple[str, ...]


def _refs(*groups: Iterable[EvidenceRef]) -> tuple[EvidenceRef, ...]:
    merged = sorted({ref for group in groups for ref in group}, key=lambda r: (r.boot, r.seq, r.agent))
    return tuple(merged[-MAX_EVIDENCE_REFS:])


def _list(value: Any) -> list[Any]:
    """A field a record should carry as a list; anything else counts as empty."""
    return value if isinstance(value, list) else []


def _when(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_utc(value)
        except ValueError:
            return fallback
    return fallback


def _identity(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("maker", "brand", "model", "firmware", "maker_confidence")
    detail = {k: record.get(k) for k in keys if record.get(k) is not None}
    signals = record.get("evidence")
    if isinstance(signals, list):
        detail["maker_evidence"] = [s for s in signals[:10] if isinstance(s, dict)]
    return detail


class _Builder:
    def __init__(self, policy: Policy, now: datetime) -> None:
        self.policy = policy
        self.now = now
        self.out: list[Violation] = []

    def device(
        self,
        d: DeviceFact,
        rule: Rule,
        severity: Severity,
        summary: str,
        *,
        discriminator: str = "",
        detail: Mapping[str, Any] | None = None,
        evidence: Iterable[EvidenceRef] = (),
        first_seen: datetime | None = None,
        last_seen: datetime | None = None,
    ) -> None:
        self.out.append(
            Violation(
                rule=rule,
                severity=severity,
                site=d.site,
                agent=d.agent,
                device_id=d.device_id,
                address=d.address,
                discriminator=discriminator,
                summary=summary,
                first_seen=first_seen or d.first_seen,
                last_seen=last_seen or d.last_seen,
                evidence=_refs(d.evidence, evidence),
                detail=dict(detail or {}),
            )
        )


def _confident(policy: Policy, record: Mapping[str, Any]) -> bool:
    maker = record.get("maker")
    if not isinstance(maker, str) or not maker.strip():
        return False
    confidence = record.get("maker_confidence")
    if isinstance(confidence, int | float) and not isinstance(confidence, bool):
        return confidence >= policy.thresholds.min_maker_confidence
    return True


def _device_rules(b: _Builder, d: DeviceFact, flows: Sequence[FlowFact]) -> None:
    policy, rec = b.policy, d.record
    site = policy.site(d.site)
    confident = _confident(policy, rec)
    maker = rec.get("maker") if confident else None
    ident = _identity(rec)

    if not confident:
        b.device(
            d,
            Rule.UNIDENTIFIED_DEVICE,
            Severity.LOW,
            f"device {d.address or d.device_id} has no maker identified with confidence",
            detail=ident,
        )

    restricted_here = policy.restricted_at(maker, d.site)
    if restricted_here:
        b.device(
            d,
            Rule.RESTRICTED_AT_SENSITIVE_SITE,
            Severity.HIGH,
            f"{maker} device at {site.site_class.value} site {d.site}",
            detail={**ident, "site_class": site.site_class.value},
        )
        deadline = site.removal_deadline
        if deadline is not None and deadline < b.now.date():
            b.device(
                d,
                Rule.PAST_REMOVAL_DEADLINE,
                Severity.CRITICAL,
                f"{maker} device still at {d.site} after its removal deadline {deadline.isoformat()}",
                detail={**ident, "removal_deadline": deadline.isoformat()},
            )

    if policy.restricted_maker(maker):
        reasons: list[dict[str, Any]] = []
        refs: list[EvidenceRef] = []
        if policy.in_core(d.address):
            reasons.append({"reachable_from_core": d.address})
        for f in flows:
            dest = str(f.record.get("destination") or "")
            tags = _list(f.record.get("tags"))
            if policy.in_core(dest) or CORE_NETWORK_TAG in tags:
                reasons.append({"reaches": dest, "port": f.record.get("port")})
                refs.extend(f.evidence)
        if reasons:
            b.device(
                d,
                Rule.RESTRICTED_ON_CORE_NETWORK,
                Severity.CRITICAL,
                f"{maker} device {d.address} is connected to a core network",
                detail={**ident, "connections": reasons[:20]},
                evidence=refs,
            )

    vulns = [v for v in _list(rec.get("vulnerabilities")) if isinstance(v, dict) and v.get("cve")]
    if vulns:
        vulns.sort(key=lambda v: (not v.get("kev"), str(v.get("cve"))))
        kev = [str(v["cve"]) for v in vulns if v.get("kev")]
        b.device(
            d,
            Rule.VULNERABLE_FIRMWARE,
            policy.kev_severity if kev else policy.vulnerable_severity,
            f"firmware {rec.get('firmware') or '?'} has "
            + (f"{len(kev)} KEV-listed and " if kev else "")
            + f"{len(vulns)} known vulnerabilities",
            discriminator="cve",
            detail={**ident, "kev": kev, "cves": [str(v["cve"]) for v in vulns]},
        )
    for rule in policy.firmware_minimums:
        if rule.below(maker, rec.get("model"), rec.get("firmware")):
            b.device(
                d,
                Rule.VULNERABLE_FIRMWARE,
                rule.severity,
                f"firmware {rec.get('firmware')} is older than the required {rule.version}",
                discriminator=f"minimum:{rule.maker}:{rule.model_prefix}",
                detail={**ident, "required": rule.version},
            )

    for finding in _list(rec.get("findings")):
        kind = finding.get("kind") if isinstance(finding, dict) else None
        if isinstance(kind, str) and kind in WEAK_AUTH_SEVERITY:
            b.device(
                d,
                Rule.WEAK_AUTHENTICATION,
                WEAK_AUTH_SEVERITY[kind],
                f"weak authentication: {kind}",
                discriminator=kind,
                detail={"kind": kind, "detail": finding.get("detail"), "severity": finding.get("severity")},
            )

    offset = rec.get("clock_offset_s")
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        return
    if abs(offset) > policy.thresholds.clock_skew_max_s:
        b.device(
            d,
            Rule.CLOCK_SKEW,
            Severity.LOW,
            f"camera clock is {offset:+.0f} s off",
            detail={"clock_offset_s": offset, "max_s": policy.thresholds.clock_skew_max_s},
        )


def _egress_rules(b: _Builder, d: DeviceFact, flows: Sequence[FlowFact]) -> None:
    policy = b.policy
    allow = policy.allowlist(d.site)
    for f in flows:
        rec = f.record
        dest = str(rec.get("destination") or "")
        tags = frozenset(str(t) for t in _list(rec.get("tags")))
        port = rec.get("port") if isinstance(rec.get("port"), int) else None
        hostname = rec.get("hostname") if isinstance(rec.get("hostname"), str) else None
        candidates: list[Any] = [hostname, *_list(rec.get("hostnames"))]
        names = [n for n in candidates if isinstance(n, str) and n]
        if rec.get("allowed") is True or policy.in_core(dest) or CORE_NETWORK_TAG in tags:
            continue
        protocol = str(rec.get("protocol") or "")
        if any(rule.matches(dest, port, protocol, names, tags) for rule in allow):
            continue
        clouds = sorted(t for t in tags if t.startswith(VENDOR_CLOUD_TAG))
        b.device(
            d,
            Rule.UNEXPECTED_EGRESS,
            Severity.HIGH if clouds else Severity.MEDIUM,
            f"unexpected egress to {hostname or dest}:{port} ({protocol})"
            + (f", {', '.join(clouds)}" if clouds else ""),
            discriminator=f"{dest}:{port}/{protocol}",
            detail={
                "destination": dest,
                "port": port,
                "protocol": protocol,
                "hostname": hostname,
                "tags": sorted(tags),
                "count": rec.get("count"),
                "bytes": rec.get("bytes"),
            },
            evidence=f.evidence,
            first_seen=_when(rec.get("first_seen"), d.first_seen),
            last_seen=_when(rec.get("last_seen"), d.last_seen),
        )


def evaluate(facts: Facts, policy: Policy) -> Evaluation:
    """Every violation the facts show under ``policy``, worst first, deterministic order."""
    b = _Builder(policy, facts.now)
    silent: set[tuple[str, str]] = set()
    limit = policy.thresholds.agent_silent_after_s
    for a in facts.agents:
        quiet_s = (facts.now - a.last_seen).total_seconds()
        if quiet_s > limit:
            silent.add((a.site, a.agent))
            b.out.append(
                Violation(
                    rule=Rule.AGENT_SILENT,
                    severity=Severity.HIGH,
                    site=a.site,
                    agent=a.agent,
                    device_id="",
                    address="",
                    discriminator="",
                    summary=f"agent {a.agent} at {a.site} silent for {quiet_s:.0f} s",
                    first_seen=a.last_seen,
                    last_seen=a.last_seen,
                    evidence=_refs(a.evidence),
                    detail={"silent_s": round(quiet_s), "after_s": limit},
                )
            )

    for a in facts.agents:
        if a.evidence_lost:
            lost = sum(a.evidence_lost.values())
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(a.evidence_lost.items()))
            b.out.append(
                Violation(
                    rule=Rule.EVIDENCE_DROPPED,
                    severity=Severity.HIGH,
                    site=a.site,
                    agent=a.agent,
                    device_id="",
                    address="",
                    discriminator="",
                    summary=f"agent {a.agent} at {a.site} lost {lost} evidence envelopes ({kinds})",
                    first_seen=a.last_seen,
                    last_seen=a.last_seen,
                    evidence=_refs(a.evidence),
                    detail={"evidence_lost": dict(a.evidence_lost)},
                )
            )

    # A flow names its device by address ("device") and, when the agent knew it, by id ("device_id").
    by_device: dict[tuple[str, str, str], list[FlowFact]] = {}
    for f in facts.flows:
        for ref in {str(f.record.get("device") or ""), str(f.record.get("device_id") or "")} - {""}:
            by_device.setdefault((f.site, f.agent, ref), []).append(f)

    for d in facts.devices:
        flows = list(
            {
                id(f): f
                for ref in (d.address, d.device_id)
                if ref
                for f in by_device.get((d.site, d.agent, ref), [])
            }.values()
        )
        _device_rules(b, d, flows)
        _egress_rules(b, d, flows)
        gone_s = (facts.now - d.last_seen).total_seconds()
        # While the agent is silent nothing is seen; that is one agent problem, not N devices gone.
        if gone_s > policy.thresholds.device_vanished_after_s and (d.site, d.agent) not in silent:
            b.device(
                d,
                Rule.DEVICE_VANISHED,
                Severity.MEDIUM,
                f"device {d.address or d.device_id} not seen for {gone_s / 3600:.1f} h",
                detail={"unseen_s": round(gone_s), **_identity(d.record)},
            )

    ordered = sorted(
        b.out, key=lambda v: (v.severity.rank, v.site, v.agent, v.device_id, v.rule, v.discriminator)
    )
    return Evaluation(policy_version=policy.version, evaluated_at=facts.now, violations=tuple(ordered))


def enforcement_actions(evaluation: Evaluation, policy: Policy) -> tuple[QuarantineAction, ...]:
    """Devices to quarantine: restricted-device violations at sites whose enforcement is quarantine."""
    actions: dict[tuple[str, str, str], QuarantineAction] = {}
    for v in evaluation.violations:
        site = policy.site(v.site)
        if v.rule not in QUARANTINE_RULES or site.enforcement is not Enforcement.QUARANTINE or not v.address:
            continue
        key = (v.site, v.agent, v.address)
        prior = actions.get(key)
        ids = (*prior.violation_ids, v.id) if prior else (v.id,)
        actions[key] = QuarantineAction(v.site, v.agent, v.device_id, v.address, site.recorders, ids)
    return tuple(actions[k] for k in sorted(actions))

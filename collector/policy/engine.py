"""The policy engine: facts (inventory, flows, agent liveness, now) in, violations out. Pure.

``evaluate(facts, policy)`` never reads a clock, a file or a database: the caller gathers the
facts from the store and passes ``now``. Each ``Violation`` has a stable ``key`` (rule, site,
agent, device and what makes it distinct) and an ``id`` derived from it, so evaluating the same
facts twice yields the same violations and the lifecycle store can follow them over time.

Device records and flow findings are the wire contract's typed records (``agent.wire.inventory``,
``agent.wire.flows``), decoded once by ``collector.policy.facts``. What a finding kind means for
policy is ``FINDING_RULES``: total over ``FindingKind`` (a test fails for a kind without a
decision), so a new kind the agent learns cannot pass the engine unnoticed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from agent.wire.findings import Finding, FindingKind, Severity, worst_first
from agent.wire.flows import CORE_NETWORK_TAG, VENDOR_CLOUD_TAG, FlowFinding
from agent.wire.inventory import DeviceRecord
from agent.wire.timefmt import parse_utc
from collector.policy.model import Enforcement, Policy


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
    # Only probably made by a restricted maker (agent.identify's verdict), at a restricted site.
    MAKER_UNCERTAIN = "maker_uncertain"
    # An HTTPS camera presented another certificate than the one pinned (agent.onvif.tls).
    CERTIFICATE_CHANGED = "certificate_changed"
    PAST_REMOVAL_DEADLINE = "past_removal_deadline"


@dataclass(frozen=True)
class FindingRule:
    """What one kind of agent finding means for policy: a rule and severity, or why it is none."""

    rule: Rule | None
    severity: Severity | None = None  # None: the rule sets it (policy firmware severities, ...)
    why: str = ""

    @property
    def raises(self) -> bool:
        """True when the finding itself raises a violation (not only through another field)."""
        return self.rule is not None and self.severity is not None


_NOT_POLICY = "the agent's poll could not finish"
# Every FindingKind, decided (tests/collector/policy/test_finding_rules.py fails for one missing).
FINDING_RULES: Mapping[FindingKind, FindingRule] = {
    FindingKind.UNAUTHENTICATED_ACCESS: FindingRule(Rule.WEAK_AUTHENTICATION, Severity.CRITICAL),
    FindingKind.AUTH_BYPASS: FindingRule(Rule.WEAK_AUTHENTICATION, Severity.CRITICAL),
    FindingKind.DEFAULT_CREDENTIALS: FindingRule(Rule.WEAK_AUTHENTICATION, Severity.HIGH),
    FindingKind.REPLAYED_DIGEST_ACCEPTED: FindingRule(Rule.WEAK_AUTHENTICATION, Severity.MEDIUM),
    FindingKind.VULNERABLE_FIRMWARE: FindingRule(
        Rule.VULNERABLE_FIRMWARE, why="raised from the record's vulnerabilities with the policy's severities"
    ),
    FindingKind.CLOCK_SKEW: FindingRule(
        Rule.CLOCK_SKEW, why="raised from clock_offset_s against the policy's threshold"
    ),
    FindingKind.NTP_ABSENT: FindingRule(None, why="a cause, not a harm: the skew it leads to is clock_skew"),
    FindingKind.PLAIN_HTTP_ONLY: FindingRule(
        None, why="transport hygiene shown with the device; ONVIF digest does not send the password"
    ),
    FindingKind.DEFAULT_CREDENTIALS_TRIED: FindingRule(
        None, why="the audit trail of passwords the agent tried, all refused: the camera is fine"
    ),
    FindingKind.NO_CREDENTIALS: FindingRule(
        None, why="the site gave the agent no credentials; inventory partial"
    ),
    FindingKind.AUTH_FAILED: FindingRule(
        None, why="the site's configured credentials are wrong: an agent configuration problem"
    ),
    FindingKind.XADDR_FOREIGN_HOST: FindingRule(None, why="not followed by the agent; evidence only"),
    FindingKind.TLS_FAILED: FindingRule(None, why="the agent could not speak TLS to it: a poll problem"),
    # A swapped, reset or intercepted camera: a person must check, so it is a violation with a
    # lifecycle; the agent sends it nothing until the pin is cleared, so it stays open till then.
    FindingKind.CERTIFICATE_CHANGED: FindingRule(Rule.CERTIFICATE_CHANGED, Severity.HIGH),
    FindingKind.UNREACHABLE: FindingRule(
        Rule.DEVICE_VANISHED, why="an unanswered poll leaves last_seen; device_vanished past the threshold"
    ),
    FindingKind.TIMEOUT: FindingRule(
        Rule.DEVICE_VANISHED, why="an unanswered poll leaves last_seen; device_vanished past the threshold"
    ),
    FindingKind.RESPONSE_TOO_LARGE: FindingRule(None, why=_NOT_POLICY),
    FindingKind.HOSTILE_XML: FindingRule(None, why=_NOT_POLICY),
    FindingKind.MALFORMED_RESPONSE: FindingRule(None, why=_NOT_POLICY),
    FindingKind.OPERATION_FAILED: FindingRule(None, why=_NOT_POLICY),
    FindingKind.UNKNOWN: FindingRule(
        None, why="a newer agent's kind: stored and shown as unknown until this collector learns it"
    ),
}
# Rules whose violations a site in ``quarantine`` mode enforces by cutting the device off.
QUARANTINE_RULES = frozenset(
    {Rule.RESTRICTED_AT_SENSITIVE_SITE, Rule.RESTRICTED_ON_CORE_NETWORK, Rule.PAST_REMOVAL_DEADLINE}
)
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
    record: DeviceRecord
    first_seen: datetime
    last_seen: datetime
    evidence: tuple[EvidenceRef, ...] = ()

    @property
    def address(self) -> str:
        return self.record.address


@dataclass(frozen=True)
class FlowFact:
    """One aggregated flow finding (device, destination, port, protocol, hostname, tags, ...)."""

    site: str
    agent: str
    record: FlowFinding
    evidence: tuple[EvidenceRef, ...] = ()


@dataclass(frozen=True)
class AgentFact:
    """An enrolled agent; ``last_seen`` None when it never reported (silent since ``since``)."""

    site: str
    agent: str
    last_seen: datetime | None
    evidence: tuple[EvidenceRef, ...] = ()
    # Inventory/flow envelopes the agent's newest health says it dropped or refused, by kind.
    evidence_lost: Mapping[str, int] = field(default_factory=dict)
    since: datetime | None = None  # when it was enrolled or approved


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


def _when(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_utc(value)
        except ValueError:
            return fallback
    return fallback


def _identity(record: DeviceRecord) -> dict[str, Any]:
    values = {
        "maker": record.maker,
        "brand": record.brand,
        "model": record.model,
        "firmware": record.firmware,
        "maker_confidence": record.maker_confidence,
    }
    detail: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    if record.evidence:
        detail["maker_evidence"] = [e.to_json() for e in record.evidence[:10]]
    return detail


class _Builder:
    def __init__(self, policy: Policy, now: datetime) -> None:
        self.policy = policy
        self.now = now
        self.out: list[Violation] = []

    def agent(
        self,
        a: AgentFact,
        rule: Rule,
        severity: Severity,
        summary: str,
        when: datetime,
        detail: Mapping[str, Any],
    ) -> None:
        """A violation of the agent itself (no device), seen at ``when``."""
        self.out.append(
            Violation(
                rule=rule,
                severity=severity,
                site=a.site,
                agent=a.agent,
                device_id="",
                address="",
                discriminator="",
                summary=summary,
                first_seen=when,
                last_seen=when,
                evidence=_refs(a.evidence),
                detail=dict(detail),
            )
        )

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


def _confident(policy: Policy, record: DeviceRecord) -> bool:
    if not record.maker or not record.maker.strip():
        return False
    confidence = record.maker_confidence
    return confidence is None or confidence >= policy.thresholds.min_maker_confidence


def _maker_uncertain(b: _Builder, d: DeviceFact, ident: Mapping[str, Any]) -> None:
    """A device only probably restricted-made at a site whose class restricts its makers.

    "probable" is the identification verdict (judged at the default threshold); a "yes" below
    this policy's own ``min_maker_confidence`` is just as uncertain. The makers are the ones the
    evidence points to, so a policy restricting fewer makers than the tables is obeyed.
    """
    policy, rec = b.policy, d.record
    site = policy.site(d.site)
    uncertain = rec.restricted == "probable" or (rec.restricted == "yes" and not _confident(policy, rec))
    makers = sorted(
        {e.points_to for e in rec.evidence if e.weight > 0 and policy.restricted_maker(e.points_to)}
    )
    if not uncertain or not makers or site.site_class not in policy.restricted_classes:
        return
    b.device(
        d,
        Rule.MAKER_UNCERTAIN,
        Severity.MEDIUM,
        f"device {d.address or d.device_id} at {site.site_class.value} site {d.site} is probably "
        f"made by {' or '.join(makers)} (confidence {rec.maker_confidence or 0:.2f})",
        detail={**ident, "restricted": rec.restricted, "makers": makers, "site_class": site.site_class.value},
    )


def _device_rules(b: _Builder, d: DeviceFact, flows: Sequence[FlowFact]) -> None:
    policy, rec = b.policy, d.record
    site = policy.site(d.site)
    confident = _confident(policy, rec)
    maker = rec.maker if confident else None
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
    if not restricted_here:
        _maker_uncertain(b, d, ident)
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
            dest = f.record.destination
            if policy.in_core(dest) or CORE_NETWORK_TAG in f.record.tags:
                reasons.append({"reaches": dest, "port": f.record.port})
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

    vulns = sorted(rec.vulnerabilities, key=lambda v: (not v.kev, v.cve))
    if vulns:
        kev = [v.cve for v in vulns if v.kev]
        b.device(
            d,
            Rule.VULNERABLE_FIRMWARE,
            policy.kev_severity if kev else policy.vulnerable_severity,
            f"firmware {rec.firmware or '?'} has "
            + (f"{len(kev)} KEV-listed and " if kev else "")
            + f"{len(vulns)} known vulnerabilities",
            discriminator="cve",
            detail={**ident, "kev": kev, "cves": [v.cve for v in vulns]},
        )
    for rule in policy.firmware_minimums:
        if rule.below(maker, rec.model, rec.firmware):
            b.device(
                d,
                Rule.VULNERABLE_FIRMWARE,
                rule.severity,
                f"firmware {rec.firmware} is older than the required {rule.version}",
                discriminator=f"minimum:{rule.maker}:{rule.model_prefix}",
                detail={**ident, "required": rule.version},
            )

    for finding in rec.findings:
        _finding_rule(b, d, finding)

    offset = rec.clock_offset_s
    if offset is None:
        return
    if abs(offset) > policy.thresholds.clock_skew_max_s:
        b.device(
            d,
            Rule.CLOCK_SKEW,
            Severity.LOW,
            f"camera clock is {offset:+.0f} s off",
            detail={"clock_offset_s": offset, "max_s": policy.thresholds.clock_skew_max_s},
        )


def _finding_rule(b: _Builder, d: DeviceFact, finding: Finding) -> None:
    """A violation for a finding whose kind raises one by itself (``FINDING_RULES``)."""
    decision = FINDING_RULES[finding.kind]
    if decision.rule is None or decision.severity is None:
        return
    b.device(
        d,
        decision.rule,
        decision.severity,
        f"{decision.rule.value.replace('_', ' ')}: {finding.name}",
        discriminator=finding.name,
        detail={"kind": finding.name, "detail": finding.detail, "severity": finding.severity.value},
    )


def _egress_rules(b: _Builder, d: DeviceFact, flows: Sequence[FlowFact]) -> None:
    policy = b.policy
    allow = policy.allowlist(d.site)
    for f in flows:
        rec = f.record
        dest, port, protocol, hostname = rec.destination, rec.port, rec.protocol, rec.hostname
        tags = frozenset(rec.tags)
        names = [n for n in (hostname, *rec.hostnames) if n]
        if rec.allowed or policy.in_core(dest) or CORE_NETWORK_TAG in tags:
            continue
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
                "count": rec.count,
                "bytes": rec.bytes,
            },
            evidence=f.evidence,
            first_seen=_when(rec.first_seen, d.first_seen),
            last_seen=_when(rec.last_seen, d.last_seen),
        )


def evaluate(facts: Facts, policy: Policy) -> Evaluation:
    """Every violation the facts show under ``policy``, worst first, deterministic order."""
    b = _Builder(policy, facts.now)
    silent: set[tuple[str, str]] = set()
    limit = policy.thresholds.agent_silent_after_s
    for a in facts.agents:
        heard = a.last_seen or a.since
        if heard is None:
            continue  # neither heard from nor enrolled at a known time: nothing to measure
        quiet_s = (facts.now - heard).total_seconds()
        if quiet_s > limit:
            silent.add((a.site, a.agent))
            summary = (
                f"agent {a.agent} at {a.site} silent for {quiet_s:.0f} s"
                if a.last_seen is not None
                else f"agent {a.agent} at {a.site} enrolled {quiet_s:.0f} s ago and never reported"
            )
            detail = {"silent_s": round(quiet_s), "after_s": limit, "never_reported": a.last_seen is None}
            b.agent(a, Rule.AGENT_SILENT, Severity.HIGH, summary, heard, detail)

    for a in facts.agents:
        if a.evidence_lost and a.last_seen is not None:  # lost evidence is told by a health envelope
            lost = sum(a.evidence_lost.values())
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(a.evidence_lost.items()))
            summary = f"agent {a.agent} at {a.site} lost {lost} evidence envelopes ({kinds})"
            b.agent(
                a,
                Rule.EVIDENCE_DROPPED,
                Severity.HIGH,
                summary,
                a.last_seen,
                {"evidence_lost": dict(a.evidence_lost)},
            )

    # A flow names its device by address ("device") and, when the agent knew it, by id ("device_id").
    by_device: dict[tuple[str, str, str], list[FlowFact]] = {}
    for f in facts.flows:
        for ref in {f.record.device, f.record.device_id or ""} - {""}:
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
        b.out, key=lambda v: (worst_first(v.severity), v.site, v.agent, v.device_id, v.rule, v.discriminator)
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

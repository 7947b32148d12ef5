"""The engine: for every rule, a case that fires and a close case that must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agent.wire.findings import Finding, FindingKind, Severity, worst_first
from agent.wire.flows import FlowFinding
from agent.wire.inventory import DeviceRecord
from collector.policy.engine import (
    AgentFact,
    DeviceFact,
    EvidenceRef,
    Facts,
    FlowFact,
    Rule,
    enforcement_actions,
    evaluate,
)
from collector.policy.model import Policy, parse_policy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY_TOML = b"""
core_networks = ["10.0.0.0/16"]
[defaults]
clock_skew_max_s = 300
agent_silent_after_s = 900
device_vanished_after_s = 86400
[sites.hq]
class = "sensitive"
department = "Home Office"
removal_deadline = 2026-11-22
enforcement = "quarantine"
recorders = ["10.77.2.2"]
group = "london"
[sites.depot]
class = "standard"
department = "DVLA"
removal_deadline = 2026-11-23
[egress.groups.london]
allow = [{ cidr = "192.0.2.0/24", ports = [123] }, { hostname = "*.example.gov.uk" }]
[[firmware.minimum]]
maker = "hikvision"
model_prefix = "DS-2CD"
version = "5.5.800"
"""


def policy() -> Policy:
    parsed, errors = parse_policy(POLICY_TOML, "test.toml")
    assert parsed is not None, errors
    return parsed


def device(site: str = "hq", agent: str = "a1", **record: Any) -> DeviceFact:
    base: dict[str, Any] = {
        "address": "10.77.1.2",
        "maker": "Axis",
        "brand": "Axis",
        "model": "P3245",
        "firmware": "10.12.0",
        "maker_confidence": 0.9,
        "evidence": [{"signal": "onvif_manufacturer", "value": "AXIS", "points_to": "axis"}],
        "vulnerabilities": [],
        "findings": [],
        "clock_offset_s": 0.4,
    }
    base.update(record)
    return DeviceFact(
        site=site,
        agent=agent,
        device_id=f"{site}:{base['address']}",
        record=DeviceRecord.decode({"port": 80, **base}),
        first_seen=NOW - timedelta(days=3),
        last_seen=NOW - timedelta(minutes=1),
        evidence=(EvidenceRef(agent, "boot1", 7),),
    )


def flow(dev: DeviceFact, destination: str, port: int = 443, **extra: Any) -> FlowFact:
    record: dict[str, Any] = {
        "device": dev.address,
        "destination": destination,
        "port": port,
        "protocol": "tcp",
        "hostname": None,
        "tags": [],
        "first_seen": "2026-11-23T10:00:00.000Z",
        "last_seen": "2026-11-23T11:00:00.000Z",
        "count": 12,
        "bytes": 3400,
        "allowed": False,
    }
    record.update(extra)
    return FlowFact(dev.site, dev.agent, FlowFinding.decode(record), (EvidenceRef(dev.agent, "boot1", 9),))


def rules(
    devices: list[DeviceFact],
    flows: list[FlowFact] | None = None,
    agents: list[AgentFact] | None = None,
) -> dict[Rule, list[Any]]:
    live = agents if agents is not None else [AgentFact(d.site, d.agent, NOW) for d in devices]
    result = evaluate(Facts(devices, flows or [], live, NOW), policy())
    found: dict[Rule, list[Any]] = {}
    for v in result.violations:
        found.setdefault(v.rule, []).append(v)
    return found


def test_clean_device_has_no_violations() -> None:
    assert rules([device()]) == {}


def test_restricted_at_sensitive_site() -> None:
    fired = rules([device(maker="Hikvision", brand="Prima")])[Rule.RESTRICTED_AT_SENSITIVE_SITE]
    assert fired[0].severity is Severity.HIGH
    assert fired[0].detail["brand"] == "Prima"
    assert fired[0].detail["maker_evidence"][0]["signal"] == "onvif_manufacturer"
    assert fired[0].evidence == (EvidenceRef("a1", "boot1", 7),)
    # Close: same maker at a standard site; restricted maker with too little confidence.
    assert Rule.RESTRICTED_AT_SENSITIVE_SITE not in rules([device("depot", maker="Hikvision")])
    assert Rule.RESTRICTED_AT_SENSITIVE_SITE not in rules([device(maker="Dahua", maker_confidence=0.3)])


def test_restricted_on_core_network() -> None:
    on_core = device("depot", maker="Dahua", address="10.0.5.9")
    assert rules([on_core])[Rule.RESTRICTED_ON_CORE_NETWORK][0].severity is Severity.CRITICAL
    reaching = device("depot", maker="Dahua")
    fired = rules([reaching], [flow(reaching, "10.0.9.9", 445)])[Rule.RESTRICTED_ON_CORE_NETWORK]
    assert fired[0].detail["connections"] == [{"reaches": "10.0.9.9", "port": 445}]
    assert EvidenceRef("a1", "boot1", 9) in fired[0].evidence
    tagged = rules([reaching], [flow(reaching, "172.31.0.1", tags=["core_network"])])
    assert Rule.RESTRICTED_ON_CORE_NETWORK in tagged
    # Close: 10.1.x is outside 10.0.0.0/16; an Axis on the core network is not restricted.
    assert Rule.RESTRICTED_ON_CORE_NETWORK not in rules([reaching], [flow(reaching, "10.1.0.1")])
    assert Rule.RESTRICTED_ON_CORE_NETWORK not in rules([device("depot", address="10.0.5.9")])


def test_unexpected_egress() -> None:
    d = device()
    fired = rules([d], [flow(d, "203.0.113.5", 7661, tags=["vendor_cloud:hikvision"])])
    v = fired[Rule.UNEXPECTED_EGRESS][0]
    assert v.severity is Severity.HIGH
    assert v.first_seen == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert v.detail["count"] == 12
    assert "vendor_cloud:hikvision" in v.summary
    plain = rules([d], [flow(d, "203.0.113.5", 80)])[Rule.UNEXPECTED_EGRESS][0]
    assert plain.severity is Severity.MEDIUM
    # Close: allowlisted by CIDR+port, by hostname suffix, or allowed by the agent's own list.
    assert rules([d], [flow(d, "192.0.2.10", 123, protocol="udp")]) == {}
    assert rules([d], [flow(d, "198.51.100.1", hostname="ntp.example.gov.uk")]) == {}
    assert rules([d], [flow(d, "198.51.100.1", allowed=True)]) == {}
    # ... but the same NTP server on another port is not allowed.
    assert Rule.UNEXPECTED_EGRESS in rules([d], [flow(d, "192.0.2.10", 124)])


def test_vulnerable_firmware_kev_first() -> None:
    vulns = [{"cve": "CVE-2021-0001", "kev": False}, {"cve": "CVE-2021-36260", "kev": True}]
    v = rules([device(vulnerabilities=vulns)])[Rule.VULNERABLE_FIRMWARE][0]
    assert v.severity is Severity.CRITICAL
    assert v.detail["cves"] == ["CVE-2021-36260", "CVE-2021-0001"]
    assert v.detail["kev"] == ["CVE-2021-36260"]
    non_kev = rules([device(vulnerabilities=vulns[:1])])[Rule.VULNERABLE_FIRMWARE][0]
    assert non_kev.severity is Severity.HIGH
    old = rules([device("depot", maker="Hikvision", model="DS-2CD2143G0-I", firmware="V5.5.0 build 170725")])
    assert old[Rule.VULNERABLE_FIRMWARE][0].detail["required"] == "5.5.800"
    # Close: no vulnerabilities; minimum met; minimum for another model family.
    assert Rule.VULNERABLE_FIRMWARE not in rules([device(vulnerabilities=[])])
    ok = device("depot", maker="Hikvision", model="DS-2CD2143G0-I", firmware="V5.5.800 build 210628")
    assert Rule.VULNERABLE_FIRMWARE not in rules([ok])
    other = device("depot", maker="Hikvision", model="DS-7608NI", firmware="V3.0")
    assert Rule.VULNERABLE_FIRMWARE not in rules([other])


def test_weak_authentication_keys_on_the_kinds_the_agent_emits() -> None:
    findings = [
        Finding(FindingKind.UNAUTHENTICATED_ACCESS, Severity.CRITICAL, "GetUsers answered"),
        Finding(FindingKind.AUTH_BYPASS, Severity.CRITICAL, "made-up password accepted"),
        Finding(FindingKind.REPLAYED_DIGEST_ACCEPTED, Severity.HIGH, "nonce reused"),
        Finding(FindingKind.DEFAULT_CREDENTIALS, Severity.CRITICAL, "admin/12345"),
    ]
    fired = rules([device(findings=[f.to_json() for f in findings])])[Rule.WEAK_AUTHENTICATION]
    assert {(v.discriminator, v.severity) for v in fired} == {
        ("unauthenticated_access", Severity.CRITICAL),
        ("auth_bypass", Severity.CRITICAL),
        ("default_credentials", Severity.HIGH),
        ("replayed_digest_accepted", Severity.MEDIUM),
    }
    # Close: findings that are not about authentication, the agent's audit trail, and a newer
    # agent's kind this collector does not know (kept as unknown, not a violation).
    other = [
        {"kind": "plain_http_only", "severity": "medium", "detail": ""},
        {"kind": "ntp_absent", "severity": "low", "detail": ""},
        {"kind": "default_credentials_tried", "severity": "info", "detail": ""},
        {"kind": "auth_teleport", "severity": "critical", "detail": "from a newer agent"},
    ]
    assert rules([device(findings=other)]) == {}


def test_certificate_changed() -> None:
    changed = Finding(
        FindingKind.CERTIFICATE_CHANGED,
        Severity.HIGH,
        "10.0.0.5:443 presented certificate sha256 bb.., pinned aa..",
    )
    (fired,) = rules([device(findings=[changed.to_json()])])[Rule.CERTIFICATE_CHANGED]
    assert (fired.severity, fired.discriminator) == (Severity.HIGH, "certificate_changed")
    assert "pinned aa" in fired.detail["detail"]
    assert rules([device(findings=[{"kind": "tls_failed", "severity": "medium", "detail": ""}])]) == {}


def test_clock_skew() -> None:
    assert rules([device(clock_offset_s=-301.0)])[Rule.CLOCK_SKEW][0].severity is Severity.LOW
    assert rules([device(clock_offset_s=300.0)]) == {}
    assert rules([device(clock_offset_s=None)]) == {}


def test_agent_silent_and_device_vanished() -> None:
    d = device(site="depot")
    silent = AgentFact("depot", "a1", NOW - timedelta(seconds=901))
    assert Rule.AGENT_SILENT in rules([d], agents=[silent])
    assert rules([d], agents=[AgentFact("depot", "a1", NOW - timedelta(seconds=899))]) == {}

    gone = DeviceFact(d.site, d.agent, d.device_id, d.record, d.first_seen, NOW - timedelta(days=2))
    assert Rule.DEVICE_VANISHED in rules([gone])
    # Close: when the agent itself is silent, its devices are not each reported as vanished.
    both = rules([gone], agents=[silent])
    assert Rule.AGENT_SILENT in both
    assert Rule.DEVICE_VANISHED not in both
    recent = DeviceFact(d.site, d.agent, d.device_id, d.record, d.first_seen, NOW - timedelta(hours=23))
    assert rules([recent]) == {}


def test_unidentified_device() -> None:
    assert Rule.UNIDENTIFIED_DEVICE in rules([device(maker=None, maker_confidence=0.0)])
    assert Rule.UNIDENTIFIED_DEVICE in rules([device(maker="Hikvision", maker_confidence=0.49)])
    assert Rule.UNIDENTIFIED_DEVICE not in rules([device(maker="Hikvision", maker_confidence=0.5)])


def test_maker_uncertain_at_a_sensitive_site() -> None:
    swann = [
        {"signal": "manufacturer", "value": "Swann", "points_to": "swann", "weight": 0.7},
        {"signal": "oem", "value": "Swann hardware by hikvision", "points_to": "hikvision", "weight": 0.245},
    ]
    probable = {
        "maker": None,
        "brand": "swann",
        "maker_confidence": 0.24,
        "restricted": "probable",
        "evidence": swann,
    }
    fired = rules([device(**probable)])[Rule.MAKER_UNCERTAIN]
    assert fired[0].severity is Severity.MEDIUM and fired[0].detail["makers"] == ["hikvision"]
    # Close: a standard site; a verdict of "no"; a confident restricted maker is the other rule.
    assert Rule.MAKER_UNCERTAIN not in rules([device("depot", **probable)])
    assert Rule.MAKER_UNCERTAIN not in rules([device(**{**probable, "restricted": "no"})])
    sure = rules([device(maker="hikvision", restricted="yes", evidence=swann)])
    assert Rule.MAKER_UNCERTAIN not in sure and Rule.RESTRICTED_AT_SENSITIVE_SITE in sure


def test_past_removal_deadline() -> None:
    # hq's deadline was yesterday: critical; depot's is today: not yet past.
    fired = rules([device(maker="Hikvision")])[Rule.PAST_REMOVAL_DEADLINE]
    assert fired[0].severity is Severity.CRITICAL
    assert fired[0].detail["removal_deadline"] == "2026-11-22"
    assert Rule.PAST_REMOVAL_DEADLINE not in rules([device("depot", maker="Hikvision")])
    assert Rule.PAST_REMOVAL_DEADLINE not in rules([device(maker="Axis")])


def test_deterministic_ids_worst_first_and_version_recorded() -> None:
    d = device(maker="Hikvision", clock_offset_s=900)
    facts = Facts([d], [], [AgentFact("hq", "a1", NOW)], NOW)
    first = evaluate(facts, policy())
    again = evaluate(facts, policy())
    assert [v.id for v in first.violations] == [v.id for v in again.violations]
    assert len({v.id for v in first.violations}) == len(first.violations)
    ranks = [worst_first(v.severity) for v in first.violations]
    assert ranks == sorted(ranks)
    assert first.policy_version == policy().version


def test_enforcement_actions_only_in_quarantine_mode() -> None:
    hq = device(maker="Hikvision")
    depot = device("depot", maker="Dahua", address="10.0.5.9")
    evaluation = evaluate(
        Facts([hq, depot], [], [AgentFact("hq", "a1", NOW), AgentFact("depot", "a1", NOW)], NOW), policy()
    )
    actions = enforcement_actions(evaluation, policy())
    assert [(a.site, a.address, a.recorders) for a in actions] == [("hq", "10.77.1.2", ("10.77.2.2",))]
    assert len(actions[0].violation_ids) == 2


def test_flow_shapes_from_the_egress_watcher() -> None:
    d = device()
    # Matched by device_id alone, and by both address and device_id without counting twice.
    by_id = flow(d, "203.0.113.5", device="10.99.9.9", device_id=d.device_id)
    both = flow(d, "203.0.113.6", device_id=d.device_id)
    fired = rules([d], [by_id, both])[Rule.UNEXPECTED_EGRESS]
    assert sorted(v.detail["destination"] for v in fired) == ["203.0.113.5", "203.0.113.6"]
    # Any of the names the site's DNS returned may match the allowlist.
    named = flow(
        d, "198.51.100.1", hostname="cdn.example.net", hostnames=["x.cdn.example.net", "ntp.example.gov.uk"]
    )
    assert rules([d], [named]) == {}


def test_allowlist_protocol_must_match() -> None:
    toml = POLICY_TOML.replace(b"ports = [123] }", b'ports = [123], protocol = "udp" }')
    strict, errors = parse_policy(toml, "test.toml")
    assert strict is not None, errors
    d = device()
    facts = Facts([d], [flow(d, "192.0.2.10", 123, protocol="tcp")], [AgentFact("hq", "a1", NOW)], NOW)
    assert [v.rule for v in evaluate(facts, strict).violations] == [Rule.UNEXPECTED_EGRESS]
    facts = Facts([d], [flow(d, "192.0.2.10", 123, protocol="udp")], [AgentFact("hq", "a1", NOW)], NOW)
    assert evaluate(facts, strict).violations == ()
    bad, errors = parse_policy(toml.replace(b'"udp"', b'"quic"'), "test.toml")
    assert bad is None
    assert errors == [
        "test.toml: egress.groups.london.allow[0].protocol: must be one of tcp, udp, icmp, ipv6-icmp, sctp"
    ]

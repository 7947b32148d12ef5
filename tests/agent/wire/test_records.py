"""The typed body records: each encodes and decodes back, refuses malformed bodies with a typed
error, and keeps what a newer agent adds (unknown finding kinds, unknown fields) instead of dropping it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.wire.errors import BodyError, RejectReason, WireError
from agent.wire.findings import WORST_FIRST, Finding, FindingKind, Severity, sort_findings, worst_first
from agent.wire.flows import FlowBody, FlowFinding, FlowProcess, flow_body
from agent.wire.health import (
    ClockTrouble,
    Degradation,
    DiscoveryProblem,
    HealthBody,
    OutboxHealth,
    SweepSummary,
)
from agent.wire.inventory import (
    ChannelEntry,
    DeviceRecord,
    Evidence,
    InventoryBody,
    Protocol,
    ServiceEntry,
    Signals,
    User,
    Vulnerability,
    record_fingerprint,
)

RECORD = DeviceRecord(
    address="192.0.2.10",
    port=80,
    source="config",
    reachable=True,
    manufacturer="HIKVISION",
    model="DS-2CD2143G0-I",
    firmware="V5.5.61",
    serial="S1",
    mac="44:19:B6:00:00:01",
    maker="hikvision",
    maker_restricted=True,
    brand="hikvision",
    maker_confidence=0.97,
    evidence=(Evidence("mac_oui", "44:19:B6", "hikvision", 0.6),),
    signals=Signals(manufacturer="HIKVISION", mac="44:19:B6:00:00:01", login_title="Login", hostnames=("a",)),
    vulnerabilities=(Vulnerability("CVE-2021-36260", True, "command injection"),),
    findings=(Finding(FindingKind.REPLAYED_DIGEST_ACCEPTED, Severity.HIGH, "nonce reused"),),
    clock_offset_s=-5400.5,
    hostname="cam1",
    ipv4=("192.0.2.10",),
    ntp_servers=(),
    protocols=(Protocol("HTTP", True, (80,)),),
    users=(User("admin", "Administrator"),),
    services=(ServiceEntry("http://www.onvif.org/ver10/device/wsdl", "2.6"),),
    channels=(ChannelEntry("10.0.0.7", "rtsp://10.0.0.7/"),),
    authenticated=True,
    polled_at="2026-11-23T12:00:00Z",
    poll_duration_s=0.25,
)


def _through_json(value: dict[str, Any]) -> Any:
    return json.loads(json.dumps(value))


def test_severity_is_one_scale_least_to_most() -> None:
    assert [s.weight for s in Severity] == [0, 1, 2, 3, 4]
    assert WORST_FIRST[0] is Severity.CRITICAL and WORST_FIRST[-1] is Severity.INFO
    assert sorted(Severity, key=worst_first) == list(WORST_FIRST)
    findings = [
        Finding(FindingKind.NTP_ABSENT, s, "") for s in (Severity.LOW, Severity.CRITICAL, Severity.INFO)
    ]
    assert [f.severity for f in sort_findings(findings)] == [Severity.CRITICAL, Severity.LOW, Severity.INFO]
    with pytest.raises(BodyError):
        Severity.parse("catastrophic")


def test_device_record_round_trips_through_json() -> None:
    decoded = DeviceRecord.decode(_through_json(RECORD.to_json()))
    assert decoded == RECORD
    assert decoded.key == "mac:44:19:b6:00:00:01"
    body = InventoryBody.decode(_through_json(InventoryBody(RECORD, "sw1", True).to_body()))
    assert (body.device, body.sweep, body.snapshot, body.key) == (RECORD, "sw1", True, RECORD.key)


def test_version_1_records_decode_and_carry_their_signals() -> None:
    v1 = {k: v for k, v in RECORD.to_json().items() if k != "signals"} | {"record_version": 1}
    decoded = DeviceRecord.decode(v1)
    assert decoded.record_version == 1
    assert decoded.signals.manufacturer == "HIKVISION" and decoded.signals.mac == RECORD.mac
    assert decoded.signals.hostnames == ("cam1",)


def test_a_newer_agents_finding_kind_and_fields_are_kept_not_dropped() -> None:
    newer = RECORD.to_json() | {"record_version": 7, "thermal": {"celsius": 71}}
    newer["findings"] = [
        {"kind": "rtsp_open", "severity": "critical", "detail": "stream without a password", "cwe": 306},
        *newer["findings"],
    ]
    decoded = DeviceRecord.decode(_through_json(newer))
    unknown = decoded.findings[0]
    assert (unknown.kind, unknown.name, unknown.severity) == (
        FindingKind.UNKNOWN,
        "rtsp_open",
        Severity.CRITICAL,
    )
    assert unknown.extra == {"cwe": 306}
    assert decoded.findings[1].kind is FindingKind.REPLAYED_DIGEST_ACCEPTED
    assert decoded.extra == {"thermal": {"celsius": 71}} and decoded.record_version == 7
    # Encoding again gives the newer agent's body back: nothing lost on the way through.
    assert decoded.to_json() == newer


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"port": "80"}, "device.port"),
        ({"port": 70000}, "device.port"),
        ({"address": None}, "device.address"),
        ({"maker_confidence": 1.5}, "device.maker_confidence"),
        ({"maker_confidence": True}, "device.maker_confidence"),
        ({"findings": [{"kind": "clock_skew", "severity": "dire"}]}, "device.findings[0].severity"),
        ({"findings": [{"severity": "low"}]}, "device.findings[0].kind"),
        ({"findings": "none"}, "device.findings"),
        ({"vulnerabilities": [{"kev": True}]}, "device.vulnerabilities[0].cve"),
        ({"ipv4": ["10.0.0.1", 7]}, "device.ipv4[1]"),
        ({"signals": []}, "device.signals"),
        ({"clock_offset_s": float("inf")}, "device.clock_offset_s"),
    ],
)
def test_malformed_device_records_raise_a_typed_wire_error(change: dict[str, Any], field: str) -> None:
    with pytest.raises(BodyError) as caught:
        DeviceRecord.decode(RECORD.to_json() | change)
    assert caught.value.detail.startswith(field)
    assert isinstance(caught.value, WireError) and caught.value.reason is RejectReason.MALFORMED_BODY


@pytest.mark.parametrize("body", [None, [], {"device": "x"}, {"sweep": "s"}, {"device": {"port": 80}}])
def test_malformed_inventory_bodies_raise(body: Any) -> None:
    with pytest.raises(BodyError):
        InventoryBody.decode(body)


def test_fingerprint_ignores_only_the_polls_timing() -> None:
    moved = DeviceRecord.decode(RECORD.to_json() | {"clock_offset_s": 3.0, "polled_at": "later"})
    assert record_fingerprint(moved) == record_fingerprint(RECORD)
    changed = DeviceRecord.decode(RECORD.to_json() | {"firmware": "V5.7.0"})
    assert record_fingerprint(changed) != record_fingerprint(RECORD)


FLOW = FlowFinding(
    device="192.0.2.10",
    destination="203.0.113.9",
    port=7661,
    protocol="tcp",
    first_seen="2026-11-23T12:00:00.000Z",
    last_seen="2026-11-23T12:00:03.000Z",
    count=3,
    bytes=385,
    device_id="mac:44:19:b6:00:00:01",
    hostname="dev.hik-connect.com",
    hostnames=("dev.hik-connect.com",),
    tags=("vendor_cloud:hikvision",),
    source="sockets",
    process=FlowProcess(12, "nvr", "/usr/bin/nvr"),
)


def test_flow_findings_round_trip_and_accept_both_body_shapes() -> None:
    assert FlowBody.decode(_through_json(flow_body(FLOW))).flows == (FLOW,)
    many = FlowBody((FLOW, FLOW)).to_body()
    assert set(many) == {"flows"} and FlowBody.decode(_through_json(many)).flows == (FLOW, FLOW)
    assert FLOW.vendor_clouds == ("vendor_cloud:hikvision",)
    newer = flow_body(FLOW)
    newer["flow"]["ja3"] = "abc"
    assert FlowBody.decode(newer).flows[0].extra == {"ja3": "abc"}


@pytest.mark.parametrize(
    "body",
    [{}, {"flow": None, "flows": []}, {"flow": {"device": "a", "destination": "b", "protocol": "tcp"}},
     {"flow": FLOW.to_json() | {"count": "3"}}, {"flows": [FLOW.to_json() | {"process": {"pid": "1"}}]}],
)  # fmt: skip
def test_malformed_flow_bodies_raise(body: dict[str, Any]) -> None:
    with pytest.raises(BodyError):
        FlowBody.decode(body)


def test_health_round_trips_with_drops_by_kind_degradations_discovery_and_clock() -> None:
    health = HealthBody(
        outbox=OutboxHealth(depth=4, bytes=900, unsent=1, dropped={"health": 3}),
        connected=True,
        last_sweep=SweepSummary(
            "sw1",
            devices=8,
            sent=2,
            duration_s=1.5,
            discovery_problems=(DiscoveryProblem("discovery", "x", "y"),),
        ),
        errors=("boom",),
        degradations=(Degradation("egress.conntrack", "unavailable", "no CAP_NET_ADMIN", "t0", None),),
        clock=(ClockTrouble("wall clock stepped forward by 3600.0 s", 3600.0, "t1"),),
        publisher={"emitted": 5},
        policy={"state": "none"},
    )
    decoded = HealthBody.decode(_through_json(health.to_body()))
    assert decoded == health
    assert decoded.discovery_problems[0].problem == "x"
    with pytest.raises(BodyError, match=r"outbox.dropped.health"):
        HealthBody.decode(health.to_body() | {"outbox": {"dropped": {"health": -1}}})
    assert HealthBody.decode({"uptime_s": 9}).extra == {"uptime_s": 9}  # a newer agent's field, kept

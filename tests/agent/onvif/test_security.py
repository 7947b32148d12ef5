"""Security findings from Observations (pure): thresholds, wording, order; secrets never logged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from agent.onvif.errors import FailureKind
from agent.onvif.models import NetworkProtocol, NtpInfo, Service, SystemTime
from agent.onvif.poll import Observation, OpFailure
from agent.onvif.security import (
    CLOCK_SKEW_WARN_S,
    describe_offset,
    security_findings,
)
from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from agent.wire.findings import FindingKind, Severity
from tests.agent.onvif.fakecam import FakeCamera, running

TARGET = CameraTarget("10.0.0.5", 80, "admin", "pw")


def _kinds(obs: Observation) -> dict[FindingKind, Severity]:
    return {f.kind: f.severity for f in security_findings(obs)}


def test_clock_skew_thresholds() -> None:
    obs = Observation(TARGET, reachable=True, clock_offset_s=CLOCK_SKEW_WARN_S - 1)
    assert FindingKind.CLOCK_SKEW not in _kinds(obs)
    obs.clock_offset_s = -CLOCK_SKEW_WARN_S
    assert _kinds(obs)[FindingKind.CLOCK_SKEW] == Severity.LOW
    obs.clock_offset_s = 5400
    assert _kinds(obs)[FindingKind.CLOCK_SKEW] == Severity.MEDIUM
    assert describe_offset(5399.49) == describe_offset(5400.6) == "1.5 h ahead"
    assert describe_offset(-310.2) == "5 min behind"


def test_plain_http_only_and_ntp_absent() -> None:
    obs = Observation(TARGET, reachable=True)
    obs.protocols = [NetworkProtocol("HTTP", True, (80,)), NetworkProtocol("HTTPS", False, (443,))]
    obs.ntp = NtpInfo(False, ())
    kinds = _kinds(obs)
    assert kinds[FindingKind.PLAIN_HTTP_ONLY] == Severity.MEDIUM and FindingKind.NTP_ABSENT in kinds
    obs.protocols = [NetworkProtocol("HTTP", True, (80,)), NetworkProtocol("HTTPS", True, (443,))]
    obs.ntp = NtpInfo(False, ("time.windows.com",))
    obs.system_time = SystemTime(datetime(2026, 1, 1, tzinfo=UTC), date_time_type="NTP")
    assert not {FindingKind.PLAIN_HTTP_ONLY, FindingKind.NTP_ABSENT} & set(_kinds(obs))


def test_foreign_xaddrs_and_failures() -> None:
    obs = Observation(TARGET, reachable=True, authenticated=True)
    obs.services = [Service("urn:device", "http://192.168.4.13/onvif/device_service", "2.0")]
    obs.failures = [
        OpFailure("GetDNS", FailureKind.FAULT, "ActionNotSupported"),
        OpFailure("login", FailureKind.AUTH, "refused"),
    ]
    kinds = _kinds(obs)
    assert FindingKind.XADDR_FOREIGN_HOST in kinds and FindingKind.OPERATION_FAILED in kinds
    assert FindingKind.AUTH_FAILED in kinds


def test_default_credentials_finding_names_usernames_only() -> None:
    obs = Observation(TARGET, reachable=True, default_usernames_tried=["admin", "888888"])
    assert FindingKind.DEFAULT_CREDENTIALS not in _kinds(obs)  # tried, none accepted
    (tried,) = [f for f in security_findings(obs) if f.kind == FindingKind.DEFAULT_CREDENTIALS_TRIED]
    assert tried.severity == Severity.INFO and "admin, 888888" in tried.detail
    obs.default_username_accepted = "admin"
    (finding,) = [f for f in security_findings(obs) if f.kind == FindingKind.DEFAULT_CREDENTIALS]
    assert finding.severity == Severity.CRITICAL and "admin" in finding.detail and "888888" in finding.detail
    order = [f.severity for f in security_findings(obs)]
    assert order == sorted(order, key=list(Severity).index, reverse=True)


def test_open_access_and_bypass_are_separate_findings() -> None:
    obs = Observation(TARGET, reachable=True, open_operations=["GetDeviceInformation"])
    kinds = _kinds(obs)
    assert kinds[FindingKind.UNAUTHENTICATED_ACCESS] == Severity.HIGH and FindingKind.AUTH_BYPASS not in kinds
    obs.bypass_accepted = True
    assert _kinds(obs)[FindingKind.AUTH_BYPASS] == Severity.CRITICAL


def test_passwords_never_reach_the_logs(capfd: pytest.CaptureFixture[str]) -> None:
    cam = FakeCamera(password="Log-Leak-Canary-1", behaviour="malformed")
    with running(cam), capture_logs() as logs:
        [
            x.to_json()
            for x in Sweeper(per_camera_timeout_s=2).sweep(
                [
                    CameraTarget("127.0.0.1", cam.port, "admin", cam.password),
                    CameraTarget("127.0.0.1", 1, "admin", cam.password),
                ]
            )
        ]
    # Wherever logging goes (captured here, or stderr if another test configured it first).
    out = capfd.readouterr()
    assert cam.password not in repr(logs) + out.out + out.err

"""Security findings from one camera's Observation (pure): what an operator must act on.

The vocabulary (``FindingKind``, ``Severity``, ``Finding``) is the wire contract's, ``agent.wire.findings``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from agent.onvif.errors import FailureKind
from agent.onvif.poll import Observation
from agent.wire.findings import Finding, FindingKind, Severity, sort_findings

# WS-Security receivers commonly refuse tokens more than 5 minutes off (WSS UsernameToken
# Profile leaves it to the receiver; gSOAP and Hikvision firmware use 300 s).
CLOCK_SKEW_WARN_S = 300.0
CLOCK_SKEW_HIGH_S = 3600.0


def describe_offset(offset_s: float) -> str:
    """Coarse on purpose: the exact offset jitters every sweep and lives in ``clock_offset_s``;
    a finding's text must stay the same so an unchanged device is not re-sent as a change."""
    size = abs(offset_s)
    amount = f"{size / 3600:.1f} h" if size >= 3600 else f"{round(size / 60)} min"
    return f"{amount} {'ahead' if offset_s > 0 else 'behind'}"


_FAILURE_FINDINGS = {
    FailureKind.UNREACHABLE: (FindingKind.UNREACHABLE, Severity.MEDIUM),
    FailureKind.TIMEOUT: (FindingKind.TIMEOUT, Severity.MEDIUM),
    FailureKind.TOO_LARGE: (FindingKind.RESPONSE_TOO_LARGE, Severity.HIGH),
    FailureKind.HOSTILE_XML: (FindingKind.HOSTILE_XML, Severity.HIGH),
    FailureKind.MALFORMED: (FindingKind.MALFORMED_RESPONSE, Severity.MEDIUM),
    FailureKind.TLS: (FindingKind.TLS_FAILED, Severity.MEDIUM),
    # Replaced camera, factory reset or a machine in the middle: someone must look.
    FailureKind.CERTIFICATE_CHANGED: (FindingKind.CERTIFICATE_CHANGED, Severity.HIGH),
}


def _failures(obs: Observation) -> list[Finding]:
    out: list[Finding] = []
    seen: set[FindingKind] = set()
    other: list[str] = []
    for failure in obs.failures:
        mapped = _FAILURE_FINDINGS.get(failure.kind)
        if mapped is not None:
            kind, severity = mapped
            if kind not in seen:
                seen.add(kind)
                out.append(Finding(kind, severity, f"{failure.operation}: {failure.detail}"))
        elif failure.operation == "login":
            out.append(
                Finding(
                    FindingKind.AUTH_FAILED,
                    Severity.MEDIUM,
                    f"configured credentials refused: {failure.detail}",
                )
            )
        elif failure.kind in (FailureKind.FAULT, FailureKind.HTTP_STATUS) or obs.authenticated:
            other.append(f"{failure.operation} ({failure.kind})")
    if other:
        out.append(
            Finding(FindingKind.OPERATION_FAILED, Severity.INFO, "not answered: " + ", ".join(other[:12]))
        )
    return out


def _xaddr_findings(obs: Observation) -> list[Finding]:
    foreign = sorted(
        {
            host
            for service in obs.services
            if (host := (urlsplit(service.xaddr).hostname or "")) and host != obs.target.address
        }
    )
    if not foreign:
        return []
    return [
        Finding(
            FindingKind.XADDR_FOREIGN_HOST,
            Severity.LOW,
            f"service addresses point at {', '.join(foreign[:5])}, not {obs.target.address}; "
            "not followed (NAT, misconfiguration or a camera steering clients elsewhere)",
        )
    ]


def security_findings(obs: Observation) -> list[Finding]:
    """Every finding for one camera, most severe first."""
    findings = _failures(obs)
    if (
        obs.reachable
        and obs.target.username is None
        and obs.authenticated is None
        and not obs.open_operations
    ):
        findings.append(
            Finding(FindingKind.NO_CREDENTIALS, Severity.INFO, "no credentials configured; inventory partial")
        )
    if obs.open_operations:
        severity = Severity.CRITICAL if "GetUsers" in obs.open_operations else Severity.HIGH
        findings.append(
            Finding(
                FindingKind.UNAUTHENTICATED_ACCESS,
                severity,
                "protected operations answered without credentials: " + ", ".join(obs.open_operations),
            )
        )
    if obs.bypass_accepted:
        findings.append(
            Finding(
                FindingKind.AUTH_BYPASS,
                Severity.CRITICAL,
                "a made-up user name and password were accepted: the camera does not check "
                "credentials (CVE-2017-7921 class)",
            )
        )
    if obs.replay_accepted:
        findings.append(
            Finding(
                FindingKind.REPLAYED_DIGEST_ACCEPTED,
                Severity.HIGH,
                "a WS-Security UsernameToken sent again with the same nonce and timestamp was accepted "
                "(anyone who sniffs one request can replay it; CVE-2022-30563 class)",
            )
        )
    if obs.default_usernames_tried:
        tried = ", ".join(obs.default_usernames_tried)
        if obs.default_username_accepted is not None:
            findings.append(
                Finding(
                    FindingKind.DEFAULT_CREDENTIALS,
                    Severity.CRITICAL,
                    f"factory default password accepted for user {obs.default_username_accepted!r} "
                    f"(usernames tried: {tried})",
                )
            )
        else:  # the audit trail of what the agent tried, as the site allowed
            findings.append(
                Finding(
                    FindingKind.DEFAULT_CREDENTIALS_TRIED,
                    Severity.INFO,
                    f"factory default passwords refused (usernames tried: {tried})",
                )
            )
    if obs.protocols is not None:
        enabled = {p.name for p in obs.protocols if p.enabled}
        if "HTTP" in enabled and "HTTPS" not in enabled:
            findings.append(
                Finding(
                    FindingKind.PLAIN_HTTP_ONLY,
                    Severity.MEDIUM,
                    "HTTP enabled and HTTPS not: credentials and video travel in clear text",
                )
            )
    if obs.clock_offset_s is not None and abs(obs.clock_offset_s) >= CLOCK_SKEW_WARN_S:
        severity = Severity.MEDIUM if abs(obs.clock_offset_s) >= CLOCK_SKEW_HIGH_S else Severity.LOW
        findings.append(
            Finding(
                FindingKind.CLOCK_SKEW,
                severity,
                f"camera clock is {describe_offset(obs.clock_offset_s)} (recordings mis-timed; "
                "WS-Security signed with the camera's time)",
            )
        )
    ntp_absent = obs.ntp is not None and not obs.ntp.servers
    manual = obs.system_time is not None and obs.system_time.date_time_type.lower() == "manual"
    if ntp_absent or manual:
        detail = (
            "clock set manually (DateTimeType=Manual): NTP not used" if manual else "no NTP server configured"
        )
        findings.append(Finding(FindingKind.NTP_ABSENT, Severity.LOW, detail))
    findings += _xaddr_findings(obs)
    return sort_findings(findings)

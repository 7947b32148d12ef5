"""The flaw table: every flaw the simulator can give a camera and every way a site can break the
policy, each with the exact violation the collector must raise (or why it raises none).

``ROWS`` is read by ``test_flaw_table.py``: one fleet carries every flaw, one run of
simulator → agents → Mosquitto → collector → policy pass proves every row at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from agent.wire.findings import FindingKind, Severity
from collector.policy.engine import Rule
from simulator.profile import AuthFlaw, Profile, bundled_profiles


@dataclass(frozen=True)
class Row:
    """One violation the collector must hold at the end of the run."""

    name: str
    rule: Rule
    severity: Severity
    agent: str
    camera: str = ""  # a fleet camera id; "" for an agent's own violation
    kind: str = ""  # the finding kind a weak_authentication violation names
    knobs: tuple[str, ...] = ()  # the simulator knobs (simulator.knobs.Knobs fields) it proves
    flaws: tuple[AuthFlaw, ...] = ()  # the profile auth flaws it proves
    kinds: tuple[FindingKind, ...] = ()  # the agent's finding kinds it proves


# Agents and their sites. hq is sensitive with its removal deadline still ahead, depot sensitive
# and past its deadline, office and annex standard sites (restricted makers allowed there).
HQ, DEPOT, OFFICE, ANNEX = "hq", "depot", "office", "annex"
AGENTS = {"pi-hq": HQ, "pi-depot": DEPOT, "pi-office": OFFICE, "pi-silent": ANNEX, "pi-never": ANNEX}
# Enrolled, reports once, then stops: silent once the policy's threshold passes.
SILENT_AGENT = "pi-silent"
# Enrolled and never started: must show as silent too, from its enrolment.
NEVER_AGENT = "pi-never"

ANONYMOUS_PROFILE = "e2e-axis-anonymous"
AXIS = "axis-m5525-e-v8.40.1.1"


def profiles() -> dict[str, Profile]:
    """The bundled profiles plus one the simulator has no knob for: a camera with anonymous access
    to protected operations (it checks a token that is sent, answers without one), the way real
    firmware with "anonymous access" or ONVIF authentication switched off behaves."""
    bundled = bundled_profiles()
    axis = bundled[AXIS]
    anonymous = replace(
        axis,
        id=ANONYMOUS_PROFILE,
        unauthenticated=axis.unauthenticated | {"GetDeviceInformation", "GetUsers"},
    )
    return {**bundled, ANONYMOUS_PROFILE: anonymous}


# camera id -> (agent, profile id, knobs)
CAMERAS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "hik-direct": ("pi-hq", "hikvision-ds-2cd2346g2-iu-v5.7.15", {}),
    "hilook-rebrand": ("pi-hq", "hilook-ipc-b140h-v5.5.800", {}),
    "axis-anonymous": ("pi-hq", ANONYMOUS_PROFILE, {}),
    "axis-skew": ("pi-hq", AXIS, {"clock_offset_s": 5400.0}),
    "generic-bypass": ("pi-hq", "generic-ipcam-631ga", {}),
    "dahua-deadline": ("pi-depot", "dahua-ipc-hfw5442e-ase-v2.820-230705", {}),
    "hik-kev": ("pi-office", "hikvision-ds-2cd2143g0-i-v5.5.61", {}),
    "dahua-replay": ("pi-office", "dahua-ipc-hdbw2431e-s-v2.800-210302", {}),
    "hik-defaults": ("pi-office", "hikvision-ds-2cd2346g2-iu-v5.7.15", {"default_password": True}),
    "hik-core": ("pi-office", "hikvision-ds-2cd2346g2-iu-v5.7.15", {}),
    "hilook-cloud": ("pi-office", "hilook-ipc-b140h-v5.5.800", {}),
}
# In a fleet of its own, stopped once the collector holds it: the agent keeps polling it.
VANISHING = ("axis-vanishing", "pi-hq", AXIS)
# An HTTPS camera in a fleet of its own, started again once pinned: a new self-signed certificate.
RECERTIFIED = ("hik-tls", "pi-office", "hikvision-ds-2cd2386g2-iu-v5.7.3-https")
# Its address is the policy's core network.
CORE_CAMERA = "hik-core"
# Its phone-home goes to this vendor cloud name and address.
CLOUD_CAMERA = "hilook-cloud"
CLOUD_NAME, CLOUD_ADDRESS, CLOUD_PORT = "dev.hik-connect.com", "203.0.113.77", 443
# The egress row feeds the agent's real flow-finding path (EgressWatcher: aggregation, the DNS
# name cache, the vendor-cloud table, the device directory the sweep fills, the flow envelope)
# with the conntrack event and DNS answer a phone-home would give, without network namespaces.
# The kernel's side (conntrack seeing a camera's real connection behind the gateway) is proven
# by tests/agent/egress/test_netns.py.

ROWS: tuple[Row, ...] = (
    # -- authentication -------------------------------------------------------------------------
    Row(
        "no authentication",
        Rule.WEAK_AUTHENTICATION,
        Severity.CRITICAL,
        "pi-hq",
        "axis-anonymous",
        kind="unauthenticated_access",
        kinds=(FindingKind.UNAUTHENTICATED_ACCESS,),
    ),
    Row(
        "authentication bypass",
        Rule.WEAK_AUTHENTICATION,
        Severity.CRITICAL,
        "pi-hq",
        "generic-bypass",
        kind="auth_bypass",
        flaws=(AuthFlaw.BYPASS,),
        kinds=(FindingKind.AUTH_BYPASS,),
    ),
    Row(
        "a bypass also answers without credentials",
        Rule.WEAK_AUTHENTICATION,
        Severity.CRITICAL,
        "pi-hq",
        "generic-bypass",
        kind="unauthenticated_access",
    ),
    Row(
        "replayable digest",
        Rule.WEAK_AUTHENTICATION,
        Severity.MEDIUM,
        "pi-office",
        "dahua-replay",
        kind="replayed_digest_accepted",
        flaws=(AuthFlaw.REPLAY,),
        kinds=(FindingKind.REPLAYED_DIGEST_ACCEPTED,),
    ),
    Row(
        "default credentials",
        Rule.WEAK_AUTHENTICATION,
        Severity.HIGH,
        "pi-office",
        "hik-defaults",
        kind="default_credentials",
        knobs=("default_password",),
        kinds=(FindingKind.DEFAULT_CREDENTIALS,),
    ),
    # -- firmware and clock ---------------------------------------------------------------------
    Row(
        "vulnerable firmware, KEV-listed",
        Rule.VULNERABLE_FIRMWARE,
        Severity.CRITICAL,
        "pi-office",
        "hik-kev",
        kinds=(FindingKind.VULNERABLE_FIRMWARE,),
    ),
    Row(
        "vulnerable firmware, not KEV-listed",
        Rule.VULNERABLE_FIRMWARE,
        Severity.HIGH,
        "pi-office",
        "dahua-replay",
    ),
    Row(
        "clock skew",
        Rule.CLOCK_SKEW,
        Severity.LOW,
        "pi-hq",
        "axis-skew",
        knobs=("clock_offset_s",),
        kinds=(FindingKind.CLOCK_SKEW,),
    ),
    # -- placement ------------------------------------------------------------------------------
    Row(
        "restricted maker at a sensitive site",
        Rule.RESTRICTED_AT_SENSITIVE_SITE,
        Severity.HIGH,
        "pi-hq",
        "hik-direct",
    ),
    Row(
        "restricted maker at a sensitive site via a rebrand",
        Rule.RESTRICTED_AT_SENSITIVE_SITE,
        Severity.HIGH,
        "pi-hq",
        "hilook-rebrand",
    ),
    Row(
        "restricted maker at a sensitive site past its deadline",
        Rule.RESTRICTED_AT_SENSITIVE_SITE,
        Severity.HIGH,
        "pi-depot",
        "dahua-deadline",
    ),
    Row(
        "past the removal deadline",
        Rule.PAST_REMOVAL_DEADLINE,
        Severity.CRITICAL,
        "pi-depot",
        "dahua-deadline",
    ),
    Row(
        "restricted device on a core network",
        Rule.RESTRICTED_ON_CORE_NETWORK,
        Severity.CRITICAL,
        "pi-office",
        "hik-core",
    ),
    Row(
        "unexpected egress to a vendor cloud",
        Rule.UNEXPECTED_EGRESS,
        Severity.HIGH,
        "pi-office",
        "hilook-cloud",
        knobs=("phone_home",),
    ),
    # -- identity and presence ------------------------------------------------------------------
    Row("unidentified device", Rule.UNIDENTIFIED_DEVICE, Severity.LOW, "pi-hq", "generic-bypass"),
    Row(
        "device vanished (stopped answering)",
        Rule.DEVICE_VANISHED,
        Severity.MEDIUM,
        "pi-hq",
        "axis-vanishing",
        kinds=(FindingKind.UNREACHABLE,),
    ),
    Row(
        "certificate changed",
        Rule.CERTIFICATE_CHANGED,
        Severity.HIGH,
        "pi-office",
        "hik-tls",
        kind="certificate_changed",
        kinds=(FindingKind.CERTIFICATE_CHANGED,),
    ),
    # Behind the new certificate the agent asks nothing, so it cannot tell what the device is ...
    Row(
        "a device behind a changed certificate is unidentified",
        Rule.UNIDENTIFIED_DEVICE,
        Severity.LOW,
        "pi-office",
        "hik-tls",
    ),
    # ... and the camera it knew there is no longer seen.
    Row(
        "the camera behind a changed certificate is no longer seen",
        Rule.DEVICE_VANISHED,
        Severity.MEDIUM,
        "pi-office",
        "hik-tls",
    ),
    Row("agent silent", Rule.AGENT_SILENT, Severity.HIGH, SILENT_AGENT),
    Row("agent enrolled and never reported", Rule.AGENT_SILENT, Severity.HIGH, NEVER_AGENT),
)

# Simulator knobs that are not a policy breach, and why.
KNOBS_NOT_VIOLATIONS: dict[str, str] = {
    # Slowness is the camera's business: the poll waits up to its timeout.
    "latency_s": "a slow answer is still an answer",
    # Hostile answers: the agent survives them (abandons the camera, counts the finding); a camera
    # that never answers properly ends as device_vanished through UNREACHABLE/TIMEOUT's path.
    "hang": "timeout finding; device_vanished once unseen past the threshold (the vanished row)",
    "drop": "unreachable finding; device_vanished once unseen past the threshold (the vanished row)",
    "malformed_xml": "malformed_response finding: broken firmware, not a policy breach",
    "oversized_bytes": "response_too_large finding: the agent caps it, no policy rule",
    "xml_bomb": "hostile_xml finding: parsed with entities off, no policy rule",
    "wrong_content_type": "tolerated like real firmware that sends text/html",
    "slow_drip_chunk": "a slow answer: the poll's deadline bounds it",
    "slow_drip_interval_s": "the pace of slow_drip_chunk",
    "hostile_ops": "narrows which operations the hostile knobs apply to",
    "phone_home_interval_s": "the pace of phone_home (the egress row)",
}
FLAWS_NOT_VIOLATIONS: dict[AuthFlaw, str] = {AuthFlaw.NONE: "a camera without an authentication flaw"}
# Finding kinds that raise no violation of their own, and why (collector.policy.engine.FINDING_RULES).
KINDS_NOT_VIOLATIONS: dict[FindingKind, str] = {
    FindingKind.TIMEOUT: "same path as UNREACHABLE: device_vanished (the vanished row)",
    FindingKind.RESPONSE_TOO_LARGE: "the agent's poll could not finish: a camera problem, not policy",
    FindingKind.HOSTILE_XML: "the agent's poll could not finish: a camera problem, not policy",
    FindingKind.MALFORMED_RESPONSE: "the agent's poll could not finish: a camera problem, not policy",
    FindingKind.OPERATION_FAILED: "an optional operation the firmware lacks",
    FindingKind.AUTH_FAILED: "the site's configured credentials are wrong: agent configuration",
    FindingKind.NO_CREDENTIALS: "the site gave the agent no credentials: inventory partial",
    FindingKind.DEFAULT_CREDENTIALS_TRIED: "factory passwords tried and refused: the camera is fine",
    FindingKind.PLAIN_HTTP_ONLY: "transport hygiene shown with the device; digest keeps the password",
    FindingKind.NTP_ABSENT: "a cause, not a harm: the skew it leads to is the clock skew row",
    FindingKind.XADDR_FOREIGN_HOST: "not followed by the agent: evidence only",
    FindingKind.TLS_FAILED: "the agent could not speak TLS to it: a poll problem",
    FindingKind.UNKNOWN: "a newer agent's kind: stored and shown as unknown",
}

"""The one severity scale and the one finding vocabulary of the whole project (pure).

The agent raises ``Finding``\\ s; the collector's policy engine maps each ``FindingKind`` to a
rule decision (``collector.policy.engine.FINDING_RULES``, checked total by a test), and reports
show them. A kind this code does not know (a newer agent's) decodes to ``FindingKind.UNKNOWN``
with its name kept in ``raw_kind``: stored and shown as unknown, never dropped, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.fields import Fields, known_or_unknown, with_extra


class Severity(StrEnum):
    """Least to most severe; ``weight`` orders them (info 0 .. critical 4)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def weight(self) -> int:
        """0 for info up to 4 for critical: larger is worse."""
        return _WEIGHT[self]

    @classmethod
    def parse(cls, value: Any, where: str = "severity") -> Severity:
        """The severity named by ``value``, or ``BodyError`` (the scale is closed)."""
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        raise BodyError(f"{where}: {value!r} is not one of {', '.join(s.value for s in cls)}")


_WEIGHT = {s: i for i, s in enumerate(Severity)}


def worst_first(severity: Severity) -> int:
    """Sort key that puts critical first and info last."""
    return -severity.weight


# Critical down to info: the column order of every report.
WORST_FIRST: tuple[Severity, ...] = tuple(sorted(Severity, key=worst_first))


class FindingKind(StrEnum):
    # The camera failed to answer properly.
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    RESPONSE_TOO_LARGE = "response_too_large"
    HOSTILE_XML = "hostile_xml"
    MALFORMED_RESPONSE = "malformed_response"
    OPERATION_FAILED = "operation_failed"
    # Authentication.
    AUTH_FAILED = "auth_failed"
    NO_CREDENTIALS = "no_credentials"
    UNAUTHENTICATED_ACCESS = "unauthenticated_access"
    AUTH_BYPASS = "auth_bypass"
    REPLAYED_DIGEST_ACCEPTED = "replayed_digest_accepted"
    DEFAULT_CREDENTIALS = "default_credentials"
    DEFAULT_CREDENTIALS_TRIED = "default_credentials_tried"
    PLAIN_HTTP_ONLY = "plain_http_only"
    # Time.
    CLOCK_SKEW = "clock_skew"
    NTP_ABSENT = "ntp_absent"
    # Addressing, transport and firmware.
    XADDR_FOREIGN_HOST = "xaddr_foreign_host"
    TLS_FAILED = "tls_failed"
    CERTIFICATE_CHANGED = "certificate_changed"
    VULNERABLE_FIRMWARE = "vulnerable_firmware"
    # A kind a newer agent sent that this code does not know; the name is in Finding.raw_kind.
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str) -> FindingKind:
        """The kind named ``value``; ``UNKNOWN`` for a name this code does not know."""
        return known_or_unknown(cls, value)


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    severity: Severity
    detail: str
    raw_kind: str = ""  # the name on the wire when ``kind`` is UNKNOWN
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """The kind's name as the agent sent it (the unknown name for ``UNKNOWN``)."""
        return self.raw_kind if self.kind is FindingKind.UNKNOWN and self.raw_kind else self.kind.value

    def to_json(self) -> dict[str, Any]:
        return with_extra(
            {"kind": self.name, "severity": self.severity.value, "detail": self.detail}, self.extra
        )

    @classmethod
    def decode(cls, obj: Any, where: str = "finding") -> Finding:
        f = Fields(obj, where)
        name = f.name("kind")
        kind = FindingKind.parse(name)
        severity = Severity.parse(f.raw("severity"), f"{where}.severity")
        return cls(
            kind=kind,
            severity=severity,
            detail=f.text("detail"),
            raw_kind=name if kind is FindingKind.UNKNOWN else "",
            extra=f.extra(),
        )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; equal severities keep their order."""
    return sorted(findings, key=lambda f: worst_first(f.severity))

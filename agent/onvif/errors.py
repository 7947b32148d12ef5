"""Errors raised while polling one camera; see the tree in ``agent.onvif``."""

from __future__ import annotations

from enum import StrEnum

from agent.runtime.errors import CamsentryError


class FailureKind(StrEnum):
    """Why a camera could not be polled; the distinctions an operator acts on."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TOO_LARGE = "response_too_large"
    MALFORMED = "malformed_response"
    HOSTILE_XML = "hostile_xml"
    FAULT = "soap_fault"
    AUTH = "auth_failed"
    HTTP_STATUS = "http_status"
    TLS = "tls_failed"
    CERTIFICATE_CHANGED = "certificate_changed"


class CameraError(CamsentryError):
    """A camera could not be polled."""

    kind: FailureKind = FailureKind.MALFORMED

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unreachable(CameraError):
    kind = FailureKind.UNREACHABLE


class CameraTimeout(CameraError):
    kind = FailureKind.TIMEOUT


class ResponseTooLarge(CameraError):
    kind = FailureKind.TOO_LARGE


class MalformedResponse(CameraError):
    kind = FailureKind.MALFORMED


class HostileXml(MalformedResponse):
    """A DTD, entity declaration or absurd nesting: refused before parsing."""

    kind = FailureKind.HOSTILE_XML


class HttpStatusError(CameraError):
    kind = FailureKind.HTTP_STATUS

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class SoapFault(CameraError):
    kind = FailureKind.FAULT

    def __init__(self, status: int, code: str, subcode: str, reason: str) -> None:
        super().__init__(f"HTTP {status} fault {code}/{subcode}: {reason}")
        self.status = status
        self.code = code
        self.subcode = subcode
        self.reason = reason


class AuthFailed(SoapFault):
    kind = FailureKind.AUTH


class TlsFailed(CameraError):
    """The TLS handshake failed (no common version or cipher, not TLS at all)."""

    kind = FailureKind.TLS


class CertificateChanged(CameraError):
    """The camera presented a certificate other than the one pinned for it; nothing was sent."""

    kind = FailureKind.CERTIFICATE_CHANGED

    def __init__(self, peer: str, pinned: str, seen: str) -> None:
        super().__init__(f"{peer} presented certificate sha256 {seen}, pinned {pinned}")
        self.peer = peer
        self.pinned = pinned
        self.seen = seen

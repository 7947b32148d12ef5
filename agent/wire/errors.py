"""Why an incoming message was refused; one reason per counter at the collector."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    OVERSIZE = "oversize"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_ENVELOPE = "malformed_envelope"
    UNKNOWN_VERSION = "unknown_version"
    UNKNOWN_AGENT = "unknown_agent"
    REVOKED_AGENT = "revoked_agent"
    BAD_SIGNATURE = "bad_signature"
    TOPIC_MISMATCH = "topic_mismatch"
    BAD_TOPIC = "bad_topic"
    # Verified, but the database refused this one message (a NUL a PostgreSQL text column cannot
    # hold, say): refused alone so the rest of its batch is stored and confirmed.
    UNSTORABLE = "unstorable"
    MALFORMED_BODY = "malformed_body"


class WireError(ValueError):
    """A message that cannot be accepted; ``reason`` says which counter it belongs to."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class BodyError(WireError):
    """An envelope body (or a record inside it) that does not decode; ``detail`` names the field."""

    def __init__(self, detail: str) -> None:
        super().__init__(RejectReason.MALFORMED_BODY, detail)

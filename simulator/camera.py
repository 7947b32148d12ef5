"""One camera's ONVIF behaviour: request bytes in, reply out (no sockets; the clock is injected)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from simulator import hostile
from simulator.capabilities import services
from simulator.fleet import CameraSpec
from simulator.operations import OPERATIONS, UNAUTHENTICATED, fault
from simulator.profile import AuthFlaw
from simulator.recorder import RECORDER_OPERATIONS
from simulator.request import BadRequest, parse_request
from simulator.wire import TDS_NS, envelope
from simulator.wsse import AuthOutcome, NonceCache, check_token

Clock = Callable[[], datetime]
log = structlog.get_logger("simulator.camera")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    operation: str
    auth: AuthOutcome | None = None


class Camera:
    """State of one simulated camera: identity, remembered nonces, clock offset."""

    def __init__(self, spec: CameraSpec, clock: Clock = utc_now) -> None:
        self.spec = spec
        self._clock = clock
        self.nonces = NonceCache()
        self.counts: dict[str, int] = {}
        self.rejections: dict[str, int] = {}

    def _reject(self, kind: str, **detail: object) -> None:
        """Count a refused request; the first of each kind is logged at info, repeats at debug."""
        seen = self.rejections.get(kind, 0)
        self.rejections[kind] = seen + 1
        emit = log.info if seen == 0 else log.debug
        emit("camera_refused", camera=self.spec.id, kind=kind, count=seen + 1, **detail)

    def now(self) -> datetime:
        """The camera's own clock: the host's plus the configured offset."""
        return self._clock() + timedelta(seconds=self.spec.knobs.clock_offset_s)

    def _reply(self, status: int, body: bytes, operation: str, auth: AuthOutcome | None = None) -> Reply:
        self.counts[operation] = self.counts.get(operation, 0) + 1
        return Reply(status, body, self.spec.profile.wire.content_type, operation, auth)

    def _fault(self, status: int, code: str, subcodes: tuple[str, ...], reason: str, op: str) -> Reply:
        style = self.spec.profile.wire.style
        body = fault(code, subcodes, reason)(style.envelope_prefix)
        return self._reply(status, envelope(style, body), op)

    def authorise(self, token_outcome: AuthOutcome) -> bool:
        flaw = self.spec.profile.auth_flaw
        return flaw is AuthFlaw.BYPASS or token_outcome is AuthOutcome.OK

    def handle_soap(self, data: bytes) -> Reply:
        """Answer one SOAP request the way this camera's firmware would."""
        wire = self.spec.profile.wire
        parsed = parse_request(data)
        if isinstance(parsed, BadRequest):
            self._reject("bad_request", reason=parsed.reason)
            return self._fault(400, "Sender", ("ter:WellFormed",), "Well-formed Error", "BadRequest")
        op = parsed.operation
        recorder_op = RECORDER_OPERATIONS.get((parsed.namespace, op))
        offered = {name for name, *_ in self.spec.profile.services}
        if recorder_op is not None and recorder_op[0] not in offered:
            recorder_op = None  # a camera that is not a recorder does not speak these services
        if recorder_op is None and (parsed.namespace != TDS_NS or op not in OPERATIONS):
            return self._fault(
                wire.action_not_supported_status,
                "Receiver",
                ("ter:ActionNotSupported", "ter:InvalidOperation"),
                wire.action_not_supported_reason,
                op,
            )
        now = self.now()
        profile = self.spec.profile
        is_open = op in UNAUTHENTICATED or op in profile.unauthenticated
        outcome: AuthOutcome | None = None
        if parsed.token is not None or not is_open:
            # A token is checked whenever one is sent, so its nonce is spent even on an open operation
            # (as gSOAP's WS-Security plugin does); only protected operations depend on the verdict.
            outcome = check_token(
                parsed.token,
                username=self.spec.username,
                password=self.spec.password,
                now=now,
                window_s=profile.freshness_s,
                nonces=None if profile.auth_flaw is AuthFlaw.REPLAY else self.nonces,
            )
        if not is_open and outcome is not None and not self.authorise(outcome):
            self._reject(f"auth_{outcome.value}", operation=op)
            reply = self._fault(
                wire.not_authorized_status,
                "Sender",
                ("ter:NotAuthorized",),
                wire.not_authorized_reason,
                op,
            )
            return Reply(reply.status, reply.body, reply.content_type, op, outcome)
        if recorder_op is not None:
            content = recorder_op[1](self.spec, now)
        elif op == "GetServices":
            include = parsed.param("IncludeCapability").lower() in ("true", "1")
            content = services(self.spec, now, include_capability=include)
        else:
            content = OPERATIONS[op](self.spec, now)
        body = envelope(wire.style, content)
        return self._reply(200, body, op, outcome)

    def hostile_body(self, reply: Reply) -> tuple[bytes, str]:
        """Apply the body-changing knobs to a reply; returns body and content type."""
        knobs = self.spec.knobs
        body, ctype = reply.body, reply.content_type
        if not knobs.applies_to(reply.operation):
            return body, ctype
        prefix = self.spec.profile.wire.style.envelope_prefix
        if knobs.xml_bomb:
            body = hostile.entity_bomb(prefix)
        elif knobs.malformed_xml:
            body = hostile.malformed(body)
        if knobs.oversized_bytes:
            body = hostile.oversize(body, knobs.oversized_bytes)
        if knobs.wrong_content_type:
            ctype = hostile.WRONG_CONTENT_TYPE
        return body, ctype

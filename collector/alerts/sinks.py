"""Where alerts go: each sink delivers one queue document or raises ``DeliveryError``.

``MqttSink`` publishes on ``camsentry/alerts/v1/<site>`` (paho queues it; never blocks, never
digested: it is a machine feed). ``WebhookSink`` POSTs the canonical JSON with its HMAC-SHA256 in
``X-Camsentry-Signature: sha256=<hex>``, TLS verified against the system store or ``ca_file``.
SMTP and syslog live in ``smtp`` and ``syslog``.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

from agent.wire.canonical import canonical_json
from collector.alerts.config import WebhookSettings
from collector.alerts.model import alert_topic

SIGNATURE_HEADER = "X-Camsentry-Signature"
# Digests have no single site: they go to their own topic under the alert prefix.
DIGEST_SITE = "_digest"


class DeliveryError(Exception):
    """A sink could not deliver (unreachable, timed out, refused); the worker retries later."""


class Sink(Protocol):
    name: str
    # False for sinks that never block and feed machines: every alert goes, no digest.
    rate_limited: bool

    def deliver(self, document: dict[str, Any]) -> None: ...


class MqttSink:
    name = "mqtt"
    rate_limited = False

    def __init__(self, publish: Callable[[str, bytes], object]) -> None:
        self.publish = publish

    def deliver(self, document: dict[str, Any]) -> None:
        site = str(document.get("site") or DIGEST_SITE)
        try:
            self.publish(alert_topic(site), canonical_json(document))
        except (OSError, RuntimeError, ValueError) as exc:
            raise DeliveryError(f"mqtt: {exc}") from exc


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a redirected alert would lose its body or go elsewhere: a failure


class WebhookSink:
    name = "webhook"
    rate_limited = True

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        context = ssl.create_default_context(cafile=settings.ca_file)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect)

    def deliver(self, document: dict[str, Any]) -> None:
        body = canonical_json(document)
        request = urllib.request.Request(  # noqa: S310 - scheme checked when the config was read
            self.settings.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "camsentry-collector",
                SIGNATURE_HEADER: signature(self.settings.secret, body),
            },
        )
        try:
            with self._opener.open(request, timeout=self.settings.timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response (and its socket) open
            raise DeliveryError(f"webhook: HTTP {exc.code}") from None
        except (OSError, urllib.error.URLError, TimeoutError, ssl.SSLError) as exc:
            raise DeliveryError(f"webhook: {getattr(exc, 'reason', exc)}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook: HTTP {status}")

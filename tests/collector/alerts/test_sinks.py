"""Each sink against a real receiver on loopback: an HTTPS webhook (HMAC checked, certificate
verified), an SMTP server that requires STARTTLS (aiosmtpd with a trustme certificate), and a
syslog listener on UDP and on TCP reading RFC 5424 as a collector would."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from collector.alerts.config import SmtpSettings, SyslogSettings, WebhookSettings
from collector.alerts.digest import digest_document
from collector.alerts.sinks import SIGNATURE_HEADER, DeliveryError, WebhookSink
from collector.alerts.smtp import SmtpSink
from collector.alerts.syslog import SyslogSink
from tests.support.alerting import T0, alert, webhook
from tests.support.clock import FakeClock
from tests.support.mosquitto import free_port

SECRET = b"s3cret-shared-with-the-receiver"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


def document() -> dict[str, Any]:
    return alert("V-1").document(T0)


def test_webhook_signs_the_body_and_verifies_tls(ca: trustme.CA, ca_file: str) -> None:
    with webhook(server_context(ca)) as hook:
        WebhookSink(WebhookSettings(url=hook.url, secret=SECRET, ca_file=ca_file)).deliver(document())
        [(headers, body)] = hook.requests
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] == expected
        assert hook.bodies[0]["violation"] == "V-1"
        # Without our CA the server's certificate is not trusted: nothing is sent.
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            WebhookSink(WebhookSettings(url=hook.url, secret=SECRET)).deliver(document())
        assert len(hook.requests) == 1


def test_webhook_errors_are_delivery_errors() -> None:
    with webhook() as hook:
        hook.status = 500
        with pytest.raises(DeliveryError, match="HTTP 500"):
            WebhookSink(WebhookSettings(url=hook.url, secret=SECRET)).deliver(document())
    with pytest.raises(DeliveryError):
        WebhookSink(WebhookSettings(url="http://127.0.0.1:9/closed", secret=SECRET)).deliver(document())


def test_webhook_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        with pytest.raises(DeliveryError, match="timed out"):
            WebhookSink(WebhookSettings(url=url, secret=SECRET, timeout_s=0.3)).deliver(document())


@pytest.fixture
def smtp_server(ca: trustme.CA) -> Iterator[tuple[int, list[Any]]]:
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
            received.append((session.ssl is not None, envelope))
            return "250 OK"

    port = free_port()
    controller = controller_mod.Controller(
        Handler(), hostname="127.0.0.1", port=port, tls_context=server_context(ca), require_starttls=True
    )
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_smtp_sends_over_starttls(smtp_server: tuple[int, list[Any]], ca_file: str) -> None:
    port, received = smtp_server
    settings = SmtpSettings(
        host="localhost", port=port, sender="camsentry@example.org", to=("soc@example.org",), ca_file=ca_file
    )
    doc = digest_document([alert(f"V-{i}").document(T0) for i in range(3)], "2026-11-23T12:00:00.000Z", T0)
    SmtpSink(settings).deliver(doc)
    [(over_tls, envelope)] = received
    assert over_tls
    assert envelope.rcpt_tos == ["soc@example.org"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert str(mail["Subject"]).startswith("[camsentry] digest: 3 alerts")
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "See them: camsentry-collector violations --state open --since 2026-11-23T12:00:00.000Z" in body


def test_smtp_refuses_an_untrusted_certificate(smtp_server: tuple[int, list[Any]]) -> None:
    port, received = smtp_server
    settings = SmtpSettings(host="localhost", port=port, sender="c@example.org", to=("soc@example.org",))
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        SmtpSink(settings).deliver(document())
    assert received == []


RFC5424 = re.compile(
    rb"^<(?P<pri>\d+)>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\d+) (?P<msgid>\S+) "
    rb"(?P<sd>\[camsentry@32473[^\]]*\]) \xef\xbb\xbf(?P<msg>.*)$"
)


def test_syslog_over_udp_is_rfc5424() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        settings = SyslogSettings(host="127.0.0.1", port=listener.getsockname()[1], facility=16)
        SyslogSink(settings, FakeClock(T0)).deliver(document())
        data = listener.recv(4096)
    m = RFC5424.match(data)
    assert m, data
    assert int(m["pri"]) == 16 * 8 + 3  # local0, "err" for a high severity
    assert m["ts"] == b"2026-11-23T12:00:00.000Z" and m["app"] == b"camsentry-collector"
    assert m["msgid"] == b"opened"
    assert b'violation="V-1"' in m["sd"] and b'site="hq"' in m["sd"]
    assert m["msg"].startswith(b"[camsentry] high opened: restricted_at_sensitive_site at hq")


def test_syslog_over_tcp_uses_octet_counting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        got: list[bytes] = []

        def accept() -> None:
            conn, _ = listener.accept()
            with conn:
                chunks = []
                while chunk := conn.recv(4096):
                    chunks.append(chunk)
                got.append(b"".join(chunks))

        thread = threading.Thread(target=accept)
        thread.start()
        settings = SyslogSettings(host="127.0.0.1", port=listener.getsockname()[1], protocol="tcp")
        SyslogSink(settings, FakeClock(T0)).deliver(alert("V-9", severity="critical").document(T0))
        thread.join(5)
    length, _, frame = got[0].partition(b" ")
    assert int(length) == len(frame)
    m = RFC5424.match(frame)
    assert m and int(m["pri"]) == 16 * 8 + 2  # "crit"


def test_syslog_to_nowhere_is_a_delivery_error(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = SyslogSettings(host="127.0.0.1", port=port, protocol="tcp", timeout_s=1)
    with pytest.raises(DeliveryError, match="syslog"):
        SyslogSink(settings, FakeClock(T0)).deliver(document())

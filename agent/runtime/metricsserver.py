"""Serve a prometheus-client registry on ``/metrics`` over HTTP(S), with basic or bearer auth.

prometheus-client is imported here, and this module only when ``[metrics] listen`` is set, so
an agent without the ``metrics`` extra never needs it. The server runs in its own daemon
threads; a scrape reads the state it reports at that moment (custom collectors), so the hot
paths pay nothing for it.
"""

from __future__ import annotations

import base64
import hmac
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from agent.runtime.metricsconfig import MetricsSettings

log = structlog.get_logger(__name__)

# A scraper that connects and says nothing is dropped after this (Prometheus' own default is 10 s).
REQUEST_TIMEOUT_S = 15.0


def _authorised(settings: MetricsSettings, header: str | None) -> bool:
    if settings.password is None and settings.token is None:
        return True
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and settings.token is not None:
        return hmac.compare_digest(value.strip().encode(), settings.token.encode())
    if scheme.lower() == "basic" and settings.password is not None:
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), (settings.username or "").encode())
        return ok_user & hmac.compare_digest(password.encode(), settings.password.encode())
    return False


class MetricsServer:
    """``start()`` binds and serves; ``stop()`` closes. ``port`` is the bound port (0 in config picks one)."""

    def __init__(self, settings: MetricsSettings, registry: Any) -> None:
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

        self.settings = settings
        self.scrapes = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self._reply(404, b"not found\n", "text/plain")
                    return
                if not _authorised(settings, self.headers.get("Authorization")):
                    self.send_response(401)
                    realm = "Basic" if settings.password is not None else "Bearer"
                    self.send_header("WWW-Authenticate", f'{realm} realm="camsentry metrics"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.scrapes += 1
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)

            def _reply(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per scrape would drown the journal

        self._server = ThreadingHTTPServer((settings.host, settings.port), Handler)
        self._server.daemon_threads = True
        if settings.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
            # The handshake happens in the handler's thread, so a client that never sends one
            # holds only its own thread (and only until the timeout), never the accept loop.
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="camsentry-metrics",
            daemon=True,
        )
        self._thread.start()
        scheme = "https" if self.settings.tls else "http"
        log.info("metrics_listening", url=f"{scheme}://{self.settings.host}:{self.port}/metrics")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

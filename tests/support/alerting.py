"""Alert test helpers: violation rows and alerts, and a real loopback webhook receiver."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from collector.alerts import Alert, alerts_from_sync
from collector.violations import SyncResult, ViolationRow, ViolationState

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def row(
    vid: str, severity: str = "high", site: str = "hq", rule: str = "restricted_at_sensitive_site"
) -> ViolationRow:
    return ViolationRow(
        id=vid,
        rule=rule,
        severity=severity,
        site=site,
        agent="a1",
        device_id="cam-1",
        address="10.77.1.2",
        summary="hikvision at hq",
        detail={},
        evidence=({"agent": "a1", "boot": "b", "seq": 3},),
        first_seen=T0,
        last_seen=T0,
        state=ViolationState.OPEN,
        state_reason="",
        accepted_until=None,
        policy_version="sha256:aa",
        opened_at=T0,
        updated_at=T0,
    )


def alert(vid: str, event: str = "opened", **kw: str) -> Alert:
    r = row(vid, **kw)
    result = SyncResult((r,), (), (r,), (), 0)
    return next(a for a in alerts_from_sync(result) if a.event == event)


@dataclass
class Hook:
    """What the receiver got: (headers, raw body) per request; ``status`` it answers with."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 204
    url: str = ""
    got: threading.Event = field(default_factory=threading.Event)

    @property
    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, body in self.requests]


@contextmanager
def webhook(tls: ssl.SSLContext | None = None) -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.requests.append((dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            state.got.set()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls else "http"
        state.url = f"{scheme}://localhost:{server.server_address[1]}/hook"
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""Alerts as RFC 5424 syslog messages over UDP (RFC 5426) or TCP with octet counting (RFC 6587)."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from agent.runtime.clock import Clock
from agent.wire.timefmt import format_utc
from collector.alerts.config import SyslogSettings
from collector.alerts.digest import subject
from collector.alerts.sinks import DeliveryError

# RFC 5424 section 6.2.1 severities: a critical violation is "crit", a resolved one "info".
SEVERITY_CODES = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}
# RFC 5612's documentation enterprise number, for our structured-data id.
SD_ID = "camsentry@32473"
# RFC 5426 section 3.2: receivers SHOULD take 2048 octets; beyond that UDP may lose the message.
MAX_UDP_BYTES = 2048
NIL = "-"
BOM = "\ufeff"


def _sd_value(value: object) -> str:
    """RFC 5424 section 6.3.3: escape '"', '\\' and ']' in PARAM-VALUE."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _token(value: str, limit: int) -> str:
    """Printable US-ASCII without spaces (HOSTNAME, APP-NAME, MSGID), or NIL."""
    clean = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return clean or NIL


def severity_code(document: dict[str, Any]) -> int:
    if document.get("event") == "resolved":
        return 6
    if document.get("event") == "digest":
        return 4
    return SEVERITY_CODES.get(str(document.get("severity")), 5)


def format_rfc5424(
    document: dict[str, Any], *, facility: int, app_name: str, hostname: str, at: datetime, procid: int
) -> bytes:
    pri = facility * 8 + severity_code(document)
    params = {
        key: document[key]
        for key in ("violation", "rule", "severity", "site", "agent", "address", "count", "since")
        if document.get(key) not in (None, "")
    }
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    header = (
        f"<{pri}>1 {format_utc(at)} {_token(hostname, 255)} {_token(app_name, 48)} {procid} "
        f"{_token(str(document.get('event', '')), 32)} {sd} "
    )
    msg = " ".join(subject(document).split())
    if document.get("see"):
        msg += f"; see: {document['see']}"
    return (header + BOM + msg).encode("utf-8")


class SyslogSink:
    name = "syslog"
    rate_limited = True

    def __init__(self, settings: SyslogSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._hostname = socket.gethostname()

    def render(self, document: dict[str, Any]) -> bytes:
        s = self.settings
        return format_rfc5424(
            document,
            facility=s.facility,
            app_name=s.app_name,
            hostname=self._hostname,
            at=self.clock.now(),
            procid=os.getpid(),
        )

    def deliver(self, document: dict[str, Any]) -> None:
        s = self.settings
        data = self.render(document)
        try:
            if s.protocol == "udp":
                with socket.socket(_family(s.host), socket.SOCK_DGRAM) as sock:
                    sock.settimeout(s.timeout_s)
                    sock.sendto(data[:MAX_UDP_BYTES], (s.host, s.port))
            else:
                with socket.create_connection((s.host, s.port), timeout=s.timeout_s) as sock:
                    sock.sendall(str(len(data)).encode() + b" " + data)
        except OSError as exc:
            raise DeliveryError(f"syslog: {exc}") from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET

"""The ``[alerts]`` table: rate, retries and the sinks (webhook, SMTP, syslog), validated once."""

from __future__ import annotations

from dataclasses import dataclass

from agent.runtime.configfile import Table
from agent.runtime.mqttconfig import read_secret_file
from agent.runtime.netaddr import is_loopback
from agent.wire.findings import Severity

# Enough for a bad morning at one site; above it the next message is a digest, not silence.
DEFAULT_MAX_PER_MINUTE = 30
# 5 s, 10 s, ... capped at 10 min: a sink down for a while is retried for about an hour.
DEFAULT_BACKOFF_INITIAL_S = 5.0
DEFAULT_BACKOFF_MAX_S = 600.0
DEFAULT_MAX_ATTEMPTS = 10
# A sink that does not answer in this time is down; the worker moves on and retries later.
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: bytes
    ca_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class SyslogSettings:
    host: str
    port: int = 514
    protocol: str = "udp"
    facility: int = 16  # local0
    app_name: str = "camsentry-collector"
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class AlertSettings:
    mqtt: bool = True
    min_severity: Severity = Severity.LOW
    max_per_minute: int = DEFAULT_MAX_PER_MINUTE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    webhook: WebhookSettings | None = None
    smtp: SmtpSettings | None = None
    syslog: SyslogSettings | None = None


def _webhook(t: Table) -> WebhookSettings:
    url = t.get_str("url", required=True)
    if not url.startswith(("https://", "http://")):
        raise t.error("url", "must be an https:// (or http://) URL")
    secret = read_secret_file(t, "secret_file")
    if not secret:
        raise t.error("secret_file", "is required: a file holding the HMAC-SHA256 signing secret")
    settings = WebhookSettings(
        url=url,
        secret=secret.encode("utf-8"),
        ca_file=t.opt_str("ca_file"),
        timeout_s=t.get_float("timeout_s", DEFAULT_TIMEOUT_S, minimum=0.1),
    )
    t.finish()
    return settings


def _smtp(t: Table) -> SmtpSettings:
    host = t.get_str("host", required=True)
    to = t.raw("to")
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise t.error("to", "must be a non-empty list of e-mail addresses")
    starttls = t.get_bool("starttls", True)
    if not starttls and not is_loopback(host):
        raise t.error("starttls", "may be false only for a relay on this host (loopback)")
    username = t.opt_str("username")
    password = read_secret_file(t, "password_file")
    if (username is None) != (password is None):
        raise t.error("username", "username and password_file go together")
    settings = SmtpSettings(
        host=host,
        port=t.get_int("port", 587, minimum=1, maximum=65535),
        sender=t.get_str("from", required=True),
        to=tuple(to),
        starttls=starttls,
        username=username,
        password=password,
        ca_file=t.opt_str("ca_file"),
        timeout_s=t.get_float("timeout_s", DEFAULT_TIMEOUT_S, minimum=0.1),
    )
    t.finish()
    return settings


def _syslog(t: Table) -> SyslogSettings:
    settings = SyslogSettings(
        host=t.get_str("host", required=True),
        port=t.get_int("port", 514, minimum=1, maximum=65535),
        protocol=t.choice("protocol", ("udp", "tcp"), "udp"),
        facility=t.get_int("facility", 16, minimum=0, maximum=23),
        app_name=t.get_str("app_name", "camsentry-collector"),
        timeout_s=t.get_float("timeout_s", DEFAULT_TIMEOUT_S, minimum=0.1),
    )
    t.finish()
    return settings


def parse_alerts(t: Table) -> AlertSettings:
    """``[alerts]`` with optional ``[alerts.webhook]``, ``[alerts.smtp]``, ``[alerts.syslog]``."""
    severity = t.choice("min_severity", tuple(s.value for s in Severity), Severity.LOW.value)
    initial = t.get_float("backoff_initial_s", DEFAULT_BACKOFF_INITIAL_S, minimum=0.01)
    cap = t.get_float("backoff_max_s", DEFAULT_BACKOFF_MAX_S, minimum=0.01)
    if cap < initial:
        raise t.error("backoff_max_s", f"must be at least backoff_initial_s ({initial})")
    sinks = {name: t.table(name) if name in t.data else None for name in ("webhook", "smtp", "syslog")}
    settings = AlertSettings(
        mqtt=t.get_bool("mqtt", True),
        min_severity=Severity(severity),
        max_per_minute=t.get_int("max_per_minute", DEFAULT_MAX_PER_MINUTE, minimum=1),
        max_attempts=t.get_int("max_attempts", DEFAULT_MAX_ATTEMPTS, minimum=1, maximum=100),
        backoff_initial_s=initial,
        backoff_max_s=cap,
        webhook=_webhook(sinks["webhook"]) if sinks["webhook"] else None,
        smtp=_smtp(sinks["smtp"]) if sinks["smtp"] else None,
        syslog=_syslog(sinks["syslog"]) if sinks["syslog"] else None,
    )
    t.finish()
    return settings

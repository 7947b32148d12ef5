"""The sinks a collector config names, built once at start-up."""

from __future__ import annotations

from collections.abc import Callable

from agent.runtime.clock import Clock
from collector.alerts.config import AlertSettings
from collector.alerts.sinks import MqttSink, Sink, WebhookSink
from collector.alerts.smtp import SmtpSink
from collector.alerts.syslog import SyslogSink


def build_sinks(settings: AlertSettings, publish: Callable[[str, bytes], object], clock: Clock) -> list[Sink]:
    sinks: list[Sink] = []
    if settings.mqtt:
        sinks.append(MqttSink(publish))
    if settings.webhook is not None:
        sinks.append(WebhookSink(settings.webhook))
    if settings.smtp is not None:
        sinks.append(SmtpSink(settings.smtp))
    if settings.syslog is not None:
        sinks.append(SyslogSink(settings.syslog, clock))
    return sinks

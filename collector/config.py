"""Collector configuration: TOML validated once into a frozen dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.runtime.configfile import Table, load_toml, parse_logging
from agent.runtime.metricsconfig import MetricsSettings, parse_metrics
from agent.runtime.mqtt import MqttSettings
from agent.runtime.mqttconfig import parse_mqtt
from agent.wire.envelope import DEFAULT_MAX_PAYLOAD_BYTES
from collector.alerts.config import AlertSettings, parse_alerts
from collector.heartbeat import DEFAULT_STALL_AFTER_S
from collector.store.url import DatabaseUrlError, Engine, parse_database_url
from collector.web.settings import WebSettings, parse_web

DEFAULT_CONFIG = Path("/etc/camsentry/collector.toml")
# ingest.max_payload_bytes may go this high; beyond it a message is not telemetry.
MAX_PAYLOAD_LIMIT_BYTES = 64 * 1024 * 1024
# Topic, properties and fixed header on top of the payload (deploy/mosquitto allows 4 KiB).
PACKET_OVERHEAD_BYTES = 4 * 1024
# The collector asks the broker (MQTT v5 Maximum Packet Size) for at least this much, so an
# oversize message reaches ingest and is counted as ``oversize`` instead of being dropped by the
# broker unseen; the shipped broker config refuses bigger packets from their sender already.
MIN_REQUESTED_PACKET_BYTES = 16 * 1024 * 1024
CONFIG_ENV = "CAMSENTRY_COLLECTOR_CONFIG"


@dataclass(frozen=True)
class CollectorConfig:
    file: str
    state_dir: Path
    database: str
    mqtt: MqttSettings
    share_group: str | None
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    batch_max: int = 2000
    receipt_flush_s: float = 0.1
    silent_after_s: float = 900.0
    policy_path: Path | None = None
    evaluate_interval_s: float = 60.0
    alerts: AlertSettings = field(default_factory=AlertSettings)
    # The watchdog stops pinging systemd when a stage holds work this long without progress.
    stall_after_s: float = DEFAULT_STALL_AFTER_S
    # [metrics] listen: /metrics for Prometheus; None (off) by default.
    metrics: MetricsSettings | None = None
    log_level: str = "info"
    log_format: str = "auto"
    # PostgreSQL only: a file holding the password (or leave it to PGPASSFILE / ~/.pgpass).
    database_password_file: Path | None = None
    # [store]: an old schema is migrated by 'run' only when this says so (else: migrate command).
    migrate_on_start: bool = False
    retain_envelopes_days: int | None = None
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def key_path(self) -> Path:
        return self.state_dir / "collector.key"

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database.removeprefix("sqlite:///").removeprefix("sqlite://"))


def parse_collector_config(data: dict[str, Any], file: str) -> CollectorConfig:
    """Validate the whole file; every problem in it is reported at once (``ConfigErrors``).
    Ranges are documented in deploy/collector.example.toml."""
    top = Table(data, file, collect=True)
    state_dir = Path(top.get_str("state_dir", "/var/lib/camsentry-collector"))
    database = top.get_str("database", f"sqlite:///{state_dir / 'camsentry.sqlite'}")
    engine: Engine | None = None
    try:
        engine = parse_database_url(database).engine
    except DatabaseUrlError as exc:
        top.report(top.error("database", str(exc)))
    password_file = top.opt_str("database_password_file")
    if password_file is not None and engine is not None and engine is not Engine.POSTGRESQL:
        top.report(top.error("database_password_file", "is only for a postgresql:// database"))
    mqtt_table = top.table("mqtt")
    share_group = mqtt_table.opt_str("share_group")
    if share_group is not None and not share_group.replace("-", "").replace("_", "").isalnum():
        mqtt_table.report(mqtt_table.error("share_group", "must be letters, digits, - and _"))
    mqtt = top.attempt(
        lambda: parse_mqtt(mqtt_table, "camsentry-collector"),
        MqttSettings(host="-", port=1883, client_id="-"),
    )
    ingest = top.table("ingest")
    max_payload = ingest.get_int(
        "max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES, minimum=1024, maximum=MAX_PAYLOAD_LIMIT_BYTES
    )
    batch_max = ingest.get_int("batch_max", 2000, minimum=1, maximum=100_000)
    receipt_flush_s = ingest.get_float("receipt_flush_s", 0.1, minimum=0.0, maximum=60.0)
    ingest.finish()
    liveness = top.table("liveness")
    silent_after_s = liveness.get_float("silent_after_s", 900.0, minimum=1.0, maximum=30 * 86_400.0)
    liveness.finish()
    policy = top.table("policy")
    policy_file = policy.opt_str("file")
    evaluate_interval_s = policy.get_float("evaluate_interval_s", 60.0, minimum=1.0, maximum=86_400.0)
    if policy.opt_str("webhook_url") is not None:
        policy.report(
            policy.error("webhook_url", "moved: use [alerts.webhook] url and secret_file (signed alerts)")
        )
    policy.finish()
    alerts = top.attempt(lambda: parse_alerts(top.table("alerts")), AlertSettings())
    metrics = top.attempt(lambda: parse_metrics(top.table("metrics")), None)
    watchdog = top.table("watchdog")
    stall_after_s = watchdog.get_float("stall_after_s", DEFAULT_STALL_AFTER_S, minimum=1.0)
    watchdog.finish()
    store = top.table("store")
    migrate_on_start = store.get_bool("migrate_on_start", False)
    retain_days = store.get_int("retain_envelopes_days", 0, minimum=0)
    store.finish()
    web = top.attempt(lambda: parse_web(top.table("web")), WebSettings())
    log_level, log_format = parse_logging(top)
    top.finish()
    top.check()
    return CollectorConfig(
        file=file,
        state_dir=state_dir,
        database=database,
        mqtt=mqtt,
        share_group=share_group,
        max_payload_bytes=max_payload,
        batch_max=batch_max,
        receipt_flush_s=receipt_flush_s,
        silent_after_s=silent_after_s,
        policy_path=Path(policy_file) if policy_file else None,
        evaluate_interval_s=evaluate_interval_s,
        alerts=alerts,
        stall_after_s=stall_after_s,
        metrics=metrics,
        log_level=log_level,
        log_format=log_format,
        database_password_file=Path(password_file) if password_file else None,
        migrate_on_start=migrate_on_start,
        retain_envelopes_days=retain_days or None,
        web=web,
    )


def requested_packet_bytes(max_payload_bytes: int) -> int:
    """The Maximum Packet Size the collector asks the broker for: never below its own payload limit."""
    return max(MIN_REQUESTED_PACKET_BYTES, max_payload_bytes + PACKET_OVERHEAD_BYTES)


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV, str(DEFAULT_CONFIG)))


def load_collector_config(path: Path) -> CollectorConfig:
    return parse_collector_config(load_toml(path), str(path))

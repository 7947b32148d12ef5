"""Agent configuration: one TOML file, validated once at start-up into frozen dataclasses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.onvif.discovery import MAX_UNICAST_HOSTS
from agent.onvif.sources import (
    MAX_WAIT_S,
    DiscoverySettings,
    check_interface,
    parse_range,
    unicast_host_count,
)
from agent.runtime.configfile import Table, load_toml, parse_logging
from agent.runtime.metricsconfig import MetricsSettings, parse_metrics
from agent.runtime.mqtt import MqttSettings
from agent.runtime.mqttconfig import parse_mqtt, read_secret_file
from agent.wire.addresses import plain_address
from agent.wire.signing import KeyFormatError, public_key_from_text
from agent.wire.topics import valid_name

DEFAULT_STATE_DIR = Path("/var/lib/camsentry")
DEFAULT_CONFIG = Path("/etc/camsentry/agent.toml")


@dataclass(frozen=True)
class DeliverySettings:
    # DESIGN.md Delivery: an envelope without a receipt after this long is published again.
    receipt_timeout_s: float = 30.0
    # After a reconnect the backlog drains at this rate so a site does not flood the broker.
    backlog_rate_per_s: float = 500.0
    max_unacked: int = 100
    # Published but not yet confirmed by a receipt: an end-to-end window, so a slow collector
    # slows the agent instead of overflowing the broker's queue for it (Mosquitto's is 1,000).
    max_unconfirmed: int = 1000
    outbox_max_messages: int = 100_000
    outbox_max_bytes: int = 64 * 1024 * 1024
    outbox_sync: str = "NORMAL"


@dataclass(frozen=True)
class PollingSettings:
    interval_s: float = 300.0
    snapshot_interval_s: float = 3600.0
    concurrency: int = 16
    per_camera_timeout_s: float = 10.0
    try_default_credentials: bool = False


@dataclass(frozen=True)
class EnforceSettings:
    # Quarantine commands are verified and acked either way; only with this on are rules applied.
    enabled: bool = False
    # Addresses every quarantined camera may still reach (the site's recorders / NVRs).
    recorders: tuple[str, ...] = ()
    nft_command: tuple[str, ...] = ("nft",)


@dataclass(frozen=True)
class AgentConfig:
    file: str
    site: str
    agent: str
    state_dir: Path
    collector_public_key: str
    mqtt: MqttSettings
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    polling: PollingSettings = field(default_factory=PollingSettings)
    health_interval_s: float = 60.0
    cameras: tuple[dict[str, Any], ...] = ()
    egress: dict[str, Any] = field(default_factory=dict)
    enforce: EnforceSettings = field(default_factory=EnforceSettings)
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    log_level: str = "info"
    log_format: str = "auto"
    # Problems the agent runs with but reports (log at start, status): e.g. a config holding
    # passwords that other users can read.
    warnings: tuple[str, ...] = ()
    # [metrics] listen: /metrics for Prometheus (the optional ``metrics`` extra); None = off.
    metrics: MetricsSettings | None = None

    @property
    def key_path(self) -> Path:
        return self.state_dir / "agent.key"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite"

    @property
    def status_path(self) -> Path:
        return self.state_dir / "status.json"


def parse_enforce(table: Table) -> EnforceSettings:
    recorders = table.raw("recorders") or []
    if not isinstance(recorders, list) or not all(isinstance(r, str) for r in recorders):
        raise table.error("recorders", "must be a list of IP addresses")
    for address in recorders:
        try:
            plain_address(address)
        except ValueError as exc:
            raise table.error("recorders", f"{address!r} is not an IP address ({exc})") from exc
    nft = table.raw("nft_command") or ["nft"]
    if not isinstance(nft, list) or not nft or not all(isinstance(a, str) for a in nft):
        raise table.error("nft_command", "must be a non-empty list of strings")
    settings = EnforceSettings(
        enabled=table.get_bool("enabled", False), recorders=tuple(recorders), nft_command=tuple(nft)
    )
    table.finish()
    return settings


def _string_list(table: Table, name: str, check: Callable[[str], object]) -> tuple[str, ...]:
    values = table.raw(name) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise table.error(name, "must be a list of strings")
    out = []
    for value in values:
        try:
            out.append(str(check(value)))
        except ValueError as exc:
            raise table.error(name, str(exc)) from exc
    return tuple(dict.fromkeys(out))


def parse_discovery(table: Table) -> DiscoverySettings:
    """``[discovery]``: WS-Discovery interfaces and ranges, credentials, recorder channels."""
    interfaces = _string_list(table, "interfaces", check_interface)
    unicast = _string_list(table, "unicast", parse_range)
    if any(":" in r for r in unicast):
        raise table.error("unicast", "IPv4 ranges only (WS-Discovery is probed over IPv4)")
    hosts = unicast_host_count(unicast)
    if hosts > MAX_UNICAST_HOSTS:
        raise table.error("unicast", f"covers {hosts} addresses; at most {MAX_UNICAST_HOSTS} per sweep")
    channel_ranges = _string_list(table, "channel_ranges", parse_range)
    wait_s = table.get_float("wait_s", DiscoverySettings.wait_s, minimum=0.1)
    if wait_s > MAX_WAIT_S:
        raise table.error("wait_s", f"must be at most {MAX_WAIT_S:g}, got {wait_s:g}")
    username = table.opt_str("username")
    password = read_secret_file(table, "password_file")
    if (username is None) != (password is None):
        raise table.error(
            "password_file" if password is None else "username", "username and password_file go together"
        )
    settings = DiscoverySettings(
        interfaces=interfaces,
        unicast=unicast,
        channel_ranges=channel_ranges,
        wait_s=wait_s,
        username=username,
        password=password,
        follow_recorder_channels=table.get_bool("follow_recorder_channels", True),
    )
    table.finish()
    return settings


# Ranges of the numbers below (documented in deploy/agent.example.toml): a second to a week for
# intervals, so a typo (or nan, refused by name) can neither spin the agent nor stop it sweeping.
MAX_INTERVAL_S = 7 * 24 * 3600.0


# deploy/agent.example.toml ships 32 zero bytes ("AAAA...A="): never a real key, refused by name.
PLACEHOLDER_KEY = bytes(32)


def parse_agent_config(data: dict[str, Any], file: str) -> AgentConfig:
    """Validate the whole file; every problem in it is reported at once (``ConfigErrors``)."""
    top = Table(data, file, collect=True)
    site = top.get_str("site", required=True)
    agent = top.get_str("agent", required=True)
    for name, value in (("site", site), ("agent", agent)):
        if value and not valid_name(value):
            top.report(top.error(name, "must be 1-64 of A-Z a-z 0-9 _ . - and start with a letter or digit"))
    collector = top.table("collector")
    collector_key = collector.get_str("public_key", required=True)
    if collector_key:
        try:
            key = public_key_from_text(collector_key)
        except KeyFormatError as exc:
            collector.report(collector.error("public_key", str(exc)))
        else:
            if key.public_bytes_raw() == PLACEHOLDER_KEY:
                collector.report(
                    collector.error(
                        "public_key",
                        "is the sample config's placeholder: put the collector's public key here "
                        "(camsentry-collector keygen prints it)",
                    )
                )
    collector.finish()

    mqtt = top.attempt(
        lambda: parse_mqtt(top.table("mqtt"), f"camsentry-agent-{site}-{agent}"),
        MqttSettings(host="-", port=1883, client_id="-"),
    )

    d = top.table("delivery")
    delivery = DeliverySettings(
        receipt_timeout_s=d.get_float("receipt_timeout_s", 30.0, minimum=0.1, maximum=86_400.0),
        backlog_rate_per_s=d.get_float("backlog_rate_per_s", 500.0, minimum=1.0, maximum=1_000_000.0),
        max_unacked=d.get_int("max_unacked", 100, minimum=1, maximum=10_000),
        max_unconfirmed=d.get_int("max_unconfirmed", 1000, minimum=1, maximum=1_000_000),
        outbox_max_messages=d.get_int("outbox_max_messages", 100_000, minimum=10, maximum=100_000_000),
        outbox_max_bytes=d.get_int("outbox_max_bytes", 64 * 1024 * 1024, minimum=64 * 1024, maximum=2**40),
        outbox_sync=d.choice("outbox_sync", ("NORMAL", "FULL"), "NORMAL"),
    )
    d.finish()

    p = top.table("polling")
    polling = PollingSettings(
        interval_s=p.get_float("interval_s", 300.0, minimum=1.0, maximum=MAX_INTERVAL_S),
        snapshot_interval_s=p.get_float("snapshot_interval_s", 3600.0, minimum=1.0, maximum=MAX_INTERVAL_S),
        concurrency=p.get_int("concurrency", 16, minimum=1, maximum=256),
        per_camera_timeout_s=p.get_float("per_camera_timeout_s", 10.0, minimum=0.1, maximum=600.0),
        try_default_credentials=p.get_bool("try_default_credentials", False),
    )
    p.finish()

    cameras = top.raw("camera") or []
    if not isinstance(cameras, list) or not all(isinstance(c, dict) for c in cameras):
        top.report(top.error("camera", "must be an array of tables ([[camera]])"))
        cameras = []
    egress = top.raw("egress") or {}
    if not isinstance(egress, dict):
        top.report(top.error("egress", "must be a table"))
        egress = {}

    enforce = top.attempt(lambda: parse_enforce(top.table("enforce")), EnforceSettings())
    discovery = top.attempt(lambda: parse_discovery(top.table("discovery")), DiscoverySettings())

    metrics = top.attempt(lambda: parse_metrics(top.table("metrics")), None)
    log_level, log_format = parse_logging(top)
    state_dir = Path(top.get_str("state_dir", str(DEFAULT_STATE_DIR)))
    health_interval_s = top.get_float("health_interval_s", 60.0, minimum=1.0, maximum=86_400.0)
    top.finish()
    top.check()
    return AgentConfig(
        file=file,
        site=site,
        agent=agent,
        state_dir=state_dir,
        collector_public_key=collector_key,
        mqtt=mqtt,
        delivery=delivery,
        polling=polling,
        health_interval_s=health_interval_s,
        cameras=tuple(cameras),
        egress=egress,
        enforce=enforce,
        discovery=discovery,
        log_level=log_level,
        log_format=log_format,
        metrics=metrics,
    )


def load_agent_config(path: Path) -> AgentConfig:
    data = load_toml(path)
    config = parse_agent_config(data, str(path))
    warning = exposed_secrets_warning(path, data)
    return replace(config, warnings=(warning,)) if warning else config


def holds_secrets(data: dict[str, Any]) -> bool:
    """True when the file itself carries a password (a [[camera]] password; the other tables take
    password_file)."""
    cameras = data.get("camera")
    return isinstance(cameras, list) and any(isinstance(c, dict) and c.get("password") for c in cameras)


def exposed_secrets_warning(path: Path, data: dict[str, Any]) -> str:
    """A warning when ``path`` holds passwords and users other than its owner and group can read it."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return ""
    if not mode & 0o004 or not holds_secrets(data):
        return ""
    return (
        f"{path} holds camera passwords and is readable by every user (mode {mode:04o}): "
        "chmod 0640 (owner root, group camsentry) or 0600"
    )

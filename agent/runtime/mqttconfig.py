"""The ``[mqtt]`` table both agent and collector configs carry, and secrets read from files."""

from __future__ import annotations

from pathlib import Path

from agent.runtime.configfile import Table
from agent.runtime.errors import ConfigError
from agent.runtime.mqtt import MqttSettings, TlsSettings

# A password, or a token: a few hundred bytes at most.
MAX_SECRET_BYTES = 64 * 1024


def read_secret_file(table: Table, name: str) -> str | None:
    """The secret in the file the key names; a problem is reported (kept when collecting) as None."""
    try:
        return _read_secret(table, name)
    except ConfigError as exc:
        table.report(exc)
        return None


def _read_secret(table: Table, name: str) -> str | None:
    path = table.opt_str(name)
    if path is None:
        return None
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(MAX_SECRET_BYTES + 1)  # bounded: a path to /dev/zero must not hang start-up
    except OSError as exc:
        raise table.error(name, f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_SECRET_BYTES:
        raise table.error(name, f"{path} is larger than {MAX_SECRET_BYTES} bytes: not a password file")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise table.error(name, f"{path} is not UTF-8 text") from None


def parse_mqtt(table: Table, default_client_id: str) -> MqttSettings:
    host = table.get_str("host", required=True)
    tls_enabled = table.get_bool("tls", False)
    port = table.get_int("port", 8883 if tls_enabled else 1883, minimum=1, maximum=65535)
    tls = None
    ca_file = table.opt_str("ca_file")
    cert_file = table.opt_str("cert_file")
    key_file = table.opt_str("key_file")
    if tls_enabled:
        if ca_file is None:
            table.report(table.error("ca_file", "is required when tls = true"))
        if (cert_file is None) != (key_file is None):
            table.report(table.error("cert_file", "cert_file and key_file go together"))
        tls = TlsSettings(ca_file=ca_file or "", cert_file=cert_file, key_file=key_file)
    settings = MqttSettings(
        host=host,
        port=port,
        client_id=table.get_str("client_id", default_client_id),
        keepalive_s=table.get_int("keepalive_s", 30, minimum=5, maximum=3600),
        tls=tls,
        username=table.opt_str("username"),
        password=read_secret_file(table, "password_file"),
        # MQTT v5 Session Expiry Interval is a four-byte integer; a bigger one kills paho's thread.
        session_expiry_s=table.get_int("session_expiry_s", 3600, minimum=0, maximum=2**32 - 1),
        reconnect_min_s=table.get_float("reconnect_min_s", 0.5, minimum=0.01, maximum=3600.0),
        reconnect_max_s=table.get_float("reconnect_max_s", 60.0, minimum=0.01, maximum=86_400.0),
    )
    table.finish()
    return settings


def check_tls_files(settings: MqttSettings, file: str) -> None:
    """At start-up: each TLS file the [mqtt] table names is there and readable, or a ConfigError
    names the config file, the key and the path (``...: mqtt.cert_file: /path: No such file ...``)."""
    if settings.tls is None:
        return
    for key, path in (
        ("ca_file", settings.tls.ca_file),
        ("cert_file", settings.tls.cert_file),
        ("key_file", settings.tls.key_file),
    ):
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(file, f"mqtt.{key}", f"{path}: {exc.strerror}") from None

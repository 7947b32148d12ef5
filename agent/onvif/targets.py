"""Which cameras to poll: ``[[camera]]`` tables and ``HOST[:PORT]`` arguments."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from agent.runtime.errors import ConfigError

DEFAULT_PATH = "/onvif/device_service"  # ONVIF Core spec 5.1.1: the device service entry point
_KEYS = frozenset({"address", "port", "username", "password", "path", "scheme", "name"})
# How a target was found; the record says so (``source``). A recorder's channels are
# ``recorder:<address of the recorder>``.
SOURCE_CONFIG = "config"
SOURCE_WS_DISCOVERY = "ws-discovery"
SOURCE_RECORDER = "recorder"
SCHEMES = ("http", "https")
HTTPS_PORT = 443  # a camera configured on 443 without a scheme speaks TLS there


@dataclass(frozen=True)
class CameraTarget:
    """One camera to poll; the agent talks only to ``address``, whatever XAddrs it reports."""

    address: str
    port: int = 80
    username: str | None = None
    password: str | None = None
    path: str = DEFAULT_PATH
    scheme: str = "http"
    source: str = SOURCE_CONFIG
    # What the device said of itself in its WS-Discovery ProbeMatch (identification evidence,
    # kept for a camera that refuses GetScopes or that we hold no credentials for).
    probe_scopes: tuple[str, ...] = ()
    xaddrs: tuple[str, ...] = ()
    probe_endpoint: str = ""  # the ProbeMatch's EndpointReference address (often urn:uuid:...MAC)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_port(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def __repr__(self) -> str:  # never show the password
        return f"CameraTarget({self.scheme}://{self.host_port}{self.path}, user={self.username!r})"


def _valid_host(value: str) -> bool:
    if not value or len(value) > 253 or any(c.isspace() for c in value) or "/" in value:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return all(part and len(part) <= 63 for part in value.split("."))


def parse_camera_tables(tables: list[dict[str, Any]], file: str) -> list[CameraTarget]:
    """``[[camera]]`` tables (address, port, username, password, path) into targets."""
    targets: list[CameraTarget] = []
    for i, table in enumerate(tables):
        where = f"camera[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(file, where, "must be a table")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigError(file, f"{where}.{unknown[0]}", "unknown key")
        address = table.get("address")
        if not isinstance(address, str) or not _valid_host(address.strip("[]")):
            raise ConfigError(file, f"{where}.address", "must be an IP address or host name")
        scheme = table.get("scheme", "https" if table.get("port") == HTTPS_PORT else "http")
        if scheme not in SCHEMES:
            raise ConfigError(file, f"{where}.scheme", "must be http or https")
        port = table.get("port", HTTPS_PORT if scheme == "https" else 80)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigError(file, f"{where}.port", "must be an integer 1-65535")
        creds: dict[str, str | None] = {}
        for key in ("username", "password"):
            value = table.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(file, f"{where}.{key}", "must be a string")
            creds[key] = value
        if (creds["username"] is None) != (creds["password"] is None):
            raise ConfigError(file, f"{where}.password", "username and password go together")
        path = table.get("path", DEFAULT_PATH)
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(file, f"{where}.path", "must be a path starting with /")
        targets.append(
            CameraTarget(
                address=address.strip("[]"),
                port=port,
                username=creds["username"],
                password=creds["password"],
                path=path,
                scheme=scheme,
            )
        )
    return targets


def parse_target_arg(value: str, *, default_port: int = 80) -> CameraTarget:
    """``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT``, optionally after ``https://`` (or on port
    443), into a target; ValueError if not."""
    scheme = ""
    for prefix in ("https://", "http://"):
        if value.lower().startswith(prefix):
            scheme, value = prefix[:-3], value[len(prefix) :].rstrip("/")
    if scheme == "https" and default_port == 80:
        default_port = HTTPS_PORT
    host, port_text = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(f"unclosed [ in {value!r}")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"junk after ] in {value!r}")
            port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"bad port in {value!r}")
        port = int(port_text)
    if not _valid_host(host):
        raise ValueError(f"bad host in {value!r}")
    scheme = scheme or ("https" if port == HTTPS_PORT else "http")
    return CameraTarget(address=host, port=port, scheme=scheme)

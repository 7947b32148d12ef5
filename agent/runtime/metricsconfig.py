"""The ``[metrics]`` table agent and collector share: where /metrics listens and how it is guarded.

Off unless ``listen = "HOST:PORT"`` is set. On a loopback address it may be plain HTTP without
credentials; anywhere else it must have TLS (``cert_file``, ``key_file``) and either basic auth
(``username`` with ``password_file``) or a bearer token (``token_file``), the secrets read from
files, never from the config itself.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from agent.runtime.configfile import Table
from agent.runtime.mqttconfig import read_secret_file
from agent.runtime.netaddr import is_loopback


@dataclass(frozen=True)
class MetricsSettings:
    host: str
    port: int
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = None

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def __repr__(self) -> str:  # the secrets never reach a log line
        return f"MetricsSettings(host={self.host!r}, port={self.port}, tls={self.tls})"


def split_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` into (host, port); ValueError says what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError("must be HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"host must be an IP address or localhost, got {host!r}") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port must be 1-65535, got {port_text!r}")
    return host, int(port_text)


def parse_metrics(t: Table) -> MetricsSettings | None:
    listen = t.opt_str("listen")
    cert, key = t.opt_str("cert_file"), t.opt_str("key_file")
    username = t.opt_str("username")
    password = read_secret_file(t, "password_file")
    token = read_secret_file(t, "token_file")
    t.finish()
    if listen is None:
        return None
    try:
        host, port = split_listen(listen)
    except ValueError as exc:
        raise t.error("listen", str(exc)) from None
    if (cert is None) != (key is None):
        raise t.error("cert_file", "cert_file and key_file go together")
    for name, path in (("cert_file", cert), ("key_file", key)):
        if path is not None and not Path(path).is_file():
            raise t.error(name, f"{path}: No such file or directory")
    if (username is None) != (password is None):
        raise t.error("username", "username and password_file go together")
    if not is_loopback(host):
        if cert is None:
            raise t.error("listen", f"{host} is not loopback: cert_file and key_file (TLS) are required")
        if password is None and token is None:
            raise t.error(
                "listen",
                f"{host} is not loopback: basic auth (username, password_file) or token_file is required",
            )
    return MetricsSettings(
        host=host,
        port=port,
        cert_file=Path(cert) if cert else None,
        key_file=Path(key) if key else None,
        username=username,
        password=password,
        token=token,
    )

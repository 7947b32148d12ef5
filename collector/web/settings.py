"""``[web]`` in the collector config: where the web view listens and its TLS certificate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.runtime.configfile import Table
from agent.runtime.errors import ConfigError
from agent.runtime.netaddr import is_loopback

DEFAULT_LISTEN = "127.0.0.1:8765"


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    certificate: Path | None = None
    private_key: Path | None = None

    @property
    def tls(self) -> bool:
        return self.certificate is not None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:8765``, port 0: the kernel chooses); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"listen {text!r}: write HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)


def parse_web(table: Table) -> WebSettings:
    listen = table.get_str("listen", DEFAULT_LISTEN)
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise table.error("listen", str(exc)) from None
    certificate, key = table.opt_str("certificate"), table.opt_str("private_key")
    if (certificate is None) != (key is None):
        table.report(table.error("certificate", "give both certificate and private_key, or neither"))
        certificate = key = None
    table.finish()
    return WebSettings(host, port, Path(certificate) if certificate else None, Path(key) if key else None)


def check_exposure(settings: WebSettings, file: str) -> None:
    """Bound beyond loopback the view must use TLS: the pages map an estate's security."""
    if not settings.loopback and not settings.tls:
        raise ConfigError(
            file,
            "web.listen",
            f"web view on {settings.host}:{settings.port} is reachable from the network: "
            "set [web] certificate and private_key (TLS), or listen on 127.0.0.1",
        )

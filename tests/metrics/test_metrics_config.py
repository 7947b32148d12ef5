"""``[metrics]``: off by default, loopback plain, anywhere else TLS and credentials from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.runtime.configfile import Table
from agent.runtime.errors import ConfigError
from agent.runtime.metricsconfig import parse_metrics, split_listen


def parse(data: dict[str, object]) -> object:
    return parse_metrics(Table(data, "/etc/camsentry/collector.toml", "metrics"))


def test_off_unless_listen_is_set() -> None:
    assert parse({}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9310", ("127.0.0.1", 9310)),
        ("[::1]:9310", ("::1", 9310)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_listen_forms(text: str, expected: tuple[str, int]) -> None:
    assert split_listen(text) == expected


@pytest.mark.parametrize("text", ["9310", ":9310", "127.0.0.1:0", "127.0.0.1:99999", "metrics.example:9310"])
def test_bad_listen_names_file_and_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^/etc/camsentry/collector.toml: metrics.listen: "):
        parse({"listen": text})


def test_elsewhere_needs_tls_and_credentials(tmp_path: Path) -> None:
    cert, key, token = tmp_path / "m.crt", tmp_path / "m.key", tmp_path / "token"
    for f in (cert, key):
        f.write_text("x")
    token.write_text("s3cret\n")
    with pytest.raises(ConfigError, match="not loopback: cert_file and key_file"):
        parse({"listen": "0.0.0.0:9310"})
    with pytest.raises(ConfigError, match=r"basic auth .* or token_file is required"):
        parse({"listen": "0.0.0.0:9310", "cert_file": str(cert), "key_file": str(key)})
    settings = parse(
        {"listen": "0.0.0.0:9310", "cert_file": str(cert), "key_file": str(key), "token_file": str(token)}
    )
    assert settings is not None and "s3cret" not in repr(settings)
    with pytest.raises(ConfigError, match=r"metrics.cert_file: .*/nope.crt: No such file or directory"):
        parse({"listen": "0.0.0.0:9310", "cert_file": str(tmp_path / "nope.crt"), "key_file": str(key)})

"""The web view's server: [web] settings, TLS off loopback, a real HTTPS round trip."""

from __future__ import annotations

import http.client
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from agent.runtime.errors import ConfigError
from collector.config import parse_collector_config
from collector.web.settings import WebSettings, check_exposure, parse_listen
from tests.support.demo_estate import demo_estate


def test_listen_parsing() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8765", "host:", "host:99999", ":80"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)


def test_config_defaults_to_loopback_and_checks_its_table() -> None:
    config = parse_collector_config({"mqtt": {"host": "b"}}, "c.toml")
    assert (config.web.host, config.web.port, config.web.tls) == ("127.0.0.1", 8765, False)
    with pytest.raises(ConfigError, match=r"web\.listen"):
        parse_collector_config({"mqtt": {"host": "b"}, "web": {"listen": "nowhere"}}, "c.toml")
    with pytest.raises(ConfigError, match="private_key"):
        parse_collector_config({"mqtt": {"host": "b"}, "web": {"certificate": "/x.pem"}}, "c.toml")


def test_off_loopback_needs_tls() -> None:
    check_exposure(WebSettings("127.0.0.1", 8765), "c.toml")
    check_exposure(WebSettings("0.0.0.0", 8765, Path("c.pem"), Path("k.pem")), "c.toml")
    with pytest.raises(ConfigError, match="certificate"):
        check_exposure(WebSettings("0.0.0.0", 8765), "c.toml")
    with pytest.raises(ConfigError, match="reachable from the network"):
        check_exposure(WebSettings("192.0.2.10", 8765), "c.toml")


def test_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    estate = demo_estate(tmp_path)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = tmp_path / "web.pem", tmp_path / "web.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    key_path.chmod(0o600)
    with estate.config.open("a") as fh:
        fh.write(f'[web]\nlisten = "127.0.0.1:0"\ncertificate = "{cert_path}"\nprivate_key = "{key_path}"\n')
    with (tmp_path / "web.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "--config", str(estate.config), "web"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), (tmp_path / "web.log").read_text()
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        context = ssl.create_default_context()
        ca.configure_trust(context)
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 302 and response.getheader("Location", "").startswith("/login")
        assert response.read() == b""
        conn.close()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("connection_open", [False, True])
def test_sigterm_stops_the_web_view_at_once(tmp_path: Path, connection_open: bool) -> None:
    # Tried: SIGTERM the moment the URL is printed (before a request was served), and SIGTERM
    # while a keep-alive connection is open; the process must end cleanly, not hang.
    estate = demo_estate(tmp_path)
    with estate.config.open("a") as fh:
        fh.write('[web]\nlisten = "127.0.0.1:0"\n')
    with (tmp_path / "web.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "--config", str(estate.config), "web"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    conn = None
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (tmp_path / "web.log").read_text()
        if connection_open:
            conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1].rstrip("/")), timeout=10)
            conn.request("GET", "/login")
            assert conn.getresponse().read()
        proc.terminate()
        assert proc.wait(15) == 0
        assert "web_stopped" in (tmp_path / "web.log").read_text()
    finally:
        if conn is not None:
            conn.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_shipped_example_config_has_the_web_table() -> None:
    from collector.config import load_collector_config

    root = Path(__file__).resolve().parents[2]
    web = load_collector_config(root / "deploy" / "collector.example.toml").web
    assert (web.host, web.port, web.tls) == ("127.0.0.1", 8765, False)

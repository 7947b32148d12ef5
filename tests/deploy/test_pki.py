"""The CA scripts: idempotent, strict about names, 0600 files, CSR subjects overridden."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from agent.wire.enrol import ENROL_KIND
from agent.wire.envelope import Kind
from agent.wire.topics import NAME_PATTERN, topic
from collector.alerts import ALERT_TOPIC_PREFIX
from tests.deploy.broker_setup import SCRIPTS, client_dir, require_tools, script


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True, timeout=30).stdout


def subject_cn(cert: Path) -> str:
    return openssl("x509", "-in", str(cert), "-noout", "-subject", "-nameopt", "RFC2253").strip()


def failing(name: str, *args: str, pki: Path) -> str:
    result = subprocess.run(
        ["bash", str(SCRIPTS / name), "--dir", str(pki), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    return result.stderr


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    require_tools()
    pki = tmp_path / "pki"
    script("make-ca.sh", "broker.example", "10.0.0.5", pki=pki)
    return pki


def test_every_file_is_private(pki: Path) -> None:
    script("add-agent.sh", "site1", "agentA", pki=pki)
    files = [p for p in pki.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_server_certificate_names_every_address(pki: Path) -> None:
    text = openssl("x509", "-in", str(pki / "server.crt"), "-noout", "-ext", "subjectAltName")
    assert "DNS:broker.example" in text
    assert "IP Address:10.0.0.5" in text


def test_rerunning_changes_nothing(pki: Path) -> None:
    script("add-agent.sh", "site1", "agentA", pki=pki)
    script("add-collector.sh", "central-1", pki=pki)
    before = {p: p.read_bytes() for p in pki.rglob("*") if p.is_file()}
    script("make-ca.sh", "broker.example", pki=pki)
    script("add-agent.sh", "site1", "agentA", pki=pki)
    script("add-collector.sh", "central-1", pki=pki)
    after = {p: p.read_bytes() for p in pki.rglob("*") if p.is_file()}
    assert after == before
    assert (pki / "acl").read_text().count("user agent:site1:agentA") == 1


@pytest.mark.parametrize(
    ("site", "agent", "message"),
    [
        ("site/1", "a1", "must match"),
        ("site1", "+", "must match"),
        ("site1", "#", "must match"),
        ("site1", "a b", "must match"),
        ("", "a1", "must match"),
    ],
)
def test_names_that_would_break_topics_are_refused(pki: Path, site: str, agent: str, message: str) -> None:
    assert message in failing("add-agent.sh", site, agent, pki=pki)
    assert not (pki / "acl").exists()


def test_a_csr_keeps_its_key_and_loses_its_chosen_name(pki: Path, tmp_path: Path) -> None:
    key, csr = tmp_path / "box.key", tmp_path / "box.csr"
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-subj", "/CN=collector:central-1", "-out", str(csr),
    )  # fmt: skip
    script("add-agent.sh", "--csr", str(csr), "site1", "agentA", pki=pki)
    out = client_dir(pki, "agent:site1:agentA")
    assert not (out / "client.key").exists()
    assert subject_cn(out / "client.crt") == "subject=CN=agent:site1:agentA"
    cert_key = openssl("x509", "-in", str(out / "client.crt"), "-noout", "-pubkey")
    assert cert_key == openssl("pkey", "-in", str(key), "-pubout")
    usage = openssl("x509", "-in", str(out / "client.crt"), "-noout", "-ext", "extendedKeyUsage")
    assert "TLS Web Client Authentication" in usage
    assert "Server" not in usage


def test_revoking_an_identity_lists_it_in_the_crl(pki: Path) -> None:
    script("add-agent.sh", "site1", "agentA", pki=pki)
    script("add-agent.sh", "site1", "agentB", pki=pki)
    cert = client_dir(pki, "agent:site1:agentA") / "client.crt"
    serial = openssl("x509", "-in", str(cert), "-noout", "-serial").strip().split("=")[1]
    assert serial not in openssl("crl", "-in", str(pki / "crl.pem"), "-noout", "-text")
    script("revoke.sh", "agent:site1:agentA", pki=pki)
    assert f"Serial Number: {serial}" in openssl("crl", "-in", str(pki / "crl.pem"), "-noout", "-text")
    acl = (pki / "acl").read_text()
    assert "agent:site1:agentA" not in acl
    assert "user agent:site1:agentB" in acl


def test_broker_install_never_copies_private_ca_or_client_keys(pki: Path, tmp_path: Path) -> None:
    script("add-agent.sh", "site1", "agentA", pki=pki)
    dest = tmp_path / "etc-mosquitto-camsentry"
    script("install-broker.sh", "--dest", str(dest), pki=pki)
    assert sorted(p.name for p in dest.iterdir()) == [
        "acl",
        "ca.crt",
        "crl.pem",
        "server.crt",
        "server.key",
    ]
    for path in dest.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750


def test_agent_acl_follows_the_wire_format(pki: Path) -> None:
    """A new telemetry kind or a changed name rule in agent.wire must reach pki-lib.sh."""
    script("add-agent.sh", "site1", "agentA", pki=pki)
    lines = (pki / "acl").read_text().splitlines()
    writes = {ln.removeprefix("topic write ") for ln in lines if ln.startswith("topic write ")}
    reads = {ln.removeprefix("topic read ") for ln in lines if ln.startswith("topic read ")}
    kinds = {*Kind, ENROL_KIND}
    assert writes == {topic("site1", "agentA", kind) for kind in kinds}
    assert reads == {topic("site1", "agentA", "receipt"), topic("site1", "agentA", "cmd")}
    lib = (SCRIPTS / "pki-lib.sh").read_text()
    assert f"NAME_RE='{NAME_PATTERN.pattern}'" in lib


def test_collector_acl_follows_the_collector(pki: Path) -> None:
    """Alerts are published where collector.alerts says; receipts and commands per agent."""
    script("add-collector.sh", "central-1", pki=pki)
    lines = set((pki / "acl").read_text().splitlines())
    assert f"topic readwrite {ALERT_TOPIC_PREFIX}/#" in lines
    assert f"topic write {topic('+', '+', 'receipt')}" in lines
    assert f"topic write {topic('+', '+', 'cmd')}" in lines
    assert not any(ln.startswith("topic write camsentry/v1/#") for ln in lines)

"""The shipped broker config with a real Mosquitto: TLS client certificates and per-agent ACLs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from collector.alerts import alert_topic
from tests.deploy.broker_setup import SiteBroker, client_dir, require_tools, script, shipped_broker
from tests.deploy.mqtt_probe import Identity, Probe, Refused

NOT_AUTHORIZED = 0x87  # MQTT v5 PUBACK reason code; v3.1.1 clients get no such signal
KINDS = ["birth", "inventory", "flow", "health", "ack", "status"]
AGENTS = [
    ("site1", "agentA"),
    ("site1", "agentB"),
    ("site2", "agentC"),
    ("site3", "revoked"),
    ("site3", "rotated"),
]
COLLECTORS = ["central-1", "central-2"]


def t(site: str, agent: str, kind: str) -> str:
    return f"camsentry/v1/{site}/{agent}/{kind}"


class Connect(Protocol):
    def __call__(self, identity: str, client_id: str = "") -> Probe: ...


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tools()
    pki = tmp_path_factory.mktemp("pki") / "pki"
    script("make-ca.sh", "127.0.0.1", "localhost", pki=pki)
    for site, agent in AGENTS:
        script("add-agent.sh", site, agent, pki=pki)
    for name in COLLECTORS:
        script("add-collector.sh", name, pki=pki)
    return pki


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA entirely, issuing a certificate with a real agent's name."""
    require_tools()
    pki = tmp_path_factory.mktemp("foreign") / "pki"
    script("make-ca.sh", "127.0.0.1", pki=pki)
    script("add-agent.sh", "site1", "agentA", pki=pki)
    return pki


@pytest.fixture(scope="module")
def site(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteBroker]:
    with shipped_broker(tmp_path_factory.mktemp("broker"), pki) as b:
        yield b


@pytest.fixture
def connect(site: SiteBroker) -> Iterator[Connect]:
    """connect(identity) -> a connected Probe, closed after the test."""
    opened: list[Probe] = []

    def _connect(identity: str, client_id: str = "") -> Probe:
        probe = Probe(site.port, Identity.from_dir(client_dir(site.pki, identity)), client_id)
        opened.append(probe.connect())
        return probe

    yield _connect
    for probe in opened:
        probe.close()


AGENT_A = "agent:site1:agentA"
AGENT_B = "agent:site1:agentB"
AGENT_C = "agent:site2:agentC"
COLLECTOR = "collector:central-1"
COLLECTOR_2 = "collector:central-2"


def test_agent_telemetry_and_enrolment_reach_the_collector(connect: Connect) -> None:
    collector = connect(COLLECTOR)
    collector.subscribe("camsentry/v1/+/+/+")
    agent = connect(AGENT_A)
    for kind in [*KINDS, "enrol"]:
        assert not agent.publish(t("site1", "agentA", kind)).is_failure
    for kind in [*KINDS, "enrol"]:
        assert collector.receive_until(t("site1", "agentA", kind)) == []


def test_shared_subscription_for_several_collectors(connect: Connect) -> None:
    collector = connect(COLLECTOR)
    collector.subscribe("$share/camsentry/camsentry/v1/+/+/+")
    connect(AGENT_C).publish(t("site2", "agentC", "flow"))
    assert collector.receive_until(t("site2", "agentC", "flow")) == []


@pytest.mark.parametrize(
    "forged",
    [
        t("site1", "agentB", "flow"),  # another agent at the same site
        t("site2", "agentC", "inventory"),  # an agent at another site
        t("site1", "agentB", "enrol"),  # an enrolment request for another agent
        t("site2", "agentA", "birth"),  # its own name under another site
        t("site1", "agentA", "cmd"),  # a command to itself
        t("site1", "agentA", "receipt"),  # a receipt to itself
        t("site1", "agentA", "bogus"),  # a kind that does not exist
        alert_topic("site1"),  # an alert
        "camsentry/v1/site1/agentA",  # outside the kind level
    ],
)
def test_agent_cannot_publish_outside_its_telemetry(connect: Connect, forged: str) -> None:
    watcher = connect(COLLECTOR)
    watcher.subscribe("#")  # granted; delivers only what the collector may read
    agent = connect(AGENT_A)
    assert agent.publish(forged).value == NOT_AUTHORIZED
    sentinel = t("site1", "agentA", "health")
    agent.publish(sentinel)
    assert watcher.receive_until(sentinel) == []


@pytest.mark.parametrize(
    "pattern",
    ["camsentry/v1/site2/#", "camsentry/v1/site1/agentB/#", "camsentry/v1/+/+/cmd", "#"],
)
def test_agent_cannot_read_other_agents_or_sites(connect: Connect, pattern: str) -> None:
    agent = connect(AGENT_A)
    agent.subscribe(pattern)
    own_cmd = t("site1", "agentA", "cmd")
    agent.subscribe(own_cmd)
    collector = connect(COLLECTOR)
    collector.publish(t("site2", "agentC", "cmd"))
    collector.publish(t("site1", "agentB", "receipt"))
    connect(AGENT_B).publish(t("site1", "agentB", "flow"))
    collector.publish(own_cmd)
    assert agent.receive_until(own_cmd) == []


def test_agent_reads_its_own_receipts_and_commands(connect: Connect) -> None:
    agent = connect(AGENT_A)
    agent.subscribe(t("site1", "agentA", "+"))
    collector = connect(COLLECTOR)
    collector.publish(t("site1", "agentA", "receipt"), b"r")
    collector.publish(t("site1", "agentA", "cmd"), b"c")
    assert agent.receive_until(t("site1", "agentA", "receipt")) == []
    assert agent.receive_until(t("site1", "agentA", "cmd")) == []


@pytest.mark.parametrize("kind", [*KINDS, "enrol"])
def test_collector_cannot_publish_telemetry_as_an_agent(connect: Connect, kind: str) -> None:
    watcher = connect(COLLECTOR_2)
    watcher.subscribe("#")  # granted; delivers only what the collector may read
    collector = connect(COLLECTOR)
    assert collector.publish(t("site1", "agentA", kind)).value == NOT_AUTHORIZED
    sentinel = alert_topic("site1")
    collector.publish(sentinel)
    assert watcher.receive_until(sentinel) == []


def test_client_id_is_the_certificate_name(connect: Connect) -> None:
    """use_username_as_clientid: an agent claiming another's client id cannot kick it off."""
    victim = connect(AGENT_B, client_id=AGENT_B)
    connect(AGENT_A, client_id=AGENT_B)
    watcher = connect(COLLECTOR)
    watcher.subscribe("camsentry/v1/+/+/+")
    victim.publish(t("site1", "agentB", "health"))
    assert watcher.receive_until(t("site1", "agentB", "health")) == []
    assert not victim.disconnected.is_set()


def test_broker_announces_its_maximum_packet_size(connect: Connect) -> None:
    agent = connect(AGENT_A)
    assert agent.connack_properties is not None
    # paho sets CONNACK properties as attributes by their spec names, untyped.
    assert vars(agent.connack_properties)["MaximumPacketSize"] == 266240


def test_oversize_packet_disconnects_the_sender(connect: Connect) -> None:
    agent = connect(AGENT_A)
    agent.client.publish(t("site1", "agentA", "inventory"), b"x" * 300_000, qos=1)
    assert agent.disconnected.wait(5)


def test_certificate_from_another_ca_is_refused(site: SiteBroker, foreign_pki: Path) -> None:
    """The foreign client trusts our broker; the broker does not trust its certificate."""
    identity = Identity.from_dir(client_dir(foreign_pki, AGENT_A), ca=site.pki / "ca.crt")
    with pytest.raises(Refused):
        Probe(site.port, identity).connect()


def test_client_without_certificate_is_refused(site: SiteBroker) -> None:
    with pytest.raises(Refused):
        Probe(site.port, Identity(ca=site.pki / "ca.crt")).connect()


def test_plain_mqtt_without_tls_is_refused(site: SiteBroker) -> None:
    with pytest.raises(Refused):
        Probe(site.port, None).connect()


def test_a_proper_client_connects(site: SiteBroker) -> None:
    """The refusals above are about the certificate, not the probe: this one gets in."""
    probe = Probe(site.port, Identity.from_dir(client_dir(site.pki, AGENT_A))).connect()
    probe.close()


def serial_of(cert: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-serial"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return out.strip().removeprefix("serial=")


def test_revoked_agent_is_refused_after_reload(site: SiteBroker, connect: Connect) -> None:
    identity = "agent:site3:revoked"
    tls = Identity.from_dir(client_dir(site.pki, identity))
    Probe(site.port, tls).connect().close()
    script("revoke.sh", identity, pki=site.pki)
    assert f"begin {identity}" not in (site.pki / "acl").read_text()
    site.reload(barrier=connect(COLLECTOR))
    with pytest.raises(Refused):
        Probe(site.port, tls).connect()


def test_rotated_certificate_works_and_the_old_one_stops(
    site: SiteBroker, connect: Connect, tmp_path: Path
) -> None:
    identity = "agent:site3:rotated"
    directory = client_dir(site.pki, identity)
    old = tmp_path / "old"
    shutil.copytree(directory, old)
    script("add-agent.sh", "--renew", "site3", "rotated", pki=site.pki)
    new = Identity.from_dir(directory)
    assert serial_of(old / "client.crt") != serial_of(directory / "client.crt")
    # Until the old serial is revoked both work: the box can switch over without a gap.
    Probe(site.port, Identity.from_dir(old)).connect().close()
    Probe(site.port, new).connect().close()
    script("revoke.sh", "--serial", serial_of(old / "client.crt"), pki=site.pki)
    site.reload(barrier=connect(COLLECTOR))
    with pytest.raises(Refused):
        Probe(site.port, Identity.from_dir(old)).connect()
    watcher = connect(COLLECTOR_2)
    watcher.subscribe("camsentry/v1/+/+/+")
    connect(identity).publish(t("site3", "rotated", "health"))
    assert watcher.receive_until(t("site3", "rotated", "health")) == []

"""Operator commands under the shipped broker config (TLS client certificates,
``use_username_as_clientid true``): ``camsentry-collector quarantine`` records the command in the
database and the running service signs and sends it on its own session. The service's
connection never drops, and the agent's ack reaches the database. With no service running,
the CLI says the command is queued, and the service sends it when it starts."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.commands import Ack, AckOutcome, open_command
from agent.wire.envelope import Kind, encode, seal
from agent.wire.signing import public_key_to_text
from agent.wire.topics import topic
from collector.config import load_collector_config
from collector.service import CollectorService
from collector.store import Store, open_store
from tests.deploy.broker_setup import SiteBroker, client_dir, require_tools, script, shipped_broker
from tests.deploy.mqtt_probe import Identity, Probe
from tests.support.pipeline import wait_until

SITE, AGENT = "site1", "agentA"
DEVICE = "10.77.1.2"
CLI_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tools()
    pki = tmp_path_factory.mktemp("pki") / "pki"
    script("make-ca.sh", "127.0.0.1", "localhost", pki=pki)
    script("add-agent.sh", SITE, AGENT, pki=pki)
    script("add-collector.sh", "central-1", pki=pki)
    return pki


@pytest.fixture
def site(pki: Path, tmp_path: Path) -> Iterator[SiteBroker]:
    workdir = tmp_path / "broker"
    workdir.mkdir()
    with shipped_broker(workdir, pki) as b:
        yield b


def write_config(site: SiteBroker, workdir: Path) -> Path:
    creds = client_dir(site.pki, "collector:central-1")
    config = workdir / "collector.toml"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'state_dir = "{workdir}"\n'
        f'database = "sqlite:///{workdir / "collector.sqlite"}"\n'
        "[mqtt]\n"
        'host = "127.0.0.1"\n'
        f"port = {site.port}\n"
        "tls = true\n"
        f'ca_file = "{creds / "ca.crt"}"\n'
        f'cert_file = "{creds / "client.crt"}"\n'
        f'key_file = "{creds / "client.key"}"\n'
        'client_id = "camsentry-collector-1"\n'
        "[logging]\n"
        'format = "json"\n'
    )
    return config


class FakeAgent:
    """The agent's side over its own certificate: verifies each command and acks it."""

    def __init__(self, site: SiteBroker, collector_key: Ed25519PrivateKey, store: Store) -> None:
        self.key = Ed25519PrivateKey.generate()
        store.add_agent(SITE, AGENT, public_key_to_text(self.key.public_key()), "2026-01-01T00:00:00.000Z")
        self.collector_public = collector_key.public_key()
        self.probe = Probe(site.port, Identity.from_dir(client_dir(site.pki, f"agent:{SITE}:{AGENT}")))
        self.seq = 0
        self.answered: queue.Queue[int] = queue.Queue()
        self._stop = threading.Event()

    def __enter__(self) -> FakeAgent:
        self.probe.connect()
        self.probe.subscribe(topic(SITE, AGENT, "cmd"))
        self._thread = threading.Thread(target=self._answer_all, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.probe.close()

    def _answer_all(self) -> None:
        while not self._stop.is_set():
            try:
                self.answered.put(self._answer_one())
            except queue.Empty:
                continue

    def _answer_one(self) -> int:
        got = self.probe.messages.get(timeout=0.2)
        outcome = open_command(
            got.payload,
            self.collector_public,
            site=SITE,
            agent=AGENT,
            now=datetime.now(UTC),
            last_applied_id=0,
        )
        assert outcome.accepted, outcome
        command = outcome.command
        assert command is not None
        ack = Ack(
            command.id,
            command.action.value,
            command.device,
            AckOutcome.APPLIED,
            quarantined=(command.device,),
        )
        self.seq += 1
        env = seal(
            self.key, agent=AGENT, site=SITE, boot="b1", seq=self.seq, ts=datetime.now(UTC), kind=Kind.ACK,
            body=ack.to_json(),
        )  # fmt: skip
        self.probe.publish(topic(SITE, AGENT, "ack"), encode(env))
        return command.id


@contextmanager
def running_service(config: Path, key: Ed25519PrivateKey) -> Iterator[CollectorService]:
    cfg = load_collector_config(config)
    store = open_store(cfg.database)
    service = CollectorService(cfg, store, key)
    service.start()
    try:
        assert service.wait_connected(15), "the service did not connect with its certificate"
        yield service
    finally:
        service.stop()
        store.close()


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def outcome(store: Store, cid: int) -> str | None:
    rows = store.db.read("test", "SELECT outcome FROM commands WHERE site = ? AND agent = ? AND id = ?",
                         (SITE, AGENT, cid))  # fmt: skip
    return rows[0][0] if rows else None


def test_quarantine_from_the_cli_leaves_the_service_session_alone(site: SiteBroker, tmp_path: Path) -> None:
    config = write_config(site, tmp_path / "collector")
    key = Ed25519PrivateKey.generate()
    store = open_store(load_collector_config(config).database)
    try:
        with FakeAgent(site, key, store) as agent:
            # No service yet: the command waits in the database, and the CLI says so.
            queued = cli(
                config, "quarantine", DEVICE, "--site", SITE, "--agent", AGENT, "--by", "alice", "--no-wait"
            )
            assert queued.returncode == 0, queued.stderr
            assert "note: command 1 is queued: no collector service is running" in queued.stderr
            assert queued.stdout.strip() == f"quarantine command 1 sent to {SITE}/{AGENT} for {DEVICE}"

            with running_service(config, key) as service:
                assert agent.answered.get(timeout=15) == 1  # sent by the service when it started
                wait_until(lambda: outcome(store, 1) == "applied", 15, "the first ack recorded")

                # With the service running: handed over at once, sent on the service's session.
                # (--no-wait: this test's agent answers only after the CLI returned)
                done = cli(
                    config,
                    "quarantine",
                    "10.77.1.3",
                    "--site",
                    SITE,
                    "--agent",
                    AGENT,
                    "--by",
                    "alice",
                    "--no-wait",
                )
                assert done.returncode == 0, done.stderr
                assert "note:" not in done.stderr
                assert done.stdout.startswith(f"quarantine command 2 sent to {SITE}/{AGENT} for 10.77.1.3")
                assert agent.answered.get(timeout=15) == 2
                wait_until(lambda: outcome(store, 2) == "applied", 15, "the second ack recorded")
                # The service kept its one connection through both commands.
                assert (service.connects, service.disconnects) == (1, 0)
                assert service.link.connected
    finally:
        store.close()

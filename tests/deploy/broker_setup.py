"""A Mosquitto running the shipped deploy/mosquitto config, with a PKI made by the shipped scripts."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.mqtt_probe import Probe
from tests.support.mosquitto import Broker, free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "deploy" / "mosquitto"
SHIPPED_CONF = SCRIPTS / "mosquitto.conf"
INSTALLED_DIR = "/etc/mosquitto/camsentry/"
SCRIPT_TIMEOUT_S = 60
BARRIER_TOPIC = "camsentry/alerts/v1/test-barrier"


def require_tools() -> None:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.skip("mosquitto is not installed (Debian package: mosquitto)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (Debian package: openssl)")


def script(name: str, *args: str, pki: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(SCRIPTS / name), "--dir", str(pki), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def client_dir(pki: Path, identity: str) -> Path:
    return pki / "clients" / identity


def point_conf(conf: Path, files: Path, port: int) -> None:
    """Point an installed drop-in at this test's files and port; every other line as shipped."""
    text = conf.read_text()
    assert text == SHIPPED_CONF.read_text()
    text = text.replace(INSTALLED_DIR, f"{files}/")
    text, replaced = re.subn(r"^listener 8883$", f"listener {port} 127.0.0.1", text, flags=re.M)
    assert replaced == 1
    conf.write_text(text)


@dataclass
class SiteBroker:
    broker: Broker
    pki: Path
    files: Path

    @property
    def port(self) -> int:
        return self.broker.port

    def reload(self, barrier: Probe) -> None:
        """Reinstall ACL and CRL, SIGHUP as `systemctl reload mosquitto` does, await the reload.

        Mosquitto's single-threaded loop checks its reload flag after handling the sockets
        that were ready. The signal is delivered before Mosquitto can read anything sent
        after kill(), so once a publish sent after the signal is acknowledged, the reload has
        run; connections made after that meet the new ACL and CRL. `barrier` is a connected
        client allowed to publish `BARRIER_TOPIC`.
        """
        script("install-broker.sh", "--dest", str(self.files), pki=self.pki)
        assert self.broker.process is not None
        self.broker.process.send_signal(signal.SIGHUP)
        barrier.publish(BARRIER_TOPIC)


@contextmanager
def shipped_broker(workdir: Path, pki: Path) -> Iterator[SiteBroker]:
    """Debian's layout: a main config without listeners that includes conf.d/camsentry.conf.

    As root, Mosquitto drops to its own user before it reads the ACL and rereads everything
    as that user on reload, as in production; so its tree lives where that user can reach it
    (pytest's tmp tree is 0700 root), shaped like /etc/mosquitto.
    """
    etc = Path(tempfile.mkdtemp(prefix="camsentry-mosquitto-"))
    try:
        etc.chmod(0o755)
        confd = etc / "conf.d"
        confd.mkdir(mode=0o755)
        files = etc / "camsentry"
        script("install-broker.sh", "--dest", str(files), "--conf-d", str(confd), pki=pki)
        port = free_port()
        point_conf(confd / "camsentry.conf", files, port)
        main = etc / "mosquitto.conf"
        main.write_text(
            "persistence false\n"
            "log_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            f"include_dir {confd}\n"
        )
        main.chmod(0o644)
        broker = Broker(host="127.0.0.1", port=port, config_path=main, log_path=workdir / "log")
        try:
            broker.start()
            yield SiteBroker(broker=broker, pki=pki, files=files)
        finally:
            broker.stop()
    finally:
        shutil.rmtree(etc)

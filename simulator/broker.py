"""A private Mosquitto for the demo and the tests: free port, own config, stopped on exit."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 10.0


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    host: str
    port: int
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start mosquitto and return once its port accepts connections."""
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (deploy/system-packages.sh installs it)")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-c", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)  # a port coming up has no event to wait on
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def write_config(
    path: Path, port: int, *, extra: str = "", persistence: bool = False, host: str = "127.0.0.1"
) -> None:
    # Anonymous loopback-only listener: for the demo and tests on one machine, never for a site
    # (deploy/mosquitto/ has the TLS and ACL configuration for that).
    path.write_text(
        f"listener {port} {host}\n"
        "allow_anonymous true\n"
        f"persistence {'true' if persistence else 'false'}\n"
        f"persistence_location {path.parent}/\n"
        "log_dest stdout\n"
        "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        f"{extra}\n"
    )


@contextmanager
def running_broker(workdir: Path, *, extra: str = "", persistence: bool = False) -> Iterator[Broker]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "mosquitto.conf"
    write_config(config, port, extra=extra, persistence=persistence)
    broker = Broker(host="127.0.0.1", port=port, config_path=config, log_path=workdir / "mosquitto.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()

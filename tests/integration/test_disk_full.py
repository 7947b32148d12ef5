"""A full disk is a state: the agent keeps serving and what it holds, refuses and counts new
evidence, says so (health, status, sd_notify), and resumes by itself when space returns."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import PollingSettings
from agent.daemon import AgentDaemon
from collector.cli import cmd_status
from tests.support.mosquitto import Broker
from tests.support.pipeline import (
    CountingSweep,
    agent_config,
    all_delivered,
    enrol,
    running_agent,
    running_collector,
    wait_until,
)

pytestmark = pytest.mark.root


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "3m") -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=False
    )
    if done.returncode != 0:
        pytest.skip("this machine refused to mount a tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _write_until_refused(path: Path) -> None:
    chunk = b"\0" * 65536
    with path.open("wb") as fh:
        while True:
            fh.write(chunk)
            fh.flush()


def fill(directory: Path) -> Path:
    """Write until the file system says ENOSPC; the file that holds the space."""
    filler = directory / "filler"
    with pytest.raises(OSError, match="No space left") as full:
        _write_until_refused(filler)
    assert full.value.errno == errno.ENOSPC
    return filler


def test_agent_on_a_full_disk_keeps_serving_refuses_counts_and_resumes(
    broker: Broker, tmp_path: Path
) -> None:
    with small_tmpfs(tmp_path / "state") as state, running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, state, col.key, polling=PollingSettings(interval_s=1.0))
        config = replace(config, health_interval_s=1.0)
        enrol(col.store, config, key)
        notes: list[str] = []
        daemon = AgentDaemon(config, key, sweep=CountingSweep(per_sweep=50), notify=notes.append)
        thread = threading.Thread(target=daemon.run, name="agent-disk-full", daemon=True)
        thread.start()
        try:
            wait_until(lambda: daemon.publisher.counters.confirmed > 0, 20, "evidence delivered before")
            filler = fill(state)
            wait_until(lambda: daemon.outbox.disk_full, 30, "the outbox noticing the full disk")
            wait_until(lambda: daemon.outbox.stats().refused.get("inventory", 0) > 0, 20, "refusals counted")
            wait_until(lambda: any("STATUS=disk full" in n for n in notes), 10, "sd_notify STATUS")

            def centre_told() -> bool:
                bodies = [
                    r["body"]
                    for r in col.store.envelope_bodies("health")
                    if r["boot"] == daemon.publisher.boot
                ]
                return any(b.get("disk_full") for b in bodies)

            wait_until(centre_told, 20, "a health envelope saying disk_full reaching the collector")
            assert thread.is_alive()
            held = daemon.outbox.stats().depth

            # a restart while the disk is still full: the agent starts, keeps what it held
            daemon.stop()
            assert daemon.wait_stopped(15)
            thread.join(5)
            daemon = AgentDaemon(config, key, sweep=CountingSweep(per_sweep=50), notify=notes.append)
            thread = threading.Thread(target=daemon.run, name="agent-disk-full-2", daemon=True)
            thread.start()
            wait_until(lambda: daemon.outbox.disk_full, 30, "the restarted agent noticing the full disk")
            assert thread.is_alive() and daemon.outbox.stats().depth >= held

            filler.unlink()
            wait_until(lambda: not daemon.outbox.disk_full, 30, "the outbox resuming by itself")
            wait_until(
                lambda: notes[-1] == "STATUS=running" or "STATUS=running" in notes, 10, "STATUS=running"
            )
            confirmed = daemon.publisher.counters.confirmed
            wait_until(lambda: daemon.publisher.counters.confirmed > confirmed, 20, "evidence flowing again")
            assert thread.is_alive()
            assert (state / "status.json").stat().st_mode & 0o777 == 0o600
            assert (state / "outbox.sqlite").stat().st_mode & 0o777 == 0o600
        finally:
            daemon.stop()
            assert daemon.wait_stopped(15)
            thread.join(5)


def test_collector_on_a_full_disk_withholds_receipts_says_so_once_and_recovers(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        small_tmpfs(tmp_path / "centre", size="8m") as centre,
        structlog.testing.capture_logs() as logs,
        running_collector(broker, centre) as col,
    ):
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key, polling=PollingSettings(interval_s=1.0))
        enrol(col.store, config, key)
        with running_agent(config, key, CountingSweep(per_sweep=50)) as daemon:
            wait_until(lambda: daemon.publisher.counters.confirmed > 0, 20, "evidence stored before")
            filler = fill(centre)
            wait_until(lambda: col.service.storage.failing, 30, "the collector noticing it cannot store")
            wait_until(lambda: col.service.storage.failed_batches >= 3, 30, "more batches failing")
            confirmed = daemon.publisher.counters.confirmed
            wait_until(lambda: daemon.outbox.stats().depth > 100, 20, "the agent keeping its outbox")
            assert daemon.publisher.counters.confirmed == confirmed, "no receipt while nothing is stored"

            capsys.readouterr()
            assert cmd_status(col.config, argparse.Namespace(json=True)) == 0
            rows = json.loads(capsys.readouterr().out)
            assert any(r.get("state") == "storage_failing" for r in rows)

            filler.unlink()
            wait_until(lambda: not col.service.storage.failing, 30, "storing again")
            wait_until(lambda: all_delivered(daemon, col.store), 60, "the agent's backlog delivered")
        failing = [e for e in logs if e["event"] == "storage_failing"]
        recovered = [e for e in logs if e["event"] == "storage_recovered"]
        assert len(failing) == 1 and len(recovered) == 1, "one log line per change of state"
        loud = [e["event"] for e in logs if "exc_info" in e and e["log_level"] != "debug"]
        assert loud == [], "no traceback per failed batch"
        capsys.readouterr()
        assert cmd_status(col.config, argparse.Namespace(json=True)) == 0
        assert not any(r.get("state") == "storage_failing" for r in json.loads(capsys.readouterr().out))

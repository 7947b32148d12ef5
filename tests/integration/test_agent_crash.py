"""An agent killed with SIGKILL while it has a backlog loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.signing import public_key_to_text, write_private_key
from tests.support.mosquitto import Broker
from tests.support.pipeline import running_collector, wait_until

ROOT = Path(__file__).resolve().parents[2]
DEVICES = 600


def write_config(path: Path, broker: Broker, state: Path, collector_key: Ed25519PrivateKey) -> None:
    path.write_text(
        f"""site = "hq"
agent = "crashy"
state_dir = "{state}"
[collector]
public_key = "{public_key_to_text(collector_key.public_key())}"
[mqtt]
host = "{broker.host}"
port = {broker.port}
reconnect_min_s = 0.05
reconnect_max_s = 0.5
[delivery]
receipt_timeout_s = 2
backlog_rate_per_s = 300
[polling]
interval_s = 3600
[logging]
format = "json"
level = "warning"
"""
    )


def start(config: Path, devices: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.agent_proc", str(config), str(devices)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


def outbox_rows(state: Path, kind: str = "inventory") -> set[tuple[str, int]]:
    db = sqlite3.connect(state / "outbox.sqlite")
    try:
        return {(b, s) for b, s in db.execute("SELECT boot, seq FROM outbox WHERE kind = ?", (kind,))}
    finally:
        db.close()


def stop(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()


def test_sigkill_with_backlog_then_restart(broker: Broker, tmp_path: Path) -> None:
    state = tmp_path / "agent-state"
    key = Ed25519PrivateKey.generate()
    write_private_key(state / "agent.key", key)
    with running_collector(broker, tmp_path / "c") as col:
        col.store.add_agent("hq", "crashy", public_key_to_text(key.public_key()), "2026-11-23T00:00:00+00:00")
        config = tmp_path / "agent.toml"
        write_config(config, broker, state, col.key)
        proc = start(config, DEVICES)
        try:
            wait_until(lambda: len(col.store.devices()) >= 100, 30, "part of the backlog stored")
        finally:
            stop(proc, signal.SIGKILL)
        pending = outbox_rows(state)
        assert pending, "the kill was meant to leave a backlog"
        stored_at_kill = len(col.store.devices())
        assert stored_at_kill < DEVICES

        proc = start(config, 0)
        try:
            wait_until(lambda: len(col.store.devices()) == DEVICES, 60, "the whole backlog")
            wait_until(lambda: not outbox_rows(state), 30, "outbox emptied by receipts")
        finally:
            stop(proc, signal.SIGTERM)

        stored = {(r["boot"], r["seq"]) for r in col.store.envelope_bodies("inventory")}
        assert pending <= stored, "everything the killed agent had not got confirmed was delivered"
        serials = sorted(int(d["serial"][1:]) for d in col.store.devices())
        assert serials == list(range(1, DEVICES + 1)), "a gap would mean a lost envelope"
        assert len(stored) == DEVICES, "one inventory envelope per device: none stored twice"

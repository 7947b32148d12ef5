"""Simulator → real ONVIF sweep → agent → Mosquitto → collector: the store holds what the cameras serve."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from collector.cli import main as collector_main
from simulator.demo import DEMO_FLEET
from tests.support.mosquitto import Broker, free_port
from tests.support.pipeline import agent_config, enrol, running_agent, running_collector, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Away from the demo's 127.20.0.x so a demo and the tests can run side by side.
BASE_ADDRESS = "127.31.0.1"


def test_collector_stores_what_the_simulated_cameras_serve(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_path = tmp_path / "manifest.json"
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "run", "--fleet", str(DEMO_FLEET), "--manifest",
         str(manifest_path), "--base-address", BASE_ADDRESS, "--port", str(free_port(BASE_ADDRESS))],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        assert json.loads(sim.stdout.readline())["event"] == "ready"
        cameras = json.loads(manifest_path.read_text())
        targets = [CameraTarget(c["address"], c["port"], c["username"], c["password"]) for c in cameras]
        sweeper = Sweeper(per_camera_timeout_s=5)
        with running_collector(broker, tmp_path / "c") as col:
            key = Ed25519PrivateKey.generate()
            config = agent_config(broker, tmp_path / "a", col.key)
            enrol(col.store, config, key)
            with running_agent(config, key, lambda: sweeper.sweep(targets)):
                wait_until(lambda: len(col.store.devices()) == len(cameras), 60, "every camera stored")
            stored = {d["address"]: d for d in col.store.devices()}
            for cam in cameras:
                device = stored[cam["address"]]
                assert device["port"] == cam["port"]
                assert device["model"] == cam["model"], cam["id"]
                assert device["firmware"] == cam["firmware"], cam["id"]
                assert device["serial"] == cam["serial"], cam["id"]
                assert device["mac"].lower() == cam["mac"].lower(), cam["id"]
                assert device["site"] == "hq" and device["agent"] == "pi-01"
            # the restricted makers are recognised behind their labels
            by_id = {c["id"]: stored[c["address"]] for c in cameras}
            assert by_id["hilook-stairs"]["maker"].lower() == "hikvision"
            assert by_id["lorex-car-park"]["maker"].lower() == "dahua"
            assert by_id["axis-gate"]["maker"].lower() == "axis"

            cli_config = tmp_path / "collector.toml"
            cli_config.write_text(f'database = "{col.config.database}"\n[mqtt]\nhost = "127.0.0.1"\n')
            out = tmp_path / "report.json"
            with out.open("w") as fh:
                sys_stdout, sys.stdout = sys.stdout, fh
                try:
                    assert (
                        collector_main(
                            ["--config", str(cli_config), "report", "inventory", "--format", "json"]
                        )
                        == 0
                    )
                finally:
                    sys.stdout = sys_stdout
            rows = json.loads(out.read_text())["sections"][0]["rows"]
            assert {r["serial"] for r in rows} == {c["serial"] for c in cameras}
    finally:
        sim.send_signal(signal.SIGTERM)
        assert sim.wait(10) == 0
        assert sim.stdout is not None
        sim.stdout.close()

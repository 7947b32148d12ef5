"""`camsentry-agent status` reads what the agent last wrote: queue depth, publishes, cameras, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main as agent_main
from agent.wire.signing import public_key_to_text
from tests.support.mosquitto import Broker
from tests.support.pipeline import (
    CountingSweep,
    agent_config,
    enrol,
    running_agent,
    running_collector,
    wait_until,
)


def test_status_shows_the_running_agent(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key)
        enrol(col.store, config, key)
        config_file = tmp_path / "agent.toml"
        config_file.write_text(
            f'site = "hq"\nagent = "pi-01"\nstate_dir = "{config.state_dir}"\n'
            f'[collector]\npublic_key = "{public_key_to_text(col.key.public_key())}"\n'
            f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        )
        with running_agent(config, key, CountingSweep(per_sweep=4)) as daemon:
            wait_until(lambda: len(col.store.devices()) == 4, 15, "devices stored")
            wait_until(lambda: daemon.outbox.stats().depth == 0, 15, "outbox drained")
            wait_until(
                lambda: (
                    (json.loads(config.status_path.read_text()).get("last_sweep") or {}).get("devices") == 4
                ),
                15,
                "status file written after the sweep",
            )
    # read once the agent has stopped, so no log line of its threads lands in the captured output
    capsys.readouterr()
    assert agent_main(["status", "--config", str(config_file), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["site"] == "hq" and status["connected"] is False
    assert status["last_sweep"]["devices"] == 4
    assert status["outbox"]["depth"] == 0 and status["publisher"]["confirmed"] >= 5
    assert agent_main(["status", "--config", str(config_file)]) == 0
    text = capsys.readouterr().out
    assert "DISCONNECTED" in text and "4 in" in text
    (config.status_path).unlink()
    assert agent_main(["status", "--config", str(config_file)]) == 1
    assert "is the agent running?" in capsys.readouterr().err

"""`camsentry-collector quarantine` against a real agent through real Mosquitto: the operator is
told what the agent did, and the collector's command row and status say the same."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import build_commands
from agent.config import EnforceSettings
from agent.wire.signing import write_private_key
from collector.cli import main as collector_main
from collector.policy.commanding import command_status
from tests.support.mosquitto import Broker
from tests.support.pipeline import (
    CountingSweep,
    agent_config,
    enrol,
    running_agent,
    running_collector,
    wait_until,
)

CAMERA = "198.51.100.7"


@pytest.mark.parametrize(
    ("enforce", "outcome", "reason", "says"),
    [
        (EnforceSettings(enabled=False), "refused", "enforcement_disabled", "[enforce] enabled = false"),
        (
            EnforceSettings(enabled=True, nft_command=("/nonexistent/camsentry-test/nft",)),
            "refused",
            "nft_missing",
            "/nonexistent/camsentry-test/nft: not installed",
        ),
    ],
)
def test_quarantine_the_agent_cannot_enforce_is_refused_with_its_reason(
    broker: Broker,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    enforce: EnforceSettings,
    outcome: str,
    reason: str,
    says: str,
) -> None:
    with running_collector(broker, tmp_path / "c") as col:
        write_private_key(col.config.key_path, col.key)
        cli_config = tmp_path / "collector.toml"
        cli_config.write_text(
            f'state_dir = "{col.config.state_dir}"\ndatabase = "{col.config.database}"\n'
            f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        )
        key = Ed25519PrivateKey.generate()
        config = replace(agent_config(broker, tmp_path / "a", col.key), enforce=enforce)
        enrol(col.store, config, key)
        handler, _policy = build_commands(config)
        with running_agent(config, key, CountingSweep(per_sweep=1), commands=handler) as daemon:
            wait_until(lambda: daemon.publisher.connected, 10, "agent connected")
            wait_until(lambda: bool(col.store.devices()), 10, "the agent's first inventory")
            capsys.readouterr()
            code = collector_main(
                ["--config", str(cli_config), "quarantine", CAMERA, "--site", "hq", "--agent", "pi-01"]
            )
            out, err = capsys.readouterr()
        assert code == 3, (out, err)
        assert "quarantine command 1 sent to hq/pi-01" in out
        # stderr also carries the log lines of the in-process agent and collector
        verdict = [line for line in err.splitlines() if line.startswith("command 1:")]
        assert verdict == [verdict[0]] and verdict[0].startswith(
            f"command 1: {outcome} ({reason}): {says}"
        ), err
        row = command_status(col.store.db, "hq", "pi-01", 1)
        assert row is not None and (row.outcome, row.reason) == (outcome, reason)

        assert collector_main(["--config", str(cli_config), "status"]) == 0
        status = capsys.readouterr().out
        assert f"quarantine 1: {outcome} ({reason})" in status
        assert collector_main(["--config", str(cli_config), "commands", "--site", "hq"]) == 0
        assert reason in capsys.readouterr().out

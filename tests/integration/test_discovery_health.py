"""A sweep's discovery problems (a missing interface, answers out of scope) reach the collector in
the agent's health envelope instead of staying in the agent's log."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.health import DiscoveryProblem
from agent.wire.inventory import DeviceRecord
from tests.support.mosquitto import Broker
from tests.support.pipeline import agent_config, enrol, running_collector, wait_until

PROBLEM = {"source": "ws-discovery", "problem": "interface_missing", "detail": "cam9: no such interface"}


def test_discovery_problems_travel_in_health(broker: Broker, tmp_path: Path) -> None:
    from agent.daemon import AgentDaemon

    sweeps = threading.Event()

    def sweep() -> list[DeviceRecord]:
        sweeps.set()
        return []

    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = dataclasses.replace(agent_config(broker, tmp_path / "a", col.key), health_interval_s=1.0)
        enrol(col.store, config, key)
        daemon = AgentDaemon(
            config, key, sweep=sweep, sweep_health=lambda: [DiscoveryProblem.decode(PROBLEM)]
        )
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()

        def reported() -> bool:
            return any(
                (row["body"].get("last_sweep") or {}).get("discovery_problems") == [PROBLEM]
                for row in col.store.envelope_bodies("health")
            )

        try:
            assert sweeps.wait(10)
            wait_until(reported, 15, "a health envelope carrying the discovery problem")
        finally:
            daemon.stop()
            assert daemon.wait_stopped(10)
    # `camsentry-agent status` reads the same body from the status file the agent writes on stop
    status = json.loads(config.status_path.read_text())
    assert status["last_sweep"]["discovery_problems"] == [PROBLEM]

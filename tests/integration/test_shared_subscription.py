"""Two collectors on one shared subscription split the load and still store everything once."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.config import CollectorConfig
from collector.service import CollectorService
from collector.store.sqlite import SqliteStore
from tests.support.mosquitto import Broker
from tests.support.pipeline import (
    CountingSweep,
    agent_config,
    enrol,
    mqtt_settings,
    running_agent,
    wait_until,
)


def test_shared_subscription_splits_the_load(broker: Broker, tmp_path: Path) -> None:
    collector_key = Ed25519PrivateKey.generate()
    database = tmp_path / "shared.sqlite"
    base = CollectorConfig(
        file="test", state_dir=tmp_path, database=f"sqlite:///{database}",
        mqtt=mqtt_settings(broker, "c1"), share_group="camsentry", batch_max=10,
    )  # fmt: skip
    with ExitStack() as stack:
        services = []
        for name in ("c1", "c2"):
            store = SqliteStore(database)
            stack.callback(store.close)
            service = CollectorService(replace(base, mqtt=mqtt_settings(broker, name)), store, collector_key)
            service.start()
            stack.callback(service.stop)
            assert service.wait_connected(10)
            services.append(service)
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "agent", collector_key)
        enrol(services[0].store, config, key)
        with running_agent(config, key, CountingSweep(per_sweep=300)) as daemon:
            wait_until(lambda: len(services[0].store.devices()) == 300, 60, "300 devices")
            wait_until(lambda: daemon.outbox.stats().depth == 0, 30, "all confirmed")
        assert all(s.stored > 0 for s in services), [s.stored for s in services]
        assert services[0].store.count_envelopes("inventory") == 300

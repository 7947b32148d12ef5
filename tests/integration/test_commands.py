"""Signed commands through the broker: the agent verifies, answers with an ack envelope, refuses forgeries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import EnforceSettings
from agent.enforce.handler import CommandHandler
from agent.wire.commands import Command, CommandAction, seal_command
from agent.wire.signing import public_key_from_text
from agent.wire.topics import topic
from tests.support.fakenft import MemoryNft
from tests.support.mosquitto import Broker
from tests.support.pipeline import (
    CountingSweep,
    agent_config,
    enrol,
    running_agent,
    running_collector,
    wait_until,
)
from tests.support.rawmqtt import publish_and_wait, raw_client


def acks(store) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return [row["body"] for row in store.envelope_bodies("ack")]


def test_quarantine_command_is_verified_applied_and_acked(broker: Broker, tmp_path: Path) -> None:
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key)
        config = type(config)(**{**config.__dict__, "enforce": EnforceSettings(recorders=("198.51.100.5",))})
        enrol(col.store, config, key)
        nft = MemoryNft()
        handler = CommandHandler(
            public_key_from_text(config.collector_public_key), config.state_dir, nft,
            lambda _d: config.enforce.recorders, site=config.site, agent=config.agent,
        )  # fmt: skip
        now = datetime.now(UTC)
        good = Command(
            id=1, site="hq", agent="pi-01", action=CommandAction.QUARANTINE, device="198.51.100.7",
            params={}, issued=now, expires=now + timedelta(minutes=5),
        )  # fmt: skip
        forged = seal_command(Ed25519PrivateKey.generate(), Command(**{**good.__dict__, "id": 2}))
        with running_agent(config, key, CountingSweep(per_sweep=1), commands=handler) as daemon:
            wait_until(lambda: daemon.publisher.connected, 10, "agent connected")
            with raw_client(broker, "collector-cmd") as (client, _):
                cmd_topic = topic("hq", "pi-01", "cmd")
                publish_and_wait(client, cmd_topic, seal_command(col.key, good))
                publish_and_wait(client, cmd_topic, forged)
                publish_and_wait(client, cmd_topic, seal_command(col.key, good))  # replayed
            wait_until(lambda: len(acks(col.store)) == 3, 15, "three acks stored at the collector")
        outcomes = [(a.get("command_id"), a.get("outcome"), a.get("reason")) for a in acks(col.store)]
        assert outcomes[0][:2] == (1, "applied")
        assert outcomes[1][1] == "refused" and outcomes[1][2] == "bad_signature"
        assert outcomes[2][1] == "refused" and outcomes[2][2] == "replayed"
        assert (
            len(nft.rulesets) == 1 and "198.51.100.7" in nft.rulesets[0] and "198.51.100.5" in nft.rulesets[0]
        )

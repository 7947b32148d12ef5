"""The egress policy through a real broker: the collector pushes it when the agent is born, the
agent applies it to its watcher and acks, a flow the config flagged stops being reported, a
restart keeps it without a second push, and forged or malformed pushes change nothing.

The agent is wired exactly as ``camsentry-agent run`` wires it (``build_egress``,
``build_commands``, ``DeviceDirectory``); its watcher runs no kernel sources and is fed flows
through ``observe_event``, the seam conntrack events arrive through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import build_commands, build_egress
from agent.config import AgentConfig
from agent.daemon import AgentDaemon
from agent.egress.devices import DeviceDirectory
from agent.egress.model import FlowEvent, FlowKind
from agent.egress.watcher import EgressWatcher
from agent.wire.commands import Command, CommandAction, seal_command
from agent.wire.inventory import DeviceRecord
from agent.wire.topics import topic
from collector.policy.model import load_policy
from tests.support.mosquitto import Broker
from tests.support.pipeline import agent_config, enrol, running_collector, wait_until
from tests.support.rawmqtt import publish_and_wait, raw_client

CAM = "198.51.100.7"
PHONE_HOME = ("203.0.113.10", 443)  # flagged by the config's list, allowed by the policy's
ELSEWHERE = ("198.18.0.1", 443)  # flagged by both
POLICY = """
core_networks = ["10.0.0.0/8"]
[sites.hq]
class = "standard"
[egress.sites.hq]
allow = [{ cidr = "203.0.113.0/24", ports = [443], protocol = "tcp" }]
"""
EGRESS = {
    "conntrack": False,
    "sockets": False,
    "dns": False,
    "device_networks": ["198.51.100.0/24"],
    "min_report_interval_s": 0,
    "allow": [{"cidr": "192.0.2.0/24", "ports": [123], "protocol": "udp"}],
}
CAMERA = {"address": CAM, "port": 80, "mac": "44:19:B6:00:00:07", "maker": "hikvision", "brand": "Prima"}


class Agent:
    def __init__(self, config: AgentConfig, key: Ed25519PrivateKey) -> None:
        devices = DeviceDirectory()
        watcher = build_egress(config, devices)
        assert watcher is not None
        self.watcher: EgressWatcher = watcher
        self.handler, self.policy = build_commands(config, watcher)
        self.daemon = AgentDaemon(
            config,
            key,
            sweep=lambda: [DeviceRecord.decode(CAMERA)],
            commands=self.handler,
            egress=watcher,
            devices=devices.update,
            policy=self.policy,
        )
        self._cid = 0

    def connect(self, dst: tuple[str, int]) -> None:
        self._cid += 1
        self.watcher.observe_event(
            FlowEvent(FlowKind.NEW, "tcp", CAM, dst[0], 40000 + self._cid, dst[1], self._cid)
        )


@contextmanager
def running(agent: Agent) -> Iterator[Agent]:
    thread = threading.Thread(target=agent.daemon.run, name="test-agent", daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.daemon.stop()
        assert agent.daemon.wait_stopped(10), "agent did not stop"
        thread.join(5)


def _bodies(store: Any, kind: str) -> list[dict[str, Any]]:
    return [row["body"] for row in store.envelope_bodies(kind)]


def _policy_acks(store: Any) -> list[dict[str, Any]]:
    return [a for a in _bodies(store, "ack") if a.get("action") == "policy"]


def _flows(store: Any) -> list[dict[str, Any]]:
    return [b["flow"] for b in _bodies(store, "flow")]


def test_policy_push_end_to_end(broker: Broker, tmp_path: Path) -> None:
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(POLICY)
    version = load_policy(policy_path).version
    with running_collector(broker, tmp_path / "c", policy_path=policy_path) as col:
        key = Ed25519PrivateKey.generate()
        config = replace(agent_config(broker, tmp_path / "a", col.key), egress=dict(EGRESS))
        enrol(col.store, config, key)
        agent = Agent(config, key)

        # Before any push, the config's list flags the phone-home.
        agent.connect(PHONE_HOME)
        [before] = [x.to_json() for x in agent.watcher.drain_findings()]
        assert (before["destination"], before["allowed"]) == (PHONE_HOME[0], False)

        with running(agent):
            # Born → pushed → applied → acked, with no operator involved.
            wait_until(lambda: len(_policy_acks(col.store)) == 1, 15, "the agent's policy ack")
            [ack] = _policy_acks(col.store)
            assert (ack["outcome"], ack["reason"]) == ("applied", None), ack
            assert agent.watcher.allowlist.origin == version
            status = agent.daemon.health_body()["policy"]
            assert (status["state"], status["allowlist_origin"]) == ("applied", version)

            # The sweep has named the camera; the phone-home is no longer a finding.
            wait_until(lambda: col.store.count_envelopes("inventory") >= 1, 15, "the inventory")
            agent.connect(PHONE_HOME)
            agent.connect(ELSEWHERE)
            wait_until(lambda: any(f["destination"] == ELSEWHERE[0] for f in _flows(col.store)), 15, "a flow")
            flows = _flows(col.store)
            assert [f["destination"] for f in flows] == [ELSEWHERE[0]]
            assert (flows[0]["device_id"], flows[0]["device_maker"]) == ("mac:44:19:b6:00:00:07", "hikvision")

        # A restart puts the pushed list back before the watcher runs; the birth says which
        # version the agent holds, so the collector does not send it again.
        restarted = Agent(config, key)
        assert restarted.watcher.allowlist.origin == version
        with running(restarted):
            boot = restarted.daemon.publisher.boot
            wait_until(
                lambda: (
                    any(r["boot"] == boot for r in col.store.envelope_bodies("birth"))
                    and restarted.daemon.outbox.stats().depth == 0
                ),
                15,
                "the restarted agent's birth stored and confirmed",
            )
            [birth] = [r["body"] for r in col.store.envelope_bodies("birth") if r["boot"] == boot]
            assert birth["policy_version"] == version
            last = col.service.control.issuer.last_command("hq", "pi-01", CommandAction.POLICY)
            assert last is not None and last.id == 1  # no second push

            # SIGHUP with a changed file: the online agent gets the new version at once.
            policy_path.write_text(POLICY.replace('ports = [443], protocol = "tcp"', "ports = [443, 8443]"))
            version = load_policy(policy_path).version
            col.service.request_reload()
            wait_until(lambda: len(_policy_acks(col.store)) == 2, 15, "the reloaded policy's ack")
            acks = {a["command_id"]: a["outcome"] for a in _policy_acks(col.store)}  # boots sort randomly
            assert (acks, restarted.watcher.allowlist.origin) == ({1: "applied", 2: "applied"}, version)

            # A forged push and a malformed one: both refused, the allowlist untouched.
            now = datetime.now(UTC)
            forged = Command(
                id=50, site="hq", agent="pi-01", action=CommandAction.POLICY, device="", issued=now,
                expires=now + timedelta(minutes=5),
                params={"policy_version": "sha256:evil", "egress": {"allow": [{"cidr": "0.0.0.0/0"}]}},
            )  # fmt: skip
            malformed = replace(
                forged,
                id=51,
                params={
                    "policy_version": "sha256:bad",
                    "egress": {"allow": [{"cidr": "0.0.0.0/0", "colour": 1}]},
                },
            )
            with raw_client(broker, "hostile") as (client, _):
                cmd_topic = topic("hq", "pi-01", "cmd")
                publish_and_wait(client, cmd_topic, seal_command(Ed25519PrivateKey.generate(), forged))
                publish_and_wait(client, cmd_topic, seal_command(col.key, malformed))
            wait_until(lambda: len(_bodies(col.store, "ack")) == 4, 15, "two more acks")
            # (nothing of the forged one is trusted, so its ack names no command)
            refusals = {a["command_id"]: a for a in _bodies(col.store, "ack")}
            assert (refusals[None]["outcome"], refusals[None]["reason"]) == ("refused", "bad_signature")
            assert (refusals[51]["outcome"], refusals[51]["reason"]) == ("refused", "policy_invalid")
            assert "colour" in refusals[51]["detail"]
            assert restarted.watcher.allowlist.origin == version
            restarted.connect(PHONE_HOME)
            assert [
                x.to_json() for x in restarted.watcher.drain_findings()
            ] == []  # still allowed by the policy's list

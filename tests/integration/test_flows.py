"""Flow findings from the egress watcher travel as signed `flow` envelopes and reach the policy facts."""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.flows import FlowFinding
from agent.wire.health import Degradation
from collector.policy.facts import flow_facts
from tests.support.mosquitto import Broker
from tests.support.pipeline import agent_config, enrol, running_collector, wait_until


class RecordedEgress:
    """The watcher's interface with findings handed in by the test."""

    def __init__(self) -> None:
        self.pending: list[FlowFinding] = []
        self.lock = threading.Lock()
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def drain_findings(self) -> list[FlowFinding]:
        with self.lock:
            out, self.pending = self.pending, []
        return out

    def health(self) -> list[Degradation]:
        return [Degradation("conntrack", "degraded", "no CAP_NET_ADMIN")]


def test_flow_findings_are_delivered_and_become_policy_facts(broker: Broker, tmp_path: Path) -> None:
    from agent.daemon import AgentDaemon

    egress = RecordedEgress()
    finding = {
        "device": "198.51.100.7", "destination": "203.0.113.9", "port": 6500, "protocol": "tcp",
        "hostname": "eucas.ezvizlife.com", "tags": ["vendor_cloud:hikvision"], "count": 3,
        "first_seen": "2026-11-23T12:00:00Z", "last_seen": "2026-11-23T12:00:01Z", "allowed": False,
    }  # fmt: skip
    egress.pending.append(FlowFinding.decode(finding))
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key)
        enrol(col.store, config, key)
        daemon = AgentDaemon(config, key, sweep=lambda: [], egress=egress)
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: col.store.count_envelopes("flow") == 1, 15, "the flow envelope")
            assert egress.started
            assert daemon.health_body()["egress"][0]["status"] == "degraded"
        finally:
            daemon.stop()
            assert daemon.wait_stopped(10)
        assert egress.stopped
        facts = flow_facts(col.store.envelope_bodies("flow"))
        assert len(facts) == 1
        assert facts[0].record.hostname == "eucas.ezvizlife.com"
        assert facts[0].site == "hq" and facts[0].agent == "pi-01"

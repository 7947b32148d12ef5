"""Agent delivery rate: sign → durable outbox → publish → signed receipt → delete,
against paho publishing the same payloads at QoS 1 with no outbox, in the same run.

Both go through a private Mosquitto; receipts come from a stand-in collector process that
verifies and signs like the collector. Both sides publish the same number of inventory
envelopes of the same shape and size (checked and printed). Target: at least 0.5x.
Run: .venv/bin/python -m bench.bench_agent [--envelopes N]
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psutil
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from agent.config import AgentConfig, DeliverySettings, PollingSettings
from agent.daemon import AgentDaemon
from agent.runtime.mqtt import MqttLink, MqttSettings
from agent.wire.envelope import Kind, encode, seal
from agent.wire.inventory import DeviceRecord, inventory_body
from agent.wire.signing import public_key_to_text
from bench.bench_ingest import device
from bench.common import Measured, measure, report
from bench.receipt_echo import key_hex
from tests.support.mosquitto import running_broker


class CountingLink(MqttLink):
    """The agent's real link, counting the inventory payloads it hands to paho."""

    sizes: list[int]

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int | None:
        mid = super().publish(topic, payload, qos=qos, retain=retain)
        if mid is not None and topic.endswith("/inventory"):
            self.sizes.append(len(payload))
        return mid


def paho_baseline(host: str, port: int, payloads: list[bytes]) -> Measured:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="baseline", protocol=MQTTProtocolVersion.MQTTv5
    )
    done = threading.Event()
    acked = [0]

    def on_publish(*_args: object) -> None:
        acked[0] += 1
        if acked[0] == len(payloads):
            done.set()

    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()

    def run() -> None:
        for p in payloads:
            # Same topic length as the agent's; nobody subscribes to it.
            client.publish("camsentry/v1/bench/b1/inventory", p, qos=1)
        assert done.wait(120), "baseline PUBACKs missing"

    result = measure(len(payloads), run)
    client.disconnect()
    client.loop_stop()
    return result


def baseline_payloads(records: list[DeviceRecord]) -> list[bytes]:
    """The agent's first-sweep inventory envelopes, byte for byte the same shape and length."""
    key = Ed25519PrivateKey.generate()
    boot, sweep = secrets.token_hex(8), secrets.token_hex(6)
    return [
        encode(
            seal(
                key,
                agent="b1",
                site="bench",
                boot=boot,
                seq=i + 2,  # the agent's seq 1 is its birth envelope
                ts=datetime.now(UTC),
                kind=Kind.INVENTORY,
                body=inventory_body(r, sweep=sweep, snapshot=False),
            )
        )
        for i, r in enumerate(records)
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envelopes", type=int, default=20_000)
    n = parser.parse_args().envelopes
    records: list[DeviceRecord] = [device(i) for i in range(n)]
    collector_key = Ed25519PrivateKey.generate()
    agent_key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp) / "broker") as broker:
        echo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.receipt_echo",
                broker.host,
                str(broker.port),
                key_hex(collector_key),
                "bench",
                "a1",
                public_key_to_text(agent_key.public_key()),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert echo.stdout is not None
            assert echo.stdout.readline().strip() == "ready"
            config = AgentConfig(
                file="bench",
                site="bench",
                agent="a1",
                state_dir=Path(tmp) / "agent",
                collector_public_key=public_key_to_text(collector_key.public_key()),
                mqtt=MqttSettings(host=broker.host, port=broker.port, client_id="agent"),
                delivery=DeliverySettings(receipt_timeout_s=30, backlog_rate_per_s=1e9),
                polling=PollingSettings(interval_s=3600),
                health_interval_s=3600,
            )
            batches = [records]
            links: list[CountingLink] = []

            def link_factory(*args: Any, **kwargs: Any) -> MqttLink:
                link = CountingLink(*args, **kwargs)
                link.sizes = []
                links.append(link)
                return link

            daemon = AgentDaemon(
                config,
                agent_key,
                sweep=lambda: batches.pop() if batches else [],
                link_factory=link_factory,
            )
            depth_after: list[int] = []

            def run_agent() -> None:
                thread = threading.Thread(target=daemon.run, daemon=True)
                thread.start()
                deadline = time.monotonic() + 120
                while daemon.publisher.counters.confirmed < n + 1:  # + the birth envelope
                    assert time.monotonic() < deadline, f"agent stalled: {daemon.publisher.counters}"
                    threading.Event().wait(0.005)
                depth_after.append(daemon.outbox.stats().depth)
                daemon.stop()
                thread.join(10)

            others = {"stand-in collector": psutil.Process(echo.pid)}
            if broker.process is not None:
                others["mosquitto"] = psutil.Process(broker.process.pid)
            before = {name: sum(proc.cpu_times()[:2]) for name, proc in others.items()}
            agent = measure(n, run_agent)
            other_cpu = {name: sum(proc.cpu_times()[:2]) - before[name] for name, proc in others.items()}
            assert depth_after == [0], f"outbox not empty after every receipt: {depth_after}"
            payloads = baseline_payloads(records)
            baseline = paho_baseline(broker.host, broker.port, payloads)
        finally:
            echo.terminate()
            echo.wait(10)
    sizes = links[0].sizes
    print(
        f"agent published {len(sizes)} inventory envelopes, {sum(sizes):,} bytes; "
        f"baseline {len(payloads)}, {sum(map(len, payloads)):,} bytes"
    )
    print(f"agent CPU {agent.cpu_s:.2f} s (wall {agent.wall_s:.2f} s), baseline CPU {baseline.cpu_s:.2f} s")
    # On a small machine the processes share the cores: say who used them during the agent run.
    print(", ".join(f"{name} CPU {cpu:.2f} s" for name, cpu in other_cpu.items()), "during the agent run")
    ok = report("agent sign+outbox+publish+receipt+delete", agent, baseline, 0.5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Agent delivery rate: sign → durable outbox → publish → signed receipt → delete,
against paho publishing the same payloads at QoS 1 with no outbox, in the same run.

Both go through a private Mosquitto; receipts come from a stand-in collector process.
Target: at least 0.5x. Run: .venv/bin/python -m bench.bench_agent [--envelopes N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from agent.config import AgentConfig, DeliverySettings, PollingSettings
from agent.daemon import AgentDaemon
from agent.mqtt import MqttSettings
from agent.wire.signing import public_key_to_text
from bench.bench_ingest import device
from bench.common import Measured, measure, report
from bench.receipt_echo import key_hex
from tests.support.mosquitto import running_broker


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
            client.publish("camsentry/v1/bench/base/inventory", p, qos=1)
        done.wait(120)

    result = measure(len(payloads), run)
    client.disconnect()
    client.loop_stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envelopes", type=int, default=20_000)
    n = parser.parse_args().envelopes
    records = [device(i) for i in range(n)]
    collector_key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp) / "broker") as broker:
        echo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.receipt_echo",
                broker.host,
                str(broker.port),
                key_hex(collector_key),
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
            daemon = AgentDaemon(
                config, Ed25519PrivateKey.generate(), sweep=lambda: batches.pop() if batches else []
            )
            payload_sizes: list[int] = []

            def run_agent() -> None:
                thread = threading.Thread(target=daemon.run, daemon=True)
                thread.start()
                while daemon.publisher.counters.confirmed < n + 1:  # + the birth envelope
                    threading.Event().wait(0.005)
                payload_sizes.append(daemon.outbox.stats().depth)
                daemon.stop()
                thread.join(10)

            agent = measure(n, run_agent)
            assert payload_sizes == [0], f"outbox not empty after every receipt: {payload_sizes}"
            from datetime import UTC, datetime

            from agent.wire.envelope import Kind, encode, seal

            key = Ed25519PrivateKey.generate()
            payloads = [
                encode(
                    seal(
                        key,
                        agent="base",
                        site="bench",
                        boot="b",
                        seq=i + 1,
                        ts=datetime.now(UTC),
                        kind=Kind.INVENTORY,
                        body={"device": r},
                    )
                )
                for i, r in enumerate(records)
            ]
            baseline = paho_baseline(broker.host, broker.port, payloads)
        finally:
            echo.terminate()
            echo.wait(10)
    print(f"{n} inventory envelopes of ~{len(payloads[0])} bytes through a private Mosquitto")
    print(f"agent CPU {agent.cpu_s:.2f} s, baseline CPU {baseline.cpu_s:.2f} s")
    ok = report("agent sign+outbox+publish+receipt+delete", agent, baseline, 0.5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

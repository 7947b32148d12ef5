"""A collector database holding the demo fleet as a real agent reported it, judged by the demo policy.

``demo_estate(tmp_path)`` seals the recorded device records (tests/fixtures/reports) with a fresh
agent key, stores them through the real store, runs one real policy pass and, unless told not
to, imports the demo register; it writes a collector config pointing at all of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Kind, seal
from agent.wire.health import HealthBody, OutboxHealth, SweepSummary
from agent.wire.inventory import DeviceRecord, inventory_body
from agent.wire.signing import public_key_to_text
from agent.wire.timefmt import format_utc
from collector.policy.runner import PolicyRunner
from collector.register import RegisterStore, parse_register
from collector.store.sqlite import SqliteStore
from collector.violations import ViolationStore
from tests.support.clock import FakeClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
DEMO_POLICY = Path(__file__).resolve().parents[2] / "simulator" / "fleets" / "demo-policy.toml"
SITE, AGENT, BOOT = "demo-hq", "demo-pi", "b0000000000000a1"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class DemoEstate:
    config: Path
    database: Path
    records: list[dict[str, Any]]
    agent_key: Ed25519PrivateKey


def demo_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((FIXTURES / "demo-fleet-records.json").read_text())
    return records


def demo_estate(tmp_path: Path, *, register: bool = True, now: datetime = NOW) -> DemoEstate:
    database = tmp_path / "collector.sqlite"
    key = Ed25519PrivateKey.generate()
    records = demo_records()
    store = SqliteStore(database)
    try:
        store.add_agent(SITE, AGENT, public_key_to_text(key.public_key()), format_utc(now))
        envelopes = [
            seal(
                key, agent=AGENT, site=SITE, boot=BOOT, seq=i + 1, ts=now, kind=Kind.INVENTORY,
                body=inventory_body(DeviceRecord.decode(record), sweep="sweep-1", snapshot=True),
            )
            for i, record in enumerate(records)
        ]  # fmt: skip
        envelopes.append(
            seal(
                key, agent=AGENT, site=SITE, boot=BOOT, seq=len(records) + 1, ts=now, kind=Kind.HEALTH,
                body=HealthBody(
                    outbox=OutboxHealth(depth=3, bytes=4096), connected=True,
                    last_sweep=SweepSummary("sweep-1", devices=8, sent=8, duration_s=2.5),
                    errors=("127.20.0.9:8080: unreachable",),
                ).to_body(),
            )
        )  # fmt: skip
        store.store_batch(envelopes, format_utc(now))
        clock = FakeClock(now)
        conn = store.new_database()
        try:
            PolicyRunner(
                store, ViolationStore(conn, clock=clock), clock=clock, policy_path=DEMO_POLICY
            ).run_once()
            if register:
                parsed = parse_register((FIXTURES / "demo-register.csv").read_text())
                RegisterStore(conn).replace(parsed.assets, source="demo-register.csv", now=format_utc(now))
        finally:
            conn.close()
    finally:
        store.close()
    config = tmp_path / "collector.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\ndatabase = "sqlite:///{database}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\n[policy]\nfile = "{DEMO_POLICY}"\n'
    )
    return DemoEstate(config, database, records, key)

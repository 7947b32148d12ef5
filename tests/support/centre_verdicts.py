"""The demo estate plus two devices the agent could not identify but the centre's tables can.

``RELABELLED`` is a Hikvision camera under a generic label whose model family the agent's older
tables did not know (the agent said unknown); ``PROBABLE`` only names a Hikvision model in its
scopes, so the centre says probable. ``add_judged_devices`` stores both through the real store and
runs one real policy pass with the centre's judge, as the collector service does.
"""

from __future__ import annotations

from typing import Any

from agent.wire.envelope import Kind, seal
from agent.wire.inventory import DeviceRecord, inventory_body
from agent.wire.timefmt import format_utc
from collector.judge.centre import CentreJudge
from collector.policy.runner import PolicyRunner
from collector.store.sqlite import SqliteStore
from collector.violations import ViolationStore
from tests.support.clock import FakeClock
from tests.support.demo_estate import AGENT, BOOT, DEMO_POLICY, NOW, SITE, DemoEstate

RELABELLED_ADDRESS, PROBABLE_ADDRESS = "127.20.0.20", "127.20.0.21"
RELABELLED_KEY, PROBABLE_KEY = "mac:02:00:5e:10:00:20", "mac:02:00:5e:10:00:21"
_UNKNOWN: dict[str, Any] = {
    "maker": None,
    "brand": None,
    "maker_confidence": 0.0,
    "restricted": "unknown",
    "evidence": [],
    "vulnerabilities": [],
}
RELABELLED: dict[str, Any] = {
    "address": RELABELLED_ADDRESS,
    "port": 80,
    "mac": "02:00:5e:10:00:20",
    "manufacturer": "General",
    "model": "DS-2CD2143G2-I",
    "firmware": "V5.5.0 build 170725",
    **_UNKNOWN,
    "signals": {
        "manufacturer": "General",
        "model": "DS-2CD2143G2-I",
        "firmware": "V5.5.0 build 170725",
        "mac": "02:00:5e:10:00:20",
    },
}
PROBABLE: dict[str, Any] = {
    "address": PROBABLE_ADDRESS,
    "port": 80,
    "mac": "02:00:5e:10:00:21",
    **_UNKNOWN,
    "signals": {
        "mac": "02:00:5e:10:00:21",
        "scopes": ["onvif://www.onvif.org/hardware/DS-2CD2043G0-I"],
    },
}


def add_judged_devices(estate: DemoEstate) -> None:
    store = SqliteStore(estate.database)
    try:
        envelopes = [
            seal(
                estate.agent_key, agent=AGENT, site=SITE, boot=BOOT, seq=100 + i, ts=NOW,
                kind=Kind.INVENTORY,
                body=inventory_body(DeviceRecord.decode(record), sweep="sweep-2", snapshot=False),
            )
            for i, record in enumerate((RELABELLED, PROBABLE))
        ]  # fmt: skip
        store.store_batch(envelopes, format_utc(NOW))
        clock = FakeClock(NOW)
        conn = store.new_database()
        try:
            PolicyRunner(
                store,
                ViolationStore(conn, clock=clock),
                clock=clock,
                policy_path=DEMO_POLICY,
                judge=CentreJudge(conn, clock=clock),
            ).run_once()
        finally:
            conn.close()
    finally:
        store.close()

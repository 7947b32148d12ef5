"""Issue 13's camera from the simulator to a violation: a real agent poll of a Dahua IPC-HFW2431S
reporting '2.800.0000000.8.R, Build Date 2021-06-30', its record stored and judged again at the
centre from its raw signals; a KEV import then makes the violation critical."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from agent.wire.envelope import Kind, seal
from agent.wire.inventory import inventory_body
from agent.wire.signing import public_key_to_text
from agent.wire.timefmt import format_utc
from collector.judge.centre import CentreJudge
from collector.judge.dbio import import_file
from collector.judge.vulndb import parse_vulndb_file
from collector.policy.engine import Rule
from collector.policy.runner import PolicyRunner
from collector.store import open_store
from collector.violations import ViolationStore
from tests.collector.judge.samples import kev
from tests.support.clock import FakeClock

fleet_mod = pytest.importorskip("simulator.fleet")
runner_mod = pytest.importorskip("simulator.runner")

PROFILE = "dahua-ipc-hfw2431s-s-s2-v2.800-build-date-2021-06-30"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_simulated_hfw2431s_polled_stored_and_judged_at_the_centre(tmp_path: Path) -> None:
    data = {
        "fleet": {"seed": "centre-e2e", "base_address": "127.22.14.1", "port": _free_port()},
        "cameras": [{"profile": PROFILE, "id": "hfw"}],
    }
    with runner_mod.FleetRunner(fleet_mod.load_fleet(data), discovery=False, phone_home=False) as running:
        (m,) = running.manifest
        (record,) = Sweeper(per_camera_timeout_s=5.0).sweep(
            [CameraTarget(m["address"], m["port"], m["username"], m["password"])]
        )
    assert record.firmware == "2.800.0000000.8.R, Build Date 2021-06-30"
    assert record.signals.model == "IPC-HFW2431S-S-S2"  # the raw signals travel with the record

    clock = FakeClock()
    key = Ed25519PrivateKey.generate()
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    db = store.new_database()
    try:
        store.add_agent("hq", "a1", public_key_to_text(key.public_key()), format_utc(clock.now()))
        body = inventory_body(record, sweep="s1", snapshot=True)
        env = seal(
            key, agent="a1", site="hq", boot="b1", seq=1, ts=clock.now(), kind=Kind.INVENTORY, body=body
        )
        store.store_batch([env], format_utc(clock.now()))
        policy = tmp_path / "policy.toml"
        policy.write_text('[sites.hq]\nclass = "sensitive"\n')
        judge = CentreJudge(db, clock=clock)
        runner = PolicyRunner(
            store, ViolationStore(db, clock=clock), clock=clock, policy_path=policy, judge=judge
        )
        first = {v.rule: v for v in runner.run_once().evaluation.violations}
        vulnerable = first[Rule.VULNERABLE_FIRMWARE]
        assert vulnerable.detail["cves"] == ["CVE-2022-30563"] and vulnerable.detail["kev"] == []
        assert vulnerable.severity == runner.policy.vulnerable_severity
        assert Rule.RESTRICTED_AT_SENSITIVE_SITE in first
        (verdict,) = judge.verdicts()
        assert verdict.verdict["signals_from"] == "signals" and verdict.tables_version == judge.version
        import_file(db, parse_vulndb_file(kev(("CVE-2022-30563", "2026-11-19")), "kev.json"), clock.now())
        second = {v.rule: v for v in runner.run_once().evaluation.violations}
        assert second[Rule.VULNERABLE_FIRMWARE].severity == runner.policy.kev_severity
        assert second[Rule.VULNERABLE_FIRMWARE].detail["kev"] == ["CVE-2022-30563"]
    finally:
        db.close()
        store.close()

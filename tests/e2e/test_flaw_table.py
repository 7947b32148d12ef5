"""Every flaw, camera to violation: the simulator's fleet → the agents' real sweeps and egress
watcher → a real Mosquitto → the collector (ingest, centre judge, policy pass on its own thread)
→ the exact violations of ``tests/e2e/flaws.py`` at the collector, nothing missing, nothing else.

One fleet carries every flaw and one run proves every row. The egress row feeds the agent's
real flow-finding path (EgressWatcher) with the conntrack event and DNS answer a phone-home gives,
without namespaces (see flaws.py); the rest is the agent's own ONVIF sweep of simulated cameras.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import AgentConfig, PollingSettings
from agent.daemon import AgentDaemon, SweepFn
from agent.egress.config import parse_egress_config
from agent.egress.devices import DeviceDirectory
from agent.egress.dns import DnsAnswer
from agent.egress.model import FlowEvent, FlowKind
from agent.egress.watcher import EgressWatcher
from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from agent.wire.findings import FindingKind
from collector.policy.engine import FINDING_RULES
from collector.violations import ViolationState, ViolationStore
from simulator.fleet import build_fleet
from simulator.knobs import Knobs
from simulator.profile import AuthFlaw
from simulator.runner import FleetRunner
from tests.e2e import flaws
from tests.support.clock import FakeClock
from tests.support.mosquitto import Broker, free_port
from tests.support.pipeline import CollectorHandle, agent_config, enrol, running_collector, wait_until

# Away from the demo's 127.20.0.x and the other end-to-end test's 127.31.0.x.
BASE_ADDRESS, VANISHING_ADDRESS, TLS_ADDRESS = "127.31.1.1", "127.31.2.1", "127.31.3.1"
# Small enough that silence and vanishing show within the run; the live agents report every second.
SILENT_AFTER_S = 8
POLICY = """
core_networks = ["{core}/32"]
[defaults]
class = "standard"
agent_silent_after_s = {silent}
device_vanished_after_s = {silent}
[restricted]
makers = ["hikvision", "dahua"]
site_classes = ["sensitive"]
[sites.hq]
class = "sensitive"
removal_deadline = 2099-12-31
[sites.depot]
class = "sensitive"
removal_deadline = 2020-01-01
[sites.office]
class = "standard"
[sites.annex]
class = "standard"
"""
Key = tuple[str, str, str, str, str]  # rule, severity, agent, address, kind


def _fleet(base: str, cameras: dict[str, tuple[str, dict[str, Any]]]) -> FleetRunner:
    data = {
        "fleet": {"seed": "e2e-flaws", "base_address": base, "port": free_port(base)},
        "cameras": [{"id": cid, "profile": p, "knobs": k} for cid, (p, k) in cameras.items()],
    }
    return FleetRunner(build_fleet(data, "e2e", flaws.profiles()), discovery=False, phone_home=False)


def _targets(manifest: list[dict[str, Any]]) -> list[CameraTarget]:
    return [
        CameraTarget(m["address"], m["port"], m["username"], m["password"], scheme=m["scheme"])
        for m in manifest
    ]


def _sweep(sweeper: Sweeper, targets: list[CameraTarget]) -> SweepFn:
    return lambda: sweeper.sweep(targets)


@contextmanager
def _running(daemon: AgentDaemon) -> Iterator[AgentDaemon]:
    thread = threading.Thread(target=daemon.run, name=f"agent-{daemon.config.agent}", daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        assert daemon.wait_stopped(10), f"agent {daemon.config.agent} did not stop"


def _config(broker: Broker, tmp_path: Path, col: CollectorHandle, agent: str) -> AgentConfig:
    polling = PollingSettings(interval_s=1.0, snapshot_interval_s=0.0, per_camera_timeout_s=3.0)
    config = agent_config(
        broker, tmp_path / agent, col.key, site=flaws.AGENTS[agent], agent=agent, polling=polling
    )
    return dataclasses.replace(config, health_interval_s=1.0)


def _open_violations(col: CollectorHandle) -> set[Key]:
    store = ViolationStore(col.store.new_database(), clock=FakeClock())
    rows = store.list_violations(states=(ViolationState.OPEN,))
    return {(r.rule, r.severity, r.agent, r.address, str(r.detail.get("kind") or "")) for r in rows}


def test_every_flaw_becomes_its_violation_at_the_collector(broker: Broker, tmp_path: Path) -> None:
    cameras = {cid: (profile, knobs) for cid, (_agent, profile, knobs) in flaws.CAMERAS.items()}
    vanishing_id, vanishing_agent, vanishing_profile = flaws.VANISHING
    with ExitStack() as stack:
        sim = stack.enter_context(_fleet(BASE_ADDRESS, cameras))
        vanishing = _fleet(VANISHING_ADDRESS, {vanishing_id: (vanishing_profile, {})})
        vanishing.start()
        stack.callback(vanishing.stop)
        tls_id, tls_agent, tls_profile = flaws.RECERTIFIED
        tls = _fleet(TLS_ADDRESS, {tls_id: (tls_profile, {})})
        tls.start()
        stack.callback(tls.stop)
        manifest = {m["id"]: m for m in [*sim.manifest, *vanishing.manifest, *tls.manifest]}
        address = {cid: m["address"] for cid, m in manifest.items()}
        policy = tmp_path / "policy.toml"
        policy.write_text(POLICY.format(core=address[flaws.CORE_CAMERA], silent=SILENT_AFTER_S))
        col = stack.enter_context(
            running_collector(broker, tmp_path / "collector", policy_path=policy, evaluate_interval_s=1.0)
        )

        daemons: dict[str, AgentDaemon] = {}
        directory = DeviceDirectory()  # the office sweep names the cameras behind flow addresses
        office_egress = EgressWatcher(
            parse_egress_config({"conntrack": False, "sockets": False, "dns": False}, "e2e"), directory
        )
        for agent in flaws.AGENTS:
            key = Ed25519PrivateKey.generate()
            config = _config(broker, tmp_path, col, agent)
            enrol(col.store, config, key)
            if agent == flaws.NEVER_AGENT:
                continue
            mine = [manifest[cid] for cid, (a, _p, _k) in flaws.CAMERAS.items() if a == agent]
            mine += [
                manifest[i] for i, a in ((vanishing_id, vanishing_agent), (tls_id, tls_agent)) if a == agent
            ]
            targets, sweeper = _targets(mine), Sweeper(per_camera_timeout_s=3.0, concurrency=8)
            office = agent == "pi-office"
            daemons[agent] = stack.enter_context(
                _running(
                    AgentDaemon(
                        config,
                        key,
                        sweep=_sweep(sweeper, targets),
                        egress=office_egress if office else None,
                        devices=directory.update if office else None,
                    )
                )
            )

        def stored(*ids: str) -> bool:
            held = {d["address"] for d in col.store.devices()}
            return all(address[i] in held for i in ids)

        wait_until(lambda: stored(*manifest), 30, "every camera stored")
        # The silent agent has reported; now it goes quiet. The vanishing camera stops answering.
        daemons.pop(flaws.SILENT_AGENT).stop()
        vanishing.stop()
        # The HTTPS camera is reset: the same address and port, a new self-signed certificate.
        tls.stop()
        tls.start()
        # The camera phones home: the DNS answer the site's resolver gave, then the connection.
        office_egress.learn_name(DnsAnswer(flaws.CLOUD_NAME, flaws.CLOUD_ADDRESS, 300, (flaws.CLOUD_NAME,)))
        office_egress.observe_event(
            FlowEvent(FlowKind.NEW, "tcp", address[flaws.CLOUD_CAMERA], flaws.CLOUD_ADDRESS, 41000,
                      flaws.CLOUD_PORT, conntrack_id=1)
        )  # fmt: skip

        def row_key(r: flaws.Row) -> Key:
            return (r.rule.value, r.severity.value, r.agent, address.get(r.camera, ""), r.kind)

        expected = {row_key(r) for r in flaws.ROWS}
        with contextlib.suppress(AssertionError):  # the rows still missing are named below
            wait_until(lambda: expected <= _open_violations(col), 40, "every row's violation")
        held = _open_violations(col)
        assert [r.name for r in flaws.ROWS if row_key(r) not in held] == []
        camera_of = {a: cid for cid, a in address.items()}
        unexpected = sorted(
            (rule, s, agent, camera_of.get(a, a), kind) for rule, s, agent, a, kind in held - expected
        )
        assert unexpected == [], "violations no row expects"


def test_every_knob_flaw_and_finding_kind_has_a_row_or_a_reason() -> None:
    knobs = {f.name for f in dataclasses.fields(Knobs)}
    covered = {k for r in flaws.ROWS for k in r.knobs}
    assert not covered & set(flaws.KNOBS_NOT_VIOLATIONS), "a knob with a row and a reason"
    assert knobs - covered - set(flaws.KNOBS_NOT_VIOLATIONS) == set(), "simulator knobs without a row"
    assert (covered | set(flaws.KNOBS_NOT_VIOLATIONS)) - knobs == set(), "rows for knobs that are gone"

    flaw_rows = {f for r in flaws.ROWS for f in r.flaws}
    assert set(AuthFlaw) - flaw_rows - set(flaws.FLAWS_NOT_VIOLATIONS) == set(), "auth flaws without a row"

    kind_rows = {k for r in flaws.ROWS for k in r.kinds}
    assert not kind_rows & set(flaws.KINDS_NOT_VIOLATIONS), "a finding kind with a row and a reason"
    assert set(FindingKind) - kind_rows - set(flaws.KINDS_NOT_VIOLATIONS) == set(), (
        "finding kinds without a row"
    )
    # A kind said to raise nothing must not raise anything by itself in the engine either.
    assert [k for k in flaws.KINDS_NOT_VIOLATIONS if FINDING_RULES[k].raises] == []
    # And every camera and agent a row names exists in the fleet.
    known = {*flaws.CAMERAS, flaws.VANISHING[0], flaws.RECERTIFIED[0], ""}
    assert {r.camera for r in flaws.ROWS} <= known and {r.agent for r in flaws.ROWS} <= set(flaws.AGENTS)


@pytest.mark.parametrize("row", flaws.ROWS, ids=lambda r: r.name)
def test_a_row_names_a_rule_decision_the_engine_makes(row: flaws.Row) -> None:
    for kind in row.kinds:
        decision = FINDING_RULES[kind]
        assert decision.rule is row.rule, f"{kind} is decided {decision.rule}, the row says {row.rule}"

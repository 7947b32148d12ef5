"""A signed policy push replaces the egress allowlist: applied, refused whole, kept, and put back
at restart by the same wiring ``camsentry-agent run`` uses (``agent.cli.build_commands``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import build_commands, build_egress
from agent.config import AgentConfig
from agent.egress.devices import DeviceDirectory, DeviceIdentity, identities_from_records
from agent.egress.model import FlowEvent, FlowKind
from agent.egress.watcher import EgressWatcher
from agent.enforce.state import load_state, state_path
from agent.runtime.mqtt import MqttSettings
from agent.wire.commands import CommandAction
from agent.wire.inventory import DeviceRecord
from agent.wire.signing import public_key_to_text
from tests.agent.enforce.conftest import MakeCommand

CAM = "198.51.100.2"
EGRESS = {
    "conntrack": False,
    "sockets": False,
    "dns": False,
    "device_networks": ["198.51.100.0/24"],
    "min_report_interval_s": 0,
    "allow": [{"cidr": "192.0.2.0/24", "ports": [123], "protocol": "udp"}],
}
V1 = "sha256:" + "1" * 64
V2 = "sha256:" + "2" * 64
OPEN_WEB = {"allow": [{"cidr": "203.0.113.0/24", "ports": [443]}], "core_networks": ["10.0.0.0/8"]}


def _config(state_dir: Path, key: Ed25519PrivateKey, egress: dict[str, Any] | None = EGRESS) -> AgentConfig:
    return AgentConfig(
        file="agent.toml",
        site="site-a",
        agent="agent-1",
        state_dir=state_dir,
        collector_public_key=public_key_to_text(key.public_key()),
        mqtt=MqttSettings(host="127.0.0.1", port=1, client_id="t"),
        egress=dict(egress or {}),
    )


def _flow(dst: str, dport: int, cid: int) -> FlowEvent:
    return FlowEvent(FlowKind.NEW, "tcp", CAM, dst, 40000 + cid, dport, conntrack_id=cid)


def _destinations(watcher: EgressWatcher) -> list[tuple[str, int]]:
    return [(f["destination"], f["port"]) for f in [x.to_json() for x in watcher.drain_findings()]]


def _push(make: MakeCommand, cid: int, params: dict[str, Any], **kw: Any) -> bytes:
    # build_commands gives the handler the system clock, as in the daemon.
    return make(cid, CommandAction.POLICY, "", params=params, issued=datetime.now(UTC), **kw)


def test_push_is_applied_then_a_bad_one_refused_whole(
    tmp_path: Path, collector_key: Ed25519PrivateKey, make_command: MakeCommand
) -> None:
    config = _config(tmp_path, collector_key)
    watcher = build_egress(config)
    assert watcher is not None
    handler, policy = build_commands(config, watcher)
    assert policy.status()["state"] == "none" and watcher.allowlist.origin == "config"

    watcher.observe_event(_flow("203.0.113.10", 443, 1))
    ack = handler.handle(_push(make_command, 1, {"policy_version": V1, "egress": OPEN_WEB}))
    assert (ack["outcome"], ack["reason"]) == ("applied", None)
    assert V1 in ack["detail"] and "1 entries" in ack["detail"]
    assert watcher.allowlist.origin == V1
    assert _destinations(watcher) == []  # the flow the config would flag is now allowed
    assert load_state(tmp_path).policy == {"policy_version": V1, "egress": OPEN_WEB}

    bad = {"policy_version": V2, "egress": {"allow": [{"cidr": "203.0.113.0/24"}, {"cidr": "300.0.0.0/8"}]}}
    ack = handler.handle(_push(make_command, 2, bad))
    assert (ack["outcome"], ack["reason"]) == ("refused", "policy_invalid")
    assert "allow[1].cidr" in ack["detail"]
    assert watcher.allowlist.origin == V1  # nothing of the bad document was applied
    state = load_state(tmp_path)
    assert (state.last_command_id, state.policy["policy_version"]) == (2, V1)
    assert policy.status() == {
        "state": "applied",
        "policy_version": V1,
        "allowlist_origin": V1,
        "allow_entries": 1,
        "problem": None,
    }


def test_malformed_params_are_refused(
    tmp_path: Path, collector_key: Ed25519PrivateKey, make_command: MakeCommand
) -> None:
    config = _config(tmp_path, collector_key)
    watcher = build_egress(config)
    handler, _ = build_commands(config, watcher)
    for cid, params in enumerate(
        [
            {"egress": OPEN_WEB},  # no version
            {"policy_version": V1},  # no egress key at all
            {"policy_version": V1, "egress": ["not", "a", "table"]},
            {"policy_version": V1, "egress": {"allow": [], "colour": "red"}},
            {"policy_version": V1, "egress": {"allow": [{"ports": [443]}]}},
        ],
        start=1,
    ):
        ack = handler.handle(_push(make_command, cid, params))
        assert (ack["outcome"], ack["reason"]) == ("refused", "policy_invalid"), params
    assert watcher is not None and watcher.allowlist.origin == "config"
    assert load_state(tmp_path).policy == {}


def test_restart_puts_the_pushed_allowlist_back_before_the_watcher_starts(
    tmp_path: Path, collector_key: Ed25519PrivateKey, make_command: MakeCommand
) -> None:
    config = _config(tmp_path, collector_key)
    handler, _ = build_commands(config, build_egress(config))
    assert handler.handle(_push(make_command, 1, {"policy_version": V1, "egress": OPEN_WEB}))["outcome"] == (
        "applied"
    )

    restarted = build_egress(config)  # a new process: the config's list ...
    assert restarted is not None
    _, policy = build_commands(config, restarted)  # ... replaced by the stored push
    assert restarted.allowlist.origin == V1
    restarted.observe_event(_flow("203.0.113.10", 443, 1))
    restarted.observe_event(_flow("198.18.0.1", 443, 2))
    assert _destinations(restarted) == [("198.18.0.1", 443)]
    assert policy.status()["state"] == "applied"


def test_a_stored_policy_that_no_longer_validates_is_reported_not_silent(
    tmp_path: Path, collector_key: Ed25519PrivateKey
) -> None:
    config = _config(tmp_path, collector_key)
    state_path(tmp_path).write_text(
        '{"v": 1, "last_command_id": 4, "quarantines": [], '
        '"policy": {"policy_version": "sha256:x", "egress": {"allow": [{"cidr": "nope"}]}}}'
    )
    watcher = build_egress(config)
    assert watcher is not None
    _, policy = build_commands(config, watcher)
    status = policy.status()
    assert (status["state"], status["allowlist_origin"]) == ("restore_failed", "config")
    assert "allow[0].cidr" in status["problem"] and "config allowlist is in force" in status["problem"]

    state_path(tmp_path).write_text("{")  # unreadable state: same, loudly
    _, policy = build_commands(config, build_egress(config))
    assert policy.status()["state"] == "restore_failed"


def test_without_egress_a_push_is_stored_and_applied_once_egress_is_enabled(
    tmp_path: Path, collector_key: Ed25519PrivateKey, make_command: MakeCommand
) -> None:
    bare = _config(tmp_path, collector_key, egress=None)
    assert build_egress(bare) is None
    handler, policy = build_commands(bare, None)
    ack = handler.handle(_push(make_command, 1, {"policy_version": V1, "egress": OPEN_WEB}))
    assert ack["outcome"] == "stored"
    assert "no [egress] table" in ack["detail"]
    assert policy.status() == {
        "state": "stored",
        "policy_version": V1,
        "allowlist_origin": None,
        "allow_entries": None,
        "problem": None,
    }
    bad = handler.handle(_push(make_command, 2, {"policy_version": V2, "egress": {"allow": 7}}))
    assert bad["reason"] == "policy_invalid"  # validated even when only kept

    enabled = replace(bare, egress=EGRESS)
    watcher = build_egress(enabled)
    assert watcher is not None
    build_commands(enabled, watcher)
    assert watcher.allowlist.origin == V1


def test_a_policy_without_a_list_for_the_site_returns_to_the_config_list(
    tmp_path: Path, collector_key: Ed25519PrivateKey, make_command: MakeCommand
) -> None:
    config = _config(tmp_path, collector_key)
    watcher = build_egress(config)
    assert watcher is not None
    handler, policy = build_commands(config, watcher)
    handler.handle(_push(make_command, 1, {"policy_version": V1, "egress": OPEN_WEB}))
    ack = handler.handle(_push(make_command, 2, {"policy_version": V2, "egress": None}))
    assert ack["outcome"] == "applied" and "config" in ack["detail"]
    assert watcher.allowlist.origin == "config" and len(watcher.allowlist.entries) == 1
    assert (policy.status()["state"], policy.version) == ("config", V2)


def test_forged_push_changes_nothing(
    tmp_path: Path, collector_key: Ed25519PrivateKey, make_command: MakeCommand
) -> None:
    config = _config(tmp_path, collector_key)
    watcher = build_egress(config)
    assert watcher is not None
    handler, _ = build_commands(config, watcher)
    forged = _push(
        make_command, 1, {"policy_version": V1, "egress": OPEN_WEB}, key=Ed25519PrivateKey.generate()
    )
    ack = handler.handle(forged)
    assert (ack["outcome"], ack["reason"]) == ("refused", "bad_signature")
    assert watcher.allowlist.origin == "config"
    assert load_state(tmp_path).policy == {}


def test_device_directory_names_sweep_records() -> None:
    raw = [
        {"address": "198.51.100.2", "mac": "44:19:B6:00:00:01", "maker": "hikvision", "brand": "Annke"},
        {"address": "198.51.100.3", "model": "M1", "serial": "S1"},
        {"address": "not-an-address"},
        {"address": "198.51.100.2", "mac": "00:00:00:00:00:02"},  # a second record: first wins
    ]
    records = [DeviceRecord.decode({"port": 80, **r}) for r in raw]
    found = identities_from_records(records)
    assert found == {
        "198.51.100.2": DeviceIdentity("mac:44:19:b6:00:00:01", "hikvision", "Annke"),
        "198.51.100.3": DeviceIdentity("serial:M1:S1", None, None),
    }
    directory = DeviceDirectory()
    directory.update(records)
    directory.update([])  # a sweep that found nothing keeps the cameras already known
    assert directory("198.51.100.3") == DeviceIdentity("serial:M1:S1")
    assert directory("198.51.100.9") is None

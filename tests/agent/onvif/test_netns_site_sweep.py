"""The daemon's sweep with multicast discovery on a named interface, across a real namespace topology:
build_sweep in the gateway namespace resolves ``cam0`` to its address, probes 239.255.255.250 out of it,
polls every camera that answered with the discovery credentials, and reports an interface that does
not exist as a health item. Namespaces are cs-osw-*."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.support.nspython import run_json

pytestmark = [pytest.mark.netns, pytest.mark.root, pytest.mark.slow]
topology_mod = pytest.importorskip("simulator.topology")

PREFIX = "cs-osw-"
AGENT_SIDE = """
import json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from agent.cli import build_sweep
from agent.config import parse_agent_config
from agent.wire.signing import public_key_to_text
state, password_file = sys.argv[1], sys.argv[2]
config = parse_agent_config({
    "site": "s", "agent": "a", "state_dir": state, "mqtt": {"host": "127.0.0.1"},
    "collector": {"public_key": public_key_to_text(Ed25519PrivateKey.generate().public_key())},
    "polling": {"per_camera_timeout_s": 5.0},
    "discovery": {"interfaces": ["cam0", "cs-nosuch0"], "wait_s": 2.0,
                  "username": "admin", "password_file": password_file},
}, "agent.toml")
sweep = build_sweep(config)
records = [x.to_json() for x in sweep()]
print(json.dumps({
    "records": sorted(
        [r["address"], r["source"], r["maker"], r["brand"], r["authenticated"], len(r["channels"])]
        for r in records
    ),
    "health": [x.to_json() for x in sweep.health()],
}))
"""


def test_multicast_on_a_named_interface_feeds_the_daemons_sweep(tmp_path: Path) -> None:
    require_root()
    fleet = tmp_path / "fleet.toml"
    # The recorder records the camera discovery also finds: polled once, not again as a channel.
    fleet.write_text(
        '[fleet]\nseed = "netns-site-sweep"\n[defaults]\ndefault_password = true\n'
        '[[cameras]]\nprofile = "hilook-ipc-b140h-v5.5.800"\nid = "hilook"\n'
        '[[cameras]]\nprofile = "hikvision-ds-7608ni-k2-v4.30.085"\nid = "nvr"\nchannels = ["hilook"]\n'
    )
    (tmp_path / "pw").write_text("12345\n")
    with topology_mod.topology(PREFIX, cameras=2) as topo:
        manifest = topo.start_fleet(fleet, tmp_path / "manifest.json")
        result = run_json(topo.gw, AGENT_SIDE, str(tmp_path), str(tmp_path / "pw"))
    by_id = {m["id"]: m["address"] for m in manifest}
    assert result["records"] == sorted(
        [
            [by_id["hilook"], "ws-discovery", "hikvision", "hilook", True, 0],
            [by_id["nvr"], "ws-discovery", "hikvision", "hikvision", True, 1],
        ]
    )
    assert result["health"] == [
        {"source": "discovery", "problem": "interface_unavailable", "detail": "cs-nosuch0: no such interface"}
    ]


def test_no_namespace_is_left_behind() -> None:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert PREFIX not in out

"""Multicast WS-Discovery and a sweep across a real namespace topology: the agent in the gateway
namespace probes 239.255.255.250 out of its camera-side link, the simulator answers from each
camera's own address, and the sweep identifies what it found. Namespaces are cs-onvif-*."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.support.nspython import run_json

pytestmark = [pytest.mark.netns, pytest.mark.root, pytest.mark.slow]
topology_mod = pytest.importorskip("simulator.topology")

PREFIX = "cs-onvif-"
AGENT_SIDE = """
import json, sys
from agent.onvif import client
client.preload()
from agent.onvif.discovery import WsDiscovery
from agent.onvif.sweep import Sweeper
creds = json.loads(sys.argv[1])
found = WsDiscovery(wait_s=2.0).probe(interfaces=[sys.argv[2]])
targets = [d.target(*creds[d.address]) for d in found if d.address in creds]
records = [x.to_json() for x in Sweeper(per_camera_timeout_s=5.0).sweep(targets)]
print(json.dumps({"found": [[d.address, d.port, d.path] for d in found],
                  "identified": sorted([r["address"], r["maker"], r["brand"]] for r in records)}))
"""


def test_multicast_discovery_then_sweep_in_namespaces(tmp_path: Path) -> None:
    require_root()
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        '[fleet]\nseed = "netns-discovery"\n'
        '[[cameras]]\nprofile = "hilook-ipc-b140h-v5.5.800"\nid = "hilook"\n'
        '[[cameras]]\nprofile = "amcrest-ip2m-841b-v2.800-200330"\nid = "amcrest"\n'
        '[[cameras]]\nprofile = "bosch-flexidome-ip-4000i-v7.80"\nid = "bosch"\n'
    )
    with topology_mod.topology(PREFIX, cameras=3) as topo:
        manifest = topo.start_fleet(fleet, tmp_path / "manifest.json")
        creds = {m["address"]: [m["username"], m["password"]] for m in manifest}
        result = run_json(topo.gw, AGENT_SIDE, json.dumps(creds), topology_mod.GATEWAY_CAM_SIDE)
    assert sorted(a for a, _, _ in result["found"]) == sorted(creds)
    assert all(port == 80 and path == "/onvif/device_service" for _, port, path in result["found"])
    by_address = {m["address"]: m["id"] for m in manifest}
    assert {by_address[a]: (maker, brand) for a, maker, brand in result["identified"]} == {
        "hilook": ("hikvision", "hilook"),
        "amcrest": ("dahua", "amcrest"),
        "bosch": ("bosch", "bosch"),
    }


def test_no_namespace_is_left_behind() -> None:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert PREFIX not in out

"""The namespace site: discovery by multicast from the gateway, ONVIF over the camera subnet, phone-home
through NAT to fake vendor clouds on documentation addresses, and clean teardown (also after a crash)."""

from __future__ import annotations

import json
import os
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator import netns
from simulator import topology as topo_mod
from simulator.netns import list_namespaces
from simulator.topology import GATEWAY_WAN, Topology, build_topology, cleanup_prefix
from tests.conftest import require_root

pytestmark = [pytest.mark.netns, pytest.mark.root]

CAMERAS = 6
CONTACT_TIMEOUT_S = 15
FLEET = """
[fleet]
seed = "ns"
[[cameras]]
profile = "hikvision-ds-2cd2143g0-i-v5.5.61"
count = 2
knobs = {{ phone_home = ["192.0.2.10:443/tcp", "198.51.100.20:8800/udp"], phone_home_interval_s = 0.2 }}
[[cameras]]
profile = "dahua-ipc-hdbw2431e-s-v2.800-210302"
[[cameras]]
profile = "amcrest-ip2m-841b-v2.800-200330"
[[cameras]]
profile = "axis-m5525-e-v8.40.1.1"
[[cameras]]
profile = "generic-ipcam-631ga"
knobs = {{ phone_home = ["{forbidden}:80/tcp"] }}
"""

WSD_CLIENT = """
import json
from wsdiscovery.discovery import ThreadedWSDiscovery
wsd = ThreadedWSDiscovery()
wsd.start()
try:
    found = wsd.searchServices(timeout=2)
    print(json.dumps([{"epr": s.getEPR(), "xaddrs": list(s.getXAddrs()),
                       "scopes": [str(x) for x in s.getScopes()],
                       "types": [str(t) for t in s.getTypes()]} for s in found]))
finally:
    wsd.stop()
"""

RAW_PROBE = """
import json, socket, sys, uuid, time
want = int(sys.argv[1])
probe = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
    '<e:Header><w:MessageID>uuid:%s</w:MessageID><w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
    '<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>'
    '<e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body></e:Envelope>'
) % uuid.uuid4()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.1", 0))
s.sendto(probe.encode(), ("239.255.255.250", 3702))
s.settimeout(5)
answers = {}
while len(answers) < want:
    data, peer = s.recvfrom(65536)
    answers[peer[0]] = data.decode()
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topology, list[dict[str, Any]], Any]]:
    require_root()
    prefix = f"cs-s{secrets.token_hex(2)}-"
    tmp = tmp_path_factory.mktemp("site")
    fleet = tmp / "site.toml"
    fleet.write_text(FLEET.format(forbidden="8.8.8.8"))
    topo = build_topology(prefix, cameras=CAMERAS)
    try:
        manifest = topo.start_fleet(fleet, tmp / "manifest.json")
        cloud = topo.start_cloud()
        yield topo, manifest, cloud
    finally:
        topo.teardown()
    assert not [n for n in list_namespaces() if n.startswith(prefix)]
    assert not (topo_mod.NETNS_ETC / f"{prefix}gw").exists()


def test_gateway_reaches_every_camera_on_port_80(site: tuple[Topology, list[dict[str, Any]], Any]) -> None:
    topo, manifest, _ = site
    assert [e["address"] for e in manifest] == topo.camera_addresses
    code = (
        "import json, sys, urllib.request\n"
        "for url in sys.argv[1:]:\n"
        '    body = b\'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>\'\n'
        "    r = urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=5)\n"
        "    print(r.status, r.headers['Server'])\n"
    )
    out = topo.gw.run([sys.executable, "-c", code, *(e["xaddr"] for e in manifest)])
    lines = out.stdout.splitlines()
    assert lines == [f"200 {e['server_header']}" for e in manifest]
    assert all(e["xaddr"] == f"http://{e['address']}/onvif/device_service" for e in manifest)


def test_wsdiscovery_library_finds_every_camera(site: tuple[Topology, list[dict[str, Any]], Any]) -> None:
    topo, manifest, _ = site
    out = topo.gw.run([sys.executable, "-c", WSD_CLIENT])
    found = {f["epr"]: f for f in json.loads(out.stdout)}
    assert len(found) == len(manifest)
    for e in manifest:
        svc = found[f"urn:uuid:{e['uuid']}"]
        assert svc["xaddrs"] == [e["xaddr"]]
        assert f"onvif://www.onvif.org/hardware/{e['model']}" in svc["scopes"]
        assert any(s.startswith("onvif://www.onvif.org/name/") for s in svc["scopes"])
        assert any(t.endswith("NetworkVideoTransmitter") for t in svc["types"])


def test_raw_multicast_probe_answered_from_each_camera_address(
    site: tuple[Topology, list[dict[str, Any]], Any],
) -> None:
    topo, manifest, _ = site
    out = topo.gw.run([sys.executable, "-c", RAW_PROBE, str(len(manifest))])
    answers = json.loads(out.stdout)
    assert sorted(answers) == sorted(e["address"] for e in manifest)
    for e in manifest:
        text = answers[e["address"]]
        assert "ProbeMatches" in text
        assert f"<d:XAddrs>{e['xaddr']}</d:XAddrs>" in text


def test_phone_home_crosses_the_nat_from_the_camera_address(
    site: tuple[Topology, list[dict[str, Any]], Any],
) -> None:
    topo, manifest, cloud = site
    callers = {e["serial"]: e for e in manifest if e["knobs"]["phone_home"]}
    assert len(callers) == 3
    seen: set[tuple[str, str]] = set()
    wanted = {
        (serial, proto)
        for serial in callers
        for proto in ("tcp", "udp")
        if callers[serial]["profile"].startswith("hik")
    }
    deadline = time.monotonic() + CONTACT_TIMEOUT_S
    while not wanted <= seen:
        ready, _, _ = select.select([cloud.stdout], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no contact from {wanted - seen}"
        event = json.loads(cloud.stdout.readline())
        assert event["peer"].startswith(GATEWAY_WAN + ":")  # masqueraded by the gateway
        serial = event["data"].split()[3]
        seen.add((serial, event["proto"]))
        assert event["local"] in ("192.0.2.10:443", "198.51.100.20:8800")
    flows = topo.gw.run(["conntrack", "-L", "-p", "tcp", "--dport", "443"], check=False).stdout
    for e in callers.values():
        if e["profile"].startswith("hik"):
            assert f"src={e['address']} dst=192.0.2.10" in flows
    forbidden = topo.gw.run(["conntrack", "-L", "-d", "8.8.8.8"], check=False).stdout
    assert "8.8.8.8" not in forbidden  # the non-documentation target was refused at start-up


def test_cleanup_after_a_crash_removes_namespaces_and_hosts_file(tmp_path: Path) -> None:
    require_root()
    prefix = f"cs-c{secrets.token_hex(2)}-"
    code = f"import os; from simulator.topology import build_topology as b; b({prefix!r}, 2); os._exit(7)"
    assert subprocess.run([sys.executable, "-c", code], check=False, env=dict(os.environ)).returncode == 7
    assert {prefix + r for r in ("cams", "gw", "inet")} <= set(list_namespaces())
    assert (topo_mod.NETNS_ETC / f"{prefix}gw" / "hosts").exists()
    assert sorted(cleanup_prefix(prefix)) == sorted(prefix + r for r in ("cams", "gw", "inet"))
    assert not (topo_mod.NETNS_ETC / f"{prefix}gw").exists()


@pytest.mark.slow
def test_thousand_cameras_in_the_namespace_answer_one_multicast_probe(tmp_path: Path) -> None:
    require_root()
    prefix = f"cs-k{secrets.token_hex(2)}-"
    fleet = tmp_path / "k.toml"
    mix = "".join(
        f'[[mix]]\nprofile = "{p}"\n' for p in ("hikvision-ds-2cd2143g0-i-v5.5.61", "axis-m5525-e-v8.40.1.1")
    )
    fleet.write_text(f'[fleet]\nseed = "k"\ntotal = 1000\n{mix}')
    topo = build_topology(prefix, cameras=1000)
    try:
        manifest = topo.start_fleet(fleet, tmp_path / "m.json")
        assert len(manifest) == 1000
        out = topo.gw.run([sys.executable, "-c", RAW_PROBE, "1000"])
        assert sorted(json.loads(out.stdout)) == sorted(e["address"] for e in manifest)
    finally:
        topo.teardown()


def test_cli_cleanup_removes_leftovers_and_refuses_foreign_prefixes() -> None:
    require_root()
    prefix = f"cs-q{secrets.token_hex(2)}-"
    netns.Namespace.create(prefix + "a")
    out = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "cleanup", "--prefix", prefix],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0
    assert json.loads(out.stdout) == {"event": "cleanup", "deleted": [prefix + "a"]}
    refused = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "cleanup", "--prefix", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2

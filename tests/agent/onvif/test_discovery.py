"""WS-Discovery on loopback (unicast, with a recorded answer) and the neighbour table parsers."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from agent.onvif import soap
from agent.onvif.discovery import WsDiscovery, build_probe, discovered_from, expand_ranges
from agent.onvif.neighbours import NeighbourTable, parse_ip_neigh, parse_proc_net_arp
from tests.conftest import read_capture

AMCREST = "AMCREST-DAHUA-OEM_IP2M-841B_ProbeMatches.xml"


def test_probe_is_a_soap_probe_for_video_transmitters() -> None:
    payload = soap.body_payload(soap.parse_xml(build_probe("1234")))
    assert soap.localname(payload) == "Probe" and b"NetworkVideoTransmitter" in build_probe()


def test_xaddrs_lend_port_and_path_never_the_host() -> None:
    (found,) = discovered_from("127.0.0.9", read_capture(AMCREST))  # XAddr names 10.0.0.154:8088
    assert (found.address, found.port, found.path) == ("127.0.0.9", 8088, "/onvif/device_service")
    target = found.target("admin", "pw")
    assert target.address == "127.0.0.9"
    (axis,) = discovered_from("10.0.0.246", read_capture("AXIS_M1034-W_ProbeMatches.xml"))
    assert axis.port == 80 and axis.address == "10.0.0.246"  # 169.254 XAddr listed first, sender's own wins


def test_ranges_are_capped() -> None:
    assert expand_ranges(["10.0.0.0/30", "10.0.1.5"]) == ["10.0.0.1", "10.0.0.2", "10.0.1.5"]
    assert len(expand_ranges(["10.0.0.0/8"], limit=100)) == 100


def test_unicast_probe_round_on_loopback() -> None:
    answer_bytes = read_capture(AMCREST)
    responder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    responder.bind(("127.0.0.1", 0))
    port = responder.getsockname()[1]
    got = threading.Event()

    def answer() -> None:
        data, sender = responder.recvfrom(65535)
        assert b"Probe" in data
        responder.sendto(b"junk that is not XML", sender)
        responder.sendto(answer_bytes, sender)
        got.set()

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        found = WsDiscovery(wait_s=1.0, port=port).probe(unicast=["127.0.0.1"])
    finally:
        thread.join(5)
        responder.close()
    assert got.is_set()
    assert [(d.address, d.port) for d in found] == [("127.0.0.1", 8088)]
    assert "onvif://www.onvif.org/name/Amcrest" in found[0].scopes


PROC_ARP = """IP address       HW type     Flags       HW address            Mask     Device
192.168.1.20     0x1         0x2         58:03:fb:8a:57:9b     *        eth0
192.168.1.21     0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.22     0x1         0x2         AC:CC:8E:BE:CC:EA     *        eth0
"""
IP_NEIGH = """fe80::5a03:fbff:fe8a:579b dev eth0 lladdr 58:03:fb:8a:57:9b router STALE
fe80::1 dev eth0 FAILED
2001:db8::5 dev eth0 lladdr 00:04:7d:36:a5:4e REACHABLE
"""


def test_neighbour_table_from_a_recorded_proc_and_ip_neigh(tmp_path: Path) -> None:
    assert parse_proc_net_arp(PROC_ARP) == {
        "192.168.1.20": "58:03:fb:8a:57:9b",
        "192.168.1.22": "ac:cc:8e:be:cc:ea",
    }
    assert parse_ip_neigh(IP_NEIGH) == {
        "fe80::5a03:fbff:fe8a:579b": "58:03:fb:8a:57:9b",
        "2001:db8::5": "00:04:7d:36:a5:4e",
    }
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/arp").write_text(PROC_ARP)
    table = NeighbourTable(tmp_path, run_ip_neigh=lambda: IP_NEIGH)()
    assert len(table) == 4 and table["192.168.1.22"] == "ac:cc:8e:be:cc:ea"

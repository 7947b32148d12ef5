"""Each hostile knob puts exactly the promised bytes (or silence) on the wire.

Expected bytes come from the pure functions in simulator.hostile applied to what the same camera answers
without the knob; each is also checked independently (parser verdict, sizes, timing).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

from simulator import hostile
from simulator.camera import Camera
from simulator.fleet import load_fleet
from simulator.runner import FleetRunner
from tests.simulator.conftest import fleet_dict, private_base
from tests.simulator.soapclient import SAFE_PARSER, envelope, make_token

PROFILE = "hikvision-ds-2cd2143g0-i-v5.5.61"
OVERSIZE = 3 * 1024 * 1024
DRIP_CHUNK = 256
DRIP_INTERVAL_S = 0.05
LATENCY_S = 0.3


class Sink:
    """Loopback TCP and UDP listeners standing in for a vendor cloud: who called, and what they said."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp.settimeout(10)
        self.udp.settimeout(10)

    def accept(self) -> tuple[str, bytes]:
        conn, peer = self.tcp.accept()
        with conn:
            conn.settimeout(5)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        return peer[0], data

    def datagram(self) -> tuple[str, bytes]:
        data, peer = self.udp.recvfrom(4096)
        return peer[0], data

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


@pytest.fixture(scope="module")
def fleet(sink: Sink) -> Iterator[FleetRunner]:
    knobs: dict[str, dict[str, Any]] = {
        "plain": {},
        "malformed": {"malformed_xml": True},
        "bomb": {"xml_bomb": True},
        "oversized": {"oversized_bytes": OVERSIZE},
        "wrongtype": {"wrong_content_type": True},
        "drip": {"slow_drip_chunk": DRIP_CHUNK, "slow_drip_interval_s": DRIP_INTERVAL_S},
        "hang": {"hang": True},
        "drop": {"drop": True},
        "slow": {"latency_s": LATENCY_S},
        "onlyinfo": {"malformed_xml": True, "hostile_ops": ["GetDeviceInformation"]},
        "caller-tcp": {"phone_home": [f"127.0.0.1:{sink.port}/tcp"], "phone_home_interval_s": 0.2},
        "caller-udp": {"phone_home": [f"127.0.0.1:{sink.port}/udp"], "phone_home_interval_s": 0.2},
        "caller-refused": {"phone_home": ["192.0.2.10:443/tcp"], "phone_home_interval_s": 0.1},
    }
    cams = [{"profile": PROFILE, "id": cid, "knobs": k} for cid, k in knobs.items()]
    runner = FleetRunner(load_fleet(fleet_dict(cams)), discovery=False)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _e(runner: FleetRunner, cid: str) -> dict[str, Any]:
    return next(e for e in runner.manifest if e["id"] == cid)


def _request(e: dict[str, Any], op: str = "GetDeviceInformation") -> bytes:
    body = envelope(op, make_token(e["username"], e["password"]))
    head = (
        f"POST /onvif/device_service HTTP/1.1\r\nHost: {e['address']}:{e['port']}\r\n"
        f"Content-Type: application/soap+xml; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _exchange(
    e: dict[str, Any], op: str = "GetDeviceInformation", timeout: float = 10
) -> tuple[dict[str, str], bytes, list[float]]:
    """Send one request on a raw socket; returns headers, body and the arrival time of each recv."""
    with socket.create_connection((e["address"], e["port"]), timeout=timeout) as s:
        s.sendall(_request(e, op))
        raw, arrivals = b"", []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            arrivals.append(time.monotonic())
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    headers[":status"] = lines[0].split()[1]
    return headers, body, arrivals


def _plain_body(runner: FleetRunner, cid: str, op: str = "GetDeviceInformation") -> bytes:
    """What this camera would answer with no knobs (same identity, fresh nonce cache)."""
    e = _e(runner, cid)
    camera = Camera(runner.cameras[cid].spec)
    return camera.handle_soap(envelope(op, make_token(e["username"], e["password"]))).body


def test_plain_camera_answers_well_formed(fleet: FleetRunner) -> None:
    headers, body, _ = _exchange(_e(fleet, "plain"))
    assert headers[":status"] == "200"
    assert body == _plain_body(fleet, "plain")
    etree.fromstring(body, SAFE_PARSER)


def test_malformed_xml(fleet: FleetRunner) -> None:
    headers, body, _ = _exchange(_e(fleet, "malformed"))
    assert headers[":status"] == "200"
    good = _plain_body(fleet, "malformed")
    assert body == hostile.malformed(good)
    assert good.startswith(body[: len(body) - len(b"<tt:Truncated attr='1'")])
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(body, SAFE_PARSER)


def test_entity_expansion_bomb(fleet: FleetRunner) -> None:
    headers, body, _ = _exchange(_e(fleet, "bomb"))
    assert body == hostile.entity_bomb("env")
    assert body.count(b"<!ENTITY") == hostile.BOMB_LEVELS
    assert body.count(b"&lol8;") == hostile.BOMB_FANOUT
    assert int(headers["content-length"]) == len(body) < 2048
    # Expanded it would be 10**9 "lol"s; libxml2's amplification guard stops even a non-resolving parser.
    for parser in (SAFE_PARSER, etree.XMLParser(resolve_entities=True, huge_tree=False)):
        with pytest.raises(etree.XMLSyntaxError, match="amplification"):
            etree.fromstring(body, parser)


def test_oversized_response(fleet: FleetRunner) -> None:
    headers, body, _ = _exchange(_e(fleet, "oversized"))
    assert len(body) == OVERSIZE == int(headers["content-length"])
    assert body == hostile.oversize(_plain_body(fleet, "oversized"), OVERSIZE)
    etree.fromstring(body, etree.XMLParser(huge_tree=True, resolve_entities=False))


def test_wrong_content_type(fleet: FleetRunner) -> None:
    headers, body, _ = _exchange(_e(fleet, "wrongtype"))
    assert headers["content-type"] == hostile.WRONG_CONTENT_TYPE
    assert body == _plain_body(fleet, "wrongtype")


def test_slow_drip(fleet: FleetRunner) -> None:
    start = time.monotonic()
    headers, body, arrivals = _exchange(_e(fleet, "drip"))
    assert body == _plain_body(fleet, "drip")
    chunks = -(-len(body) // DRIP_CHUNK)
    assert chunks >= 4
    assert arrivals[-1] - start >= (chunks - 1) * DRIP_INTERVAL_S * 0.9
    assert len(arrivals) >= chunks - 1  # bytes really arrived in pieces
    assert int(headers["content-length"]) == len(body)


def test_hang_accepts_and_never_answers(fleet: FleetRunner) -> None:
    e = _e(fleet, "hang")
    with socket.create_connection((e["address"], e["port"]), timeout=5) as s:
        s.sendall(_request(e, "GetSystemDateAndTime"))
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(1)


def test_drop_closes_without_a_byte(fleet: FleetRunner) -> None:
    e = _e(fleet, "drop")
    with socket.create_connection((e["address"], e["port"]), timeout=5) as s:
        s.sendall(_request(e))
        with contextlib.suppress(ConnectionResetError):  # RST is also "no bytes"
            assert s.recv(1) == b""


def test_latency(fleet: FleetRunner) -> None:
    start = time.monotonic()
    headers, _, _ = _exchange(_e(fleet, "slow"))
    assert headers[":status"] == "200"
    assert time.monotonic() - start >= LATENCY_S


def test_hostile_ops_narrows_the_knob(fleet: FleetRunner) -> None:
    e = _e(fleet, "onlyinfo")
    _, clock, _ = _exchange(e, "GetSystemDateAndTime")
    etree.fromstring(clock, SAFE_PARSER)
    _, info, _ = _exchange(e, "GetDeviceInformation")
    assert info == hostile.malformed(_plain_body(fleet, "onlyinfo"))


def test_phone_home_tcp_and_udp_come_from_the_camera_address(fleet: FleetRunner, sink: Sink) -> None:
    tcp = _e(fleet, "caller-tcp")
    udp = _e(fleet, "caller-udp")
    peer, data = sink.accept()
    assert peer == tcp["address"]
    assert data == f"REGISTER HIKVISION {tcp['model']} {tcp['serial']} {tcp['mac']}\r\n".encode()
    peer, data = sink.datagram()
    assert peer == udp["address"]
    assert data.startswith(b"REGISTER HIKVISION ")


def test_phone_home_outside_loopback_is_refused_on_the_host(fleet: FleetRunner) -> None:
    log = fleet.call(lambda: list(fleet.phone_home_log))
    assert all(entry["camera"] != "caller-refused" for entry in log)
    assert all(entry["target"].startswith("127.") for entry in log)


def test_stop_releases_a_hung_connection(sink: Sink) -> None:
    _base, port = private_base()
    lone = fleet_dict([{"profile": PROFILE, "id": "h", "knobs": {"hang": True}}], port=port + 3)
    runner = FleetRunner(load_fleet(lone), discovery=False)
    e = runner.start()[0]
    s = socket.create_connection((e["address"], e["port"]), timeout=5)
    s.sendall(_request(e))
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(s.recv(1)))
    reader.start()
    runner.stop()
    reader.join(10)
    s.close()
    assert got == [b""]

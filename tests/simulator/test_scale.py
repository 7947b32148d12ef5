"""1,000 cameras in one process: all listen, all answer HTTP (digest) and a unicast WS-Discovery probe."""

from __future__ import annotations

import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from simulator.fleet import load_fleet
from simulator.profile import bundled_profiles
from simulator.runner import FleetRunner
from tests.simulator.conftest import private_base
from tests.simulator.soapclient import call, text_of

pytestmark = pytest.mark.slow

CAMERAS = 1000
START_BUDGET_S = 30.0
PROBE_BATCH = 50
PROBE = (
    '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
    "<e:Header><w:MessageID>uuid:{mid}</w:MessageID></e:Header><e:Body><d:Probe/></e:Body></e:Envelope>"
)


def test_thousand_cameras_start_and_every_one_answers() -> None:
    base, port = private_base()
    octets = base.split(".")
    data = {
        # A /16 of its own so that 1,000 consecutive addresses cannot collide with other test fleets.
        "fleet": {"base_address": f"127.{int(octets[1]) ^ 1}.0.1", "port": port + 7, "total": CAMERAS},
        "mix": [{"profile": pid} for pid in sorted(bundled_profiles())],
    }
    started = time.perf_counter()
    runner = FleetRunner(load_fleet(data))
    manifest = runner.start()
    assert time.perf_counter() - started < START_BUDGET_S
    try:
        assert len(manifest) == CAMERAS
        assert len({e["address"] for e in manifest}) == CAMERAS

        def check(e: dict[str, Any]) -> str:
            reply = call(e["xaddr"], "GetDeviceInformation", e["username"], e["password"])
            assert reply.status == 200, e["id"]
            return text_of(reply.xml(), "SerialNumber")

        with ThreadPoolExecutor(max_workers=8) as pool:
            serials = list(pool.map(check, manifest))
        assert serials == [e["serial"] for e in manifest]

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(5)
            answered: set[str] = set()
            # In batches: 1,000 answers at once would overflow the client's default receive buffer.
            for start in range(0, CAMERAS, PROBE_BATCH):
                for e in manifest[start : start + PROBE_BATCH]:
                    s.sendto(PROBE.format(mid=uuid.uuid4()).encode(), (e["address"], 3702))
                while len(answered) < min(start + PROBE_BATCH, CAMERAS):
                    _data, peer = s.recvfrom(65536)
                    answered.add(peer[0])
        assert answered == {e["address"] for e in manifest}
    finally:
        runner.stop()

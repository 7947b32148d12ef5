"""The daemon's sweep (``agent.cli.build_sweep``) against the simulator on loopback: cameras found by a
unicast probe are polled, a recorder's channels are polled in the same sweep, and hostile discovery
answers (an XAddr naming another host, garbage, a flood) neither redirect nor stall it.

Addresses are 127.23.0.0/16 so that other suites running at once never collide."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import parse_agent_config
from agent.onvif.discovery import MAX_MATCHES, WsDiscovery
from agent.onvif.sitesweep import SiteSweep
from agent.onvif.sources import DiscoverySettings
from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from agent.wire.signing import public_key_to_text

fleet_mod = pytest.importorskip("simulator.fleet")
runner_mod = pytest.importorskip("simulator.runner")

HIK = "hikvision-ds-2cd2346g2-iu-v5.7.15"
NVR = "hikvision-ds-7608ni-k2-v4.30.085"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fleet(base: str, cameras: list[dict[str, Any]]) -> Any:
    head = {"seed": "site-sweep", "base_address": base, "port": _free_port()}
    return runner_mod.FleetRunner(fleet_mod.load_fleet({"fleet": head, "cameras": cameras}), phone_home=False)


def _config(tmp_path: Path, cameras: list[dict[str, Any]], discovery: dict[str, Any]) -> Any:
    data = {
        "site": "s",
        "agent": "a",
        "state_dir": str(tmp_path),
        "collector": {"public_key": public_key_to_text(Ed25519PrivateKey.generate().public_key())},
        "mqtt": {"host": "127.0.0.1"},
        "polling": {"per_camera_timeout_s": 5.0},
        "camera": cameras,
        "discovery": discovery,
    }
    return parse_agent_config(data, str(tmp_path / "agent.toml"))


def _by_address(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert len({r["address"] for r in records}) == len(records), "a device was polled twice"
    return {r["address"]: r for r in records}


def test_build_sweep_polls_what_a_unicast_probe_finds_and_the_configured_entry_wins(tmp_path: Path) -> None:
    from agent.cli import build_sweep

    cameras = [
        {"profile": HIK, "id": "configured"},  # per-camera password: only the [[camera]] entry knows it
        {"profile": HIK, "id": "found", "knobs": {"default_password": True}},  # admin / 12345
    ]
    with _fleet("127.23.1.1", cameras) as runner:
        configured, found = runner.manifest
        (tmp_path / "discovery-password").write_text("12345\n")
        config = _config(
            tmp_path,
            [
                {
                    "address": configured["address"],
                    "port": configured["port"],
                    "username": configured["username"],
                    "password": configured["password"],
                }
            ],
            {
                "unicast": ["127.23.1.0/29"],
                "wait_s": 0.5,
                "username": "admin",
                "password_file": str(tmp_path / "discovery-password"),
            },
        )
        sweep = build_sweep(config)
        records = _by_address([x.to_json() for x in sweep()])
    assert set(records) == {configured["address"], found["address"]}
    mine, theirs = records[configured["address"]], records[found["address"]]
    assert (mine["source"], mine["authenticated"]) == ("config", True)  # its own credentials, not discovery's
    assert (theirs["source"], theirs["port"], theirs["authenticated"]) == (
        "ws-discovery",
        found["port"],
        True,
    )
    assert theirs["serial"] == found["serial"] and theirs["maker"] == "hikvision"
    assert isinstance(sweep, SiteSweep) and [x.to_json() for x in sweep.health()] == []


@pytest.fixture(scope="module")
def recorder_site() -> Iterator[tuple[list[dict[str, Any]], Any]]:
    cameras = [
        {"profile": NVR, "id": "nvr", "knobs": {"default_password": True}, "channels": ["ch1", "ch2", "far"]},
        {"profile": HIK, "id": "ch1", "knobs": {"default_password": True}},
        {"profile": "dahua-ipc-hfw5442e-ase-v2.820-230705", "id": "ch2", "address": "127.23.2.40"},
        {"profile": HIK, "id": "far", "address": "127.23.3.9", "knobs": {"default_password": True}},
    ]
    with _fleet("127.23.2.1", cameras) as runner:
        yield runner.manifest, runner


def test_a_recorders_channels_are_polled_in_the_same_sweep(
    recorder_site: tuple[list[dict[str, Any]], Any],
) -> None:
    manifest, runner = recorder_site
    nvr, ch1, ch2, far = manifest
    settings = DiscoverySettings(channel_ranges=("127.23.2.0/24",), username="admin", password="12345")
    sweep = SiteSweep(
        Sweeper(per_camera_timeout_s=5.0),
        [CameraTarget(nvr["address"], nvr["port"], "admin", "12345")],
        settings,
    )
    records = _by_address([x.to_json() for x in sweep()])
    assert records[nvr["address"]]["source"] == "config"
    assert [c["host"] for c in records[nvr["address"]]["channels"]] == [
        ch1["address"],
        ch2["address"],
        far["address"],
    ]
    assert set(records) == {nvr["address"], ch1["address"], ch2["address"]}
    # ch1 takes the discovery credentials; ch2 has its own password: reported as refused, never guessed.
    for cam, serial, authenticated in ((ch1, ch1["serial"], True), (ch2, None, False)):
        record = records[cam["address"]]
        assert record["source"] == f"recorder:{nvr['address']}" and record["reachable"]
        assert (record["port"], record["serial"], record["authenticated"]) == (
            cam["port"],
            serial,
            authenticated,
        )
    assert runner.call(lambda: dict(runner.cameras["far"].counts)) == {}  # outside the scope: never contacted
    assert [x.to_json() for x in sweep.health()] == [
        {
            "source": "discovery",
            "problem": "channel_not_followed",
            "detail": f"{far['address']} (from recorder {nvr['address']}): outside the discovery scope",
        }
    ]


def test_channel_following_can_be_turned_off(recorder_site: tuple[list[dict[str, Any]], Any]) -> None:
    manifest, _runner = recorder_site
    nvr = manifest[0]
    settings = DiscoverySettings(channel_ranges=("127.23.2.0/24",), follow_recorder_channels=False)
    sweep = SiteSweep(
        Sweeper(per_camera_timeout_s=5.0),
        [CameraTarget(nvr["address"], nvr["port"], "admin", "12345")],
        settings,
    )
    assert [r["address"] for r in [x.to_json() for x in sweep()]] == [nvr["address"]]


class Responder:
    """A UDP peer on ``address:port`` that answers each Probe with ``answer(probe)`` datagrams."""

    def __init__(self, address: str, port: int, answer: Callable[[bytes], list[bytes]]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.port = int(self.sock.getsockname()[1])
        self.answer = answer
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return  # closed
            if not data and peer == self.sock.getsockname():
                return  # the wake-up __exit__ sends
            for datagram in self.answer(data):
                self.sock.sendto(datagram, peer)

    def __enter__(self) -> Responder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.sendto(b"", self.sock.getsockname())
        self.thread.join(5)
        self.sock.close()
        assert not self.thread.is_alive()


def _matches(xaddrs: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Body><d:ProbeMatches><d:ProbeMatch>'
        "<a:EndpointReference><a:Address>urn:uuid:evil</a:Address></a:EndpointReference>"
        f"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:XAddrs>{xaddrs}</d:XAddrs>"
        "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


@pytest.fixture(scope="module")
def victim_site() -> Iterator[tuple[list[dict[str, Any]], Any]]:
    with _fleet(
        "127.23.4.1", [{"profile": HIK, "id": "victim"}, {"profile": HIK, "id": "configured"}]
    ) as runner:
        yield runner.manifest, runner


def _hostile_sweep(manifest: list[dict[str, Any]], port: int) -> SiteSweep:
    configured = manifest[1]
    return SiteSweep(
        Sweeper(per_camera_timeout_s=2.0),
        [
            CameraTarget(
                configured["address"], configured["port"], configured["username"], configured["password"]
            )
        ],
        DiscoverySettings(unicast=("127.23.5.0/29",)),
        discovery=WsDiscovery(wait_s=0.5, port=port),
    )


def test_an_xaddr_naming_another_host_is_not_followed(victim_site: tuple[list[dict[str, Any]], Any]) -> None:
    manifest, runner = victim_site
    victim, configured = manifest
    evil_xaddr = f"http://{victim['address']}:{victim['port']}/onvif/device_service"
    # Nested: the second peer binds the port the first was given.
    with Responder("127.23.5.1", 0, lambda _probe: [_matches(evil_xaddr)]) as redirector:  # noqa: SIM117
        with Responder("127.23.5.2", redirector.port, lambda _probe: [b"\x00garbage", b"<x/>", DOCTYPE]):
            sweep = _hostile_sweep(manifest, redirector.port)
            records = _by_address([x.to_json() for x in sweep()])
    assert runner.call(lambda: dict(runner.cameras["victim"].counts)) == {}
    assert records[configured["address"]]["authenticated"] is True
    evil = records["127.23.5.1"]  # the sender, with the port its XAddr lent: nothing listens there
    assert (evil["source"], evil["port"], evil["reachable"]) == ("ws-discovery", victim["port"], False)
    assert set(records) == {configured["address"], "127.23.5.1"}
    assert {h["problem"] for h in [x.to_json() for x in sweep.health()]} == {"bad_answers"}


DOCTYPE = b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"


def test_a_flood_of_answers_is_capped_and_the_sweep_goes_on(
    victim_site: tuple[list[dict[str, Any]], Any],
) -> None:
    manifest, _runner = victim_site
    configured = manifest[1]
    with Responder("127.23.5.3", 0, lambda _probe: [b"flood"] * (MAX_MATCHES + 1000)) as flood:
        sweep = _hostile_sweep(manifest, flood.port)
        records = [x.to_json() for x in sweep()]
    assert [r["address"] for r in records] == [configured["address"]] and records[0]["authenticated"]
    (health,) = [x.to_json() for x in sweep.health()]
    assert health["problem"] == "bad_answers"
    rejected = int(health["detail"].split()[0])
    assert 0 < rejected <= MAX_MATCHES  # reading stops at the cap (or the deadline), whatever is still sent

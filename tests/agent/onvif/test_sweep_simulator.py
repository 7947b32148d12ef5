"""The sweep against the simulator fleet (in-process, loopback): identification of every profile,
skewed clocks, hostile cameras contained, vulnerable firmware flagged and fixed firmware not."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget

fleet_mod = pytest.importorskip("simulator.fleet")
runner_mod = pytest.importorskip("simulator.runner")
profile_mod = pytest.importorskip("simulator.profile")

RESTRICTED = {"hikvision", "dahua"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(data: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    # Our own port and 127.22/16 range, so other suites running at once never collide.
    data["fleet"]["port"] = _free_port()
    data["fleet"].setdefault("base_address", "127.22.0.1")
    fleet = fleet_mod.load_fleet(data)
    with runner_mod.FleetRunner(fleet, discovery=False, phone_home=False) as runner:
        yield runner.manifest


def _targets(manifest: list[dict[str, Any]]) -> list[CameraTarget]:
    return [
        CameraTarget(m["address"], m["port"], m["username"], m["password"], scheme=m["scheme"])
        for m in manifest
    ]


def _kinds(record: dict[str, Any]) -> set[str]:
    return {f["kind"] for f in record["findings"]}


@pytest.fixture(scope="module")
def every_profile() -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Every bundled profile once, plus a Hikvision and a Dahua with clocks hours off."""
    profiles = sorted(profile_mod.bundled_profiles())
    cameras: list[dict[str, Any]] = [{"profile": p, "id": p} for p in profiles]
    cameras.append(
        {
            "profile": "hikvision-ds-2cd2143g0-i-v5.5.61",
            "id": "hik-fast",
            "knobs": {"clock_offset_s": 4 * 3600.0},
        }
    )
    cameras.append(
        {
            "profile": "dahua-ipc-hdbw2431e-s-v2.800-210302",
            "id": "dahua-slow",
            "knobs": {"clock_offset_s": -7 * 3600.0},
        }
    )
    data = {"fleet": {"seed": "identify-test", "base_address": "127.22.1.1"}, "cameras": cameras}
    for manifest in _run(data):
        records = [x.to_json() for x in Sweeper(per_camera_timeout_s=5.0).sweep(_targets(manifest))]
        yield manifest, records


def test_every_profile_is_identified(
    every_profile: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    manifest, records = every_profile
    assert len(records) == len(manifest)
    for m, r in zip(manifest, records, strict=True):
        vendor = m["vendor"].lower()
        assert r["reachable"] and r["authenticated"], (m["id"], r["findings"])
        if vendor == "generic":
            assert r["maker"] is None, m["id"]
            continue
        expected = {"hanwha": "hanwha"}.get(vendor, vendor)
        assert r["maker"] == expected, (m["id"], r["maker"], r["evidence"])
        assert r["maker_confidence"] >= 0.5, m["id"]
        if r["maker"] not in RESTRICTED:
            assert not r["maker_restricted"]


def test_rebrands_come_out_as_the_maker_of_the_hardware(
    every_profile: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    manifest, records = every_profile
    rebrands = [
        (m, r) for m, r in zip(manifest, records, strict=True) if m["brand"].lower() != m["vendor"].lower()
    ]
    labels = {m["brand"].lower() for m, _ in rebrands}
    assert {"annke", "hilook", "lts", "amcrest", "lorex"} <= labels
    for m, r in rebrands:
        if m["vendor"].lower() in RESTRICTED:
            assert r["maker"] == m["vendor"].lower() and r["brand"] == m["brand"].lower(), (
                m["id"],
                r["evidence"],
            )
            # The label never says Hikvision or Dahua: other signals carried it.
            assert r["manufacturer"].lower() not in RESTRICTED


def test_unrestricted_makers_are_never_called_hikvision_or_dahua(
    every_profile: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    manifest, records = every_profile
    for m, r in zip(manifest, records, strict=True):
        if m["vendor"].lower() not in RESTRICTED:
            assert r["maker"] not in RESTRICTED, (m["id"], r["evidence"])


def test_clocks_hours_off_still_authenticate(
    every_profile: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    manifest, records = every_profile
    by_id = {m["id"]: r for m, r in zip(manifest, records, strict=True)}
    for cid, offset in (("hik-fast", 4 * 3600.0), ("dahua-slow", -7 * 3600.0)):
        r = by_id[cid]
        assert r["authenticated"] is True and r["model"], r["findings"]
        assert abs(r["clock_offset_s"] - offset) < 2.0
        assert "clock_skew" in _kinds(r)


def test_vulnerable_firmware_flagged_and_fixed_not(
    every_profile: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    manifest, records = every_profile
    profiles = profile_mod.bundled_profiles()
    for m, r in zip(manifest, records, strict=True):
        expected = sorted(profiles[m["profile"]].vulnerabilities)
        assert sorted(v["cve"] for v in r["vulnerabilities"]) == expected, (m["id"], r["firmware"])
    fixed = [
        r
        for m, r in zip(manifest, records, strict=True)
        if m["profile"].startswith("hilook-ipc-b140h-v5.5.800")
    ]
    assert fixed and fixed[0]["vulnerabilities"] == []  # V5.5.800 build 210628 is the CVE-2021-36260 fix


def test_auth_flaws_are_findings(every_profile: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    manifest, records = every_profile
    for m, r in zip(manifest, records, strict=True):
        kinds = _kinds(r)
        if m["auth_flaw"] == "replay":
            assert "replayed_digest_accepted" in kinds, m["id"]
        elif m["auth_flaw"] == "bypass":
            assert "unauthenticated_access" in kinds, m["id"]
        else:
            assert not kinds & {"replayed_digest_accepted", "unauthenticated_access"}, (m["id"], kinds)


HOSTILE = {
    "hang": ({"hang": True}, "timeout"),
    "drop": ({"drop": True}, "malformed_response"),
    "malformed": ({"malformed_xml": True}, "malformed_response"),
    "bomb": ({"xml_bomb": True}, "hostile_xml"),
    "huge": ({"oversized_bytes": 3_000_000}, "response_too_large"),
    "drip": ({"slow_drip_chunk": 16, "slow_drip_interval_s": 0.2}, "timeout"),
    "bomb-late": ({"xml_bomb": True, "hostile_ops": ["GetDeviceInformation"]}, "hostile_xml"),
}


def test_hostile_cameras_are_contained() -> None:
    cameras: list[dict[str, Any]] = [
        {"profile": "hikvision-ds-2cd2143g0-i-v5.5.61", "id": f"bad-{name}", "knobs": knobs}
        for name, (knobs, _) in HOSTILE.items()
    ]
    cameras += [{"profile": "axis-m5525-e-v8.40.1.1", "id": f"good-{i}"} for i in range(4)]
    data = {"fleet": {"seed": "hostile-test", "base_address": "127.22.2.1"}, "cameras": cameras}
    budget = 2.0
    for manifest in _run(data):
        started = time.monotonic()
        records = [
            x.to_json()
            for x in Sweeper(per_camera_timeout_s=budget, concurrency=16).sweep(_targets(manifest))
        ]
        elapsed = time.monotonic() - started
    assert elapsed < budget + 3.0, elapsed  # every camera at once: one budget plus the banner fetch
    by_id = {m["id"]: r for m, r in zip(manifest, records, strict=True)}
    for name, (_, kind) in HOSTILE.items():
        assert kind in _kinds(by_id[f"bad-{name}"]), (name, by_id[f"bad-{name}"]["findings"])
    for i in range(4):
        assert by_id[f"good-{i}"]["maker"] == "axis"


def test_unicast_ws_discovery_finds_the_fleet_and_the_sweep_identifies_it() -> None:
    from agent.onvif.discovery import WsDiscovery

    cameras = [
        {"profile": "annke-c500-v5.5.53", "id": "annke"},
        {"profile": "lorex-lnb4321b-v2.800-191122", "id": "lorex"},
        {"profile": "axis-m5525-e-v8.40.1.1", "id": "axis"},
    ]
    head: dict[str, Any] = {"seed": "discovery-test", "base_address": "127.22.3.1", "port": _free_port()}
    data = {"fleet": head, "cameras": cameras}
    fleet = fleet_mod.load_fleet(data)
    with runner_mod.FleetRunner(fleet, discovery=True, phone_home=False) as runner:
        manifest = runner.manifest
        found = WsDiscovery(wait_s=1.0).probe(unicast=["127.22.3.0/29"])
        assert sorted((d.address, d.port) for d in found) == sorted(
            (m["address"], m["port"]) for m in manifest
        )
        creds = {m["address"]: (m["username"], m["password"]) for m in manifest}
        targets = [d.target(*creds[d.address]) for d in found]
        records = [x.to_json() for x in Sweeper(per_camera_timeout_s=5.0).sweep(targets)]
    assert sorted((r["maker"], r["brand"]) for r in records) == [
        ("axis", "axis"),
        ("dahua", "lorex"),
        ("hikvision", "annke"),
    ]


def test_an_unchanged_fleet_gives_unchanged_fingerprints(
    every_profile: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    from agent.wire.inventory import DeviceRecord, device_key, record_fingerprint

    manifest, first = every_profile
    second = [x.to_json() for x in Sweeper(per_camera_timeout_s=5.0).sweep(_targets(manifest))]
    for a, b in zip(first, second, strict=True):
        ra, rb = DeviceRecord.decode(a), DeviceRecord.decode(b)
        assert device_key(ra) == device_key(rb)
        assert record_fingerprint(ra) == record_fingerprint(rb), (a["address"], a["findings"], b["findings"])

"""Profiles as data (checked against ../shared/data/vendor-facts.md) and fleet files into cameras."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from simulator.fleet import FleetError, Knobs, Target, bundled_fleet_path, load_fleet
from simulator.profile import AuthFlaw, ProfileError, bundled_profiles, parse_profile
from simulator.runner import write_manifest
from tests.conftest import SHARED

PROFILES = bundled_profiles()
PROFILE_FILES = sorted((Path(__file__).parents[2] / "simulator" / "profiles").glob("*.toml"))
VENDOR_FACTS = SHARED / "data" / "vendor-facts.md"
REGISTRANTS = {
    "Hikvision": ("Hangzhou Hikvision", "Ezviz"),
    "Dahua": ("Zhejiang Dahua", "Huacheng"),
    "Uniview": ("Uniview",),
}


def _oui_table() -> dict[str, set[str]]:
    """Maker -> OUIs, parsed from the §1 table of the shared data sheet."""
    if not VENDOR_FACTS.exists():
        pytest.skip("../shared/data/vendor-facts.md not available")
    out: dict[str, set[str]] = {}
    for line in VENDOR_FACTS.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4:
            continue
        for maker, names in REGISTRANTS.items():
            if any(n in cells[1] for n in names):
                out.setdefault(maker, set()).update(
                    re.findall(r"\b[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2}\b", line)
                )
    return out


def test_bundle_has_the_required_spread() -> None:
    vendors = {p.vendor for p in PROFILES.values()}
    assert {"Hikvision", "Dahua", "Axis", "Hanwha", "Bosch", "Uniview", "Generic"} <= vendors
    for maker in ("Hikvision", "Dahua"):
        own = [p for p in PROFILES.values() if p.vendor == maker and p.brand.upper() == maker.upper()]
        assert any(p.vulnerabilities for p in own), f"no vulnerable {maker}"
        assert any(not p.vulnerabilities and p.auth_flaw is AuthFlaw.NONE for p in own), f"no fixed {maker}"
        assert len({p.model for p in own}) >= 3
        rebrands = [p for p in PROFILES.values() if p.vendor == maker and p.brand.upper() != maker.upper()]
        assert len(rebrands) >= 2, f"{maker} rebrands"
    assert {p.auth_flaw for p in PROFILES.values()} == set(AuthFlaw)


@pytest.mark.parametrize("pid", sorted(PROFILES))
def test_macs_come_from_the_makers_registered_ouis(pid: str) -> None:
    table = _oui_table()
    p = PROFILES[pid]
    if p.vendor in table:
        own_label = {"Amcrest": {"9C:8E:CD", "A0:60:32", "00:65:1E"}, "Lorex": {"00:1F:54"}}.get(
            p.brand, set()
        )
        assert set(p.oui) <= table[p.vendor] | own_label, pid
        assert set(p.oui) & table[p.vendor] or own_label, pid
    else:
        for makers_ouis in table.values():
            assert not set(p.oui) & makers_ouis, f"{pid} uses a Hikvision/Dahua/Uniview OUI"


REBRANDS = sorted(
    pid
    for pid, p in PROFILES.items()
    if p.vendor in ("Hikvision", "Dahua") and p.brand.upper() != p.vendor.upper()
)


@pytest.mark.parametrize("pid", REBRANDS)
def test_rebrands_give_their_maker_away(pid: str) -> None:
    p = PROFILES[pid]
    maker = PROFILES[
        next(k for k, v in PROFILES.items() if v.vendor == p.vendor and v.brand.upper() == p.vendor.upper())
    ]
    assert p.server_header == maker.server_header
    assert p.wire.style == maker.wire.style
    if p.vendor == "Hikvision":
        assert re.fullmatch(r"V5\.\d+\.\d+ build \d{6}", p.firmware)
    else:
        assert re.fullmatch(r"V?2\.\d{3}\.[0-9A-Z]{7}\.\d+\.R\.\d{6}", p.firmware)


def test_profile_errors_name_source_and_key() -> None:
    base = {
        "id": "x",
        "vendor": "V",
        "brand": "B",
        "model": "M",
        "firmware": "1",
        "oui": ["00:11:22"],
        "scopes": [],
    }
    parse_profile(base)
    with pytest.raises(ProfileError, match=r"f\.toml: oui: 'zz' is not"):
        parse_profile({**base, "oui": ["zz"]}, "f.toml")
    with pytest.raises(ProfileError, match=r"f\.toml: auth\.flaw: must be one of"):
        parse_profile({**base, "auth": {"flaw": "sometimes"}}, "f.toml")
    with pytest.raises(ProfileError, match=r"f\.toml: wire\.layout: must be one of"):
        parse_profile({**base, "wire": {"layout": "zigzag"}}, "f.toml")
    with pytest.raises(ProfileError, match=r"f\.toml: model: missing"):
        parse_profile({k: v for k, v in base.items() if k != "model"}, "f.toml")


def _fleet(**extra: Any) -> dict[str, Any]:
    return {"fleet": {"base_address": "127.30.0.254", "port": 9000, "seed": "s"}, **extra}


def test_mix_fills_total_by_weight_and_addresses_skip_network_and_broadcast() -> None:
    pids = sorted(PROFILES)[:3]
    data = _fleet(
        cameras=[{"profile": pids[0], "id": "lobby"}],
        mix=[
            {"profile": pids[0], "weight": 1},
            {"profile": pids[1], "weight": 2},
            {"profile": pids[2], "weight": 0},
        ],
    )
    data["fleet"]["total"] = 10
    fleet = load_fleet(data)
    assert len(fleet.cameras) == 10
    counts = {pid: sum(c.profile.id == pid for c in fleet.cameras) for pid in pids}
    assert counts == {pids[0]: 1 + 3, pids[1]: 6, pids[2]: 0}
    addrs = [c.address for c in fleet.cameras]
    assert addrs[:3] == ["127.30.0.254", "127.30.1.1", "127.30.1.2"]
    assert len(set(addrs)) == 10
    assert fleet.cameras[0].id == "lobby"


def test_same_seed_same_fleet_and_identities_are_unique() -> None:
    data = _fleet(mix=[{"profile": p} for p in PROFILES])
    data["fleet"]["total"] = 200
    a, b = load_fleet(data), load_fleet(data)
    assert [c.manifest_entry() for c in a.cameras] == [c.manifest_entry() for c in b.cameras]
    assert len({c.mac for c in a.cameras}) == 200
    assert len({c.serial for c in a.cameras}) == 200
    assert len({c.uuid for c in a.cameras}) == 200
    for c in a.cameras:
        for name, mac in c.interfaces:
            assert mac[:8].upper() in (c.profile.wifi_oui if name.startswith("wlan") else c.profile.oui)
        assert c.mac == c.interfaces[0][1]
        assert c.password != c.profile.default_password


def test_interfaces_and_probe_keys_are_checked() -> None:
    base = dict(tomllib.loads(next(iter(PROFILE_FILES)).read_text()))
    with pytest.raises(ProfileError, match=r"wifi_oui: needed"):
        parse_profile({**base, "interfaces": ["eth0", "wlan0"]}, "f.toml")
    with pytest.raises(ProfileError, match=r"interfaces: 'ppp0'"):
        parse_profile({**base, "interfaces": ["ppp0"]}, "f.toml")
    with pytest.raises(ProfileError, match=r"interfaces: must be distinct"):
        parse_profile({**base, "interfaces": ["eth0", "eth0"]}, "f.toml")
    with pytest.raises(ProfileError, match=r"probe_layout"):
        parse_profile({**base, "probe_layout": "fancy"}, "f.toml")
    empty = parse_profile({**base, "manufacturer": ""}, "f.toml")
    assert (
        empty.manufacturer_string == "" and parse_profile(base, "f.toml").manufacturer_string == base["brand"]
    )


def test_fleet_errors_name_file_and_key(tmp_path: Path) -> None:
    pid = next(iter(PROFILES))
    cam = f'[[cameras]]\nprofile = "{pid}"\n'
    cases = {
        '[[cameras]]\nprofile = "nope"\n': r"cameras\[0\]\.profile: unknown profile 'nope'",
        cam + "knobs = { warp = 9 }\n": r"cameras\[0\]\.knobs\.warp: unknown knob",
        cam + 'knobs = { hang = "yes" }\n': r"cameras\[0\]\.knobs\.hang: must be true",
        cam + 'knobs = { phone_home = ["x"] }\n': r"knobs\.phone_home: .*not host:port",
        "[fleet]\nport = 0\n" + cam: r"fleet\.port: must be",
        '[defaults]\nlatency_s = "slow"\n' + cam: r"defaults\.latency_s: must be a number",
        "[fleet]\n": r"no cameras",
        "[[cameras]\n": r"bad\.toml: ",
    }
    for text, pattern in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(FleetError, match=pattern):
            load_fleet(path)


def test_knobs_and_targets() -> None:
    assert Target.parse("192.0.2.1:443") == Target("192.0.2.1", 443, "tcp")
    assert str(Target.parse("127.0.0.1:53/udp")) == "127.0.0.1:53/udp"
    with pytest.raises(ValueError, match=r"not an IP|does not appear"):
        Target.parse("cloud.example:443")
    assert Knobs(hostile_ops=("GetUsers",)).applies_to("GetUsers")
    assert not Knobs(hostile_ops=("GetUsers",)).applies_to("GetScopes")
    assert Knobs().applies_to("anything")


def test_demo_fleet_has_the_promised_cameras() -> None:
    fleet = load_fleet(bundled_fleet_path())
    by_brand = {c.profile.brand: c.profile.vendor for c in fleet.cameras}
    assert by_brand["HIKVISION"] == "Hikvision"
    assert by_brand["Dahua"] == "Dahua"
    assert by_brand["AXIS"] == "Axis"
    assert by_brand["HiLook"] == "Hikvision"
    assert by_brand["Amcrest"] == "Dahua"
    assert by_brand["Lorex"] == "Dahua"
    assert "Generic" in by_brand.values()


def test_manifest_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("old")
    write_manifest(path, [{"id": "a"}])
    assert json.loads(path.read_text()) == [{"id": "a"}]
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]

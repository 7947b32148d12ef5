"""Real-device quirks end to end: the simulator's quirk profiles found by a real WS-Discovery round
and polled by the agent's sweep (loopback, in-process fleet)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from agent.onvif.sitesweep import SiteSweep
from agent.onvif.sources import DiscoverySettings
from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from agent.wire.inventory import DeviceRecord

fleet_mod = pytest.importorskip("simulator.fleet")
runner_mod = pytest.importorskip("simulator.runner")

HFW2431S = "dahua-ipc-hfw2431s-s-s2-v2.800-build-date-2021-06-30"
PRETTY = "dahua-ipc-hdbw2320rn-zs-v2.600-build-colon-2016-12-19"
OEM = "dahua-oem-ipc-hdw2431t-as-s2-no-manufacturer"
NO_DATE = "dahua-ipc-hdw1230t1-s5-v2.800-no-date"
NO_BUILD = "hikvision-ds-2cd2747g2-lzs-v5.7.13-no-build"
WIFI = "hikvision-ds-2cd2443g0-iw-v5.5.61-wifi"
HTTPS = "hikvision-ds-2cd2386g2-iu-v5.7.3-https"
QUIRKS = [HFW2431S, PRETTY, OEM, NO_DATE, NO_BUILD, WIFI, HTTPS]
RANGE = "127.22.12.0/28"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def runner() -> Iterator[Any]:
    data = {
        "fleet": {"seed": "quirks", "base_address": "127.22.12.1", "port": _free_port()},
        "cameras": [{"profile": p, "id": p} for p in QUIRKS],
    }
    with runner_mod.FleetRunner(fleet_mod.load_fleet(data), discovery=True, phone_home=False) as running:
        yield running


class _WithCredentials:
    """The sweeper, with each discovered camera's own simulator credentials filled in."""

    def __init__(self, manifest: list[dict[str, Any]]) -> None:
        self.inner = Sweeper(per_camera_timeout_s=5.0)
        self.creds = {m["address"]: (m["username"], m["password"]) for m in manifest}

    def sweep(self, targets: list[CameraTarget]) -> list[DeviceRecord]:
        filled = [
            replace(t, username=self.creds[t.address][0], password=self.creds[t.address][1]) for t in targets
        ]
        return self.inner.sweep(filled)


def _by_profile(runner: Any, records: list[DeviceRecord]) -> dict[str, dict[str, Any]]:
    ids = {m["address"]: m["id"] for m in runner.manifest}
    return {ids[r.address]: r.to_json() for r in records}


def _evidence(record: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["signal"], e["value"]) for e in record["evidence"]}


def test_dahua_hfw2431s_with_a_written_out_build_date_matches_cve_2022_30563(runner: Any) -> None:
    """Issue 13's Done-when camera: discovered, polled, identified, matched; every quirk polled."""
    sweep = SiteSweep(_WithCredentials(runner.manifest), (), DiscoverySettings(unicast=(RANGE,), wait_s=1.0))
    records = _by_profile(runner, sweep())
    assert sorted(records) == sorted(QUIRKS) and not sweep.health()
    cam = records[HFW2431S]
    assert (cam["maker"], cam["model"], cam["firmware"]) == (
        "dahua",
        "IPC-HFW2431S-S-S2",
        "2.800.0000000.8.R, Build Date 2021-06-30",
    )
    assert [v["cve"] for v in cam["vulnerabilities"]] == ["CVE-2022-30563"]
    kinds = {f["kind"] for f in cam["findings"]}
    assert {"vulnerable_firmware", "replayed_digest_accepted"} <= kinds  # the table and the behaviour agree
    assert [v["cve"] for v in records[PRETTY]["vulnerabilities"]] == ["CVE-2022-30563"]  # ",build:" form
    for quiet in (NO_DATE, NO_BUILD, OEM):  # no build date, or after the fix: nothing claimed
        assert records[quiet]["vulnerabilities"] == [], quiet
    for pid, record in records.items():
        assert record["authenticated"] is True, (pid, record["findings"])
        assert record["maker"] == ("dahua" if pid.startswith("dahua") else "hikvision"), (
            pid,
            record["evidence"],
        )
    assert records[OEM]["manufacturer"] == ""
    wifi = records[WIFI]
    assert wifi["mac"].startswith(("24:0a:c4", "ac:5d:5c"))  # the Wi-Fi module's prefix, first interface
    assert records[HTTPS]["http_server"] == "App-webs/"  # found by its https XAddr and polled over TLS


def test_without_credentials_the_probe_match_alone_names_the_maker(runner: Any) -> None:
    """No credentials anywhere: what the cameras announced (wrapped, junk-laden scopes included)."""
    sweep = SiteSweep(Sweeper(per_camera_timeout_s=5.0), (), DiscoverySettings(unicast=(RANGE,), wait_s=1.0))
    records = _by_profile(runner, sweep())
    for pid in (HFW2431S, PRETTY, OEM):
        record = records[pid]
        assert record["authenticated"] is None and record["model"] is None
        assert record["maker"] == "dahua", (pid, record["evidence"])
    # The pretty-printed answer wraps this scope over two lines; rejoined, it is model evidence.
    assert ("scope", "DH-IPC-HDBW2320RN-ZS") in _evidence(records[PRETTY])
    assert ("scope", "IPC-HDW2431T-AS-S2") in _evidence(records[OEM])  # junk and empty scopes beside it

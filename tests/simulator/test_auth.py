"""WS-Security UsernameToken: right, wrong, missing, replayed, expired, future and clock-skewed tokens.

Every sound profile refuses what it must; every flawed profile really shows its flaw (replayable digest,
auth bypass), and the default-password knob really leaves the factory password in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.fleet import load_fleet
from simulator.profile import AuthFlaw, bundled_profiles
from simulator.runner import FleetRunner
from tests.simulator.conftest import fleet_dict
from tests.simulator.onvifschema import WSDL_DIR
from tests.simulator.soapclient import envelope, make_token, post, text_of

PROFILES = bundled_profiles()
SOUND = sorted(pid for pid, p in PROFILES.items() if p.auth_flaw is AuthFlaw.NONE)
REPLAY = sorted(pid for pid, p in PROFILES.items() if p.auth_flaw is AuthFlaw.REPLAY)
BYPASS = sorted(pid for pid, p in PROFILES.items() if p.auth_flaw is AuthFlaw.BYPASS)
SKEW_S = 3 * 3600.0
SKEWED = "hikvision-ds-2cd2346g2-iu-v5.7.15"


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetRunner]:
    cams: list[dict[str, Any]] = [{"profile": pid, "id": pid} for pid in sorted(PROFILES)]
    cams.append({"profile": SKEWED, "id": "skew-ahead", "knobs": {"clock_offset_s": SKEW_S}})
    cams.append({"profile": SKEWED, "id": "skew-behind", "knobs": {"clock_offset_s": -SKEW_S}})
    cams.append({"profile": "annke-c500-v5.5.53", "id": "annke-default", "knobs": {"default_password": True}})
    runner = FleetRunner(load_fleet(fleet_dict(cams)), discovery=False)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _e(runner: FleetRunner, cid: str) -> dict[str, Any]:
    return next(e for e in runner.manifest if e["id"] == cid)


def _signed(e: dict[str, Any], password: str | None = None, created: datetime | None = None) -> bytes:
    token = make_token(e["username"], e["password"] if password is None else password, created)
    return envelope("GetDeviceInformation", token)


def _is_not_authorized(e: dict[str, Any], status: int, values: list[str]) -> bool:
    expected = PROFILES[e["profile"]].wire.not_authorized_status
    return status == expected and values[0].endswith(":Sender") and "ter:NotAuthorized" in values


@pytest.mark.parametrize("pid", sorted(PROFILES))
def test_right_digest_is_accepted_and_clock_needs_no_credentials(fleet: FleetRunner, pid: str) -> None:
    e = _e(fleet, pid)
    assert post(e["xaddr"], envelope("GetSystemDateAndTime")).status == 200
    reply = post(e["xaddr"], _signed(e))
    assert reply.status == 200
    assert text_of(reply.xml(), "Model") == e["model"]


@pytest.mark.parametrize("pid", SOUND + REPLAY)
def test_wrong_and_missing_credentials_are_not_authorized(fleet: FleetRunner, pid: str) -> None:
    e = _e(fleet, pid)
    wrong = post(e["xaddr"], _signed(e, password="not-the-password"))
    assert _is_not_authorized(e, wrong.status, wrong.fault_subcodes())
    missing = post(e["xaddr"], envelope("GetDeviceInformation"))
    assert _is_not_authorized(e, missing.status, missing.fault_subcodes())
    other_user = post(e["xaddr"], envelope("GetUsers", make_token("intruder", e["password"])))
    assert _is_not_authorized(e, other_user.status, other_user.fault_subcodes())


@pytest.mark.parametrize("pid", SOUND)
def test_sound_profile_refuses_replayed_expired_and_future_tokens(fleet: FleetRunner, pid: str) -> None:
    e = _e(fleet, pid)
    captured = _signed(e)
    assert post(e["xaddr"], captured).status == 200
    replayed = post(e["xaddr"], captured)
    assert _is_not_authorized(e, replayed.status, replayed.fault_subcodes())
    now = datetime.now(UTC)
    expired = post(e["xaddr"], _signed(e, created=now - timedelta(hours=1)))
    assert _is_not_authorized(e, expired.status, expired.fault_subcodes())
    future = post(e["xaddr"], _signed(e, created=now + timedelta(hours=1)))
    assert _is_not_authorized(e, future.status, future.fault_subcodes())


@pytest.mark.parametrize("pid", REPLAY)
def test_replay_flaw_accepts_a_sniffed_header_again_and_later(fleet: FleetRunner, pid: str) -> None:
    e = _e(fleet, pid)
    captured = _signed(e, created=datetime.now(UTC) - timedelta(days=30))
    for _ in range(3):
        assert post(e["xaddr"], captured).status == 200
    assert PROFILES[pid].vendor == "Dahua"  # the CVE-2022-30563 class is a Dahua flaw


@pytest.mark.parametrize("pid", BYPASS)
def test_bypass_flaw_answers_protected_operations_without_credentials(fleet: FleetRunner, pid: str) -> None:
    e = _e(fleet, pid)
    for op in ("GetDeviceInformation", "GetUsers", "GetNetworkInterfaces", "GetScopes"):
        assert post(e["xaddr"], envelope(op)).status == 200, op
    assert post(e["xaddr"], _signed(e, password="wrong")).status == 200


def test_default_password_knob_keeps_the_factory_password(fleet: FleetRunner) -> None:
    e = _e(fleet, "annke-default")
    assert (e["username"], e["password"]) == ("admin", "12345")
    assert e["knobs"]["default_password"] is True
    assert post(e["xaddr"], envelope("GetUsers", make_token("admin", "12345"))).status == 200
    others = [x for x in fleet.manifest if not x["knobs"]["default_password"]]
    assert all(x["password"] != PROFILES[x["profile"]].default_password for x in others)


@pytest.mark.parametrize(("cid", "sign"), [("skew-ahead", 1), ("skew-behind", -1)])
def test_clock_skew_breaks_naive_clients_and_not_ones_that_read_the_camera_clock(
    fleet: FleetRunner, cid: str, sign: int
) -> None:
    e = _e(fleet, cid)
    naive = post(e["xaddr"], _signed(e))
    assert _is_not_authorized(e, naive.status, naive.fault_subcodes())
    clock = post(e["xaddr"], envelope("GetSystemDateAndTime")).xml()
    utc = next(clock.iter("{http://www.onvif.org/ver10/schema}UTCDateTime"))

    def num(tag: str) -> int:
        return int(text_of(utc, tag, "http://www.onvif.org/ver10/schema"))

    camera_now = datetime(
        num("Year"), num("Month"), num("Day"), num("Hour"), num("Minute"), num("Second"), tzinfo=UTC
    )
    offset = (camera_now - datetime.now(UTC)).total_seconds()
    assert abs(offset - sign * SKEW_S) < 5
    assert post(e["xaddr"], _signed(e, created=camera_now)).status == 200


def test_onvif_zeep_async_corrects_for_the_camera_clock(fleet: FleetRunner) -> None:
    from onvif import ONVIFCamera

    e = _e(fleet, "skew-ahead")

    async def model() -> str:
        cam = ONVIFCamera(
            e["address"], e["port"], e["username"], e["password"], str(WSDL_DIR), adjust_time=True
        )
        try:
            await cam.update_xaddrs()
            dev = await cam.create_devicemgmt_service()
            return str((await dev.GetDeviceInformation()).Model)
        finally:
            await cam.close()

    assert asyncio.run(model()) == e["model"]


def test_a_token_sent_to_an_open_operation_is_spent_there(fleet: FleetRunner) -> None:
    e = _e(fleet, "axis-m5525-e-v8.40.1.1")
    assert "GetHostname" in PROFILES[e["profile"]].unauthenticated
    token = make_token(e["username"], e["password"])
    assert post(e["xaddr"], envelope("GetHostname")).status == 200  # open without a token
    assert post(e["xaddr"], envelope("GetHostname", token)).status == 200
    replayed = post(e["xaddr"], envelope("GetDeviceInformation", token))
    assert _is_not_authorized(e, replayed.status, replayed.fault_subcodes())

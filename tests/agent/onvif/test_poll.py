"""The poll sequence against a loopback fake camera: clock first, auth, checks, containment."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from agent.wire.inventory import DeviceRecord
from tests.agent.onvif.fakecam import FakeCamera, running


def _kinds(record: dict[str, Any]) -> set[str]:
    return {f["kind"] for f in record["findings"]}


def _sweep(
    cam: FakeCamera, *, user: str | None = "admin", password: str | None = None, **kw: Any
) -> dict[str, Any]:
    target = CameraTarget(
        "127.0.0.1", cam.port, user, password if password is not None else cam.password if user else None
    )
    (record,) = [
        x.to_json() for x in Sweeper(per_camera_timeout_s=kw.pop("timeout", 5.0), **kw).sweep([target])
    ]
    return record


def test_a_healthy_camera_is_inventoried_and_identified() -> None:
    with running(FakeCamera()) as cam:
        record = _sweep(cam)
    assert record["reachable"] and record["authenticated"] is True
    assert (record["manufacturer"], record["model"], record["firmware"]) == (
        "HIKVISION",
        "DS-2CD2143G0-I",
        "V5.5.61 build 180718",
    )
    assert (
        record["mac"] == "58:03:fb:8a:57:9b"
        and record["maker"] == "hikvision"
        and record["maker_confidence"] > 0.9
    )
    assert record["hostname"] == "cam-lobby" and record["ntp_servers"] == ["time.windows.com"]
    assert record["users"] == [{"username": "admin", "level": "Administrator"}]
    assert {"unauthenticated_access", "replayed_digest_accepted", "auth_failed"}.isdisjoint(_kinds(record))
    # XAddrs in the capture point at 192.168.4.13: reported, never followed.
    assert "xaddr_foreign_host" in _kinds(record)
    assert cam.requests[0] == "GetSystemDateAndTime"


@pytest.mark.parametrize("offset", [-5 * 3600.0, 3 * 3600.0])
def test_cameras_with_clocks_hours_off_still_authenticate(offset: float) -> None:
    with running(FakeCamera(clock_offset_s=offset)) as cam:
        record = _sweep(cam)
    assert record["authenticated"] is True and record["model"] == "DS-2CD2143G0-I"
    assert abs(record["clock_offset_s"] - offset) < 3
    assert "clock_skew" in _kinds(record)


def test_wrong_password_is_auth_failed() -> None:
    with running(FakeCamera()) as cam:
        record = _sweep(cam, password="wrong")
    assert record["authenticated"] is False and "auth_failed" in _kinds(record)


def test_replay_and_open_access_are_findings() -> None:
    with running(FakeCamera(replay_flaw=True)) as cam:
        assert "replayed_digest_accepted" in _kinds(_sweep(cam))
    with running(FakeCamera(open_access=True)) as cam:
        record = _sweep(cam, user=None)
    open_finding = [f for f in record["findings"] if f["kind"] == "unauthenticated_access"]
    assert open_finding and open_finding[0]["severity"] == "critical" and record["model"] == "DS-2CD2143G0-I"
    assert "auth_bypass" in _kinds(record)  # it answered a made-up password too
    anonymous = FakeCamera(anonymous_ops=("GetDeviceInformation", "GetUsers"))
    with running(anonymous) as cam:
        record = _sweep(cam)
    assert "unauthenticated_access" in _kinds(record) and "auth_bypass" not in _kinds(record)
    assert anonymous.requests.count("GetNetworkInterfaces") == 2  # the made-up login, refused, then ours


def test_default_credentials_only_when_opted_in_and_never_the_password() -> None:
    cam = FakeCamera(password="12345")
    with running(cam):
        record = _sweep(cam, user=None)
        assert "default_credentials" not in _kinds(record)
        opted = _sweep(cam, user=None, try_default_credentials=True)
    (finding,) = [f for f in opted["findings"] if f["kind"] == "default_credentials"]
    assert "'admin'" in finding["detail"] and "12345" not in str(opted)


@pytest.mark.parametrize("behaviour", ["hang", "drip", "bomb", "huge", "malformed", "close"])
def test_hostile_cameras_are_contained_and_reported(behaviour: str) -> None:
    with running(FakeCamera()) as good, running(FakeCamera(behaviour=behaviour)) as bad:
        sweeper = Sweeper(per_camera_timeout_s=1.5, concurrency=4)
        started = time.monotonic()
        records = [
            x.to_json()
            for x in sweeper.sweep(
                [
                    CameraTarget("127.0.0.1", bad.port, "admin", bad.password),
                    CameraTarget("127.0.0.1", good.port, "admin", good.password),
                ]
            )
        ]
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 2.0  # the budget plus the banner fetch, never the hang
    hostile, healthy = records
    assert healthy["model"] == "DS-2CD2143G0-I"
    expected = {
        "hang": "timeout",
        "drip": "timeout",
        "bomb": "hostile_xml",
        "huge": "response_too_large",
        "malformed": "malformed_response",
        "close": "malformed_response",
    }[behaviour]
    assert expected in _kinds(hostile), hostile["findings"]
    assert hostile["model"] is None


def test_unreachable_camera_still_has_a_record() -> None:
    (record,) = [x.to_json() for x in Sweeper(per_camera_timeout_s=1).sweep([CameraTarget("127.0.0.1", 1)])]
    assert record["reachable"] is False and "unreachable" in _kinds(record)


def test_neighbour_mac_and_contacted_hostnames_feed_identification() -> None:
    cam = FakeCamera(open_access=False)
    with running(cam):
        sweeper = Sweeper(
            per_camera_timeout_s=5.0,
            neighbour_macs=lambda: {"127.0.0.1": "e0:50:8b:00:00:01"},
            contacted_hostnames=lambda: {"127.0.0.1": ["eucas.ezvizlife.com"]},
        )
        (record,) = [
            x.to_json() for x in sweeper.sweep([CameraTarget("127.0.0.1", cam.port)])
        ]  # no credentials: no MAC via ONVIF
    assert record["mac"] == "e0:50:8b:00:00:01"
    signals = {(e["signal"], e["points_to"]) for e in record["evidence"]}
    assert ("mac_oui", "dahua") in signals and ("hostname", "hikvision") in signals


def test_a_recorder_lists_its_channels_on_its_own_address() -> None:
    from agent.onvif.sources import follow_channels

    cam = FakeCamera(recorder=True)
    with running(cam):
        record = _sweep(cam)
    # The services' XAddrs name 192.0.2.99; only their paths were used, on 127.0.0.1.
    assert {"GetReceivers", "GetRecordings"} <= set(cam.requests)
    assert {"/onvif/receiver_service", "/onvif/recording_service"} <= set(cam.paths)
    assert [(c["host"], c["source"]) for c in record["channels"]] == [
        ("10.9.0.11", "receiver"),
        ("10.9.0.12", "receiver"),
        ("10.9.0.13", "recording"),
    ]
    assert record["channels"][2]["name"] == "Gate"
    targets, _ = follow_channels(
        [DeviceRecord.decode(record)], known=(), in_scope=lambda host: host.startswith("10.9.0.")
    )
    assert [(t.address, t.port, t.source) for t in targets] == [
        ("10.9.0.11", 80, "recorder:127.0.0.1"),
        ("10.9.0.12", 80, "recorder:127.0.0.1"),
        ("10.9.0.13", 80, "recorder:127.0.0.1"),
    ]


def test_http_digest_on_top_of_ws_security() -> None:
    with running(FakeCamera(http_digest=True)) as cam:
        record = _sweep(cam)
        assert record["authenticated"] is True and record["model"] == "DS-2CD2143G0-I"
        wrong = _sweep(cam, password="wrong")
    assert wrong["authenticated"] is False and "auth_failed" in _kinds(wrong)

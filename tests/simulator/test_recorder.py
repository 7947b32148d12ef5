"""The recorder profile (pure): channels from the fleet file, GetRecordings / GetReceivers answered only
by a recorder and only with credentials, and parsed by the agent's parsers to the fleet's cameras."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.onvif import soap
from simulator.camera import Camera
from simulator.fleet import FleetError, load_fleet
from simulator.recorder import RECEIVER_NS, RECORDING_NS
from tests.simulator.soapclient import envelope, make_token

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
NVR = "hikvision-ds-7608ni-k2-v4.30.085"
CAM = "hikvision-ds-2cd2346g2-iu-v5.7.15"


def _fleet() -> list[Camera]:
    fleet = load_fleet(
        {
            "fleet": {"seed": "rec", "base_address": "127.23.8.1", "port": 8080},
            "cameras": [
                {"profile": CAM, "id": "lobby"},
                {"profile": NVR, "id": "nvr", "channels": ["lobby", "127.23.8.99:81", "127.23.8.98"]},
            ],
        }
    )
    return [Camera(spec, clock=lambda: NOW) for spec in fleet.cameras]


def test_channels_name_fleet_cameras_or_addresses() -> None:
    _lobby, nvr = _fleet()
    assert nvr.spec.channels == (
        "http://127.23.8.1:8080/onvif/device_service",
        "http://127.23.8.99:81/onvif/device_service",
        "http://127.23.8.98:8080/onvif/device_service",
    )
    assert nvr.spec.manifest_entry()["channels"] == list(nvr.spec.channels)


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ({"profile": CAM, "channels": ["x"]}, r"cameras\[0\]\.channels: profile .* is not a recorder"),
        ({"profile": NVR, "channels": ["nobody"]}, r"cameras\[0\]\.channels: 'nobody' is neither"),
        ({"profile": NVR, "channels": ["10.0.0.1:99999"]}, r"cameras\[0\]\.channels: .*bad port"),
        ({"profile": NVR, "channels": "lobby"}, r"cameras\[0\]\.channels: must be a list"),
    ],
)
def test_channel_errors_name_the_key(camera: dict[str, object], message: str) -> None:
    with pytest.raises(FleetError, match=message):
        load_fleet({"fleet": {"seed": "rec"}, "cameras": [camera]})


def _ask(
    cam: Camera, namespace: str, operation: str, with_token: bool = True
) -> tuple[int, soap.Element | None]:
    token = make_token(cam.spec.username, cam.spec.password, NOW) if with_token else None
    reply = cam.handle_soap(envelope(operation, token, namespace))
    return reply.status, soap.body_payload(soap.parse_xml(reply.body)) if reply.status == 200 else None


def test_a_recorder_lists_its_channels_to_the_agents_parsers() -> None:
    _lobby, nvr = _fleet()
    status, payload = _ask(nvr, RECORDING_NS, "GetRecordings")
    assert status == 200 and payload is not None
    recorded = soap.parse_recording_channels(payload)
    assert [(c.host, c.uri) for c in recorded] == [
        ("127.23.8.1", "http://127.23.8.1:8080/onvif/device_service"),
        ("127.23.8.99", "http://127.23.8.99:81/onvif/device_service"),
        ("127.23.8.98", "http://127.23.8.98:8080/onvif/device_service"),
    ]
    status, payload = _ask(nvr, RECEIVER_NS, "GetReceivers")
    assert status == 200 and payload is not None
    received = soap.parse_receiver_channels(payload)
    assert [c.host for c in received] == [c.host for c in recorded]
    assert received[0].uri == "rtsp://127.23.8.1:554/Streaming/Channels/101"


def test_channels_need_credentials_and_a_camera_is_no_recorder() -> None:
    lobby, nvr = _fleet()
    assert _ask(nvr, RECORDING_NS, "GetRecordings", with_token=False)[0] == 400  # Hikvision's NotAuthorized
    assert _ask(lobby, RECORDING_NS, "GetRecordings")[0] == 500  # ActionNotSupported: not a recorder

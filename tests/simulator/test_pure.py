"""Pure parts under hostile and random input: the camera core, the serialiser, the probe parser, safety rules.

No sockets; time is injected; hypothesis drives the inputs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from simulator.camera import Camera
from simulator.discovery import parse_probe, probe_matches
from simulator.fleet import Target, load_fleet
from simulator.profile import bundled_profiles
from simulator.safety import UnsafeAddress, check_listen_address, check_multicast_interface, target_allowed
from simulator.wire import Layout, WireStyle, el, envelope
from tests.simulator.soapclient import SAFE_PARSER, SOAP12, make_token
from tests.simulator.soapclient import envelope as request

FIXED_NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
PROFILES = sorted(bundled_profiles())
XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\r\n\t"),
    max_size=60,
)


def camera(pid: str = "hikvision-ds-2cd2346g2-iu-v5.7.15") -> Camera:
    fleet = load_fleet({"fleet": {"seed": "pure"}, "cameras": [{"profile": pid, "id": "c"}]})
    return Camera(fleet.cameras[0], clock=lambda: FIXED_NOW)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_get_an_answer_never_an_exception(data: bytes) -> None:
    reply = camera().handle_soap(data)
    assert reply.status in (400, 500)
    etree.fromstring(reply.body, SAFE_PARSER)


@settings(max_examples=100, deadline=None)
@given(XML_TEXT, st.sampled_from(list(Layout)), st.sampled_from(["env", "s", "SOAP-ENV"]))
def test_serialiser_round_trips_any_text(text: str, layout: Layout, prefix: str) -> None:
    style = WireStyle(envelope_prefix=prefix, ns_set="hikvision", layout=layout)
    body = envelope(style, el("tds:GetHostnameResponse", el("tds:HostnameInformation", el("tt:Name", text))))
    root = etree.fromstring(body, SAFE_PARSER)
    assert root.tag == f"{{{SOAP12}}}Envelope"
    name = root.find(".//{http://www.onvif.org/ver10/schema}Name")
    assert name is not None
    assert (name.text or "") == text


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=1024))
def test_probe_parser_never_raises(data: bytes) -> None:
    parse_probe(data)


def test_clock_is_injected_and_offset_applied() -> None:
    cam = camera()
    reply = cam.handle_soap(request("GetSystemDateAndTime"))
    root = etree.fromstring(reply.body, SAFE_PARSER)
    utc = root.find(".//{http://www.onvif.org/ver10/schema}UTCDateTime")
    assert utc is not None
    assert [x.text for x in utc.iter() if x.text and x.text.strip()] == ["5", "6", "7", "2026", "3", "4"]


def test_refusals_are_counted() -> None:
    cam = camera()
    cam.handle_soap(b"<nope")
    cam.handle_soap(b"<nope")
    cam.handle_soap(request("GetUsers", make_token("admin", "wrong", FIXED_NOW)))
    assert cam.rejections == {"bad_request": 2, "auth_bad_password": 1}


@pytest.mark.parametrize("pid", PROFILES)
def test_probe_match_is_well_formed_in_every_style(pid: str) -> None:
    spec = camera(pid).spec
    root = etree.fromstring(probe_matches(spec, "uuid:x", "uuid:y"), SAFE_PARSER)
    assert root.findtext(".//{http://schemas.xmlsoap.org/ws/2005/04/discovery}XAddrs") == spec.xaddr("device")


def test_safety_rules() -> None:
    assert target_allowed(Target("127.0.0.1", 1), host_namespace=True)
    assert not target_allowed(Target("192.0.2.1", 1), host_namespace=True)
    assert target_allowed(Target("192.0.2.1", 1), host_namespace=False)
    assert not target_allowed(Target("8.8.8.8", 53), host_namespace=False)
    check_listen_address("127.9.9.9", host_namespace=True)
    check_listen_address("10.77.0.10", host_namespace=False)
    with pytest.raises(UnsafeAddress):
        check_listen_address("10.77.0.10", host_namespace=True)
    with pytest.raises(UnsafeAddress):
        check_multicast_interface("eth0", host_namespace=True)
    check_multicast_interface("eth0", host_namespace=False)


def test_cli_refuses_non_loopback_on_the_host(tmp_path: Path) -> None:
    import subprocess
    import sys

    from simulator.safety import in_host_namespace

    if not in_host_namespace():
        pytest.skip("this check is about running on the host")
    argv = [sys.executable, "-m", "simulator.cli", "run", "--base-address", "192.0.2.1"]
    proc = subprocess.run(
        [*argv, "--manifest", str(tmp_path / "m")], capture_output=True, text=True, check=False, timeout=30
    )
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr
    assert not (tmp_path / "m").exists()

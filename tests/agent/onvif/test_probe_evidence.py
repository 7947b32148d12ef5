"""ProbeMatch scopes and XAddrs as identification evidence: parsed from real and pretty-printed
answers, carried on the target, and enough to name the maker of a camera we cannot log in to."""

from __future__ import annotations

import pytest

from agent.identify.tables import load_tables
from agent.onvif.discovery import choose_xaddr, discovered_from
from agent.onvif.models import NetworkInterface
from agent.onvif.poll import Observation
from agent.onvif.record import build_record, signals_of
from agent.onvif.soap import MAX_ITEMS, split_scopes
from agent.onvif.sources import merge_targets
from agent.onvif.targets import CameraTarget
from tests.conftest import read_capture

# A Dahua-made unit's answer as pretty-printing firmware sends it: the Scopes list wrapped over
# lines, once inside a URI, with an empty scope, junk and a repeat.
PRETTY = b"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
    xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
    xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
  <s:Header>
    <a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action>
  </s:Header>
  <s:Body>
    <d:ProbeMatches>
      <d:ProbeMatch>
        <a:EndpointReference>
          <a:Address>uuid:5a1e0000-0000-0000-0000-000000000001</a:Address>
        </a:EndpointReference>
        <d:Types>dn:NetworkVideoTransmitter</d:Types>
        <d:Scopes>
          onvif://www.onvif.org/type/Network_Video_Transmitter
          onvif://www.onvif.org/name/
            Dahua
          onvif://www.onvif.org/hardware/IPC-HFW2431S-S-S2
          onvif://www.onvif.org/location/
          ???? %%%
          onvif://www.onvif.org/hardware/IPC-HFW2431S-S-S2
        </d:Scopes>
        <d:XAddrs>
          https://10.0.0.77/onvif/device_service
        </d:XAddrs>
        <d:MetadataVersion>1</d:MetadataVersion>
      </d:ProbeMatch>
    </d:ProbeMatches>
  </s:Body>
</s:Envelope>
"""


def test_line_split_junk_and_repeated_scopes_are_cleaned() -> None:
    assert split_scopes(
        "onvif://www.onvif.org/name/\n   Dahua  onvif://www.onvif.org/hardware/X\n/Y junk "
        "onvif://www.onvif.org/location/ onvif://www.onvif.org/hardware/X/Y \x00bad:"
    ) == (
        "onvif://www.onvif.org/name/Dahua",
        "onvif://www.onvif.org/hardware/X/Y",
        "onvif://www.onvif.org/location/",
    )
    assert split_scopes("") == () and split_scopes("   \n\t ") == ()
    assert split_scopes("x:" + "a" * 600) == ()  # over-long: dropped, not cut
    assert len(split_scopes(" ".join(f"onvif://s/{i}" for i in range(500)))) == MAX_ITEMS


def test_pretty_printed_match_gives_clean_scopes_and_an_https_target() -> None:
    (found,) = discovered_from("10.0.0.77", PRETTY)
    assert found.scopes == (
        "onvif://www.onvif.org/type/Network_Video_Transmitter",
        "onvif://www.onvif.org/name/Dahua",
        "onvif://www.onvif.org/hardware/IPC-HFW2431S-S-S2",
        "onvif://www.onvif.org/location/",
    )
    target = found.target()
    assert (target.scheme, target.port, target.tls) == ("https", 443, True)
    assert target.probe_scopes == found.scopes and target.xaddrs == (
        "https://10.0.0.77/onvif/device_service",
    )


@pytest.mark.parametrize(
    ("xaddrs", "expected"),
    [
        (("https://10.0.0.5/onvif/device_service",), ("https", 443, "/onvif/device_service")),
        (("https://10.0.0.5:8443/a", "http://10.0.0.5:8000/b"), ("http", 8000, "/b")),  # plain HTTP first
        (
            ("http://169.254.1.1/x", "https://10.0.0.5:8443/y"),
            ("https", 8443, "/y"),
        ),  # the sender's own first
        (
            ("rtsp://10.0.0.5/", "http://[::1", "http://10.0.0.5:99999/"),
            ("http", 80, "/onvif/device_service"),
        ),
        ((), ("http", 80, "/onvif/device_service")),
    ],
)
def test_xaddr_choice(xaddrs: tuple[str, ...], expected: tuple[str, int, str]) -> None:
    assert choose_xaddr("10.0.0.5", xaddrs) == expected


def test_probe_scopes_alone_identify_a_camera_without_credentials() -> None:
    """The Amcrest (Dahua OEM) capture's scopes name a Dahua-made camera; nothing else is known."""
    tables = load_tables()
    (found,) = discovered_from("10.0.0.154", read_capture("AMCREST-DAHUA-OEM_IP2M-841B_ProbeMatches.xml"))
    (target,) = merge_targets([], [found])
    record = build_record(Observation(target=target), tables, polled_at="t", duration_s=0.0).to_json()
    assert record["maker"] == "dahua" and record["brand"] == "amcrest"
    assert any(e["value"] == "onvif://www.onvif.org/name/Amcrest" for e in record["evidence"])
    bare = build_record(
        Observation(target=CameraTarget("10.0.0.154")), tables, polled_at="t", duration_s=0.0
    ).to_json()
    assert bare["maker"] is None  # without the ProbeMatch nothing names it


def test_scopes_of_getscopes_and_the_probe_are_not_counted_twice() -> None:
    tables = load_tables()
    scope = "onvif://www.onvif.org/name/Amcrest"
    obs = Observation(target=CameraTarget("10.0.0.154", probe_scopes=(scope,)))
    obs.scopes = [scope]
    record = build_record(obs, tables, polled_at="t", duration_s=0.0).to_json()
    assert [e["value"] for e in record["evidence"]].count(scope) == 1


def test_signals_carry_the_probe_match_and_every_interface_mac() -> None:
    (found,) = discovered_from("10.0.0.77", PRETTY)
    obs = Observation(target=found.target())
    obs.interfaces = [
        NetworkInterface("eth0", mac="3c:ef:8c:01:02:03"),
        NetworkInterface("wlan0", mac="24:0a:c4:0a:0b:0c"),
        NetworkInterface("eth0:1", mac="3c:ef:8c:01:02:03"),
    ]
    signals = signals_of(obs)
    assert signals.mac == "3c:ef:8c:01:02:03" and tuple(signals.macs) == ("24:0a:c4:0a:0b:0c",)
    assert tuple(signals.probe_scopes) == found.scopes and not signals.scopes  # GetScopes not answered
    assert tuple(signals.xaddr_hints) == (
        "https://10.0.0.77/onvif/device_service",
        "uuid:5a1e0000-0000-0000-0000-000000000001",
    )

"""Every real camera answer in ../shared/onvif-captures/ parses to the values its index records.

The files are read in place (never copied); their XAddrs point at private addresses of the
networks they were recorded on, and nothing here connects anywhere.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.onvif import soap
from agent.onvif.errors import MalformedResponse
from tests.conftest import CAPTURES

if not (CAPTURES / "INDEX.json").is_file():
    pytest.skip("../shared/onvif-captures is not present", allow_module_level=True)

INDEX: list[dict[str, Any]] = json.loads((CAPTURES / "INDEX.json").read_text(encoding="utf-8"))
ENTRIES = {e["file"]: e for e in INDEX}


def _entries(operation_prefix: str) -> list[dict[str, Any]]:
    return [e for e in INDEX if e["operation"].startswith(operation_prefix)]


def _payload(name: str) -> soap.Element:
    return soap.body_payload(soap.parse_xml((CAPTURES / name).read_bytes()))


def test_every_capture_is_read_and_the_index_is_complete() -> None:
    files = sorted(p.name for p in CAPTURES.glob("*.xml"))
    assert files == sorted(ENTRIES)
    assert len(files) == 37
    for name in files:
        data = (CAPTURES / name).read_bytes()
        if "ProbeMatches" in name:
            assert soap.parse_probe_matches(data)
        else:
            payload = _payload(name)
            assert (
                "}" + soap.localname(payload) == "}" + ENTRIES[name]["parsed"]["body_element"].split("}")[1]
            )


@pytest.mark.parametrize("entry", _entries("GetDeviceInformation"), ids=lambda e: e["file"])
def test_device_information(entry: dict[str, Any]) -> None:
    info = soap.parse_device_information(_payload(entry["file"]))
    p = entry["parsed"]
    assert (info.manufacturer, info.model, info.firmware, info.serial, info.hardware_id) == (
        p["Manufacturer"],
        p["Model"],
        p["FirmwareVersion"],
        p["SerialNumber"],
        p["HardwareId"] or "",
    )


def _utc(text: str) -> datetime:
    date, time = text.split()
    y, mo, d = (int(x) for x in date.split("-"))
    h, mi, s = (int(x) for x in time.split(":"))
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


@pytest.mark.parametrize("entry", _entries("GetSystemDateAndTime"), ids=lambda e: e["file"])
def test_system_date_and_time_prefers_utc_and_tolerates_unpadded_fields(entry: dict[str, Any]) -> None:
    t = soap.parse_system_date_and_time(_payload(entry["file"]))
    p = entry["parsed"]
    assert t.utc == _utc(p["UTC"]) and not t.from_local
    assert t.tz == p["TZ"] and t.date_time_type == p["DateTimeType"]
    assert t.daylight_savings is (p["DaylightSavings"] == "true")


@pytest.mark.parametrize(
    "entry", _entries("GetNetworkInterfaces ") + _entries("GetNetworkInterfaces"), ids=str
)
def test_network_interfaces(entry: dict[str, Any]) -> None:
    if "Fault" in entry["operation"]:
        return
    nics = soap.parse_network_interfaces(_payload(entry["file"]))
    p = entry["parsed"]
    assert [n.mac for n in nics] == [m.lower() for m in p["HwAddress"]]
    assert nics[0].token == p["iface_token"]
    for address in p["IPv4_manual"]:
        assert address in nics[0].ipv4


@pytest.mark.parametrize("entry", _entries("GetScopes"), ids=lambda e: e["file"])
def test_scopes(entry: dict[str, Any]) -> None:
    assert soap.parse_scopes(_payload(entry["file"])) == [s.strip() for s in entry["parsed"]["ScopeItems"]]


@pytest.mark.parametrize("entry", _entries("GetNetworkProtocols"), ids=lambda e: e["file"])
def test_network_protocols(entry: dict[str, Any]) -> None:
    protocols = soap.parse_network_protocols(_payload(entry["file"]))
    expected = [
        (n.upper(), e == "true", tuple(int(p) for p in ports)) for n, e, ports in entry["parsed"]["protocols"]
    ]
    assert [(p.name, p.enabled, p.ports) for p in protocols] == expected


@pytest.mark.parametrize("entry", _entries("GetServices"), ids=lambda e: e["file"])
def test_services(entry: dict[str, Any]) -> None:
    services = soap.parse_services(_payload(entry["file"]))
    expected = [tuple(s) for s in entry["parsed"]["services"]]
    assert [(s.namespace, s.xaddr, s.version) for s in services] == [(n, x, v) for n, x, v in expected]


@pytest.mark.parametrize("entry", _entries("GetCapabilities"), ids=lambda e: e["file"])
def test_capabilities(entry: dict[str, Any]) -> None:
    caps = soap.parse_capabilities(_payload(entry["file"]))
    assert caps.xaddrs == entry["parsed"]["cap_xaddrs"]


def test_ntp_and_hostname() -> None:
    ntp = soap.parse_ntp(_payload("HIKVISION_unknown-model_GetNTP.xml"))
    assert ntp.servers == ("time.windows.com",) and ntp.from_dhcp is False
    host = soap.parse_hostname(_payload("MILESIGHT_MS-C8165-PE_GetHostname.xml"))
    assert host.name == "" and host.from_dhcp is False


@pytest.mark.parametrize("entry", _entries("WS-Discovery"), ids=lambda e: e["file"])
def test_probe_matches(entry: dict[str, Any]) -> None:
    (match,) = soap.parse_probe_matches((CAPTURES / entry["file"]).read_bytes())
    p = entry["parsed"]
    assert match.endpoint == p["EPR_Address"]
    assert match.types == tuple(p["Types"].split())
    assert match.scopes == tuple(p["Scopes"].split())
    assert match.xaddrs == tuple(p["XAddrs"].split())
    assert match.metadata_version == int(p["MetadataVersion"])


def test_faults_are_classified() -> None:
    denied = soap.parse_fault(_payload("HIKVISION_DS-2DF7286-A_GetNetworkInterfaces-Fault-NotAuthorized.xml"))
    assert denied is not None and soap.is_not_authorized(denied)
    assert denied.code == "env:Sender" and denied.subcode == "ter:NotAuthorized"
    missing = soap.parse_fault(_payload("HIKVISION_DS-2DF7286-A_Fault-ActionNotSupported.xml"))
    assert missing is not None and not soap.is_not_authorized(missing)
    assert missing.subcode == "ter:ActionNotSupported" and missing.reason == "Optional Action Not Implemented"
    assert soap.parse_fault(_payload("HIKVISION_DS-2DF7286-A_GetDeviceInformation.xml")) is None


def test_crlf_and_split_end_tags_do_not_leak_into_values() -> None:
    info = soap.parse_device_information(_payload("HIKVISION_DS-2DF7286-A_GetDeviceInformation.xml"))
    assert info.firmware == "V5.3.0 build 150326"  # CRLF after every closing tag in the raw body
    assert soap.parse_system_date_and_time(_payload("TP-LINK_Tapo-C500_GetSystemDateAndTime.xml")).utc


def test_a_probe_match_is_not_a_device_answer() -> None:
    data = (CAPTURES / "AXIS_M1034-W_ProbeMatches.xml").read_bytes()
    assert soap.localname(soap.body_payload(soap.parse_xml(data))) == "ProbeMatches"
    with pytest.raises(MalformedResponse):
        soap.body_payload(soap.parse_xml(b"<html><body>login</body></html>"))


def test_captures_are_not_copied_into_the_repo() -> None:
    repo = Path(__file__).resolve().parents[3]
    names = set(ENTRIES)
    tops = [d for d in repo.iterdir() if d.is_dir() and not d.name.startswith(".")]
    copied = [p for top in tops for p in top.rglob("*.xml") if p.name in names]
    assert copied == []

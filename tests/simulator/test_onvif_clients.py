"""Independent clients read every operation from every profile and get schema-valid answers.

Three clients that share nothing with the simulator or the agent: raw SOAP (lxml + urllib) validated with
lxml against the device-service XSD shipped in the onvif package; zeep (strict) against devicemgmt.wsdl with
its own WS-Security digest; and onvif-zeep-async's ONVIFCamera as an application would use it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lxml import etree
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from simulator.profile import bundled_profiles
from simulator.runner import FleetRunner
from tests.simulator.onvifschema import DEVICE_WSDL, WSDL_DIR, device_schema
from tests.simulator.soapclient import SOAP12, TDS, TT, call, camera_tls, text_of

PROFILES = sorted(bundled_profiles())
OPERATIONS = [
    "GetSystemDateAndTime",
    "GetDeviceInformation",
    "GetCapabilities",
    "GetServices",
    "GetScopes",
    "GetNetworkInterfaces",
    "GetHostname",
    "GetDNS",
    "GetNTP",
    "GetNetworkProtocols",
    "GetUsers",
]
DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"


def _entry(runner: FleetRunner, pid: str) -> dict[str, Any]:
    return next(e for e in runner.manifest if e["id"] == pid)


def _body(xml: etree._Element) -> etree._Element:
    body = xml.find(f"{{{SOAP12}}}Body")
    assert body is not None
    return body[0]


def test_schema_check_is_real() -> None:
    """Negative control: the XSD rejects an answer with elements out of order."""
    wrong = etree.fromstring(
        f'<tds:GetDeviceInformationResponse xmlns:tds="{TDS}"><tds:Model>m</tds:Model>'
        "<tds:Manufacturer>x</tds:Manufacturer></tds:GetDeviceInformationResponse>"
    )
    assert not device_schema().validate(wrong)


@pytest.mark.parametrize("pid", PROFILES)
def test_raw_soap_every_operation_is_schema_valid(every_profile: FleetRunner, pid: str) -> None:
    e = _entry(every_profile, pid)
    schema = device_schema()
    for op in OPERATIONS:
        reply = call(e["xaddr"], op, e["username"], e["password"])
        assert reply.status == 200, (pid, op, reply.body[:300])
        assert reply.headers["Content-Type"].startswith("application/soap+xml")
        body = _body(reply.xml())
        assert etree.QName(body).localname == f"{op}Response"
        assert schema.validate(body), (pid, op, schema.error_log.last_error)


@pytest.mark.parametrize("pid", PROFILES)
def test_raw_soap_values_match_the_manifest(every_profile: FleetRunner, pid: str) -> None:
    e = _entry(every_profile, pid)
    user, pw = e["username"], e["password"]
    info = call(e["xaddr"], "GetDeviceInformation", user, pw).xml()
    assert text_of(info, "Manufacturer") == e["manufacturer"]
    assert text_of(info, "Model") == e["model"]
    assert text_of(info, "FirmwareVersion") == e["firmware"]
    assert text_of(info, "SerialNumber") == e["serial"]
    nic = call(e["xaddr"], "GetNetworkInterfaces", user, pw).xml()
    assert text_of(nic, "HwAddress", TT) == e["mac"]
    assert text_of(nic, "Address", TT) == e["address"]
    scopes = [s.text for s in call(e["xaddr"], "GetScopes", user, pw).xml().iter(f"{{{TT}}}ScopeItem")]
    assert "onvif://www.onvif.org/hardware/" + quote(e["model"], safe="") in scopes
    assert any(s and s.startswith("onvif://www.onvif.org/name/") for s in scopes)
    host = call(e["xaddr"], "GetHostname", user, pw).xml()
    assert text_of(host, "Name", TT) == e["hostname"]


@pytest.fixture(scope="module")
def wsdl_document() -> Document:
    return Document(
        str(DEVICE_WSDL), Transport(timeout=5, operation_timeout=5), settings=Settings(strict=True)
    )


@pytest.mark.parametrize("pid", PROFILES)
def test_zeep_reads_every_operation(
    every_profile: FleetRunner, wsdl_document: Document, pid: str, tmp_path: Path
) -> None:
    e = _entry(every_profile, pid)
    transport = Transport(timeout=5, operation_timeout=5)
    if e["scheme"] == "https":  # verified in full against the camera's own certificate
        trusted = tmp_path / "camera.pem"
        trusted.write_bytes(every_profile.certificates[pid].cert_pem)
        transport.session.verify = str(trusted)
        transport.session.trust_env = False  # else REQUESTS_CA_BUNDLE wins over verify
    client = Client(
        wsdl=wsdl_document,
        transport=transport,
        wsse=UsernameToken(e["username"], e["password"], use_digest=True),
        settings=Settings(strict=True, xml_huge_tree=False),
    )
    svc = client.create_service(DEVICE_BINDING, e["xaddr"])
    info = svc.GetDeviceInformation()
    assert (info.Manufacturer or "", info.Model, info.FirmwareVersion) == (
        e["manufacturer"],
        e["model"],
        e["firmware"],
    )
    when = svc.GetSystemDateAndTime()
    assert when.UTCDateTime.Date.Year >= 2024
    caps = svc.GetCapabilities(Category="All")
    assert caps.Device.XAddr == e["xaddr"]
    services = svc.GetServices(IncludeCapability=False)
    assert any(s.Namespace == TDS and s.XAddr == e["xaddr"] for s in services)
    with_caps = svc.GetServices(IncludeCapability=True)
    assert [s.Namespace for s in with_caps] == [s.Namespace for s in services]
    nics = svc.GetNetworkInterfaces()
    assert nics[0].Info.HwAddress == e["mac"]
    assert svc.GetHostname().Name == e["hostname"]
    assert svc.GetDNS().FromDHCP is False
    assert svc.GetNTP().NTPManual
    assert {p.Name for p in svc.GetNetworkProtocols()} == {"HTTP", "HTTPS", "RTSP"}
    assert e["username"] in {u.Username for u in svc.GetUsers()}
    assert any(s.ScopeItem.endswith("/hardware/" + quote(e["model"], safe="")) for s in svc.GetScopes())


def test_onvif_zeep_async_camera_sees_every_profile(every_profile: FleetRunner) -> None:
    from onvif import ONVIFCamera

    async def read_all() -> list[tuple[str, str, str]]:
        out = []
        for e in every_profile.manifest:
            host = f"https://{e['address']}" if e["scheme"] == "https" else e["address"]
            cam = ONVIFCamera(host, e["port"], e["username"], e["password"], str(WSDL_DIR))
            try:
                await cam.update_xaddrs()
                dev = await cam.create_devicemgmt_service()
                info = await dev.GetDeviceInformation()
                out.append((e["id"], info.Manufacturer or "", info.Model))
            finally:
                await cam.close()
        return out

    seen = asyncio.run(read_all())
    assert seen == [(e["id"], e["manufacturer"], e["model"]) for e in every_profile.manifest]


def test_unknown_operation_is_action_not_supported(every_profile: FleetRunner) -> None:
    for e in every_profile.manifest:
        reply = call(e["xaddr"], "GetUnknownAction", e["username"], e["password"])
        assert reply.status in (400, 500)
        values = reply.fault_subcodes()
        assert values[0].endswith(":Receiver")
        assert "ter:ActionNotSupported" in values


def test_login_page_and_server_header(every_profile: FleetRunner) -> None:
    import urllib.request

    for e in every_profile.manifest:
        url = f"{e['scheme']}://{e['address']}:{e['port']}/"
        context = camera_tls() if e["scheme"] == "https" else None
        with urllib.request.urlopen(url, timeout=5, context=context) as resp:  # noqa: S310
            assert resp.headers["Server"] == e["server_header"]
            assert resp.headers["Content-Type"].startswith("text/html")
            assert b"<title>" in resp.read()


@pytest.mark.parametrize("pid", PROFILES)
def test_get_services_with_capabilities_is_schema_valid(every_profile: FleetRunner, pid: str) -> None:
    e = _entry(every_profile, pid)
    from tests.simulator.soapclient import envelope, make_token, post

    include = b'<tds:IncludeCapability xmlns:tds="http://www.onvif.org/ver10/device/wsdl">true</tds:IncludeCapability>'
    token = make_token(e["username"], e["password"])
    reply = post(e["xaddr"], envelope("GetServices", token, body_xml=include))
    body = _body(reply.xml())
    assert device_schema().validate(body), device_schema().error_log.last_error
    caps = body.findall(f".//{{{TDS}}}Service/{{{TDS}}}Capabilities/{{{TDS}}}Capabilities")
    assert len(caps) == 1
    security = caps[0].find(f"{{{TDS}}}Security")
    assert security is not None
    assert security.get("UsernameToken") == "true"


def test_pre_auth_operations_open_only_where_the_profile_says(every_profile: FleetRunner) -> None:
    from tests.simulator.soapclient import envelope, post

    for e in every_profile.manifest:
        profile = bundled_profiles()[e["profile"]]
        for op in ("GetCapabilities", "GetServices", "GetHostname"):
            status = post(e["xaddr"], envelope(op)).status
            if op in profile.unauthenticated or profile.auth_flaw.value == "bypass":
                assert status == 200, (e["id"], op)
            else:
                assert status == profile.wire.not_authorized_status, (e["id"], op)


@pytest.mark.parametrize("pid", PROFILES)
def test_wsdiscovery_parses_every_probe_match(every_profile: FleetRunner, pid: str) -> None:
    """The WSDiscovery library's own parser reads each camera's ProbeMatches as sent: pretty-printed
    and wrapped ones, junk and empty scopes, https XAddrs."""
    from wsdiscovery.message import parseSOAPMessage

    from simulator.discovery import probe_matches

    e = _entry(every_profile, pid)
    spec = next(c for c in every_profile.fleet.cameras if c.id == pid)
    env = parseSOAPMessage(probe_matches(spec, "uuid:probe-1"), e["address"])
    assert env is not None, pid
    (match,) = env.getProbeResolveMatches()
    assert match.getEPR() == f"urn:uuid:{e['uuid']}" and match.getXAddrs() == [e["xaddr"]]
    scopes = [str(s) for s in match.getScopes()]  # the library percent-decodes them
    hardware = "onvif://www.onvif.org/hardware/" + e["model"]
    if spec.profile.probe_layout == "pretty":  # a plain client sees the wrapped URI as two pieces
        assert hardware not in scopes and "onvif://www.onvif.org/hardware/" in scopes
        assert e["model"] in scopes
    else:
        assert hardware in scopes, (pid, scopes)

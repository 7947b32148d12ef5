"""WS-Discovery on loopback (unicast probes) and the pure probe parser and matcher."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from lxml import etree

from simulator.discovery import MAX_PROBE_BYTES, matches, parse_probe
from simulator.fleet import load_fleet
from simulator.runner import FleetRunner
from tests.simulator.conftest import one_per_profile
from tests.simulator.soapclient import SAFE_PARSER

WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"


def probe(
    types: str = "dn:NetworkVideoTransmitter", scopes: str = "", message_id: str | None = None
) -> bytes:
    mid = message_id or f"uuid:{uuid.uuid4()}"
    scope_el = f"<d:Scopes>{scopes}</d:Scopes>" if scopes else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:w="{WSA}" xmlns:d="{WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<e:Header><w:MessageID>{mid}</w:MessageID>"
        "<w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>"
        f"<w:Action>{WSD}/Probe</w:Action></e:Header>"
        f"<e:Body><d:Probe><d:Types>{types}</d:Types>{scope_el}</d:Probe></e:Body></e:Envelope>"
    ).encode()


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetRunner]:
    runner = FleetRunner(load_fleet(one_per_profile()))
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _ask(address: str, data: bytes, timeout: float = 3.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        s.sendto(data, (address, 3702))
        try:
            reply, peer = s.recvfrom(65536)
        except TimeoutError:
            return None
        assert peer == (address, 3702)  # answered from the camera's own address and the WS-Discovery port
        return reply


def _scopes(text: str) -> list[str]:
    """The Scopes list; a pretty-printed one wraps long URIs after a "/" onto the next line."""
    out: list[str] = []
    for piece in text.split():
        if out and out[-1].endswith("/") and "://" not in piece and out[-1].count("/") > 3:
            out[-1] += piece
        else:
            out.append(piece)
    return out


def test_unicast_probe_answered_by_every_camera(fleet: FleetRunner) -> None:
    for e in fleet.manifest:
        mid = f"uuid:{uuid.uuid4()}"
        reply = _ask(e["address"], probe(message_id=mid))
        assert reply is not None, e["id"]
        root = etree.fromstring(reply, SAFE_PARSER)
        assert root.findtext(f".//{{{WSA}}}RelatesTo") == mid
        assert root.findtext(f".//{{{WSA}}}Action") == f"{WSD}/ProbeMatches"
        match = root.find(f".//{{{WSD}}}ProbeMatch")
        assert match is not None
        assert match.findtext(f"{{{WSD}}}XAddrs") == e["xaddr"]
        assert match.findtext(f".//{{{WSA}}}Address") == f"urn:uuid:{e['uuid']}"
        raw = match.findtext(f"{{{WSD}}}Scopes") or ""
        scopes = _scopes(raw)
        assert "onvif://www.onvif.org/hardware/" + quote(e["model"], safe="") in scopes
        assert any(s.startswith("onvif://www.onvif.org/name/") for s in scopes)
        assert match.findtext(f"{{{WSD}}}MetadataVersion") == "1"
        assert "NetworkVideoTransmitter" in (match.findtext(f"{{{WSD}}}Types") or "")


def test_scope_filter_and_garbage_get_no_answer(fleet: FleetRunner) -> None:
    e = next(x for x in fleet.manifest if x["vendor"] == "Axis")
    assert (
        _ask(e["address"], probe(scopes="onvif://www.onvif.org/hardware/NOT-THIS-ONE"), timeout=0.3) is None
    )
    assert _ask(e["address"], b"<not-xml", timeout=0.3) is None
    assert (
        _ask(e["address"], probe(scopes="onvif://www.onvif.org/hardware/" + quote(e["model"], safe="")))
        is not None
    )
    # The endpoint survived the garbage:
    assert _ask(e["address"], probe()) is not None


def test_parse_probe_rejects_hostile_input() -> None:
    assert parse_probe(b"\x00" * 10) is None
    assert parse_probe(b"<a/>") is None
    assert parse_probe(b'<!DOCTYPE x [<!ENTITY a "b">]><a>&a;</a>') is None
    assert parse_probe(probe() + b" " * MAX_PROBE_BYTES) is None
    p = parse_probe(probe(types="dn:NetworkVideoTransmitter", scopes="onvif://www.onvif.org/name"))
    assert p is not None
    assert p.types == (("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter"),)


def test_matching_rules(fleet: FleetRunner) -> None:
    spec = next(iter(fleet.cameras.values())).spec
    any_probe = parse_probe(probe(types=""))
    printer = parse_probe(probe(types="dn:Printer"))
    by_prefix = parse_probe(probe(scopes="onvif://www.onvif.org/hardware"))
    assert any_probe is not None
    assert printer is not None
    assert by_prefix is not None
    assert matches(any_probe, spec)
    assert not matches(printer, spec)
    assert matches(by_prefix, spec)

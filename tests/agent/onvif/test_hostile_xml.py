"""Hostile and broken answers become typed CameraErrors, never hangs, memory or other exceptions."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.onvif import soap
from agent.onvif.errors import CameraError, HostileXml, MalformedResponse
from agent.onvif.http import decode_chunked, parse_response

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&lol3;</x></s:Body></s:Envelope>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&x;</x></s:Body></s:Envelope>"""
ENVELOPE = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="urn:d"><s:Body>'
    b"%s</s:Body></s:Envelope>"
)


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL, b"<!doctype x><x/>"])
def test_dtds_and_entities_are_refused_before_parsing(data: bytes) -> None:
    with pytest.raises(HostileXml):
        soap.parse_xml(data)


def test_oversize_input_is_refused_unparsed() -> None:
    with pytest.raises(HostileXml, match="cap"):
        soap.parse_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)


def test_deep_nesting_is_malformed_not_a_crash() -> None:
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises(MalformedResponse):
        soap.parse_xml(deep)


@pytest.mark.parametrize(
    "data",
    [b"", b"not xml", b"<a>", b"<?xml version='1.0'?>", b"\xff\xfe<\x00a\x00", ENVELOPE % b"<unclosed>"],
)
def test_malformed_input_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedResponse):
        soap.body_payload(soap.parse_xml(data))


def test_lists_a_peer_can_grow_are_capped() -> None:
    many = b"".join(
        b"<tds:Scopes><tt:ScopeItem xmlns:tt='urn:t'>onvif://x/%d</tt:ScopeItem></tds:Scopes>" % i
        for i in range(500)
    )
    scopes = soap.parse_scopes(
        soap.body_payload(
            soap.parse_xml(ENVELOPE % (b"<tds:GetScopesResponse>" + many + b"</tds:GetScopesResponse>"))
        )
    )
    assert len(scopes) == soap.MAX_ITEMS
    long_text = ENVELOPE % (b"<tds:R><tds:Manufacturer>" + b"A" * 100_000 + b"</tds:Manufacturer></tds:R>")
    info = soap.parse_device_information(soap.body_payload(soap.parse_xml(long_text)))
    assert len(info.manufacturer) == soap.MAX_TEXT_CHARS


def test_bad_dates_are_none_not_errors() -> None:
    body = (
        b"<tds:R><tt:UTCDateTime xmlns:tt='urn:t'><tt:Time><tt:Hour>25</tt:Hour><tt:Minute>0</tt:Minute>"
        b"<tt:Second>0</tt:Second></tt:Time><tt:Date><tt:Year>2024</tt:Year><tt:Month>13</tt:Month>"
        b"<tt:Day>1</tt:Day></tt:Date></tt:UTCDateTime></tds:R>"
    )
    assert soap.parse_system_date_and_time(soap.body_payload(soap.parse_xml(ENVELOPE % body))).utc is None


PARSERS = [
    soap.parse_device_information,
    soap.parse_system_date_and_time,
    soap.parse_network_interfaces,
    soap.parse_scopes,
    soap.parse_hostname,
    soap.parse_dns,
    soap.parse_ntp,
    soap.parse_network_protocols,
    soap.parse_users,
    soap.parse_services,
    soap.parse_capabilities,
    soap.parse_fault,
]
_names = st.sampled_from(
    [
        "Manufacturer",
        "UTCDateTime",
        "Year",
        "Hour",
        "NetworkInterfaces",
        "HwAddress",
        "IPv4",
        "ScopeItem",
        "Port",
        "NetworkProtocols",
        "Enabled",
        "Service",
        "Version",
        "Major",
        "XAddr",
        "Fault",
        "Code",
        "Subcode",
        "Value",
        "NTPManual",
        "DNSname",
        "User",
        "Username",
        "Name",
        "FromDHCP",
    ]
)
_tree: st.SearchStrategy[str] = st.recursive(
    st.text(alphabet="0123456789abc:. -\r\n", max_size=12),
    lambda inner: st.builds(
        lambda n, kids: f"<tt:{n}>{''.join(kids)}</tt:{n}>", _names, st.lists(inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(_tree)
def test_parsers_never_raise_on_odd_but_well_formed_answers(inner: str) -> None:
    data = ENVELOPE % (b"<tds:R xmlns:tt='urn:t'>" + inner.encode() + b"</tds:R>")
    payload = soap.body_payload(soap.parse_xml(data))
    for parser in PARSERS:
        parser(payload)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_a_camera_error_or_parse(data: bytes) -> None:
    with contextlib.suppress(CameraError):
        soap.body_payload(soap.parse_xml(data))
    with contextlib.suppress(CameraError):
        parse_response(data, eof=True)


def test_http_parsing() -> None:
    head = b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 5\r\n\r\n"
    assert parse_response(head + b"ab", eof=False) is None
    done = parse_response(head + b"abcde", eof=False)
    assert done is not None and done.body == b"abcde" and done.headers["server"] == "App-webs/"
    chunked = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    resp = parse_response(chunked, eof=False)
    assert resp is not None and resp.status == 500 and resp.body == b"abcde"
    assert decode_chunked(b"3\r\nab") == (b"", False)
    no_length = parse_response(b"HTTP/1.0 200 OK\r\n\r\nrest", eof=True)
    assert no_length is not None and no_length.body == b"rest"
    with pytest.raises(MalformedResponse):
        parse_response(b"SSH-2.0-OpenSSH\r\n\r\n", eof=True)
    with pytest.raises(MalformedResponse):
        parse_response(head + b"ab", eof=True)

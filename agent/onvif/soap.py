"""Pure SOAP parsing of camera answers: bytes in, typed facts out, hostile XML refused.

Real firmware uses any envelope prefix (``env:``, ``s:``, ``SOAP-ENV:``), omits the XML
declaration, splits end tags across lines, pads values with CRLF and leaves fields empty
(``../shared/onvif-captures/INDEX.md``), so elements are found by local name only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lxml import etree

from agent.onvif.errors import HostileXml, MalformedResponse
from agent.onvif.models import (
    Capabilities,
    Channel,
    DeviceInfo,
    Fault,
    Hostname,
    NameServers,
    NetworkInterface,
    NetworkProtocol,
    NtpInfo,
    ProbeMatch,
    Service,
    SystemTime,
    User,
)

# 1 MiB: the largest real answer seen is GetServices with capabilities, 8.8 KB (Axis M5525-E).
MAX_XML_BYTES = 1_048_576
# Caps on what one answer may make us keep, whatever it lists.
MAX_ITEMS = 64
MAX_SCOPE_CHARS = 512  # real scope URIs are under 100 characters
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986 section 3.1
_URI_PATH = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})+$")  # RFC 3986 3.3
MAX_TEXT_CHARS = 512
_HOSTILE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_local = threading.local()

Element = etree._Element
# What lxml may raise for bytes a camera sent: the one tuple parse_xml turns into MalformedResponse.
XML_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    etree.XMLSyntaxError,
    etree.ParserError,
    ValueError,
    RecursionError,
)


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        # Entities unresolved, no DTD, no network, libxml2's default depth and size limits.
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> Element:
    """Parse untrusted XML: refuse oversize input, any DTD or entity declaration, bad syntax."""
    if len(data) > max_bytes:
        raise HostileXml(f"XML of {len(data)} bytes exceeds the {max_bytes}-byte cap")
    if _HOSTILE.search(data):
        raise HostileXml("XML carries a DTD or entity declaration")
    try:
        root = etree.fromstring(data, parser=_parser())
    except XML_DECODE_ERRORS as exc:
        raise MalformedResponse(f"not well-formed XML: {str(exc)[:200]}") from exc
    if root is None:
        raise MalformedResponse("empty XML document")
    return root


def localname(el: Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _text(el: Element | None) -> str:
    if el is None or el.text is None:
        return ""
    return el.text.strip()[:MAX_TEXT_CHARS]


def _find(el: Element, name: str) -> Element | None:
    return el.find(f".//{{*}}{name}")


def _findtext(el: Element, name: str) -> str:
    return _text(_find(el, name))


def _children(el: Element, name: str) -> Iterator[Element]:
    for count, child in enumerate(el.iter(f"{{*}}{name}")):
        if count >= MAX_ITEMS:
            return
        yield child


def _bool(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 9 else None


def body_payload(root: Element) -> Element:
    """The first element inside ``Envelope/Body``; MalformedResponse if this is not SOAP."""
    if localname(root) != "Envelope":
        raise MalformedResponse(f"root element is {localname(root)!r}, not a SOAP Envelope")
    for child in root:
        if localname(child) == "Body":
            for payload in child:
                if isinstance(payload.tag, str):
                    return payload
            raise MalformedResponse("SOAP Body is empty")
    raise MalformedResponse("SOAP Envelope has no Body")


def parse_fault(payload: Element) -> Fault | None:
    """A SOAP 1.2 (or 1.1) Fault's code, innermost subcode and reason; None if not a fault."""
    if localname(payload) != "Fault":
        return None
    code_el = _find(payload, "Code")
    if code_el is None:  # SOAP 1.1
        return Fault(code=_findtext(payload, "faultcode"), reason=_findtext(payload, "faultstring"))
    code = _text(code_el.find("{*}Value"))
    subcode = ""
    sub = code_el.find("{*}Subcode")
    depth = 0
    while sub is not None and depth < 8:
        subcode = _text(sub.find("{*}Value")) or subcode
        sub = sub.find("{*}Subcode")
        depth += 1
    first_subcode = _text(code_el.find("{*}Subcode/{*}Value"))
    return Fault(code=code, subcode=first_subcode or subcode, reason=_findtext(payload, "Text"))


def _strip_prefix(qname: str) -> str:
    return qname.rsplit(":", 1)[-1]


def is_not_authorized(fault: Fault) -> bool:
    """ter:NotAuthorized (ONVIF Core 5.11.2.4), or a sender fault that says so in words."""
    sub = _strip_prefix(fault.subcode).lower()
    if sub in ("notauthorized", "failedauthentication", "invalidsecurity"):
        return True
    reason = fault.reason.lower()
    return _strip_prefix(fault.code).lower() in ("sender", "client") and (
        "not authorized" in reason or "unauthorized" in reason or "authority failure" in reason
    )


def parse_device_information(payload: Element) -> DeviceInfo:
    return DeviceInfo(
        manufacturer=_findtext(payload, "Manufacturer"),
        model=_findtext(payload, "Model"),
        firmware=_findtext(payload, "FirmwareVersion"),
        serial=_findtext(payload, "SerialNumber"),
        hardware_id=_findtext(payload, "HardwareId"),
    )


def _date_time(el: Element | None) -> datetime | None:
    if el is None:
        return None
    fields = [_int(_findtext(el, name)) for name in ("Year", "Month", "Day", "Hour", "Minute", "Second")]
    if any(value is None for value in fields):
        return None
    y, mo, d, h, mi, s = (int(v or 0) for v in fields)
    try:
        return datetime(y, mo, d, h, mi, min(s, 59), tzinfo=UTC)
    except ValueError:
        return None


def parse_system_date_and_time(payload: Element) -> SystemTime:
    """Prefer UTCDateTime; TZ strings are too inconsistent to trust (Tapo, Dahua, Axis)."""
    utc = _date_time(_find(payload, "UTCDateTime"))
    from_local = False
    if utc is None:
        utc = _date_time(_find(payload, "LocalDateTime"))
        from_local = utc is not None
    return SystemTime(
        utc=utc,
        from_local=from_local,
        tz=_findtext(payload, "TZ"),
        date_time_type=_findtext(payload, "DateTimeType"),
        daylight_savings=_bool(_findtext(payload, "DaylightSavings")),
    )


def normalise_mac(value: str) -> str:
    """``AC:CC:8E:BE:CC:EA``, ``ac-cc-8e-be-cc-ea`` or ``accc8ebeccea`` to ``ac:cc:8e:be:cc:ea``."""
    digits = re.sub(r"[^0-9a-fA-F]", "", value)
    if len(digits) != 12 or len(re.sub(r"[0-9a-fA-F:\-. ]", "", value)) > 0:
        return ""
    digits = digits.lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_network_interfaces(payload: Element) -> list[NetworkInterface]:
    result = []
    for nic in _children(payload, "NetworkInterfaces"):
        ipv4 = nic.find("{*}IPv4")
        addresses: list[str] = []
        dhcp = None
        if ipv4 is not None:
            for kind in ("Manual", "FromDHCP", "LinkLocal"):
                for el in ipv4.iter(f"{{*}}{kind}"):
                    address = _findtext(el, "Address")
                    if address and address not in addresses and len(addresses) < MAX_ITEMS:
                        addresses.append(address)
            dhcp = _bool(_findtext(ipv4, "DHCP"))
        result.append(
            NetworkInterface(
                token=str(nic.get("token", ""))[:MAX_TEXT_CHARS],
                name=_findtext(nic, "Name"),
                mac=normalise_mac(_findtext(nic, "HwAddress")),
                enabled=_bool(_text(nic.find("{*}Enabled"))),
                ipv4=tuple(addresses),
                dhcp=dhcp,
            )
        )
    return result


def parse_scopes(payload: Element) -> list[str]:
    """GetScopes: every ScopeItem URI."""
    return [item for el in _children(payload, "ScopeItem") if (item := _text(el))]


def parse_hostname(payload: Element) -> Hostname:
    return Hostname(name=_findtext(payload, "Name"), from_dhcp=_bool(_findtext(payload, "FromDHCP")))


def _addresses(el: Element) -> list[str]:
    found: list[str] = []
    for name in ("DNSname", "IPv4Address", "IPv6Address"):
        for item in _children(el, name):
            value = _text(item)
            if value and value not in found:
                found.append(value)
    return found


def parse_dns(payload: Element) -> NameServers:
    servers: list[str] = []
    for block in ("DNSManual", "DNSFromDHCP"):
        for el in _children(payload, block):
            servers.extend(a for a in _addresses(el) if a not in servers)
    return NameServers(
        from_dhcp=_bool(_findtext(payload, "FromDHCP")),
        servers=tuple(servers[:MAX_ITEMS]),
        search_domains=tuple(d for el in _children(payload, "SearchDomain") if (d := _text(el))),
    )


def parse_ntp(payload: Element) -> NtpInfo:
    servers: list[str] = []
    for block in ("NTPManual", "NTPFromDHCP"):
        for el in _children(payload, block):
            servers.extend(a for a in _addresses(el) if a not in servers)
    return NtpInfo(from_dhcp=_bool(_findtext(payload, "FromDHCP")), servers=tuple(servers[:MAX_ITEMS]))


def parse_network_protocols(payload: Element) -> list[NetworkProtocol]:
    result = []
    for el in _children(payload, "NetworkProtocols"):
        ports = tuple(p for port in el.iterchildren("{*}Port") if (p := _int(_text(port))) is not None)
        result.append(
            NetworkProtocol(
                name=_text(el.find("{*}Name")).upper(),
                enabled=_bool(_text(el.find("{*}Enabled"))) is True,
                ports=ports[:MAX_ITEMS],
            )
        )
    return result


def parse_users(payload: Element) -> list[User]:
    return [
        User(username=_findtext(el, "Username"), level=_findtext(el, "UserLevel"))
        for el in _children(payload, "User")
    ]


def parse_services(payload: Element) -> list[Service]:
    result = []
    for el in _children(payload, "Service"):
        version = el.find("{*}Version")
        text = ""
        if version is not None:
            text = f"{_findtext(version, 'Major')}.{_findtext(version, 'Minor')}"
        result.append(
            Service(
                namespace=_text(el.find("{*}Namespace")),
                xaddr=_text(el.find("{*}XAddr")),
                version=text,
            )
        )
    return result


def parse_capabilities(payload: Element) -> Capabilities:
    """GetCapabilities: each service's XAddr by the name of the element that holds it."""
    xaddrs: dict[str, str] = {}
    for el in _children(payload, "XAddr"):
        parent = el.getparent()
        if parent is not None and (value := _text(el)):
            xaddrs.setdefault(localname(parent), value)
    return Capabilities(xaddrs=xaddrs)


def split_scopes(text: str) -> tuple[str, ...]:
    """A ProbeMatch ``Scopes`` list (URIs separated by white space) without its junk (pure).

    Pretty-printing firmware wraps the list over lines, sometimes inside one URI: a piece with
    no URI scheme, made of path characters, that follows a URI ending in ``/`` (or starts with
    ``/``) continues that URI.
    Other scheme-less pieces, control characters, over-long items and repeats are dropped; at
    most ``MAX_ITEMS`` are kept.
    """
    pieces: list[str] = []
    for piece in text.split():
        if _URI_SCHEME.match(piece):
            pieces.append(piece)
        elif pieces and (pieces[-1].endswith("/") or piece.startswith("/")) and _URI_PATH.match(piece):
            pieces[-1] += piece
    out: list[str] = []
    for scope in pieces:
        if len(scope) <= MAX_SCOPE_CHARS and scope.isprintable() and scope not in out:
            out.append(scope)
            if len(out) >= MAX_ITEMS:
                break
    return tuple(out)


def parse_probe_matches(data: bytes) -> list[ProbeMatch]:
    """WS-Discovery ProbeMatches (or Hello) datagram into matches; MalformedResponse if not."""
    payload = body_payload(parse_xml(data, max_bytes=65_536))
    matches = []
    for name in ("ProbeMatch", "Hello"):
        for el in _children(payload, name):
            version = _int(_findtext(el, "MetadataVersion"))
            matches.append(
                ProbeMatch(
                    endpoint=_findtext(el, "Address"),
                    types=tuple(_findtext(el, "Types").split()[:MAX_ITEMS]),
                    scopes=split_scopes(_findtext(el, "Scopes")),
                    xaddrs=tuple(_findtext(el, "XAddrs").split()[:MAX_ITEMS]),
                    metadata_version=version,
                )
            )
    return matches


def _uri_host(uri: str) -> str:
    try:
        return urlsplit(uri).hostname or ""
    except ValueError:
        return ""


def parse_receiver_channels(payload: Element) -> list[Channel]:
    """Receiver service GetReceivers: the stream each receiver pulls (``MediaUri``)."""
    channels = []
    for el in _children(payload, "Receivers"):
        uri = _findtext(el, "MediaUri")
        if uri and (host := _uri_host(uri)):
            channels.append(Channel(host=host, uri=uri, name=_text(el.find("{*}Token")), source="receiver"))
    return channels


def parse_recording_channels(payload: Element) -> list[Channel]:
    """Recording service GetRecordings: each recording's Source (``Address``, ``Name``)."""
    channels = []
    for el in _children(payload, "Source"):
        address = _findtext(el, "Address")
        host = _uri_host(address) or (address if address and "/" not in address else "")
        if host:
            channels.append(Channel(host=host, uri=address, name=_findtext(el, "Name"), source="recording"))
    return channels

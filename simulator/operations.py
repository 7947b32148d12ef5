"""Response bodies of the ONVIF device service, shaped by the device WSDL (pure).

Element order follows the ONVIF schemas (onvif.xsd / devicemgmt.wsdl) so that a schema-checking client
accepts them; values come from the camera's profile and identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

from simulator.capabilities import capabilities, services
from simulator.fleet import CameraSpec
from simulator.wire import Node, el

TRUE, FALSE = "true", "false"


def _num(value: int, pad: bool) -> str:
    return f"{value:02d}" if pad else str(value)


def _date_time(tag: str, when: datetime, pad: bool) -> Node:
    return el(
        tag,
        el(
            "tt:Time",
            el("tt:Hour", _num(when.hour, pad)),
            el("tt:Minute", _num(when.minute, pad)),
            el("tt:Second", _num(when.second, pad)),
        ),
        el(
            "tt:Date",
            el("tt:Year", str(when.year)),
            el("tt:Month", _num(when.month, pad)),
            el("tt:Day", _num(when.day, pad)),
        ),
    )


def system_date_and_time(cam: CameraSpec, now: datetime) -> Node:
    p = cam.profile
    local = now + timedelta(seconds=p.tz_offset_s)
    pad = p.wire.pad_time
    return el(
        "tds:GetSystemDateAndTimeResponse",
        el(
            "tds:SystemDateAndTime",
            el("tt:DateTimeType", p.date_time_type),
            el("tt:DaylightSavings", FALSE),
            el("tt:TimeZone", el("tt:TZ", p.tz)),
            _date_time("tt:UTCDateTime", now, pad),
            _date_time("tt:LocalDateTime", local, pad),
        ),
    )


def device_information(cam: CameraSpec, _now: datetime) -> Node:
    p = cam.profile
    return el(
        "tds:GetDeviceInformationResponse",
        el("tds:Manufacturer", p.manufacturer_string),
        el("tds:Model", p.model),
        el("tds:FirmwareVersion", p.firmware),
        el("tds:SerialNumber", cam.serial),
        el("tds:HardwareId", p.hardware_id),
    )


def scope_values(cam: CameraSpec, templates: tuple[str, ...] | None = None) -> list[str]:
    p = cam.profile
    # Scopes are URIs: a model name with spaces ("FLEXIDOME IP 4000i") is percent-encoded.
    return [
        s.replace("{model}", quote(p.model, safe=""))
        .replace("{brand}", quote(p.brand, safe=""))
        .replace("{mac}", cam.mac)
        .replace("{name}", quote(f"{p.brand} {p.model}", safe=""))
        for s in (p.scopes if templates is None else templates)
    ]


def probe_scope_values(cam: CameraSpec) -> list[str]:
    """The scopes the ProbeMatch announces (junk and empty items as the profile has them)."""
    return scope_values(cam, cam.profile.probe_scopes)


def scopes(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetScopesResponse",
        *(
            el(
                "tds:Scopes",
                el("tt:ScopeDef", "Configurable" if "/name/" in s or "/location/" in s else "Fixed"),
                el("tt:ScopeItem", s),
            )
            for s in scope_values(cam)
        ),
    )


def _interface(cam: CameraSpec, name: str, mac: str, primary: bool) -> Node:
    """One interface; the camera's address is on the first, a second one (Wi-Fi beside Ethernet)
    is up with DHCP and no lease."""
    settings = (el("tt:AutoNegotiation", TRUE), el("tt:Speed", "100"), el("tt:Duplex", "Full"))
    config = (
        el(
            "tt:Config",
            el("tt:Manual", el("tt:Address", cam.address), el("tt:PrefixLength", "24")),
            el("tt:DHCP", FALSE),
        )
        if primary
        else el("tt:Config", el("tt:DHCP", TRUE))
    )
    return el(
        "tds:NetworkInterfaces",
        el("tt:Enabled", TRUE),
        el("tt:Info", el("tt:Name", name), el("tt:HwAddress", mac), el("tt:MTU", "1500")),
        el(
            "tt:Link",
            el("tt:AdminSettings", *settings),
            el("tt:OperSettings", *settings),
            el("tt:InterfaceType", "71" if name.startswith("wlan") else "6"),  # IANA ifType: 71 ieee80211
        ),
        el("tt:IPv4", el("tt:Enabled", TRUE if primary else FALSE), config),
        token=name,
    )


def network_interfaces(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetNetworkInterfacesResponse",
        *(_interface(cam, name, mac, i == 0) for i, (name, mac) in enumerate(cam.interfaces)),
    )


def hostname(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetHostnameResponse",
        el("tds:HostnameInformation", el("tt:FromDHCP", FALSE), el("tt:Name", cam.hostname)),
    )


def dns(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetDNSResponse",
        el(
            "tds:DNSInformation",
            el("tt:FromDHCP", FALSE),
            *(el("tt:DNSManual", el("tt:Type", "IPv4"), el("tt:IPv4Address", a)) for a in cam.profile.dns),
        ),
    )


def _ntp_host(host: str) -> Node:
    if host.replace(".", "").isdigit():
        return el("tt:NTPManual", el("tt:Type", "IPv4"), el("tt:IPv4Address", host))
    return el("tt:NTPManual", el("tt:Type", "DNS"), el("tt:DNSname", host))


def ntp(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetNTPResponse",
        el("tds:NTPInformation", el("tt:FromDHCP", FALSE), *(_ntp_host(h) for h in cam.profile.ntp)),
    )


def _protocols(cam: CameraSpec) -> tuple[tuple[str, int, str], ...]:
    if cam.profile.https_only:
        return (("HTTP", 80, FALSE), ("HTTPS", cam.port, TRUE), ("RTSP", 554, TRUE))
    return (("HTTP", cam.port, TRUE), ("HTTPS", 443, TRUE), ("RTSP", 554, TRUE))


def network_protocols(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetNetworkProtocolsResponse",
        *(
            el("tds:NetworkProtocols", el("tt:Name", name), el("tt:Enabled", on), el("tt:Port", str(port)))
            for name, port, on in _protocols(cam)
        ),
    )


def users(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetUsersResponse",
        *(
            el("tds:User", el("tt:Username", name), el("tt:UserLevel", level))
            for name, level in cam.profile.users
        ),
    )


Builder = Callable[[CameraSpec, datetime], Node]
# The operations this simulator answers; everything else in the device namespace is ActionNotSupported.
OPERATIONS: dict[str, Builder] = {
    "GetSystemDateAndTime": system_date_and_time,
    "GetDeviceInformation": device_information,
    "GetCapabilities": capabilities,
    "GetServices": services,
    "GetScopes": scopes,
    "GetNetworkInterfaces": network_interfaces,
    "GetHostname": hostname,
    "GetDNS": dns,
    "GetNTP": ntp,
    "GetNetworkProtocols": network_protocols,
    "GetUsers": users,
}
# GetSystemDateAndTime is always answered without credentials: clients need the camera's clock to sign.
UNAUTHENTICATED = frozenset({"GetSystemDateAndTime"})


def fault(code: str, subcodes: tuple[str, ...], reason: str) -> Callable[[str], Node]:
    """A SOAP 1.2 Fault body; called with the envelope prefix (faults use it for Code values)."""

    def build(prefix: str) -> Node:
        sub: Node | None = None
        for value in reversed(subcodes):
            sub = el(f"{prefix}:Subcode", el(f"{prefix}:Value", value), sub)
        return el(
            f"{prefix}:Fault",
            el(f"{prefix}:Code", el(f"{prefix}:Value", f"{prefix}:{code}"), sub),
            el(f"{prefix}:Reason", Node(f"{prefix}:Text", text=reason, attrs=(("xml:lang", "en"),))),
        )

    return build

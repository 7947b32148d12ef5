"""Response bodies of the ONVIF device service, shaped by the device WSDL (pure).

Element order follows the ONVIF schemas (onvif.xsd / devicemgmt.wsdl) so that a schema-checking client
accepts them; values come from the camera's profile and identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

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
        el("tds:Manufacturer", p.brand),
        el("tds:Model", p.model),
        el("tds:FirmwareVersion", p.firmware),
        el("tds:SerialNumber", cam.serial),
        el("tds:HardwareId", p.hardware_id),
    )


def _device_caps(cam: CameraSpec) -> Node:
    return el(
        "tt:Device",
        el("tt:XAddr", cam.xaddr("device")),
        el(
            "tt:Network",
            el("tt:IPFilter", TRUE),
            el("tt:ZeroConfiguration", FALSE),
            el("tt:IPVersion6", FALSE),
            el("tt:DynDNS", TRUE),
        ),
        el(
            "tt:System",
            el("tt:DiscoveryResolve", FALSE),
            el("tt:DiscoveryBye", TRUE),
            el("tt:RemoteDiscovery", FALSE),
            el("tt:SystemBackup", FALSE),
            el("tt:SystemLogging", TRUE),
            el("tt:FirmwareUpgrade", TRUE),
            el("tt:SupportedVersions", el("tt:Major", "2"), el("tt:Minor", "60")),
        ),
        el("tt:IO", el("tt:InputConnectors", "1"), el("tt:RelayOutputs", "1")),
        el(
            "tt:Security",
            *(
                el(f"tt:{name}", TRUE if name in ("TLS1.2", "OnboardKeyGeneration") else FALSE)
                for name in (
                    "TLS1.1",
                    "TLS1.2",
                    "OnboardKeyGeneration",
                    "AccessPolicyConfig",
                    "X.509Token",
                    "SAMLToken",
                    "KerberosToken",
                    "RELToken",
                )
            ),
        ),
    )


def capabilities(cam: CameraSpec, _now: datetime) -> Node:
    names = {s[0] for s in cam.profile.services}
    sections: list[Node | None] = [
        el(
            "tt:Analytics",
            el("tt:XAddr", cam.xaddr("analytics")),
            el("tt:RuleSupport", TRUE),
            el("tt:AnalyticsModuleSupport", TRUE),
        )
        if "analytics" in names
        else None,
        _device_caps(cam),
        el(
            "tt:Events",
            el("tt:XAddr", cam.xaddr("events")),
            el("tt:WSSubscriptionPolicySupport", TRUE),
            el("tt:WSPullPointSupport", TRUE),
            el("tt:WSPausableSubscriptionManagerInterfaceSupport", FALSE),
        )
        if "events" in names
        else None,
        el("tt:Imaging", el("tt:XAddr", cam.xaddr("imaging"))) if "imaging" in names else None,
        el(
            "tt:Media",
            el("tt:XAddr", cam.xaddr("media")),
            el(
                "tt:StreamingCapabilities",
                el("tt:RTPMulticast", TRUE),
                el("tt:RTP_TCP", TRUE),
                el("tt:RTP_RTSP_TCP", TRUE),
            ),
        )
        if "media" in names
        else None,
        el("tt:PTZ", el("tt:XAddr", cam.xaddr("ptz"))) if "ptz" in names else None,
    ]
    if "deviceio" in names:
        sections.append(
            el(
                "tt:Extension",
                el(
                    "tt:DeviceIO",
                    el("tt:XAddr", cam.xaddr("deviceio")),
                    el("tt:VideoSources", "1"),
                    el("tt:VideoOutputs", "0"),
                    el("tt:AudioSources", "1"),
                    el("tt:AudioOutputs", "1"),
                    el("tt:RelayOutputs", "1"),
                ),
            )
        )
    return el("tds:GetCapabilitiesResponse", el("tds:Capabilities", *sections))


def device_service_capabilities() -> Node:
    """tds:DeviceServiceCapabilities: everything is an attribute (devicemgmt.wsdl)."""

    def flags(tag: str, **values: bool) -> Node:
        return Node(tag, attrs=tuple((k.replace("_", "."), TRUE if v else FALSE) for k, v in values.items()))

    return el(
        "tds:Capabilities",
        flags("tds:Network", IPFilter=True, ZeroConfiguration=False, IPVersion6=False, DynDNS=True),
        flags("tds:Security", TLS1_2=True, OnboardKeyGeneration=True, UsernameToken=True, HttpDigest=False),
        flags(
            "tds:System",
            DiscoveryResolve=False,
            DiscoveryBye=True,
            RemoteDiscovery=False,
            FirmwareUpgrade=True,
        ),
    )


def services(cam: CameraSpec, _now: datetime, include_capability: bool = False) -> Node:
    return el(
        "tds:GetServicesResponse",
        *(
            el(
                "tds:Service",
                el("tds:Namespace", ns),
                el("tds:XAddr", cam.xaddr(name)),
                el("tds:Capabilities", device_service_capabilities())
                if include_capability and name == "device"
                else None,
                el("tds:Version", el("tt:Major", str(major)), el("tt:Minor", str(minor))),
            )
            for name, ns, major, minor in cam.profile.services
        ),
    )


def scope_values(cam: CameraSpec) -> list[str]:
    p = cam.profile
    # Scopes are URIs: a model name with spaces ("FLEXIDOME IP 4000i") is percent-encoded.
    return [
        s.replace("{model}", quote(p.model, safe=""))
        .replace("{brand}", quote(p.brand, safe=""))
        .replace("{mac}", cam.mac)
        .replace("{name}", quote(f"{p.brand} {p.model}", safe=""))
        for s in p.scopes
    ]


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


def network_interfaces(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetNetworkInterfacesResponse",
        el(
            "tds:NetworkInterfaces",
            el("tt:Enabled", TRUE),
            el("tt:Info", el("tt:Name", "eth0"), el("tt:HwAddress", cam.mac), el("tt:MTU", "1500")),
            el(
                "tt:Link",
                el(
                    "tt:AdminSettings",
                    el("tt:AutoNegotiation", TRUE),
                    el("tt:Speed", "100"),
                    el("tt:Duplex", "Full"),
                ),
                el(
                    "tt:OperSettings",
                    el("tt:AutoNegotiation", TRUE),
                    el("tt:Speed", "100"),
                    el("tt:Duplex", "Full"),
                ),
                el("tt:InterfaceType", "6"),
            ),
            el(
                "tt:IPv4",
                el("tt:Enabled", TRUE),
                el(
                    "tt:Config",
                    el("tt:Manual", el("tt:Address", cam.address), el("tt:PrefixLength", "24")),
                    el("tt:DHCP", FALSE),
                ),
            ),
            token="eth0",  # noqa: S106 - the ONVIF interface token, not a secret
        ),
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


def network_protocols(cam: CameraSpec, _now: datetime) -> Node:
    return el(
        "tds:GetNetworkProtocolsResponse",
        *(
            el("tds:NetworkProtocols", el("tt:Name", name), el("tt:Enabled", TRUE), el("tt:Port", str(port)))
            for name, port in (("HTTP", cam.port), ("HTTPS", 443), ("RTSP", 554))
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

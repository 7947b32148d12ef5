"""GetCapabilities and GetServices answers (pure): which services a profile offers, and where.

Element order and attribute names follow onvif.xsd (tt:Capabilities) and devicemgmt.wsdl
(tds:DeviceServiceCapabilities, all attributes).
"""

from __future__ import annotations

from datetime import datetime

from simulator.fleet import CameraSpec
from simulator.wire import Node, el

TRUE, FALSE = "true", "false"


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

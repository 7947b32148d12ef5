"""Typed facts read from a camera's ONVIF answers; parsers in ``agent.onvif.soap`` build them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware_id: str = ""


@dataclass(frozen=True)
class SystemTime:
    """GetSystemDateAndTime: ``utc`` from UTCDateTime (or LocalDateTime if that is all there is)."""

    utc: datetime | None
    from_local: bool = False
    tz: str = ""
    date_time_type: str = ""
    daylight_savings: bool | None = None


@dataclass(frozen=True)
class NetworkInterface:
    token: str
    name: str = ""
    mac: str = ""
    enabled: bool | None = None
    ipv4: tuple[str, ...] = ()
    dhcp: bool | None = None


@dataclass(frozen=True)
class Hostname:
    name: str = ""
    from_dhcp: bool | None = None


@dataclass(frozen=True)
class NameServers:
    from_dhcp: bool | None = None
    servers: tuple[str, ...] = ()
    search_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class NtpInfo:
    from_dhcp: bool | None = None
    servers: tuple[str, ...] = ()  # DNS names and addresses, manual and from DHCP


@dataclass(frozen=True)
class NetworkProtocol:
    name: str
    enabled: bool
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class User:
    username: str
    level: str = ""


@dataclass(frozen=True)
class Service:
    namespace: str
    xaddr: str
    version: str = ""


@dataclass(frozen=True)
class ProbeMatch:
    """One WS-Discovery ProbeMatch (or Hello)."""

    endpoint: str
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    xaddrs: tuple[str, ...] = ()
    metadata_version: int | None = None


@dataclass(frozen=True)
class Fault:
    code: str
    subcode: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Capabilities:
    xaddrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Channel:
    """A camera a recorder records from: where its stream or source points."""

    host: str
    uri: str
    name: str = ""
    source: str = ""  # "receiver" (Receiver service MediaUri) or "recording" (recording Source)

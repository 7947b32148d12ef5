"""Vendor profiles: TOML data files in ``simulator/profiles/`` loaded into frozen dataclasses (pure parsing).

A profile is one model on one firmware build: what it says about itself (GetDeviceInformation, scopes,
Server header, login page), how it writes SOAP (``[wire]``), how it authenticates (``[auth]``), and which
MAC prefixes it ships with. ``vendor`` is the maker of the hardware; ``brand`` is the name on the label
(they differ for rebrands).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from simulator.wire import Layout, WireStyle

_E = TypeVar("_E", bound=StrEnum)


class ProfileError(ValueError):
    """A profile file is missing a key or has a wrong value; the message names file and key."""


class AuthFlaw(StrEnum):
    NONE = "none"
    REPLAY = "replay"  # accepts a replayed UsernameToken digest (CVE-2022-30563 class)
    BYPASS = "bypass"  # answers protected operations without credentials (CVE-2017-7921 class)


@dataclass(frozen=True)
class WireHabits:
    style: WireStyle
    content_type: str = "application/soap+xml; charset=utf-8"
    connection_close: bool = False
    not_authorized_status: int = 400
    action_not_supported_status: int = 500
    not_authorized_reason: str = "Sender not Authorized"
    action_not_supported_reason: str = "Optional Action Not Implemented"
    pad_time: bool = False


@dataclass(frozen=True)
class Profile:
    id: str
    vendor: str
    brand: str
    model: str
    firmware: str
    hardware_id: str
    serial_prefix: str
    oui: tuple[str, ...]
    server_header: str
    login_title: str
    login_html: str
    scopes: tuple[str, ...]
    hostname: str
    default_username: str
    default_password: str
    wire: WireHabits
    auth_flaw: AuthFlaw = AuthFlaw.NONE
    freshness_s: float = 300.0
    tz: str = "UTC"
    tz_offset_s: int = 0
    date_time_type: str = "NTP"
    ntp: tuple[str, ...] = ("pool.ntp.org",)
    dns: tuple[str, ...] = ("192.168.1.1",)
    users: tuple[tuple[str, str], ...] = (("admin", "Administrator"),)
    paths: dict[str, str] = field(default_factory=dict)
    services: tuple[tuple[str, str, int, int], ...] = ()
    notes: str = ""
    vulnerabilities: tuple[str, ...] = ()
    cloud: tuple[str, ...] = ()
    ptz: bool = False
    unauthenticated: frozenset[str] = frozenset()  # operations answered without credentials besides the clock
    https_only: bool = False  # ONVIF over TLS only (self-signed certificate), HTTP disabled
    # GetDeviceInformation Manufacturer: the brand unless the profile says otherwise (OEM units
    # often send nothing, or a generic label).
    manufacturer: str | None = None
    # Interfaces in GetNetworkInterfaces order: eth* take a MAC from ``oui``, wlan* from
    # ``wifi_oui`` (the Wi-Fi module maker's registration, which says nothing of the camera).
    interfaces: tuple[str, ...] = ("eth0",)
    wifi_oui: tuple[str, ...] = ()
    # What the ProbeMatch announces: ``scopes`` unless given (junk and empty items included);
    # ``pretty`` writes the answer indented, one scope per line and long scopes wrapped.
    probe_scopes: tuple[str, ...] | None = None
    probe_layout: str = "compact"

    @property
    def manufacturer_string(self) -> str:
        return self.brand if self.manufacturer is None else self.manufacturer

    @property
    def recorder(self) -> bool:
        """Lists the cameras it records (Recording Control or Receiver service)."""
        return any(name in ("recording", "receiver") for name, *_ in self.services)

    def xaddr_path(self, service: str) -> str:
        return self.paths.get(service, f"/onvif/{service}_service")


_SERVICE_NS = {
    "device": "http://www.onvif.org/ver10/device/wsdl",
    "media": "http://www.onvif.org/ver10/media/wsdl",
    "events": "http://www.onvif.org/ver10/events/wsdl",
    "imaging": "http://www.onvif.org/ver20/imaging/wsdl",
    "analytics": "http://www.onvif.org/ver20/analytics/wsdl",
    "deviceio": "http://www.onvif.org/ver10/deviceIO/wsdl",
    "ptz": "http://www.onvif.org/ver20/ptz/wsdl",
    # A recorder (NVR) lists its channels through these (simulator/recorder.py).
    "recording": "http://www.onvif.org/ver10/recording/wsdl",
    "receiver": "http://www.onvif.org/ver10/receiver/wsdl",
}
DEFAULT_LOGIN_HTML = (
    "<!DOCTYPE html><html><head><title>{title}</title></head>"
    '<body><form method="post" action="/login"><input name="username"><input name="password" '
    'type="password"><button>Login</button></form></body></html>'
)


class _Reader:
    """Typed access to one TOML table with errors that name the file and the key."""

    def __init__(self, source: str, table: dict[str, Any], prefix: str = "") -> None:
        self.source, self.table, self.prefix = source, table, prefix

    def _fail(self, key: str, why: str) -> ProfileError:
        return ProfileError(f"{self.source}: {self.prefix}{key}: {why}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "missing" if value is None else "must be a string")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, "must be an integer")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.table.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._fail(key, "must be a number")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "must be true or false")
        return value

    def texts(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.table.get(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "missing" if value is None else "must be a list of strings")
        return tuple(value)

    def sub(self, key: str) -> _Reader:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self._fail(key, "must be a table")
        return _Reader(self.source, value, f"{self.prefix}{key}.")

    def choice(self, key: str, kind: type[_E], default: _E) -> _E:
        value = self.table.get(key, default.value)
        try:
            return kind(value)
        except ValueError:
            raise self._fail(key, f"must be one of {[k.value for k in kind]}") from None


def _check_oui(source: str, oui: str) -> str:
    parts = oui.split(":")
    if len(parts) != 3 or not all(len(p) == 2 and int(p, 16) >= 0 for p in parts):
        raise ProfileError(f"{source}: oui: {oui!r} is not a 24-bit prefix like 58:03:FB")
    return oui.upper()


def _interfaces(source: str, names: tuple[str, ...], wifi_oui: tuple[str, ...]) -> tuple[str, ...]:
    if not names or len(set(names)) != len(names):
        raise ProfileError(f"{source}: interfaces: must be distinct names, at least one")
    for name in names:
        if not name.startswith(("eth", "wlan")):
            raise ProfileError(f"{source}: interfaces: {name!r} must be eth* or wlan*")
        if name.startswith("wlan") and not wifi_oui:
            raise ProfileError(f"{source}: wifi_oui: needed for interface {name!r}")
    return names


def _probe_layout(source: str, layout: str) -> str:
    if layout not in ("compact", "pretty"):
        raise ProfileError(f"{source}: probe_layout: must be compact or pretty")
    return layout


def parse_profile(data: dict[str, Any], source: str = "<profile>") -> Profile:
    """Validate one profile table; raises ProfileError naming the source and key."""
    r = _Reader(source, data)
    w = r.sub("wire")
    a = r.sub("auth")
    try:
        style = WireStyle(
            envelope_prefix=w.text("envelope_prefix", "SOAP-ENV"),
            ns_set=w.text("ns_set", "minimal"),
            declaration=w.text("declaration", '<?xml version="1.0" encoding="UTF-8"?>'),
            layout=w.choice("layout", Layout, Layout.COMPACT),
            empty_header=w.flag("empty_header", False),
        )
    except ValueError as exc:
        raise ProfileError(f"{source}: wire: {exc}") from exc
    wire = WireHabits(
        style=style,
        content_type=w.text("content_type", "application/soap+xml; charset=utf-8"),
        connection_close=w.flag("connection_close", False),
        not_authorized_status=w.integer("not_authorized_status", 400),
        action_not_supported_status=w.integer("action_not_supported_status", 500),
        not_authorized_reason=w.text("not_authorized_reason", "Sender not Authorized"),
        action_not_supported_reason=w.text("action_not_supported_reason", "Optional Action Not Implemented"),
        pad_time=w.flag("pad_time", False),
    )
    paths_raw = r.sub("paths").table
    paths = {str(k): str(v) for k, v in paths_raw.items()}
    users_raw = data.get("users", [["admin", "Administrator"]])
    if not isinstance(users_raw, list) or not all(
        isinstance(u, list) and len(u) == 2 and u[1] in ("Administrator", "Operator", "User")
        for u in users_raw
    ):
        raise ProfileError(f"{source}: users: must be a list of [name, Administrator|Operator|User]")
    services = []
    for name in r.texts("services", ("device", "media", "events", "imaging")):
        if name not in _SERVICE_NS:
            raise ProfileError(f"{source}: services: unknown service {name!r}; known: {sorted(_SERVICE_NS)}")
        services.append((name, _SERVICE_NS[name], 2, 60 if name != "device" else 0))
    title = r.text("login_title", r.text("brand"))
    wifi_oui = tuple(_check_oui(source, o) for o in r.texts("wifi_oui", ()))
    return Profile(
        id=r.text("id"),
        vendor=r.text("vendor"),
        brand=r.text("brand"),
        model=r.text("model"),
        firmware=r.text("firmware"),
        hardware_id=r.text("hardware_id", "1"),
        serial_prefix=r.text("serial_prefix", ""),
        oui=tuple(_check_oui(source, o) for o in r.texts("oui")),
        server_header=r.text("server_header", ""),
        login_title=title,
        login_html=r.text("login_html", DEFAULT_LOGIN_HTML).replace("{title}", title),
        scopes=r.texts("scopes"),
        hostname=r.text("hostname", r.text("model")),
        default_username=r.text("default_username", "admin"),
        default_password=r.text("default_password", "admin"),
        wire=wire,
        auth_flaw=a.choice("flaw", AuthFlaw, AuthFlaw.NONE),
        freshness_s=a.number("freshness_s", 300.0),
        tz=r.text("tz", "UTC"),
        tz_offset_s=r.integer("tz_offset_s", 0),
        date_time_type=r.text("date_time_type", "NTP"),
        ntp=r.texts("ntp", ("pool.ntp.org",)),
        dns=r.texts("dns", ("192.168.1.1",)),
        users=tuple((str(u[0]), str(u[1])) for u in users_raw),
        paths=paths,
        services=tuple(services),
        notes=r.text("notes", ""),
        vulnerabilities=r.texts("vulnerabilities", ()),
        cloud=r.texts("cloud", ()),
        ptz=r.flag("ptz", False),
        unauthenticated=frozenset(r.texts("unauthenticated", ())),
        https_only=r.flag("https_only", False),
        manufacturer=r.text("manufacturer") if "manufacturer" in data else None,
        interfaces=_interfaces(source, r.texts("interfaces", ("eth0",)), wifi_oui),
        wifi_oui=wifi_oui,
        probe_scopes=r.texts("probe_scopes") if "probe_scopes" in data else None,
        probe_layout=_probe_layout(source, r.text("probe_layout", "compact")),
    )


def load_profile_file(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    return parse_profile(data, str(path))


def bundled_profiles() -> dict[str, Profile]:
    """Every profile shipped in ``simulator/profiles``, by id."""
    out: dict[str, Profile] = {}
    for entry in resources.files("simulator").joinpath("profiles").iterdir():
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            profile = parse_profile(data, f"simulator/profiles/{entry.name}")
            if profile.id in out:
                raise ProfileError(f"simulator/profiles/{entry.name}: id: duplicate {profile.id!r}")
            out[profile.id] = profile
    return out

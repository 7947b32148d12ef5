"""Fleet files (TOML) into a list of concrete cameras (pure: no sockets are opened here).

Format (see ``simulator/fleets/demo-site.toml`` and docs/simulator.md)::

    [fleet]
    base_address = "127.20.0.1"   # consecutive addresses from here (x.y.z.0 and .255 are skipped)
    port = 8080                   # 80 inside a namespace
    seed = "demo"                 # MACs, serials and passwords derive from it: same file, same fleet
    total = 0                     # with [[mix]]: fill up to this many cameras

    [defaults]                    # knobs every camera starts from
    latency_s = 0.0

    [[cameras]]                   # explicit cameras
    profile = "hikvision-ds-2cd2143g0-i-v5.5.61"
    id = "hik-lobby"              # optional; with count > 1 a suffix -1, -2 ... is added
    count = 1
    knobs = { default_password = true }

    [[cameras]]                   # a recorder (profile with the recording/receiver service)
    profile = "hikvision-ds-7608ni-k2-v4.30.085"
    channels = ["hik-lobby", "127.20.0.200:8080"]   # fleet camera ids or IPv4[:port] it records

    [[mix]]                       # share of the remaining `total - explicit` cameras
    profile = "dahua-ipc-hdbw2431e-s-v2.800-210302"
    weight = 3
"""

from __future__ import annotations

import hashlib
import ipaddress
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simulator.knobs import FleetError, Knobs, Target, parse_knobs
from simulator.profile import Profile, ProfileError, bundled_profiles

__all__ = ["CameraSpec", "Fleet", "FleetError", "Knobs", "Target", "build_fleet", "load_fleet"]


@dataclass(frozen=True)
class CameraSpec:
    """One simulated camera, fully decided."""

    id: str
    profile: Profile
    address: str
    port: int
    username: str
    password: str
    mac: str
    serial: str
    uuid: str
    knobs: Knobs = field(default_factory=Knobs)
    channels: tuple[str, ...] = ()  # a recorder's cameras: their device-service URLs
    nics: tuple[tuple[str, str], ...] = ()  # (interface, MAC) in the profile's order; mac is the first

    def manifest_entry(self) -> dict[str, Any]:
        p = self.profile
        return {
            "id": self.id,
            "profile": p.id,
            "vendor": p.vendor,
            "brand": p.brand,
            "manufacturer": p.manufacturer_string,
            "model": p.model,
            "firmware": p.firmware,
            "address": self.address,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "mac": self.mac,
            "nics": [list(nic) for nic in self.interfaces],
            "serial": self.serial,
            "uuid": self.uuid,
            "hostname": self.hostname,
            "xaddr": self.xaddr("device"),
            "scheme": self.scheme,
            "server_header": p.server_header,
            "auth_flaw": p.auth_flaw.value,
            "knobs": self.knobs.to_json(),
            "channels": list(self.channels),
        }

    @property
    def interfaces(self) -> tuple[tuple[str, str], ...]:
        return self.nics or (("eth0", self.mac),)

    @property
    def hostname(self) -> str:
        return f"{self.profile.hostname}-{self.mac.replace(':', '')[-6:].lower()}"

    @property
    def scheme(self) -> str:
        return "https" if self.profile.https_only else "http"

    def xaddr(self, service: str) -> str:
        port = "" if self.port == (443 if self.profile.https_only else 80) else f":{self.port}"
        return f"{self.scheme}://{self.address}{port}{self.profile.xaddr_path(service)}"


@dataclass(frozen=True)
class Fleet:
    cameras: tuple[CameraSpec, ...]
    port: int
    source: str = "<fleet>"


def _digest(seed: str, *parts: str) -> bytes:
    return hashlib.sha256("\x1f".join((seed, *parts)).encode()).digest()


def derive_mac(profile: Profile, seed: str, camera_id: str, interface: str = "eth0") -> str:
    wifi = interface.startswith("wlan")
    h = _digest(seed, "mac", camera_id) if interface == "eth0" else _digest(seed, "mac", camera_id, interface)
    ouis = profile.wifi_oui if wifi else profile.oui
    oui = ouis[h[0] % len(ouis)]
    return (oui + ":" + ":".join(f"{b:02X}" for b in h[1:4])).lower()


def derive_nics(profile: Profile, seed: str, camera_id: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, derive_mac(profile, seed, camera_id, name)) for name in profile.interfaces)


def derive_password(seed: str, camera_id: str) -> str:
    # Letters, digits and a symbol: passes the strength checks that activation-era firmware applies.
    return "Sim-" + hashlib.sha256(f"{seed}\x1fpw\x1f{camera_id}".encode()).hexdigest()[:12]


def _serial(profile: Profile, seed: str, camera_id: str) -> str:
    n = int.from_bytes(_digest(seed, "serial", camera_id)[:6], "big") % 10**9
    return f"{profile.serial_prefix}{n:09d}"


def address_sequence(base: str) -> Any:
    """Consecutive IPv4 addresses from ``base``, skipping host parts .0 and .255."""
    addr = ipaddress.IPv4Address(base)
    while True:
        if addr.packed[3] not in (0, 255):
            yield str(addr)
        addr += 1


def _apportion(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights`` (deterministic)."""
    wsum = sum(weights)
    if total <= 0 or wsum <= 0:
        return [0] * len(weights)
    exact = [total * w / wsum for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def build_fleet(
    data: Mapping[str, Any], source: str = "<fleet>", profiles: Mapping[str, Profile] | None = None
) -> Fleet:
    """Turn a parsed fleet table into cameras; raises FleetError naming ``source`` and the key."""
    profiles = bundled_profiles() if profiles is None else profiles
    head = data.get("fleet", {})
    if not isinstance(head, dict):
        raise FleetError(f"{source}: fleet: must be a table")
    base_address = str(head.get("base_address", "127.20.0.1"))
    port = head.get("port", 8080)
    seed = str(head.get("seed", "camsentry"))
    total = head.get("total", 0)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise FleetError(f"{source}: fleet.port: must be an integer 1-65535")
    if not isinstance(total, int) or total < 0:
        raise FleetError(f"{source}: fleet.total: must be a non-negative integer")
    try:
        addresses = address_sequence(base_address)
    except ValueError as exc:
        raise FleetError(f"{source}: fleet.base_address: {exc}") from exc
    defaults = parse_knobs(data.get("defaults", {}), Knobs(), f"{source}: defaults")

    plan: list[tuple[str, str | None, Knobs, str | None]] = []  # profile id, id, knobs, address
    wanted_channels: dict[int, tuple[str, list[Any]]] = {}  # plan index -> (where, raw channels)
    for i, cam in enumerate(data.get("cameras", [])):
        where = f"{source}: cameras[{i}]"
        pid = cam.get("profile")
        if pid not in profiles:
            raise FleetError(f"{where}.profile: unknown profile {pid!r}; known: {sorted(profiles)}")
        count = cam.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise FleetError(f"{where}.count: must be a positive integer")
        knobs = parse_knobs(cam.get("knobs", {}), defaults, f"{where}.knobs")
        raw_channels = cam.get("channels", [])
        if not isinstance(raw_channels, list) or not all(isinstance(c, str) for c in raw_channels):
            raise FleetError(f"{where}.channels: must be a list of camera ids or IPv4[:port] strings")
        if raw_channels and not profiles[pid].recorder:
            raise FleetError(f"{where}.channels: profile {pid!r} is not a recorder (no recording service)")
        base_id = cam.get("id")
        for n in range(count):
            cid = None if base_id is None else (base_id if count == 1 else f"{base_id}-{n + 1}")
            if raw_channels:
                wanted_channels[len(plan)] = (f"{where}.channels", raw_channels)
            plan.append((pid, cid, knobs, cam.get("address") if count == 1 else None))
    mix = data.get("mix", [])
    weights = []
    for i, m in enumerate(mix):
        if m.get("profile") not in profiles:
            raise FleetError(f"{source}: mix[{i}].profile: unknown profile {m.get('profile')!r}")
        weight = m.get("weight", 1)
        if not isinstance(weight, int) or weight < 0:
            raise FleetError(f"{source}: mix[{i}].weight: must be a non-negative integer")
        weights.append(weight)
    for i, n in enumerate(_apportion(total - len(plan), weights)):
        knobs = parse_knobs(mix[i].get("knobs", {}), defaults, f"{source}: mix[{i}].knobs")
        plan.extend((mix[i]["profile"], None, knobs, None) for _ in range(n))

    cameras: list[CameraSpec] = []
    seen_ids: set[str] = set()
    seen_addrs: set[str] = set()
    for index, (pid, cid, knobs, fixed_addr) in enumerate(plan):
        profile = profiles[pid]
        camera_id = cid or f"cam-{index + 1:04d}"
        if camera_id in seen_ids:
            raise FleetError(f"{source}: cameras: duplicate id {camera_id!r}")
        address = fixed_addr or next(a for a in addresses if a not in seen_addrs)
        if address in seen_addrs:
            raise FleetError(f"{source}: cameras: address {address} used twice")
        seen_ids.add(camera_id)
        seen_addrs.add(address)
        nics = derive_nics(profile, seed, camera_id)
        mac = nics[0][1]
        cameras.append(
            CameraSpec(
                id=camera_id,
                profile=profile,
                address=address,
                port=port,
                username=profile.default_username,
                password=profile.default_password
                if knobs.default_password
                else derive_password(seed, camera_id),
                mac=mac,
                serial=_serial(profile, seed, camera_id),
                uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"camsentry-sim:{seed}:{camera_id}")),
                knobs=knobs,
                nics=nics,
            )
        )
    if not cameras:
        raise FleetError(f"{source}: no cameras (add [[cameras]] or [[mix]] with fleet.total)")
    for index, (where, raw) in wanted_channels.items():
        urls = tuple(_channel_url(text, cameras, port, f"{source}: {where}") for text in raw)
        cameras[index] = replace(cameras[index], channels=urls)
    return Fleet(cameras=tuple(cameras), port=port, source=source)


def _channel_url(text: str, cameras: list[CameraSpec], port: int, where: str) -> str:
    """A recorder's channel: a fleet camera id, or ``IPv4[:port]`` (a host outside the fleet)."""
    for cam in cameras:
        if cam.id == text:
            return cam.xaddr("device")
    host, _, port_text = text.partition(":")
    try:
        ipaddress.IPv4Address(host)
        if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
            raise ValueError(f"bad port {port_text!r}")
    except ValueError as exc:
        raise FleetError(f"{where}: {text!r} is neither a camera id nor IPv4[:port] ({exc})") from exc
    port = int(port_text) if port_text else port
    return f"http://{host}{'' if port == 80 else f':{port}'}/onvif/device_service"


def load_fleet(
    path_or_dict: Path | str | Mapping[str, Any], profiles: Mapping[str, Profile] | None = None
) -> Fleet:
    """Load a fleet from a TOML file path or an already parsed dict."""
    if isinstance(path_or_dict, Mapping):
        return build_fleet(path_or_dict, "<dict>", profiles)
    path = Path(path_or_dict)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FleetError(f"{path}: {exc}") from exc
    try:
        return build_fleet(data, str(path), profiles)
    except ProfileError as exc:
        raise FleetError(str(exc)) from exc


def bundled_fleet_path(name: str = "demo-site") -> Path:
    """Path of a fleet file shipped in ``simulator/fleets``."""
    return Path(__file__).with_name("fleets") / f"{name}.toml"

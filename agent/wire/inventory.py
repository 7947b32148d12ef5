"""The inventory record: what one sweep learnt of one device, and the body that carries it (pure).

``DeviceRecord.to_json()`` is the only way the agent writes a device record and
``DeviceRecord.decode()`` the only way the collector reads one; ``InventoryBody`` wraps it with
the device key and the sweep. The JSON stays flat (``record_version`` 2; version 1, without
``signals``, still decodes). Unknown fields are kept in ``extra``; a record with a newer
``record_version`` decodes what this code knows and keeps the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from agent.wire.canonical import canonical_json
from agent.wire.errors import BodyError
from agent.wire.fields import Fields, with_extra
from agent.wire.findings import Finding

RECORD_VERSION = 2
# Fields that change on every poll without the device changing; not a reason to resend.
VOLATILE_FIELDS = frozenset({"clock_offset_s", "polled_at", "poll_duration_s"})


@dataclass(frozen=True)
class Signals:
    """The raw identification signals the agent saw, so the collector can judge again."""

    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    mac: str = ""
    scopes: tuple[str, ...] = ()
    http_server: str = ""
    login_title: str = ""
    hostnames: tuple[str, ...] = ()
    probe_scopes: tuple[str, ...] = ()  # from the WS-Discovery ProbeMatch
    xaddr_hints: tuple[str, ...] = ()  # the ProbeMatch XAddrs and endpoint reference
    macs: tuple[str, ...] = ()  # every interface's MAC beside ``mac``

    def to_json(self) -> dict[str, Any]:
        return {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "firmware": self.firmware,
            "serial": self.serial,
            "mac": self.mac,
            "scopes": list(self.scopes),
            "http_server": self.http_server,
            "login_title": self.login_title,
            "hostnames": list(self.hostnames),
            "probe_scopes": list(self.probe_scopes),
            "xaddr_hints": list(self.xaddr_hints),
            "macs": list(self.macs),
        }

    @classmethod
    def decode(cls, obj: Any, where: str = "signals") -> Signals:
        f = Fields(obj, where)
        return cls(
            manufacturer=f.text("manufacturer"),
            model=f.text("model"),
            firmware=f.text("firmware"),
            serial=f.text("serial"),
            mac=f.text("mac"),
            scopes=f.texts("scopes"),
            http_server=f.text("http_server"),
            login_title=f.text("login_title"),
            hostnames=f.texts("hostnames"),
            probe_scopes=f.texts("probe_scopes"),
            xaddr_hints=f.texts("xaddr_hints"),
            macs=f.texts("macs"),
        )


@dataclass(frozen=True)
class Evidence:
    """One identification signal and the maker (or brand) it points to, with its weight."""

    signal: str
    value: str
    points_to: str
    weight: float
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return with_extra(
            {"signal": self.signal, "value": self.value, "points_to": self.points_to, "weight": self.weight},
            self.extra,
        )

    @classmethod
    def decode(cls, obj: Any, where: str = "evidence") -> Evidence:
        f = Fields(obj, where)
        signal, value, points_to = f.text("signal", required=True), f.text("value"), f.text("points_to")
        return cls(signal, value, points_to, f.number("weight"), f.extra())


@dataclass(frozen=True)
class Vulnerability:
    cve: str
    kev: bool = False
    summary: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)  # kev_added, fixed_in ...

    def to_json(self) -> dict[str, Any]:
        return with_extra({"cve": self.cve, "kev": self.kev, "summary": self.summary}, self.extra)

    @classmethod
    def decode(cls, obj: Any, where: str = "vulnerability") -> Vulnerability:
        f = Fields(obj, where)
        cve = f.name("cve")
        return cls(cve, f.flag("kev"), f.text("summary"), f.extra())


@dataclass(frozen=True)
class Protocol:
    name: str
    enabled: bool
    ports: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "enabled": self.enabled, "ports": list(self.ports)}

    @classmethod
    def decode(cls, obj: Any, where: str = "protocol") -> Protocol:
        f = Fields(obj, where)
        ports = f.raw("ports") or []
        if not isinstance(ports, list) or not all(type(p) is int for p in ports):
            raise BodyError(f"{where}.ports: expected a list of integers")
        return cls(f.text("name", required=True), f.flag("enabled"), tuple(ports))


@dataclass(frozen=True)
class User:
    username: str
    level: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "level": self.level}

    @classmethod
    def decode(cls, obj: Any, where: str = "user") -> User:
        f = Fields(obj, where)
        return cls(f.text("username", required=True), f.text("level"))


@dataclass(frozen=True)
class ServiceEntry:
    namespace: str
    version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "version": self.version}

    @classmethod
    def decode(cls, obj: Any, where: str = "service") -> ServiceEntry:
        f = Fields(obj, where)
        return cls(f.text("namespace", required=True), f.text("version"))


@dataclass(frozen=True)
class ChannelEntry:
    """A camera a recorder records from."""

    host: str
    uri: str = ""
    name: str = ""
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "uri": self.uri, "name": self.name, "source": self.source}

    @classmethod
    def decode(cls, obj: Any, where: str = "channel") -> ChannelEntry:
        f = Fields(obj, where)
        return cls(f.text("host", required=True), f.text("uri"), f.text("name"), f.text("source"))


@dataclass(frozen=True)
class DeviceRecord:
    """One device as one sweep saw it: identity, network, clock, identification, findings."""

    # Identity and where the agent found it.
    address: str
    port: int
    source: str = ""  # config | ws-discovery | neighbours | recorder:<address>
    reachable: bool | None = None  # None: the sender did not say (version 1 test records)
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    hardware_id: str | None = None
    mac: str | None = None
    # Identification verdict and its evidence.
    maker: str | None = None
    maker_restricted: bool = False
    brand: str | None = None
    maker_confidence: float | None = None
    restricted: str = ""  # the verdict: yes | probable | no | unknown ("" from older agents)
    evidence: tuple[Evidence, ...] = ()
    signals: Signals = Signals()
    vulnerabilities: tuple[Vulnerability, ...] = ()
    findings: tuple[Finding, ...] = ()
    # Clock.
    clock_offset_s: float | None = None
    # Network.
    hostname: str | None = None
    ipv4: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    ntp_servers: tuple[str, ...] | None = None
    dns_servers: tuple[str, ...] | None = None
    protocols: tuple[Protocol, ...] = ()
    users: tuple[User, ...] = ()
    services: tuple[ServiceEntry, ...] = ()
    channels: tuple[ChannelEntry, ...] = ()
    http_server: str | None = None
    authenticated: bool | None = None
    # The poll itself.
    polled_at: str = ""
    poll_duration_s: float = 0.0
    record_version: int = RECORD_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """A stable identity: MAC if known, else serial and model, else address:port."""
        if self.mac:
            return "mac:" + self.mac.lower()
        if self.serial:
            return f"serial:{self.model or ''}:{self.serial}"
        return f"addr:{self.address}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return with_extra(
            {
                "record_version": self.record_version,
                "address": self.address,
                "port": self.port,
                "source": self.source,
                "reachable": self.reachable,
                "manufacturer": self.manufacturer,
                "model": self.model,
                "firmware": self.firmware,
                "serial": self.serial,
                "hardware_id": self.hardware_id,
                "mac": self.mac,
                "maker": self.maker,
                "maker_restricted": self.maker_restricted,
                "brand": self.brand,
                "maker_confidence": self.maker_confidence,
                "restricted": self.restricted,
                "evidence": [e.to_json() for e in self.evidence],
                "signals": self.signals.to_json(),
                "vulnerabilities": [v.to_json() for v in self.vulnerabilities],
                "findings": [f.to_json() for f in self.findings],
                "clock_offset_s": self.clock_offset_s,
                "hostname": self.hostname,
                "ipv4": list(self.ipv4),
                "scopes": list(self.scopes),
                "ntp_servers": None if self.ntp_servers is None else list(self.ntp_servers),
                "dns_servers": None if self.dns_servers is None else list(self.dns_servers),
                "protocols": [p.to_json() for p in self.protocols],
                "users": [u.to_json() for u in self.users],
                "services": [s.to_json() for s in self.services],
                "channels": [c.to_json() for c in self.channels],
                "http_server": self.http_server,
                "authenticated": self.authenticated,
                "polled_at": self.polled_at,
                "poll_duration_s": self.poll_duration_s,
            },
            self.extra,
        )

    @classmethod
    def decode(cls, obj: Any, where: str = "device") -> DeviceRecord:
        """Strict: a known field of the wrong type raises ``BodyError``; unknown ones go to ``extra``."""
        f = Fields(obj, where)
        version = f.integer("record_version", default=1)
        if version < 1:
            raise BodyError(f"{where}.record_version: {version} is not a version")
        port = f.integer("port", required=True)
        if not 0 <= port <= 65535:
            raise BodyError(f"{where}.port: {port} is not a port")
        confidence = f.opt_number("maker_confidence")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise BodyError(f"{where}.maker_confidence: {confidence} is not within 0..1")
        record = cls(
            record_version=version,
            address=f.text("address", required=True),
            port=port,
            source=f.text("source"),
            reachable=f.opt_flag("reachable"),
            manufacturer=f.opt_text("manufacturer"),
            model=f.opt_text("model"),
            firmware=f.opt_text("firmware"),
            serial=f.opt_text("serial"),
            hardware_id=f.opt_text("hardware_id"),
            mac=f.opt_text("mac"),
            maker=f.opt_text("maker"),
            maker_restricted=f.flag("maker_restricted"),
            brand=f.opt_text("brand"),
            maker_confidence=confidence,
            restricted=f.text("restricted"),
            evidence=f.items("evidence", Evidence.decode),
            vulnerabilities=f.items("vulnerabilities", Vulnerability.decode),
            findings=f.items("findings", Finding.decode),
            clock_offset_s=f.opt_number("clock_offset_s"),
            hostname=f.opt_text("hostname"),
            ipv4=f.texts("ipv4"),
            scopes=f.texts("scopes"),
            ntp_servers=f.opt_texts("ntp_servers"),
            dns_servers=f.opt_texts("dns_servers"),
            protocols=f.items("protocols", Protocol.decode),
            users=f.items("users", User.decode),
            services=f.items("services", ServiceEntry.decode),
            channels=f.items("channels", ChannelEntry.decode),
            http_server=f.opt_text("http_server"),
            authenticated=f.opt_flag("authenticated"),
            polled_at=f.text("polled_at"),
            poll_duration_s=f.number("poll_duration_s"),
        )
        raw_signals = f.obj("signals")
        signals = (
            Signals.decode(raw_signals, f"{where}.signals")
            if raw_signals is not None
            else _signals_of_v1(record)
        )
        return replace(record, signals=signals, extra=f.extra())


def _signals_of_v1(r: DeviceRecord) -> Signals:
    """Version 1 records carried no ``signals``: the flat fields are what the agent saw."""
    names = [r.hostname] if r.hostname else []
    return Signals(
        manufacturer=r.manufacturer or "",
        model=r.model or "",
        firmware=r.firmware or "",
        serial=r.serial or "",
        mac=r.mac or "",
        scopes=r.scopes,
        http_server=r.http_server or "",
        hostnames=(*names, *(r.ntp_servers or ())),
    )


def device_key(record: DeviceRecord) -> str:
    return record.key


def record_fingerprint(record: DeviceRecord) -> str:
    """Changes when the device changed, not when only the poll's timing did."""
    stable = {k: v for k, v in record.to_json().items() if k not in VOLATILE_FIELDS}
    return hashlib.sha256(canonical_json(stable)).hexdigest()


@dataclass(frozen=True)
class InventoryBody:
    """The body of an ``inventory`` envelope: one device record of one sweep."""

    device: DeviceRecord
    sweep: str
    snapshot: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return self.device.key

    def to_body(self) -> dict[str, Any]:
        return with_extra(
            {
                "device": self.device.to_json(),
                "key": self.key,
                "sweep": self.sweep,
                "snapshot": self.snapshot,
            },
            self.extra,
        )

    @classmethod
    def decode(cls, body: Any) -> InventoryBody:
        """The body of an inventory envelope, or ``BodyError``; the key is the device's own."""
        f = Fields(body, "inventory")
        device = DeviceRecord.decode(f.obj("device", required=True), "device")
        f.opt_text("key")  # derived from the device; a sender's value is not trusted
        return cls(device=device, sweep=f.text("sweep"), snapshot=f.flag("snapshot"), extra=f.extra())


def inventory_body(record: DeviceRecord, *, sweep: str, snapshot: bool) -> dict[str, Any]:
    return InventoryBody(record, sweep, snapshot).to_body()

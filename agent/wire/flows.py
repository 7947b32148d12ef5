"""Flow findings: one aggregated flow from a device to a destination, and the body carrying it (pure).

The egress watcher builds ``FlowFinding``\\ s; a ``flow`` envelope's body is ``{"flow": {...}}``
(``{"flows": [...]}`` also decodes). Counters are cumulative since ``first_seen``, so the newest
finding for a (device, destination, port, protocol) replaces the older ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.fields import Fields, with_extra

# Tags the watcher puts on a flow: ``vendor_cloud:<maker>`` for a known vendor cloud or P2P
# domain, ``core_network`` for a destination in the site's core networks.
VENDOR_CLOUD_TAG = "vendor_cloud:"
CORE_NETWORK_TAG = "core_network"


@dataclass(frozen=True)
class FlowProcess:
    """The host process that owned a socket (the sockets source only)."""

    pid: int
    name: str | None = None
    exe: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "name": self.name, "exe": self.exe}

    @classmethod
    def decode(cls, obj: Any, where: str = "process") -> FlowProcess:
        f = Fields(obj, where)
        return cls(f.integer("pid", required=True), f.opt_text("name"), f.opt_text("exe"))


@dataclass(frozen=True)
class FlowFinding:
    device: str  # the source address
    destination: str
    port: int
    protocol: str
    first_seen: str
    last_seen: str
    count: int = 0
    bytes: int | None = None
    device_id: str | None = None  # the device key, when the agent knew the device
    device_maker: str | None = None
    device_brand: str | None = None
    hostname: str | None = None
    hostnames: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    allowed: bool = False
    source: str = ""  # conntrack | sockets
    process: FlowProcess | None = None
    overflow: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.device, self.destination, self.port, self.protocol)

    @property
    def vendor_clouds(self) -> tuple[str, ...]:
        return tuple(sorted(t for t in self.tags if t.startswith(VENDOR_CLOUD_TAG)))

    def to_json(self) -> dict[str, Any]:
        return with_extra(
            {
                "device": self.device,
                "device_id": self.device_id,
                "device_maker": self.device_maker,
                "device_brand": self.device_brand,
                "destination": self.destination,
                "port": self.port,
                "protocol": self.protocol,
                "hostname": self.hostname,
                "hostnames": list(self.hostnames),
                "tags": list(self.tags),
                "first_seen": self.first_seen,
                "last_seen": self.last_seen,
                "count": self.count,
                "bytes": self.bytes,
                "allowed": self.allowed,
                "source": self.source,
                "process": self.process.to_json() if self.process else None,
                "overflow": self.overflow,
            },
            self.extra,
        )

    @classmethod
    def decode(cls, obj: Any, where: str = "flow") -> FlowFinding:
        f = Fields(obj, where)
        port = f.integer("port", required=True)
        if not 0 <= port <= 65535:
            raise BodyError(f"{where}.port: {port} is not a port")
        process = f.obj("process")
        return cls(
            device=f.text("device", required=True),
            destination=f.text("destination", required=True),
            port=port,
            protocol=f.text("protocol", required=True),
            first_seen=f.text("first_seen"),
            last_seen=f.text("last_seen"),
            count=f.integer("count"),
            bytes=f.opt_integer("bytes"),
            device_id=f.opt_text("device_id"),
            device_maker=f.opt_text("device_maker"),
            device_brand=f.opt_text("device_brand"),
            hostname=f.opt_text("hostname"),
            hostnames=f.texts("hostnames"),
            tags=f.texts("tags"),
            allowed=f.flag("allowed"),
            source=f.text("source"),
            process=None if process is None else FlowProcess.decode(process, f"{where}.process"),
            overflow=f.flag("overflow"),
            extra=f.extra(),
        )


@dataclass(frozen=True)
class FlowBody:
    """The body of a ``flow`` envelope: one finding (or several, from an agent that batches)."""

    flows: tuple[FlowFinding, ...]
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_body(self) -> dict[str, Any]:
        if len(self.flows) == 1:
            return with_extra({"flow": self.flows[0].to_json()}, self.extra)
        return with_extra({"flows": [f.to_json() for f in self.flows]}, self.extra)

    @classmethod
    def decode(cls, body: Any) -> FlowBody:
        f = Fields(body, "flow body")
        one = f.obj("flow")
        many = f.items("flows", FlowFinding.decode)
        if one is None and not many:
            raise BodyError("flow body: neither flow nor flows")
        flows = (FlowFinding.decode(one, "flow"), *many) if one is not None else many
        return cls(flows, extra=f.extra())


def flow_body(finding: FlowFinding) -> dict[str, Any]:
    return FlowBody((finding,)).to_body()

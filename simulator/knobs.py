"""Per-camera behaviour knobs and phone-home targets, parsed from fleet-file tables (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


class FleetError(ValueError):
    """A fleet file is invalid; the message names the file and key."""


@dataclass(frozen=True)
class Target:
    """A phone-home destination: ``host:port/proto``."""

    host: str
    port: int
    proto: str = "tcp"

    @classmethod
    def parse(cls, text: str) -> Target:
        spec, _, proto = text.partition("/")
        host, sep, port = spec.rpartition(":")
        if not sep or not port.isdigit() or proto not in ("", "tcp", "udp"):
            raise ValueError(f"phone-home target {text!r} is not host:port[/tcp|/udp]")
        ipaddress.ip_address(host)
        return cls(host, int(port), proto or "tcp")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.proto}"


@dataclass(frozen=True)
class Knobs:
    """Per-camera behaviour; every hostile knob applies to SOAP answers (``hostile_ops`` narrows them)."""

    clock_offset_s: float = 0.0
    latency_s: float = 0.0
    hang: bool = False  # accept, read the request, never answer
    drop: bool = False  # read the request, close the connection without a byte
    malformed_xml: bool = False
    oversized_bytes: int = 0  # pad the answer to exactly this many bytes
    xml_bomb: bool = False  # answer with an entity-expansion ("billion laughs") document
    wrong_content_type: bool = False  # text/html instead of application/soap+xml
    slow_drip_chunk: int = 0  # bytes per write; 0 = off
    slow_drip_interval_s: float = 0.5
    default_password: bool = False  # the profile's factory password instead of a per-camera one
    phone_home: tuple[Target, ...] = ()
    phone_home_interval_s: float = 30.0
    hostile_ops: tuple[str, ...] = ()  # empty = every SOAP operation

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["phone_home"] = [str(t) for t in self.phone_home]
        out["hostile_ops"] = list(self.hostile_ops)
        return out

    def applies_to(self, operation: str) -> bool:
        return not self.hostile_ops or operation in self.hostile_ops


_KNOB_FIELDS = {f.name: f for f in fields(Knobs)}


def parse_knobs(raw: Mapping[str, Any], base: Knobs, where: str) -> Knobs:
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _KNOB_FIELDS:
            raise FleetError(f"{where}.{key}: unknown knob; known: {sorted(_KNOB_FIELDS)}")
        default = getattr(Knobs(), key)
        try:
            if key == "phone_home":
                changes[key] = tuple(Target.parse(str(v)) for v in value)
            elif key == "hostile_ops":
                changes[key] = tuple(str(v) for v in value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise TypeError("must be true or false")
                changes[key] = value
            elif isinstance(default, int):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise TypeError("must be a non-negative integer")
                changes[key] = value
            else:
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise TypeError("must be a number")
                changes[key] = float(value)
        except (TypeError, ValueError) as exc:
            raise FleetError(f"{where}.{key}: {exc}") from exc
    return replace(base, **changes)

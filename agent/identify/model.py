"""What identification reads and what it says: signals, evidence rows, the verdict (pure).

The weights say how strongly one signal alone says "this maker"; ``classify`` combines them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Signal(StrEnum):
    MANUFACTURER = "manufacturer"
    MODEL = "model"
    SERIAL = "serial"
    MAC_OUI = "mac_oui"
    SCOPE = "scope"
    HTTP_SERVER = "http_server"
    LOGIN_PAGE = "login_page"
    HOSTNAME = "hostname"
    FIRMWARE_FORMAT = "firmware_format"
    OEM = "oem"
    GENERIC_LABEL = "generic_label"
    SCOPE_MAC = "scope_mac"
    SERIAL_MAC = "serial_mac"
    XADDR = "xaddr"


# Weights: how strongly one signal alone says "this maker". The manufacturer string and MAC
# prefix are what the device itself asserts; model-number families are distinctive; scopes,
# HTTP fingerprints and firmware formats are easier to share or fake.
# Calibrated (docs/identification.md) so that one restricted-family model pattern or one known
# OEM brand in the manufacturer string, of high or med confidence and unopposed, clears the
# default policy threshold (0.5): 0.65 x 0.8 = 0.52, 0.7 x 0.8 = 0.56; a low-confidence row
# (x 0.35) never does.
WEIGHTS: dict[Signal, float] = {
    Signal.MANUFACTURER: 0.7,
    Signal.MODEL: 0.65,
    Signal.SERIAL: 0.4,
    Signal.MAC_OUI: 0.7,
    Signal.SCOPE: 0.4,
    Signal.HTTP_SERVER: 0.35,
    Signal.LOGIN_PAGE: 0.35,
    Signal.HOSTNAME: 0.5,
    Signal.FIRMWARE_FORMAT: 0.4,
    Signal.OEM: 0.6,
    # "General", "IPC", "NVR": nothing alone; beside evidence for a maker whose OEM firmware
    # sends the label, it adds to that maker (General + a Dahua firmware string: 0.55).
    Signal.GENERIC_LABEL: 0.25,
    Signal.SCOPE_MAC: 0.7,  # the device's own MAC, as its scopes state it
    Signal.SERIAL_MAC: 0.7,  # a serial number that is the MAC
    Signal.XADDR: 0.7,  # scaled by XADDR_MAC_FACTOR: a MAC the endpoint reference may carry
}
HINT_WEIGHT = 0.15  # an OUI of a related registrant whose tie is unverified
# Below this the maker is reported as unknown (evidence kept): a single low-confidence hint
# must never name a maker, least of all a restricted one.
MIN_REPORTED_CONFIDENCE = 0.3
# The collector policy's default ``min_maker_confidence``: at or above it a restricted maker
# counts as restricted ("yes"); the policy may set another threshold and judges again itself.
DEFAULT_THRESHOLD = 0.5
# A restricted maker scoring at least this, without a "yes", is "probable": shown with its
# evidence, never treated as clean.
PROBABLE_FLOOR = 0.2
# An endpoint reference that ends in 12 hex digits often carries the MAC, but not always.
XADDR_MAC_FACTOR = 0.4


@dataclass(frozen=True)
class Evidence:
    signal: Signal
    value: str
    points_to: str  # a maker id, or a brand id for label evidence
    weight: float

    def as_json(self) -> dict[str, object]:
        return {
            "signal": str(self.signal),
            "value": self.value,
            "points_to": self.points_to,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Signals:
    """What a sweep (and the egress watcher) saw of one device.

    ``scopes`` come from GetScopes, ``probe_scopes`` from the WS-Discovery ProbeMatch (a scope
    in both counts once); ``xaddr_hints`` are the ProbeMatch XAddrs URLs and endpoint
    reference; ``macs`` every interface's MAC beside the primary ``mac``.
    """

    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    mac: str = ""
    scopes: Sequence[str] = ()
    http_server: str = ""
    login_title: str = ""
    hostnames: Sequence[str] = ()
    probe_scopes: Sequence[str] = ()
    xaddr_hints: Sequence[str] = ()
    macs: Sequence[str] = ()


class Restricted(StrEnum):
    """Whether the hardware is by a restricted maker, as the default threshold sees it."""

    YES = "yes"  # a restricted maker, confidence at or above DEFAULT_THRESHOLD
    PROBABLE = "probable"  # restricted evidence of weight, not enough for yes
    NO = "no"  # an unrestricted maker named, nothing restricted of weight against it
    UNKNOWN = "unknown"  # no maker named, no restricted evidence


@dataclass(frozen=True)
class Identification:
    maker: str | None
    brand: str | None
    confidence: float
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    scores: dict[str, float] = field(default_factory=dict)
    restricted: Restricted = Restricted.UNKNOWN

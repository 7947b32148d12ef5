"""Who made the hardware, whose name is on the label, how sure, and why (pure).

Every independent signal becomes an Evidence row with its own weight. Weights per maker
combine as independent probabilities (1 - prod(1 - w)); the confidence is the winner's score
discounted by the strongest rival's, so contradicting evidence shows as doubt, not as a guess.
A brand (EZVIZ, Annke, Lorex, Amcrest ...) counts for the maker of its hardware through the
OEM table, scaled by how well that relationship is sourced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote

from agent.identify.tables import Confidence, Oui, OuiKind, Pattern, Tables, oui_key


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
_SCOPE = re.compile(r"^onvif://www\.onvif\.org/(?:type/)?([A-Za-z_]+)/(.*)$")


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


def find_name(tables: Tables, text: str) -> str | None:
    """The first vendor or brand named in free text (``HIKVISION DS-2CD...``, ``Annke``)."""
    lowered = text.lower()
    for pattern, ident in tables.name_patterns:
        if pattern.search(lowered):
            return ident
    return None


class _Collector:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.evidence: list[Evidence] = []
        self.labels: list[str] = []  # brand or maker names seen on the device, first = strongest

    def add(
        self, signal: Signal, value: str, ident: str, factor: float = 1.0, *, label: bool = False
    ) -> None:
        """Evidence for ``ident``; a brand also yields OEM evidence for the maker of its hardware."""
        weight = round(WEIGHTS[signal] * factor, 3)
        self.evidence.append(Evidence(signal, value[:200], ident, weight))
        if label:
            self.labels.append(ident)
        brand = self.tables.brands.get(ident)
        if brand is not None and ident not in self.tables.vendors:
            self._add_oem(
                f"{brand.display} hardware by {brand.maker}",
                brand.maker,
                round(weight * brand.confidence.factor, 3),
            )

    def _add_oem(self, value: str, maker: str, weight: float) -> None:
        """Each signal naming a brand counts for its maker; the evidence list says it once, its
        weight the combination of all of them (so the maker's score is unchanged)."""
        for i, e in enumerate(self.evidence):
            if e.signal is Signal.OEM and e.value == value:
                combined = 1.0 - (1.0 - e.weight) * (1.0 - weight)
                self.evidence[i] = Evidence(Signal.OEM, value, maker, round(combined, 3))
                return
        self.evidence.append(Evidence(Signal.OEM, value, maker, weight))

    def patterns(self, signal: Signal, value: str, patterns: Iterable[Pattern]) -> bool:
        """Evidence from the first pattern that matches ``value``; False if none does."""
        for p in patterns:
            if value and p.regex.search(value):
                self.add(signal, value, p.maker, p.confidence.factor)
                return True
        return False


def _oui(tables: Tables, mac: str) -> Oui | None:
    digits = oui_key(mac.replace("-", ":"))
    if len(digits) != 12 or int(digits[1], 16) & 0x2:  # locally administered: says nothing
        return None
    for length in (9, 7, 6):
        row = tables.ouis.get(digits[:length])
        if row is not None:
            return row
    return None


_HEX12 = re.compile(r"^[0-9A-Fa-f]{12}$")
_MACLIKE = re.compile(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$")
_UUID_TAIL = re.compile(r"[-:]([0-9A-Fa-f]{12})$")


def _serial_mac(serial: str) -> str:
    """The serial number when it is a MAC (Axis, some OEM units): 12 hex digits, any separators."""
    s = serial.strip()
    return s if _MACLIKE.match(s) and not s.isdigit() else ""


def _xaddr_mac(hint: str) -> str:
    m = _UUID_TAIL.search(hint.strip())
    return m.group(1) if m and hint.lower().startswith(("urn:uuid:", "uuid:")) else ""


def _scope_parts(scope: str) -> tuple[str, str] | None:
    m = _SCOPE.match(scope.strip())
    if not m:
        return None
    return m.group(1).lower(), unquote(m.group(2)).strip()


def classify(signals: Signals, tables: Tables) -> Identification:
    """Weigh every signal; the maker of the hardware, the brand on the label, confidence, evidence."""
    c = _Collector(tables)
    if signals.manufacturer:
        ident = find_name(tables, signals.manufacturer)
        if ident is not None:
            c.add(Signal.MANUFACTURER, signals.manufacturer, ident, label=True)
    model_hit = c.patterns(Signal.MODEL, signals.model, tables.model_patterns)
    if not model_hit and signals.model and not signals.manufacturer:
        # Some recorders and VMSs put the vendor into the model ("Dahua Technology Co., LTD DH-…").
        ident = find_name(tables, signals.model)
        if ident is not None:
            c.add(Signal.MANUFACTURER, signals.model, ident, label=True)
            model_hit = c.patterns(Signal.MODEL, signals.model.split()[-1], tables.model_patterns)
    if signals.serial and not model_hit:
        c.patterns(
            Signal.SERIAL,
            signals.serial,
            [p for p in tables.model_patterns if p.confidence != Confidence.LOW],
        )
    scopes = list(dict.fromkeys([*signals.scopes, *signals.probe_scopes]))
    macs: list[tuple[str, Signal, float]] = [
        (m, Signal.MAC_OUI, 1.0) for m in (signals.mac, *signals.macs) if m
    ]
    macs += [
        (p[1], Signal.SCOPE_MAC, 1.0)
        for s in scopes
        if (p := _scope_parts(s)) and p[0] in ("mac", "macaddress")
    ]
    if serial_mac := _serial_mac(signals.serial):
        macs.append((serial_mac, Signal.SERIAL_MAC, 1.0))
    macs += [(m, Signal.XADDR, XADDR_MAC_FACTOR) for h in signals.xaddr_hints if (m := _xaddr_mac(h))]
    counted: set[str] = set()
    for mac, signal, factor in macs:
        row = _oui(tables, mac)
        if row is None or row.points_to in counted:
            continue  # one MAC per maker: two interfaces of one camera are one piece of evidence
        counted.add(row.points_to)
        if row.kind is OuiKind.MODULE:
            # Shown, weightless: the radio's maker, not the camera's; other MACs may still speak.
            c.evidence.append(
                Evidence(signal, f"{mac} (module maker {row.registrant}: no evidence)", "", 0.0)
            )
            continue
        weight = factor if row.kind != OuiKind.HINT else HINT_WEIGHT / WEIGHTS[Signal.MAC_OUI]
        c.add(signal, mac, row.points_to, weight)
    for scope in scopes:
        parts = _scope_parts(scope)
        if parts is None or not parts[1]:
            continue
        key, value = parts
        if key in ("name", "manufacturer"):
            ident = find_name(tables, value)
            if ident is not None:
                c.add(Signal.SCOPE, scope, ident, label=True)
        elif key in ("hardware", "model") and value.upper() != signals.model.upper():
            c.patterns(Signal.SCOPE, value, tables.model_patterns)
    if signals.http_server and not c.patterns(
        Signal.HTTP_SERVER, signals.http_server, tables.server_patterns
    ):
        ident = find_name(tables, signals.http_server)
        if ident is not None:
            c.add(Signal.HTTP_SERVER, signals.http_server, ident)
    if signals.login_title:
        ident = find_name(tables, signals.login_title)
        if ident is not None:
            c.add(Signal.LOGIN_PAGE, signals.login_title, ident, label=True)
        else:
            c.patterns(Signal.LOGIN_PAGE, signals.login_title, tables.title_patterns)
    for host in signals.hostnames:
        name = host.lower().rstrip(".")
        for domain in tables.cloud_domains:
            if name == domain.domain or name.endswith("." + domain.domain):
                c.add(Signal.HOSTNAME, name, domain.maker, domain.confidence.factor)
                break
    c.patterns(Signal.FIRMWARE_FORMAT, signals.firmware, tables.firmware_formats)
    _generic_labels(c, signals, scopes)
    return _decide(c, signals)


def _generic_labels(c: _Collector, signals: Signals, scopes: Sequence[str]) -> None:
    """A neutral label counts only for a maker other evidence already points to."""
    named = {e.points_to for e in c.evidence if e.points_to in c.tables.vendors}
    texts = [signals.manufacturer, signals.model]
    texts += [p[1] for s in scopes if (p := _scope_parts(s)) and p[0] == "name"]
    for text in texts:
        label = c.tables.generic_labels.get(text.strip().lower())
        if label is None:
            continue
        for maker in label.makers:
            if maker in named:
                c.add(Signal.GENERIC_LABEL, text, maker)
                return  # one label, once


def _decide(c: _Collector, signals: Signals) -> Identification:
    tables = c.tables
    remaining: dict[str, float] = {}
    for ev in c.evidence:
        maker = ev.points_to if ev.points_to in tables.vendors else None
        if maker is None:
            continue  # brand label evidence; its OEM row carries the weight
        remaining[maker] = remaining.get(maker, 1.0) * (1.0 - ev.weight)
    scores = {m: round(1.0 - r, 3) for m, r in remaining.items()}
    brand = c.labels[0] if c.labels else None
    if not scores:
        label = brand or (signals.manufacturer.strip().lower() or None)
        return Identification(None, label, 0.0, tuple(c.evidence), {}, Restricted.UNKNOWN)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    winner, top = ranked[0]
    rival = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = round(top * (1.0 - rival), 2)
    maker = winner if confidence >= MIN_REPORTED_CONFIDENCE else None
    # The label is the brand even where it names a maker the evidence contradicts.
    return Identification(
        maker,
        brand or maker,
        confidence,
        tuple(c.evidence),
        scores,
        _restricted(tables, maker, confidence, scores),
    )


def _restricted(tables: Tables, maker: str | None, confidence: float, scores: dict[str, float]) -> Restricted:
    """yes / probable / no / unknown: see ``Restricted``; the matrix is in docs/identification.md."""
    vendor = tables.vendors.get(maker or "")
    if vendor is not None and vendor.restricted and confidence >= DEFAULT_THRESHOLD:
        return Restricted.YES
    strongest = max((v for m, v in scores.items() if tables.vendors[m].restricted), default=0.0)
    if strongest >= PROBABLE_FLOOR and (
        vendor is None or vendor.restricted or strongest >= DEFAULT_THRESHOLD
    ):
        return Restricted.PROBABLE
    return Restricted.UNKNOWN if vendor is None else Restricted.NO

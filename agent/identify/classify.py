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

from agent.identify.tables import Confidence, OuiKind, Pattern, Tables, oui_key


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


# Weights: how strongly one signal alone says "this maker". The manufacturer string and MAC
# prefix are what the device itself asserts; model-number families are distinctive; scopes,
# HTTP fingerprints and firmware formats are easier to share or fake.
WEIGHTS: dict[Signal, float] = {
    Signal.MANUFACTURER: 0.6,
    Signal.MODEL: 0.6,
    Signal.SERIAL: 0.4,
    Signal.MAC_OUI: 0.7,
    Signal.SCOPE: 0.4,
    Signal.HTTP_SERVER: 0.35,
    Signal.LOGIN_PAGE: 0.35,
    Signal.HOSTNAME: 0.5,
    Signal.FIRMWARE_FORMAT: 0.3,
    Signal.OEM: 0.6,
}
HINT_WEIGHT = 0.15  # an OUI of a related registrant whose tie is unverified
# Below this the maker is reported as unknown (evidence kept): a single low-confidence hint
# must never name a maker, least of all a restricted one.
MIN_REPORTED_CONFIDENCE = 0.3
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
    """What a sweep (and the egress watcher) saw of one device."""

    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    mac: str = ""
    scopes: Sequence[str] = ()
    http_server: str = ""
    login_title: str = ""
    hostnames: Sequence[str] = ()


@dataclass(frozen=True)
class Identification:
    maker: str | None
    brand: str | None
    confidence: float
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    scores: dict[str, float] = field(default_factory=dict)


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


def _oui(tables: Tables, mac: str) -> tuple[str, OuiKind] | None:
    digits = oui_key(mac)
    if len(digits) != 12 or int(digits[1], 16) & 0x2:  # locally administered: says nothing
        return None
    for length in (9, 7, 6):
        row = tables.ouis.get(digits[:length])
        if row is not None:
            return row.points_to, row.kind
    return None


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
    if signals.serial and not model_hit:
        c.patterns(
            Signal.SERIAL,
            signals.serial,
            [p for p in tables.model_patterns if p.confidence != Confidence.LOW],
        )
    mac_seen = ""
    for mac in [signals.mac] + [
        p[1] for s in signals.scopes if (p := _scope_parts(s)) and p[0] in ("mac", "macaddress")
    ]:
        hit = _oui(tables, mac) if mac else None
        if hit is not None and not mac_seen:
            mac_seen = mac
            ident, kind = hit
            c.add(
                Signal.MAC_OUI,
                mac,
                ident,
                1.0 if kind != OuiKind.HINT else HINT_WEIGHT / WEIGHTS[Signal.MAC_OUI],
            )
    for scope in signals.scopes:
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
    return _decide(c, signals)


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
        return Identification(None, label, 0.0, tuple(c.evidence), {})
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    winner, top = ranked[0]
    rival = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = round(top * (1.0 - rival), 2)
    maker = winner if confidence >= MIN_REPORTED_CONFIDENCE else None
    # The label is the brand even where it names a maker the evidence contradicts.
    return Identification(maker, brand or maker, confidence, tuple(c.evidence), scores)

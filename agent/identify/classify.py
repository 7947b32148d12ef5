"""Who made the hardware, whose name is on the label, how sure, and why (pure).

Every independent signal becomes an Evidence row with its own weight. Weights per maker
combine as independent probabilities (1 - prod(1 - w)); the confidence is the winner's score
discounted by the strongest rival's, so contradicting evidence shows as doubt, not as a guess.
A brand (EZVIZ, Annke, Lorex, Amcrest ...) counts for the maker of its hardware through the
OEM table, scaled by how well that relationship is sourced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agent.identify.macs import mac_candidates, oui_of
from agent.identify.model import (
    DEFAULT_THRESHOLD,
    HINT_WEIGHT,
    MIN_REPORTED_CONFIDENCE,
    PROBABLE_FLOOR,
    WEIGHTS,
    XADDR_MAC_FACTOR,
    Evidence,
    Identification,
    Restricted,
    Signal,
    Signals,
)
from agent.identify.scopes import scope_parts
from agent.identify.tables import Confidence, OuiKind, Pattern, Tables

__all__ = [  # the model is re-exported: callers import it from here
    "DEFAULT_THRESHOLD",
    "HINT_WEIGHT",
    "MIN_REPORTED_CONFIDENCE",
    "PROBABLE_FLOOR",
    "WEIGHTS",
    "XADDR_MAC_FACTOR",
    "Evidence",
    "Identification",
    "Restricted",
    "Signal",
    "Signals",
    "classify",
    "find_name",
]


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
    counted: set[str] = set()
    for mac, signal, factor in mac_candidates(signals, scopes):
        row = oui_of(tables, mac)
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
        parts = scope_parts(scope)
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
    texts += [p[1] for s in scopes if (p := scope_parts(s)) and p[0] == "name"]
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

"""How well identification does on a set of known devices: recall, false positives (pure).

A ``Case`` is one device whose maker is known from its source; ``evaluate`` classifies every
case and counts, at a confidence threshold (the policy default unless told otherwise), how
many restricted-made devices count as restricted, how many unrestricted ones were wrongly
called restricted, and how many came out with no maker. Only ``counted`` cases (real
captures, public fixtures) enter the figures; constructed cases are shown, never counted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.identify.classify import DEFAULT_THRESHOLD, Identification, Signals, classify
from agent.identify.tables import Tables

CORPUS_COLUMNS = (
    "id",
    "manufacturer",
    "model",
    "firmware",
    "serial",
    "mac",
    "scopes",
    "expected_maker",
    "restricted",
    "kind",
    "source",
)
COUNTED_KINDS = frozenset({"real", "fixture"})  # "constructed" rows are never counted


class CorpusError(ValueError):
    """A corpus row is unusable; the message names the row and column."""


@dataclass(frozen=True)
class Case:
    name: str
    signals: Signals
    expected_maker: str | None  # None: the source does not say who made it
    restricted: bool | None  # None: unknown, so neither recall nor false positive
    counted: bool = True
    source: str = ""


@dataclass(frozen=True)
class Outcome:
    case: Case
    ident: Identification


@dataclass(frozen=True)
class Score:
    threshold: float
    counted: int
    restricted: int
    caught: int
    unrestricted: int
    false_positives: tuple[Outcome, ...]
    missed: tuple[Outcome, ...]
    unidentified: tuple[Outcome, ...]
    wrong_maker: tuple[Outcome, ...]  # a maker named with confidence, not the expected one

    @property
    def recall(self) -> float:
        return self.caught / self.restricted if self.restricted else 1.0

    @property
    def unidentified_share(self) -> float:
        return len(self.unidentified) / self.counted if self.counted else 0.0


def calls_restricted(tables: Tables, ident: Identification, threshold: float) -> bool:
    """What the policy engine does with the verdict: a restricted maker at the threshold."""
    vendor = tables.vendors.get(ident.maker or "")
    return vendor is not None and vendor.restricted and ident.confidence >= threshold


def evaluate(cases: Iterable[Case], tables: Tables, threshold: float = DEFAULT_THRESHOLD) -> Score:
    counted = restricted = caught = unrestricted = 0
    fps: list[Outcome] = []
    missed: list[Outcome] = []
    unknown: list[Outcome] = []
    wrong: list[Outcome] = []
    for case in cases:
        if not case.counted:
            continue
        out = Outcome(case, classify(case.signals, tables))
        counted += 1
        called = calls_restricted(tables, out.ident, threshold)
        if case.restricted is True:
            restricted += 1
            caught += called
            if not called:
                missed.append(out)
        elif case.restricted is False:
            unrestricted += 1
            if called:
                fps.append(out)
        if out.ident.maker is None:
            unknown.append(out)
        elif case.expected_maker and out.ident.maker != case.expected_maker:
            wrong.append(out)
    return Score(
        threshold,
        counted,
        restricted,
        caught,
        unrestricted,
        tuple(fps),
        tuple(missed),
        tuple(unknown),
        tuple(wrong),
    )


def parse_corpus(text: str, name: str = "corpus.csv") -> list[Case]:
    """Cases from the corpus CSV (see tests/fixtures/identities/README.md)."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CORPUS_COLUMNS:
        raise CorpusError(f"{name}: columns {reader.fieldnames} != {list(CORPUS_COLUMNS)}")
    cases = []
    for i, row in enumerate(reader, start=2):
        if None in row or any(v is None for v in row.values()):
            raise CorpusError(f"{name}:{i}: wrong number of fields")
        if not row["source"].strip():
            raise CorpusError(f"{name}:{i}: source: every row needs one")
        if row["restricted"] not in ("yes", "no", "unknown"):
            raise CorpusError(f"{name}:{i}: restricted: {row['restricted']!r} not yes/no/unknown")
        if row["kind"] not in (*COUNTED_KINDS, "constructed"):
            raise CorpusError(f"{name}:{i}: kind: {row['kind']!r} not real/fixture/constructed")
        signals = Signals(
            manufacturer=row["manufacturer"],
            model=row["model"],
            firmware=row["firmware"],
            serial=row["serial"],
            mac=row["mac"],
            scopes=tuple(row["scopes"].split()),
        )
        cases.append(
            Case(
                name=row["id"],
                signals=signals,
                expected_maker=row["expected_maker"] or None,
                restricted={"yes": True, "no": False}.get(row["restricted"]),
                counted=row["kind"] in COUNTED_KINDS,
                source=row["source"],
            )
        )
    return cases


CATALOG_COLUMNS = ("model", "catalog_vendor", "expected_maker", "restricted", "source")


def parse_catalog(text: str, name: str = "catalog_models.csv") -> list[Case]:
    """Model numbers from a vendor catalog, judged on the model string alone."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CATALOG_COLUMNS:
        raise CorpusError(f"{name}: columns {reader.fieldnames} != {list(CATALOG_COLUMNS)}")
    cases = []
    for i, row in enumerate(reader, start=2):
        if not row["source"] or row["restricted"] not in ("yes", "no"):
            raise CorpusError(f"{name}:{i}: needs a source and restricted yes/no")
        cases.append(
            Case(
                f"model:{row['model']}",
                Signals(model=row["model"]),
                row["expected_maker"],
                row["restricted"] == "yes",
                True,
                row["source"],
            )
        )
    return cases


def describe(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per outcome: case, what it says, what came out."""
    lines = []
    for o in outcomes:
        s = o.case.signals
        said = " / ".join(v for v in (s.manufacturer, s.model, s.firmware) if v) or " ".join(s.scopes)[:80]
        lines.append(
            f"{o.case.name} [{said}] expected {o.case.expected_maker or '?'}: "
            f"got {o.ident.maker or 'no maker'} ({o.ident.confidence:.2f}, {o.ident.restricted})"
        )
    return lines

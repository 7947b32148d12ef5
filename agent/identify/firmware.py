"""Per-maker firmware version parsing and range matching (pure).

A version string is read by the scheme of the maker the verdict names (``scheme_for``), not by
its looks: a ``v`` in front says nothing about who wrote it. Without a maker only the
unmistakable Dahua shape gets its scheme; anything else is read as dotted numbers (which give
Hikvision strings the same parts and build date).

Dahua (also Dahua-made Amcrest, Lorex, Imou ...): ``2.800.0000000.6.R.200314``: branch (first
three fields), a revision, a letter, then the build date, written in any of the forms cameras
send: ``.200314``/``.20200314``, ``, Build Date 2021-06-30``, ``,build:2021-06-30``,
``, Build Date: 2019-08-01``, or not at all.
Hikvision: ``V5.4.5 build 170123``, ``V5.7.15`` (no build), ``V2.3.8-8``; build date YYMMDD.
Anything else: dotted numbers (``8.40.1.1``, ``v2.21.02``, ``01.16.42-20180912``,
``1.3.7 Build 230316``), with a build date where one is written after the numbers.
Build dates are kept as YYMMDD integers, the unit of the ``build<`` range constraints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_TEXT = 100  # a longer "version" is junk; read only its start
MAX_PARTS = 6


# A written-out date: 2021-06-30, 2021/06/30, 2021.06.30, 20210630, or day first as some web
# UIs write it (27-08-2021; a month-first 08-27-2021 is read when day first is impossible).
def _date(n: str) -> str:
    return (
        rf"(?:(?P<y{n}>20\d\d)[-/.]?(?P<m{n}>[01]\d)[-/.]?(?P<d{n}>[0-3]\d)"
        rf"|(?P<a{n}>[0-3]\d)[-/.](?P<b{n}>[0-3]\d)[-/.](?P<c{n}>20\d\d))"
    )


# ", Build Date: ", ",build:", " build ", and the web UI's language: ", Fecha compilac.: ".
_WRITTEN = r"(?:\s*,?\s*build(?:\s*date)?|\s*,\s*[^\W\d_][^\d,:]{0,29})\s*:?\s*"
_DAHUA = re.compile(
    r"^V?(?P<branch>\d+\.\d+\.[0-9A-Z]+(?: [0-9A-Z]+)?)\.(?P<rev>\d+)"  # "2.420.Dahua 00.14.R"
    # The letter (R = release) is left out by some recorders ("4.000.00AC000.0,build:..."),
    # never without the written build date after it.
    r"(?:\.(?P<letter>[A-Z])(?:\.(?P<short>\d{6})(?!\d)|\.?" + _date("1") + "|" + _WRITTEN + _date("2") + ")?"
    r"|" + _WRITTEN + _date("3") + ")"
    r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_HIK = re.compile(
    r"^V?(?P<nums>\d+(?:\.\d+){1,3})(?:[-_](?P<extra>\d+))?(?:\s*,?\s*build\s*:?\s*(?P<build>\d{6}))?\s*$",
    re.IGNORECASE,
)
# Build date after a generic version: "Build 230316", "build:2023-03-16", "-20180912", "_230317".
_GENERIC_BUILD = re.compile(
    r"(?:build\s*(?:date)?\s*:?\s*(?:(?P<short>\d{6})(?!\d)|"
    + _date("1")
    + r")|[-_]"
    + _date("2")
    + r"(?!\d))",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+")


class Scheme(StrEnum):
    HIKVISION = "hikvision"
    DAHUA = "dahua"
    GENERIC = "generic"


# Makers whose firmware has its own scheme; every other maker's is generic.
_MAKER_SCHEMES = {"hikvision": Scheme.HIKVISION, "dahua": Scheme.DAHUA}


def scheme_for(maker: str | None) -> Scheme | None:
    """The version scheme of the maker a verdict names; None when there is no maker to go by."""
    if maker is None:
        return None
    return _MAKER_SCHEMES.get(maker, Scheme.GENERIC)


@dataclass(frozen=True, order=True)
class Version:
    """A comparable firmware version: numeric parts, and the build date (YYMMDD) if known."""

    parts: tuple[int, ...]
    build: int | None = None
    branch: str = ""
    scheme: Scheme = Scheme.GENERIC

    def key(self, with_build: bool) -> tuple[int, ...]:
        padded = (self.parts + (0,) * MAX_PARTS)[:MAX_PARTS]
        return padded + ((self.build or 0,) if with_build else ())


def _yymmdd(y: str, m: str, d: str) -> int | None:
    month, day = int(m), int(d)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return (int(y) % 100) * 10000 + month * 100 + day


def _date_of(m: re.Match[str], short: str = "short") -> int | None:
    groups = m.groupdict()
    if groups.get(short):
        value = groups[short]
        return _yymmdd("20" + value[:2], value[2:4], value[4:6])
    for n in ("1", "2", "3"):
        if groups.get(f"y{n}"):
            return _yymmdd(groups[f"y{n}"], groups[f"m{n}"], groups[f"d{n}"])
        if groups.get(f"c{n}"):
            first, second, year = groups[f"a{n}"], groups[f"b{n}"], groups[f"c{n}"]
            return _yymmdd(year, second, first) or _yymmdd(year, first, second)
    return None


def _dahua(text: str) -> Version | None:
    m = _DAHUA.match(text)
    if not m:
        return None
    rest = m.group("rest").strip()
    if rest and not rest.startswith(("(", "_", "-", " ", ",")):
        return None  # "2.800.0000000.8.Rabc" is not a Dahua version
    major, minor, _variant = m.group("branch").split(".", 2)
    build = _date_of(m)
    if build is None and (later := _GENERIC_BUILD.search(rest)):
        build = _date_of(later)
    return Version(
        (int(major), int(minor), int(m.group("rev"))), build, m.group("branch").upper(), Scheme.DAHUA
    )


def _hikvision(text: str) -> Version | None:
    m = _HIK.match(text)
    if not m:
        return None
    nums = tuple(int(n) for n in m.group("nums").split("."))
    extra = (int(m.group("extra")),) if m.group("extra") else ()
    build = _date_of(m, "build") if m.group("build") else None
    return Version(nums + extra, build, "", Scheme.HIKVISION)


def _generic(text: str) -> Version | None:
    body = text[1:] if text[:1] in "vV" else text
    date_at = _GENERIC_BUILD.search(body)
    build = _date_of(date_at) if date_at else None
    numbers = _NUMBER.findall(body[: date_at.start()] if date_at else body)
    parts = tuple(int(n) for n in numbers[:MAX_PARTS] if len(n) <= 9)
    if not parts and build is None:
        return None
    return Version(parts, build, "", Scheme.GENERIC)


_PARSERS = {Scheme.DAHUA: _dahua, Scheme.HIKVISION: _hikvision, Scheme.GENERIC: _generic}


def parse_version(text: str, scheme: Scheme | None = None) -> Version | None:
    """A firmware string read by ``scheme`` (the maker's; sniffed when None); None without numbers.

    A string that does not fit the maker's own scheme falls back to dotted numbers without
    branch or build, so a range that needs one of those cannot claim it.
    """
    text = text.strip()[:MAX_TEXT]
    if scheme is None:
        return _dahua(text) or _generic(text)
    own = _PARSERS[scheme](text)
    if own is not None:
        return own
    fallback = _generic(text)
    if fallback is None:
        return None
    return Version(fallback.parts, None, "", Scheme.GENERIC)


class RangeError(ValueError):
    """A range expression in the vulnerability table is malformed."""


@dataclass(frozen=True)
class Constraint:
    op: str  # >=, >, <=, <, build<, build>=, branch=
    version: Version | None = None
    build: int = 0
    branch: str = ""

    def holds(self, v: Version) -> bool:
        if self.op == "branch=":
            return v.branch == self.branch
        if self.op in ("build<", "build>="):
            if v.build is None:
                return False  # cannot tell: do not claim
            return v.build < self.build if self.op == "build<" else v.build >= self.build
        assert self.version is not None
        with_build = self.version.build is not None and v.build is not None
        have, bound = v.key(with_build), self.version.key(with_build)
        return {
            ">=": have >= bound,
            ">": have > bound,
            "<=": have <= bound,
            "<": have < bound,
        }[self.op]


_RANGE_VERSION = re.compile(r"^V?\d+(\.\d+)*([-_]\d+)?( build \d{6})?$")
_CONSTRAINT = re.compile(r"^(build<|build>=|branch=|>=|<=|>|<)\s*(.+)$")


def parse_range(text: str) -> tuple[Constraint, ...]:
    """``>=V5.2.0 build 140721,<=V5.4.0 build 160530``, ``build<210601``, ``branch=2.800.X,...``."""
    constraints = []
    for raw in text.split(","):
        item = raw.strip()
        m = _CONSTRAINT.match(item)
        if not m:
            raise RangeError(f"bad constraint {item!r} in {text!r}")
        op, value = m.groups()
        if op.startswith("build"):
            if not re.fullmatch(r"\d{6}", value):
                raise RangeError(f"build date must be YYMMDD in {item!r}")
            constraints.append(Constraint(op, build=int(value)))
        elif op == "branch=":
            if not re.fullmatch(r"\d+\.\d+\.[0-9A-Za-z]+", value):
                raise RangeError(f"bad branch in {item!r}")
            constraints.append(Constraint(op, branch=value.upper()))
        else:
            version = _hikvision(value) if _RANGE_VERSION.match(value) else None
            if version is None or not version.parts:
                raise RangeError(f"bad version in {item!r}")
            constraints.append(Constraint(op, version=version))
    if not constraints:
        raise RangeError("empty range")
    return tuple(constraints)


def in_range(version: Version, constraints: tuple[Constraint, ...]) -> bool:
    return all(c.holds(version) for c in constraints)

"""Per-vendor firmware version parsing and range matching (pure).

Hikvision: ``V5.4.5 build 170123`` (also ``V2.3.8-8``), build date YYMMDD.
Dahua (and Dahua-made Amcrest/Lorex): ``2.800.0000000.6.R.200314``: branch (first three
fields), then a revision, a letter and the build date YYMMDD (sometimes YYYYMMDD).
Anything else: dotted numbers (``8.40.1.1``, ``01.16.42-20180912``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_HIK = re.compile(r"^\s*V?(\d+(?:\.\d+){1,3})(?:[-_](\d+))?(?:\s*build\s*(\d{6}))?\s*$", re.IGNORECASE)
_DAHUA = re.compile(r"^\s*V?(\d+\.\d+\.[0-9A-Za-z]+)\.(\d+)\.([A-Z])\.(\d{6}|\d{8})\s*$")
_GENERIC = re.compile(r"\d+")
MAX_PARTS = 6


class Scheme(StrEnum):
    HIKVISION = "hikvision"
    DAHUA = "dahua"
    GENERIC = "generic"


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


def parse_version(text: str) -> Version | None:
    """A firmware string in the camera's own format; None if it has no numbers at all."""
    text = text.strip()[:100]
    m = _DAHUA.match(text)
    if m:
        branch, revision, _letter, date = m.groups()
        major, minor, _variant = branch.split(".", 2)
        return Version((int(major), int(minor), int(revision)), int(date[-6:]), branch.upper(), Scheme.DAHUA)
    m = _HIK.match(text)
    if m and (m.group(3) or text.upper().startswith("V")):
        nums = tuple(int(n) for n in m.group(1).split("."))
        extra = (int(m.group(2)),) if m.group(2) else ()
        build = int(m.group(3)) if m.group(3) else None
        return Version(nums + extra, build, "", Scheme.HIKVISION)
    numbers = _GENERIC.findall(text)
    if not numbers:
        return None
    parts = tuple(int(n) for n in numbers[:MAX_PARTS] if len(n) <= 9)
    return Version(parts, None, "", Scheme.GENERIC)


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
            version = parse_version(value) if _RANGE_VERSION.match(value) else None
            if version is None or not version.parts:
                raise RangeError(f"bad version in {item!r}")
            constraints.append(Constraint(op, version=version))
    if not constraints:
        raise RangeError("empty range")
    return tuple(constraints)


def in_range(version: Version, constraints: tuple[Constraint, ...]) -> bool:
    return all(c.holds(version) for c in constraints)

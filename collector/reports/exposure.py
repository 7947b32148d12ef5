"""Where one device's firmware stands against one vulnerability's affected range (pure).

``affected``: in the range. ``fixed``: past the range's upper end (patched, or shipped fixed).
``not_affected``: before its lower end or on another branch, so never vulnerable.
``unknown``: no firmware, a string that does not read under the maker's own scheme, or a
range that needs a build date the string does not carry.
"""

from __future__ import annotations

from enum import StrEnum

from agent.identify.firmware import Constraint, Version, parse_version, scheme_for


class Exposure(StrEnum):
    AFFECTED = "affected"
    FIXED = "fixed"
    NOT_AFFECTED = "not_affected"
    UNKNOWN = "unknown"


# Constraints that bound the range from above: failing one means the firmware is newer.
_UPPER = frozenset({"<", "<=", "build<"})
# When one device falls under several rows of a CVE, the most telling class wins.
RANK = (Exposure.AFFECTED, Exposure.UNKNOWN, Exposure.FIXED, Exposure.NOT_AFFECTED)


def read_firmware(firmware: str | None, maker: str | None) -> Version | None:
    """The version under the maker's own scheme; None when absent or it does not fit that scheme."""
    if not firmware or not firmware.strip():
        return None
    scheme = scheme_for(maker)
    version = parse_version(firmware, scheme)
    if version is None or (scheme is not None and version.scheme != scheme):
        return None
    return version


def _decidable(c: Constraint, v: Version) -> bool:
    return not (c.op.startswith("build") and v.build is None)


def classify(version: Version | None, constraints: tuple[Constraint, ...]) -> Exposure:
    if version is None:
        return Exposure.UNKNOWN
    lower = [c for c in constraints if c.op not in _UPPER]
    upper = [c for c in constraints if c.op in _UPPER]
    if any(_decidable(c, version) and not c.holds(version) for c in lower):
        return Exposure.NOT_AFFECTED
    if any(_decidable(c, version) and not c.holds(version) for c in upper):
        return Exposure.FIXED
    if all(_decidable(c, version) for c in constraints):
        return Exposure.AFFECTED
    return Exposure.UNKNOWN


def worst(a: Exposure | None, b: Exposure) -> Exposure:
    """The class to keep for a device judged under two rows of the same CVE."""
    return b if a is None or RANK.index(b) < RANK.index(a) else a

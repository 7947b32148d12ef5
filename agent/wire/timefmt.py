"""The one UTC timestamp form camsentry writes, and the one parser it reads timestamps with.

Written: RFC 3339, UTC, ``Z``, milliseconds: ``2026-11-23T12:00:05.123Z``. One width, so text
comparison (SQL ``ORDER BY``, ``<=``) orders them in time. Read: any RFC 3339 time with an
explicit offset, with or without a fraction (``...+00:00`` rows written by older versions,
``...Z``, ``...05Z``); a time without an offset is refused, never guessed to be local.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def format_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for an aware datetime (naive ones are refused)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("refusing to format a datetime without a time zone")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_utc(text: str) -> datetime:
    """An aware UTC datetime from RFC 3339 text; ``ValueError`` naming the text otherwise."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp with a time zone: {text[:64]!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        zone = UTC
        if not zulu:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            zone = timezone(-offset if sign == "-" else offset)
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError as exc:
        raise ValueError(f"not a valid timestamp: {text[:64]!r} ({exc})") from None
    return moment.astimezone(UTC)

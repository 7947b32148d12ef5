"""Reading typed columns alike on both engines: ``{ts}`` and ``{json}`` columns (see migrations).

PostgreSQL's TIMESTAMPTZ and JSONB come back from psycopg as ``datetime`` and ``dict``/``list``;
SQLite's TEXT comes back as ``str``. Callers read through these and never see the difference.
Timestamps are written as ``agent.wire.timefmt.format_utc`` text on both engines (PostgreSQL
casts it on insert) and read back through ``parse_utc``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from agent.wire.timefmt import format_utc, parse_utc

# format_utc's output: one width, "Z", milliseconds.
_STORED_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)


def as_datetime(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime; None for NULL or empty text."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_utc(str(value))


def as_time_text(value: Any) -> str | None:
    """A stored timestamp as the RFC 3339 text the rest of the collector passes around."""
    if isinstance(value, datetime):
        moment = as_datetime(value)
        return format_utc(moment) if moment else None
    return None if value is None or value == "" else str(value)


def as_json(value: Any) -> Any:
    """A stored JSON document as Python values (JSONB is decoded by the driver already)."""
    if isinstance(value, str | bytes | bytearray):
        return json.loads(value)
    return value


def normal_time(text: str) -> str | None:
    """RFC 3339 text from a peer in the one stored form, or None when it does not parse."""
    if _STORED_FORM.fullmatch(text):  # what agents send: checked as a date, kept as it is
        try:
            datetime.fromisoformat(text)
            return text
        except ValueError:
            return None
    try:
        return format_utc(parse_utc(text))
    except ValueError:
        return None


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nul(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """A document for a ``{json}`` column: sorted keys; NUL (which JSONB refuses) as U+FFFD."""
    text = json.dumps(value, sort_keys=True, default=str)
    return json.dumps(_no_nul(value), sort_keys=True, default=str) if "\\u0000" in text else text


def plain_text(value: str) -> str:
    """Text for a TEXT column: NUL (which PostgreSQL text cannot hold) as U+FFFD."""
    return value.replace("\x00", "\ufffd")


def stored_time(text: str) -> str:
    """A time the collector itself passes in, in the one stored form (ValueError if unreadable)."""
    return format_utc(parse_utc(text))

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.wire.timefmt import format_utc, parse_utc

T = datetime(2026, 11, 23, 12, 0, 5, 123456, tzinfo=UTC)


def test_format_is_utc_z_milliseconds() -> None:
    assert format_utc(T) == "2026-11-23T12:00:05.123Z"
    assert format_utc(T.replace(microsecond=0)) == "2026-11-23T12:00:05.000Z"


def test_format_converts_other_zones_to_utc() -> None:
    berlin = T.astimezone(timezone(timedelta(hours=1)))
    assert format_utc(berlin) == "2026-11-23T12:00:05.123Z"


def test_format_refuses_naive() -> None:
    with pytest.raises(ValueError, match="time zone"):
        format_utc(datetime(2026, 11, 23, 12, 0, 5))


def test_formatted_text_sorts_in_time_order() -> None:
    moments = [T + timedelta(milliseconds=n * 997) for n in (5, 0, 12, 3)]
    texts = [format_utc(m) for m in moments]
    assert sorted(texts) == [format_utc(m) for m in sorted(moments)]


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T12:00:05.123Z",
        "2026-11-23T12:00:05.123000+00:00",  # rows written by isoformat() before
        "2026-11-23T12:00:05.123+00:00",
        "2026-11-23T13:00:05.123+01:00",
        "2026-11-23T07:30:05.123-04:30",
        "2026-11-23t12:00:05.123z",
        "2026-11-23 12:00:05.123456789Z",  # nanoseconds are cut to microseconds
    ],
)
def test_parse_accepts_rfc3339_forms(text: str) -> None:
    parsed = parse_utc(text)
    assert parsed.tzinfo is UTC
    assert format_utc(parsed) == "2026-11-23T12:00:05.123Z"


def test_parse_without_fraction() -> None:
    assert parse_utc("2026-11-23T12:00:05Z") == T.replace(microsecond=0)
    assert parse_utc("2026-11-23T12:00:05+00:00") == T.replace(microsecond=0)


def test_round_trip() -> None:
    assert parse_utc(format_utc(T)) == T.replace(microsecond=123000)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T12:00:05",  # no zone: never guessed to be local
        "2026-11-23",
        "20261123T120005Z",
        "2026-13-01T00:00:00Z",
        "2026-11-23T12:00:05+25:00",
        "yesterday",
        "",
        "2026-11-23T12:00:05Z trailing",
    ],
)
def test_parse_refuses_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_utc(text)

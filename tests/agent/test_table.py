from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from enum import StrEnum

import pytest

from agent.runtime.table import ELLIPSIS, Column, render


class Colour(StrEnum):
    RED = "red"


COLUMNS = [
    Column("site"),
    Column("address", width=10),
    Column("score", "SCORE!", align="right"),
    Column("seen_at"),
]
WHEN = datetime(2026, 11, 23, 12, 0, 5, 123456, tzinfo=UTC)
ROWS = [
    {"site": "hq", "address": "192.168.100.200:8080", "score": 0.5, "seen_at": WHEN, "extra": "x"},
    {"site": "branch-office", "address": None, "score": 12, "seen_at": None},
]


def test_table_aligns_truncates_and_counts() -> None:
    lines = render(ROWS, COLUMNS, "table").splitlines()
    assert lines[0].split() == ["SITE", "ADDRESS", "SCORE!", "SEEN", "AT"]
    assert lines[1] == "  ".join("-" * n for n in (13, 10, 6, 24))
    assert lines[2] == f"hq             192.168.1{ELLIPSIS}    0.50  2026-11-23T12:00:05.123Z"
    assert lines[3] == "branch-office  -               12  -"
    assert lines[4] == "(2 rows)"
    # every row's columns start where the header's do
    assert lines[2].index("2026") == lines[0].index("SEEN")


def test_csv_and_json_are_whole_and_keyed_by_name() -> None:
    parsed = list(csv.reader(io.StringIO(render(ROWS, COLUMNS, "csv"))))
    assert parsed == [
        ["site", "address", "score", "seen_at"],
        ["hq", "192.168.100.200:8080", "0.50", "2026-11-23T12:00:05.123Z"],
        ["branch-office", "", "12", ""],
    ]
    assert json.loads(render(ROWS, COLUMNS, "json")) == [
        {
            "site": "hq",
            "address": "192.168.100.200:8080",
            "score": 0.5,
            "seen_at": "2026-11-23T12:00:05.123Z",
        },
        {"site": "branch-office", "address": None, "score": 12, "seen_at": None},
    ]


def test_values_of_every_shape_render_on_one_line() -> None:
    row = {
        "site": ["a", "b"],
        "address": {"k": 1},
        "score": True,
        "seen_at": "two\nlines",
    }
    table = render(
        [row], [Column("site"), Column("address"), Column("score"), Column("seen_at"), Column("x")]
    )
    assert table.splitlines()[2] == 'a,b   {"k":1}  yes    two lines  -'
    assert json.loads(render([{"site": Colour.RED, "address": (1, 2)}], ["site", "address"], "json")) == [
        {"site": "red", "address": [1, 2]}
    ]


def test_empty_and_bare_names() -> None:
    assert render([], ["site_name"]) == "SITE NAME\n---------\n(0 rows)\n"
    assert render([], ["site_name"], "csv") == "site_name\n"
    assert render([], ["site_name"], "json") == "[]\n"


def test_bad_format_and_width_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render(ROWS, COLUMNS, "xml")
    with pytest.raises(ValueError, match="width"):
        Column("a", width=1)

"""The one renderer every CLI prints rows with: an aligned terminal table, CSV or JSON.

A report is a list of ``Column`` s and rows as dicts keyed by column name::

    COLUMNS = [Column("site"), Column("address", width=21), Column("score", "SCORE", align="right")]
    sys.stdout.write(render(rows, COLUMNS, fmt))   # fmt in FORMATS: "table", "csv", "json"

All three formats show the same columns in the same order. The table is for people: a header,
a rule, one line per row, a row count; ``None`` shows as ``-``, floats with two decimals, lists
joined with ``,``; one truncation rule, a cell longer than its column's width ends in ``…``.
CSV and JSON are for programs: never truncated, ``None`` is an empty field or ``null``, CSV
headers and JSON keys are the column names. Datetimes print as ``format_utc`` everywhere.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from agent.wire.timefmt import format_utc

FORMATS = ("table", "csv", "json")
# Wide enough for an IPv6 address with a port or a SHA-256 prefix, narrow enough for 8 columns.
DEFAULT_WIDTH = 48
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    """``name`` keys the row dicts and names the CSV/JSON field; ``header`` heads the table
    (default: the name in capitals, ``_`` as a space); longer cells are cut to ``width``."""

    name: str
    header: str = ""
    width: int = DEFAULT_WIDTH
    align: Literal["left", "right"] = "left"

    def __post_init__(self) -> None:
        if self.width < 2:
            raise ValueError(f"column {self.name}: width must be at least 2")

    @property
    def title(self) -> str:
        return self.header or self.name.replace("_", " ").upper()


def _plain(value: Any) -> Any:
    """A JSON-ready value: datetimes in the one UTC form, enums by value, the rest as is or text."""
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


def cell_text(value: Any) -> str:
    """One cell as text, before truncation; ``""`` for ``None``."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return ",".join(cell_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return " ".join(str(value).split())  # a newline in a value must not break the row


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    cells = [[truncate(cell_text(row.get(c.name)) or "-", c.width) for c in columns] for row in rows]
    widths = [max([len(c.title), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if c.align == "right" else v.ljust(w)
            for v, w, c in zip(values, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [line([c.title for c in columns]), "  ".join("-" * w for w in widths)]
    lines += [line(values) for values in cells]
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines) + "\n"


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for row in rows:
        writer.writerow([cell_text(row.get(c.name)) for c in columns])
    return buffer.getvalue()


def _json(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    document = [{c.name: _plain(row.get(c.name)) for c in columns} for row in rows]
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


_RENDERERS = {"table": _table, "csv": _csv, "json": _json}


def render(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column | str], fmt: str = "table") -> str:
    """``rows`` in ``fmt`` (one of FORMATS), ending in a newline; a bare string is ``Column(name)``."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}") from None
    return renderer(rows, [c if isinstance(c, Column) else Column(c) for c in columns])

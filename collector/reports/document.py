"""A report as data: headline figures, an answer paragraph and tables, rendered four ways.

Every report module builds a ``Report`` (pure, from the estate it is given); ``render_report``
turns it into the terminal table, CSV, JSON or an HTML page, so the four formats always carry
the same figures. ``figures`` are the numbers a person quotes; each table row that stands
behind a figure carries its evidence reference (``agent/boot/seq``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.runtime.table import render
from collector.reports.html import render_html

FORMATS = ("table", "csv", "json", "html")


@dataclass(frozen=True)
class Section:
    """One table: a title, its columns in order and rows keyed by column."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    # A section shown in the terminal only when it has rows (the details behind a figure).
    optional: bool = False


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    generated_at: str
    figures: dict[str, int]
    sections: tuple[Section, ...]
    summary: tuple[str, ...] = ()
    # SVG charts for the HTML page (and the web view); the other formats carry their data as rows.
    charts: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "title": self.title,
            "generated_at": self.generated_at,
            "summary": list(self.summary),
            "figures": dict(self.figures),
            "sections": [
                {"title": s.title, "columns": list(s.columns), "rows": [_plain(r, s.columns) for r in s.rows]}
                for s in self.sections
            ],
        }


def _plain(row: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {c: row.get(c) for c in columns}


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=False, default=str) + "\n"


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def render_csv(report: Report) -> str:
    """One table. A single-section report is that table; several get a leading ``section`` column
    over the union of their columns, and the figures come first as ``figures`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if len(report.sections) == 1:
        section = report.sections[0]
        writer.writerow(section.columns)
        for row in section.rows:
            writer.writerow([_csv_value(row.get(c)) for c in section.columns])
        return buffer.getvalue()
    columns: list[str] = []
    for section in report.sections:
        columns += [c for c in section.columns if c not in columns]
    columns = [c for c in columns if c not in ("figure", "value")]
    writer.writerow(["section", *columns, "figure", "value"])
    for name, value in report.figures.items():
        writer.writerow(["figures", *([""] * len(columns)), name, value])
    for section in report.sections:
        for row in section.rows:
            writer.writerow([section.title, *(_csv_value(row.get(c)) for c in columns), "", ""])
    return buffer.getvalue()


def _table_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def render_table(report: Report) -> str:
    out = [f"{report.title}  {report.generated_at}", ""]
    if report.summary:
        out += [*report.summary, ""]
    if report.figures:
        out.append("  ".join(f"{k.replace('_', ' ')}: {v}" for k, v in report.figures.items()))
        out.append("")
    for section in report.sections:
        if section.optional and not section.rows:
            continue
        rows = [{c: _table_value(r.get(c)) for c in section.columns} for r in section.rows]
        out += [section.title, render(rows, list(section.columns), "table"), ""]
    return "\n".join(out)


RENDERERS = {"table": render_table, "csv": render_csv, "json": render_json, "html": render_html}


def render_report(report: Report, fmt: str) -> str:
    """``fmt`` is one of ``FORMATS``."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return RENDERERS[fmt](report)

"""A report as an HTML page for people: figures, answer paragraph, charts and tables.

Pure and escaped throughout (``html.escape`` on every value). ``report_fragment`` is the body
the web view embeds; ``render_html`` wraps it in a standalone page with its own style sheet.
Each headline figure carries ``data-figure="name"`` so a test (or a person) can find it.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.reports.document import Report

EVIDENCE_COLUMNS = frozenset({"evidence", "envelopes"})

# One style sheet for reports, inlined in standalone pages and served by the web view.
STYLE = resources.files("collector.reports").joinpath("report.css").read_text(encoding="utf-8")


def _cell(value: Any, column: str, link: Callable[[str], str] | None) -> str:
    if value is None or value == "":
        return '<span class="muted">-</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v, column, link) for v in value) or '<span class="muted">-</span>'
    text = escape(str(value))
    if link is not None and column in EVIDENCE_COLUMNS and str(value).count("/") == 2:
        return f'<a href="{escape(link(str(value)))}">{text}</a>'
    return text


def report_fragment(report: Report, *, link: Callable[[str], str] | None = None) -> str:
    """The report's body (no page around it); ``link`` turns an evidence reference into a URL."""
    out = [f'<section class="report" data-report="{escape(report.name)}">']
    out.append(f"<h1>{escape(report.title)}</h1>")
    out.append(f'<p class="muted">generated {escape(report.generated_at)}</p>')
    for line in report.summary:
        out.append(f'<p class="summary">{escape(line)}</p>')
    if report.figures:
        out.append('<dl class="figures">')
        for name, value in report.figures.items():
            out.append(
                f"<div><dt>{escape(name.replace('_', ' '))}</dt>"
                f'<dd data-figure="{escape(name)}">{escape(str(value))}</dd></div>'
            )
        out.append("</dl>")
    for chart in report.charts:
        out.append(f'<figure class="chart">{chart}</figure>')  # SVG we drew ourselves, values escaped
    for section in report.sections:
        out.append(f"<h2>{escape(section.title)} <span class=muted>({len(section.rows)})</span></h2>")
        if not section.rows:
            out.append('<p class="muted">(none)</p>')
            continue
        out.append("<table><thead><tr>")
        out += [f"<th>{escape(c.replace('_', ' '))}</th>" for c in section.columns]
        out.append("</tr></thead><tbody>")
        for row in section.rows:
            cells = "".join(f"<td>{_cell(row.get(c), c, link)}</td>" for c in section.columns)
            out.append(f"<tr>{cells}</tr>")
        out.append("</tbody></table>")
    out.append("</section>")
    return "\n".join(out)


def render_html(report: Report) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body>\n"
        f"{report_fragment(report)}\n</body></html>\n"
    )

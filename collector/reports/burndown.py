"""A burn-down chart as SVG: restricted devices per department over time, against its deadline. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

WIDTH, HEIGHT = 780, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 48, 280, 20, 36
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


@dataclass(frozen=True)
class BurnLine:
    label: str
    points: tuple[tuple[date, int], ...]
    deadline: date | None


def burndown_svg(lines: Sequence[BurnLine], *, today: date) -> str:
    days = [d for line in lines for d, _ in line.points] + [line.deadline for line in lines if line.deadline]
    start = min([*days, today])
    end = max([*days, today]) + timedelta(days=1)
    top = max([1, *(n for line in lines for _, n in line.points)])
    span = (end - start).days or 1
    plot_w, plot_h = WIDTH - MARGIN_L - MARGIN_R, HEIGHT - MARGIN_T - MARGIN_B

    def x(d: date) -> float:
        return MARGIN_L + plot_w * (d - start).days / span

    def y(n: int) -> float:
        return MARGIN_T + plot_h * (1 - n / top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-label="Restricted devices per department over time">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<line x1="{MARGIN_L}" y1="{MARGIN_T + plot_h}" x2="{MARGIN_L + plot_w}" y2="{MARGIN_T + plot_h}" '
        'stroke="#333"/>',
        f'<line x1="{MARGIN_L}" y1="{MARGIN_T}" x2="{MARGIN_L}" y2="{MARGIN_T + plot_h}" stroke="#333"/>',
        f'<text x="{MARGIN_L - 6}" y="{y(top) + 4:.1f}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{MARGIN_L - 6}" y="{y(0) + 4:.1f}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{MARGIN_L}" y="{HEIGHT - 8}" font-size="11">{start.isoformat()}</text>',
        f'<text x="{MARGIN_L + plot_w}" y="{HEIGHT - 8}" text-anchor="end" font-size="11">'
        f"{(end - timedelta(days=1)).isoformat()}</text>",
    ]
    for i, line in enumerate(lines):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{x(d):.1f},{y(n):.1f}" for d, n in line.points)
        if len(line.points) == 1:
            d, n = line.points[0]
            out.append(f'<circle cx="{x(d):.1f}" cy="{y(n):.1f}" r="4" fill="{colour}"/>')
        else:
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if line.deadline is not None:
            dx = x(line.deadline)
            out.append(
                f'<line x1="{dx:.1f}" y1="{MARGIN_T}" x2="{dx:.1f}" y2="{MARGIN_T + plot_h}" '
                f'stroke="{colour}" stroke-dasharray="4 3"/>'
            )
        label = escape(line.label) + (f" (deadline {line.deadline.isoformat()})" if line.deadline else "")
        ly = MARGIN_T + 14 + 16 * i
        out.append(f'<rect x="{WIDTH - MARGIN_R + 8}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{WIDTH - MARGIN_R + 22}" y="{ly}" font-size="10">{label}</text>')
    out.append("</svg>")
    return "".join(out)

"""One SVG line-chart renderer for every chart (pure: a chart dict in, an SVG string out).

No style attributes and no script: colours come from CSS classes (`series s-<n>`, `cls-<class>`,
`mark-<kind>`, `band-<n>`), so the page keeps a strict Content-Security-Policy. Text from the
game (car labels) is escaped. Values outside the chart's y range are drawn on its edge.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

WIDTH, HEIGHT = 960, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 34
PALETTE = 10  # series colours s-0..s-9 (in class order, so neighbours differ)


class Scale:
    """Maps data values to pixels on one axis."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        if not high > low:
            high = low + 1.0
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        value = min(max(value, self.low), self.high)
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def nice_step(span: float, count: int = 6) -> float:
    """A round tick step (1, 2, 5 x 10^n) giving about `count` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def ticks(low: float, high: float, count: int = 6, step: float | None = None) -> list[float]:
    step = step or nice_step(high - low, count)
    first = math.ceil(low / step - 1e-9) * step
    out = []
    value = first
    while value <= high + 1e-9 and len(out) < 50:
        out.append(round(value, 6))
        value += step
    return out


def _label(value: float, unit: str) -> str:
    if unit == "laptime":
        minutes, seconds = divmod(value, 60)
        return f"{int(minutes)}:{seconds:04.1f}" if minutes else f"{seconds:.1f}"
    if unit == "clock":
        hours, rest = divmod(round(value), 3600)
        return f"{hours}:{rest // 60:02d}"
    if unit == "%":
        return f"{value * 100:.0f}%"
    return f"{value:g}"


def render(chart: dict[str, Any]) -> str:
    """The SVG of a chart dict (see `web.analysis.charts`)."""
    x_axis, y_axis = chart["x"], chart["y"]
    sx = Scale(x_axis["min"], x_axis["max"], LEFT, WIDTH - RIGHT)
    top, bottom = TOP, HEIGHT - BOTTOM
    if y_axis.get("inverted"):
        sy = Scale(y_axis["min"], y_axis["max"], top, bottom)
    else:
        sy = Scale(y_axis["min"], y_axis["max"], bottom, top)
    title = escape(chart["title"])
    out = [
        f'<svg class="chart chart-{escape(chart["id"])}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{title}</title>",
    ]
    out.append('<g class="bands">')
    for i, band in enumerate(chart.get("bands", [])):
        x0, x1 = sx(band["from"]), sx(band["to"])
        out.append(
            f'<rect class="band band-{i % 2}" x="{x0:.1f}" y="{top}" '
            f'width="{max(0.5, x1 - x0):.1f}" height="{bottom - top}">'
            f"<title>{escape(band['label'])}</title></rect>"
        )
    out.append("</g>")
    out.append(_axes(chart, sx, sy, top, bottom))
    for i, series in enumerate(chart["series"]):
        out.append(_series(series, i, sx, sy))
    out.append("</svg>")
    return "".join(out)


def _axes(chart: dict[str, Any], sx: Scale, sy: Scale, top: float, bottom: float) -> str:
    x_axis, y_axis = chart["x"], chart["y"]
    parts = ['<g class="axes">']
    for value in ticks(y_axis["min"], y_axis["max"], step=y_axis.get("step")):
        y = sy(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        label = escape(_label(value, y_axis.get("unit", "")))
        parts.append(f'<text class="tick tick-y" x="{LEFT - 6}" y="{y + 4:.1f}">{label}</text>')
    for value in ticks(x_axis["min"], x_axis["max"], 8, step=x_axis.get("step")):
        x = sx(value)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>')
        label = escape(_label(value, x_axis.get("unit", "")))
        parts.append(f'<text class="tick tick-x" x="{x:.1f}" y="{bottom + 16}">{label}</text>')
    parts.append(
        f'<text class="axis-label" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 2}">'
        f"{escape(x_axis['label'])}</text>"
        f'<text class="axis-label axis-label-y" x="4" y="{top + 10}">'
        f"{escape(y_axis['label'])}</text></g>"
    )
    return "".join(parts)


def _series(series: dict[str, Any], index: int, sx: Scale, sy: Scale) -> str:
    points = series["points"]
    classes = f"series s-{index % PALETTE} cls-{escape(series.get('class_id') or 'other')}"
    if series.get("focus"):
        classes += " focus"
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts = [
        f'<g class="{classes}" data-series="{escape(series["key"])}" data-points="{len(points)}">',
        f"<title>{escape(series['label'])}</title>",
        f'<polyline points="{coords}"/>',
    ]
    for x, y, kind in series.get("marks", []):
        parts.append(
            f'<circle class="mark mark-{escape(kind)}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3"/>'
        )
    parts.append("</g>")
    return "".join(parts)

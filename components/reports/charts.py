"""Inline SVG charts and number formatting for the data report (components/reports/data_report.py).

Pure functions from numbers to markup: the report must open offline, so charts are drawn here as SVG
rather than by a charting library fetched from the web. Every text that came from the data (a category,
a bucket's bounds) goes through `esc`: categories may hold '<', '&' or quotes.
"""
from __future__ import annotations

import html
import math
from typing import Sequence

BAR_COLOUR, PREVIOUS_COLOUR = "#3b6ea8", "#b0b7c3"


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def number(value: float | int | None) -> str:
    """Integers as they are, other numbers to 6 significant digits; None and NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def histogram_svg(buckets: Sequence[tuple[float, float, float]], width: int = 260, height: int = 70,
                  colour: str = BAR_COLOUR, caption: str = "histogram",
                  domain: tuple[float, float] | None = None, log_scale: bool = False) -> str:
    """Vertical bars of (low, high, count) buckets placed on the x range `domain` (default: the buckets' own),
    so that two runs' histograms drawn on one domain compare by eye; each bar's tooltip names its range and
    count. The axis shows the domain's ends. log_scale: bar heights by log(1 + count), so that buckets next to
    one holding most rows still show."""
    if not buckets:
        return '<p class="muted">no histogram</p>'
    start, end = domain or (buckets[0][0], buckets[-1][1])
    scale = math.log1p if log_scale else float
    span, top = (end - start) or 1.0, scale(max(count for _, _, count in buckets)) or 1
    plot_height = height - 14
    bars = []
    for low, high, count in buckets:
        x, bar_width = width * (low - start) / span, max(width * (high - low) / span - 1, 1.0)
        bar_height = max(plot_height * scale(count) / top, 0.5 if count else 0)
        bars.append(f'<rect x="{x + 0.5:.1f}" y="{plot_height - bar_height:.1f}" width="{bar_width:.1f}" '
                    f'height="{bar_height:.1f}" fill="{colour}">'
                    f'<title>{esc(number(low))} – {esc(number(high))}: {esc(number(round(count, 1)))}</title></rect>')
    axis = (f'<text x="0" y="{height - 2}" class="axis">{esc(number(start))}</text>'
            f'<text x="{width}" y="{height - 2}" class="axis" text-anchor="end">{esc(number(end))}</text>')
    return (f'<svg role="img" aria-label="{esc(caption)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(bars)}{axis}</svg>')


def bars_svg(values: Sequence[tuple[str, float]], total: float, width: int = 320, colour: str = BAR_COLOUR,
             caption: str = "top values") -> str:
    """Horizontal bars of (category, count), labelled with the category and its share of `total`."""
    if not values:
        return '<p class="muted">no values</p>'
    row, label_width, top = 16, 120, max(count for _, count in values) or 1
    bar_space = width - label_width - 60
    rows = []
    for index, (label, count) in enumerate(values):
        y = index * row
        shown = label if len(label) <= 18 else label[:17] + "…"
        bar = bar_space * count / top
        rows.append(f'<text x="{label_width - 4}" y="{y + 12}" text-anchor="end" class="label">'
                    f'<title>{esc(label)}</title>{esc(shown)}</text>'
                    f'<rect x="{label_width}" y="{y + 2}" width="{max(bar, 0.5):.1f}" height="{row - 4}" '
                    f'fill="{colour}"><title>{esc(label)}: {esc(number(count))}</title></rect>'
                    f'<text x="{label_width + bar + 4:.1f}" y="{y + 12}" class="axis">{esc(percent(count, total))}'
                    f'</text>')
    height = row * len(values)
    return (f'<svg role="img" aria-label="{esc(caption)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(rows)}</svg>')

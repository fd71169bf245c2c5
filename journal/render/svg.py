"""Line charts as SVG text: per-step curves for the HTML export, vault notes and `journal plot
--svg`. No scripts, no styles sheets, no fonts or images fetched: a chart is shapes and text a
browser, Obsidian or an image viewer draws as it is.

A curve of any length is drawn with at most two points per horizontal pixel (the smallest and
largest value of the points that fall there, in their order), so a spike survives and a chart
of 100,000 points is as small as one of 500.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from journal.text import printable, short_number

# Colours told apart with the common colour blindnesses (Okabe and Ito's palette, darkened for
# white paper), in the order runs get them.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#6b6b00", "#000000")
DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 3", "10 2")
FONT = ('-apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans CJK JP", "Noto Sans", '
        'sans-serif')


@dataclass(frozen=True)
class Line:
    label: str                  # the legend's text (a run, or a metric)
    xs: Sequence[float]         # steps (or the points' order), one per value
    ys: Sequence[float]


def line_chart(lines: Sequence[Line], *, title: str, width: int = 480, height: int = 180,
               x_label: str = "step", note: str = "", legend: bool | None = None) -> str:
    """One chart of `lines` on shared axes, its title above, `note` (what was not drawn) and a
    legend below when there is more than one line. Lines without points are left out; no points
    at all give "" unless there is a note. Text takes the colour around it (currentColor), so a
    chart reads on a dark page as on a light one."""
    lines = [line for line in lines if line.ys]
    if not lines and not note:
        return ""
    left, right, top = 64, 12, 24
    shown = len(lines) > 1 if legend is None else legend and bool(lines)
    legend_rows = len(lines) if shown else 0
    extra = 16 * legend_rows + (16 if note else 0)
    total_height = height + extra
    plot_w, plot_h = width - left - right, height - top - 34
    x_low, x_high = _span(value for line in lines for value in line.xs)
    y_low, y_high = _span(value for line in lines for value in line.ys)
    inset = 6       # the curve keeps off the frame; the labels give its exact ends

    def px(x: float) -> float:
        return left + inset + fraction(x, x_low, x_high) * (plot_w - 2 * inset)

    def py(y: float) -> float:
        return top + plot_h - inset - fraction(y, y_low, y_high) * (plot_h - 2 * inset)

    label = html.escape(printable(title))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" '
        f'viewBox="0 0 {width} {total_height}" role="img" aria-label="{label}" '
        f'font-family="{html.escape(FONT)}" font-size="11" fill="currentColor">',
        f"<title>{label}</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="currentColor" stroke-opacity="0.3"/>',
        f'<text x="{left}" y="{top - 8}" font-size="12" font-weight="bold">{label}</text>',
    ]
    if lines:
        ticks = [(y_high, py(y_high))] + ([(y_low, py(y_low))] if y_low != y_high else [])
        parts += [f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_tick(value)}</text>'
                  for value, y in ticks]
        parts.append(f'<text x="{px(x_low):.1f}" y="{top + plot_h + 14}">{_tick(x_low)}</text>')
        if x_high != x_low:
            parts.append(f'<text x="{px(x_high):.1f}" y="{top + plot_h + 14}" '
                         f'text-anchor="end">{_tick(x_high)}</text>')
        parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 14}" '
                     f'text-anchor="middle" fill-opacity="0.65">'
                     f"{html.escape(printable(x_label))}</text>")
    for index, line in enumerate(lines):
        colour = PALETTE[index % len(PALETTE)]
        # past the palette, a dash pattern of its own tells each line apart
        pattern = DASHES[index // len(PALETTE) % len(DASHES)]
        dash = f' stroke-dasharray="{pattern}"' if pattern else ""
        if len(line.ys) == 1:
            x, y = px(line.xs[0]), py(line.ys[0])
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        else:
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in thin(line.xs, line.ys, plot_w))
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} '
                         f'stroke-linejoin="round" points="{points}"/>')
        if legend_rows:
            row_y = top + plot_h + 30 + 16 * index
            parts.append(f'<line x1="{left}" y1="{row_y - 4}" x2="{left + 16}" y2="{row_y - 4}" '
                         f'stroke="{colour}" stroke-width="2"{dash}/>')
            parts.append(f'<text x="{left + 20}" y="{row_y}">'
                         f"{html.escape(printable(line.label))}</text>")
    if note:
        parts.append(f'<text x="{left}" y="{top + plot_h + 30 + 16 * legend_rows}" '
                     f'fill="#d1242f">{html.escape(printable(note))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def fraction(value: float, low: float, high: float) -> float:
    """Where `value` sits between `low` and `high`, 0 to 1 (0.5 when they are equal), computed
    in halves so that a span wider than the largest float (-1e308 to 1e308) is no overflow."""
    if high == low:
        return 0.5
    return (value / 2 - low / 2) / (high / 2 - low / 2)


def _span(values: Iterable[float]) -> tuple[float, float]:
    """The smallest and largest value (0, 1 for none)."""
    items = list(values)
    return (min(items), max(items)) if items else (0.0, 1.0)


def thin(xs: Sequence[float], ys: Sequence[float], columns: int) -> list[tuple[float, float]]:
    """At most two points a column: the smallest and largest of those that fall in it, in the
    order they were logged (a spike survives; 100,000 points draw as fast as 500)."""
    count = len(ys)
    if count <= 2 * columns:
        return list(zip(xs, ys, strict=False))
    values = list(ys)
    kept: list[tuple[float, float]] = []
    for column in range(columns):
        start, end = column * count // columns, (column + 1) * count // columns
        if start == end:
            continue
        share = values[start:end]   # min, max and index run in C: a slice, not a key function
        low = start + share.index(min(share))
        high = start + share.index(max(share))
        ends = (low,) if low == high else (low, high) if low < high else (high, low)
        kept += [(xs[i], values[i]) for i in ends]
    return kept


def _tick(value: float) -> str:
    return html.escape(short_number(value))

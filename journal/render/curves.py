"""A run's per-step curves, as each medium can show them: a Unicode sparkline a series in text
(`journal show` on a terminal, Markdown notes, Evernote: `loss  █▆▄▃▂▂▁▁  0.912 → 0.118, 120
points`), an SVG chart a series (render/svg.py) in vault notes and the HTML export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from journal.record import StoredRun, table
from journal.render.markdown import code_block
from journal.render.svg import fraction
from journal.text import display_width, pad, printable, short_number

if TYPE_CHECKING:
    from journal.store.sidefile import Curve

Curves = dict[str, "Curve"]     # metric -> its points (store/sidefile.py)

BARS = "▁▂▃▄▅▆▇█"
WIDTH = 40
NAME_WIDTH = 24         # columns of a series' name beside its sparkline; a longer one is cut


def sparkline(values: Sequence[float], width: int = WIDTH) -> str:
    """`values` in at most `width` bars: each bar the mean of its share of the points, scaled
    between the smallest and the largest mean (a flat series is a flat line)."""
    if not values:
        return ""
    buckets = min(width, len(values))
    means = []
    for index in range(buckets):
        share = values[index * len(values) // buckets:(index + 1) * len(values) // buckets]
        means.append(sum(value / len(share) for value in share))   # no sum overflows a float
    low, high = min(means), max(means)
    if high == low:
        return BARS[len(BARS) // 2] * buckets
    return "".join(BARS[min(len(BARS) - 1, int(fraction(mean, low, high) * len(BARS)))]
                   for mean in means)


def points(count: int) -> str:
    return f"{count} point" if count == 1 else f"{count} points"


def not_finite_text(curve: Curve) -> str:
    """", 3 NaN/inf" (", the last too" when the series ended on one), or "" for none."""
    if not curve.not_finite:
        return ""
    return f", {curve.not_finite} NaN/inf" + (" (the last too)" if curve.ends_not_finite else "")


def curve_lines(series: Curves, width: int = WIDTH) -> list[str]:
    """One line a series with two finite points or any NaN/inf: name, sparkline, first → last,
    how many points, how many were no finite number."""
    named = [(_cut(printable(name)), curve) for name, curve in series.items()
             if len(curve.values) > 1 or curve.not_finite]
    if not named:
        return []
    column = max(display_width(name) for name, _ in named)
    lines = []
    for name, curve in named:
        values = curve.values
        shape = (f"{sparkline(values, width)}  {short_number(values[0])} → "
                 f"{short_number(values[-1])}" if values else "no finite value")
        lines.append(f"{pad(name, column)}  {shape}, {points(curve.points)}"
                     f"{not_finite_text(curve)}")
    return lines


def _cut(name: str) -> str:
    if display_width(name) <= NAME_WIDTH:
        return name
    while display_width(name) > NAME_WIDTH - 1:
        name = name[:-1]
    return name + "…"


MAX_CHARTS = 8          # SVG charts drawn for one run; more series are named, not drawn


@dataclass(frozen=True)
class CurveStyle:
    """How the `curves` field shows a run's series: sparklines in a text code block (the
    default), SVG charts as raw HTML (`svg`: a vault note, which Obsidian renders), or, for the
    HTML export (which renders Markdown with raw HTML off), a fenced block whose info string is
    `marker` and which holds a key of `figures`, where the charts wait: html_page puts them in
    the block's place (render/html.py), and the Markdown parser never reads them."""

    svg: bool = False
    marker: str | None = None
    figures: dict[str, str] | None = None


TEXT = CurveStyle()


def run_curves(run: StoredRun, journal_dir: Path) -> Curves:
    """The series of the run's side file, when its record names one inside the journal."""
    from journal.store import sidefile

    side = _side_file(run, journal_dir)
    return sidefile.series(side) if side is not None else {}


def curves_markdown(run: StoredRun, journal_dir: Path, style: CurveStyle = TEXT) -> str:
    """The `curves` block of a run: "" when no series has two points. Drawings are kept in the
    cache (store/drawn.py), so a week's export reads them instead of drawing them again."""
    from journal.store import drawn, sidefile

    side = _side_file(run, journal_dir)
    if side is None:
        return ""
    kind = "text" if not style.svg and style.marker is None else "svg"
    drawn_from = drawn.identity(side)
    if drawn_from is None:
        return ""
    drawing = drawn.recall(journal_dir, run.id, drawn_from, kind)
    if drawing is None:
        series = sidefile.series(side)
        drawing = sparkline_block(series) if kind == "text" else svg_block(series)
        drawn.keep(journal_dir, run.id, drawn_from, kind, drawing)
    if drawing and style.marker is not None and style.figures is not None:
        style.figures[run.id] = drawing
        return f"```{style.marker}\n{run.id}\n```\n"
    return drawing


def _side_file(run: StoredRun, journal_dir: Path) -> Path | None:
    from journal.store import sidefile
    from journal.store.paths import inside_journal

    relative = table(run.record, "series").get("path")
    if relative is not None:
        return inside_journal(journal_dir, relative)
    # A script killed before its run's final write left no [series]; its side file has the
    # run's own name all the same, and holds every point it logged.
    side = sidefile.path(journal_dir, run.id)
    return side if side.is_file() else None


def sparkline_block(series: Curves) -> str:
    lines = curve_lines(series)
    return code_block("\n".join(lines), "text") if lines else ""


def svg_block(series: Curves) -> str:
    """A chart a series of two points or more, in one HTML block (no blank line inside, so
    Markdown keeps it whole), the series past MAX_CHARTS named below them."""
    import html

    from journal.render.svg import Line, line_chart

    drawn = [(name, curve) for name, curve in series.items()
             if len(curve.values) > 1 or curve.not_finite]
    if not drawn:
        return ""
    parts = ['<div class="journal-curves">']
    parts += [line_chart([Line(name, curve.steps, curve.values)], title=name, width=360,
                         height=160, note=not_finite_text(curve).lstrip(", "))
              for name, curve in drawn[:MAX_CHARTS]]
    if len(drawn) > MAX_CHARTS:
        names = ", ".join(html.escape(printable(name)) for name, _ in drawn[MAX_CHARTS:])
        parts.append(f"<p>{len(drawn) - MAX_CHARTS} more series not drawn: {names}</p>")
    parts.append("</div>")
    return "\n".join(parts) + "\n"

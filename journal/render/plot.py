"""Curves of several runs drawn in a terminal, in Braille dots: `journal plot` on a screen.

The one user of plotille (no dependencies, ~40 ms to import, MIT), chosen by measuring it
against uniplot, plotext, termplotlib and asciichartpy (README, Plot): the only one that is
light, numbers and names both axes, draws a legend, and keeps colours off where they do not
belong. Only `journal plot` imports this module. Each curve is thinned to two points a column
first (render/svg.py), so 100,000 points draw in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from journal.errors import UsageError
from journal.render.svg import Line, thin
from journal.text import printable, short_number

# Told apart by colour on a terminal that shows it; when colour is off, the first line in Braille
# dots (four times a marker's resolution), the others each by a marker.
COLOURS = ("bright_blue", "bright_red", "bright_green", "bright_magenta", "bright_yellow",
           "bright_cyan", "blue", "red")
MARKERS = (None, "x", "o", "+", "*", "#", "=", "~")


def terminal_plot(lines: Sequence[Line], *, metric: str, width: int, height: int,
                  colour: bool) -> str:
    """The chart of `lines` (x: step, y: the metric) and its legend, `width` columns wide
    (the axis labels included) and `height` rows of plot."""
    import plotille  # type: ignore[import-untyped]  # (no types shipped)

    figure = plotille.Figure()
    figure.width = max(20, width - 14)          # the y axis and its labels take 14 columns
    figure.height = max(5, height)
    figure.with_colors = colour
    figure.color_mode = "names"
    figure.origin = False
    figure.x_label, figure.y_label = "step", printable(metric)
    xs = [x for line in lines for x in line.xs]
    whole = all(x == int(x) for x in xs)      # steps: ticks as whole numbers
    figure.y_ticks_fkt = lambda low, high: short_number(low)
    figure.x_ticks_fkt = lambda low, high: str(round(low)) if whole else short_number(low)
    ys = [y for line in lines for y in line.ys]
    figure.set_x_limits(min_=min(xs), max_=max(xs) if max(xs) > min(xs) else min(xs) + 1)
    low, high = min(ys), max(ys)
    if not math.isfinite(high - low) or not math.isfinite(max(xs) - min(xs)):
        raise UsageError(f"{printable(metric)} spans more than a float can hold "
                         f"({short_number(low)} to {short_number(high)}): too wide to draw here",
                         hint="--svg FILE draws it")
    pad = (high - low) * 0.02 or abs(high) * 0.1 or 1.0
    figure.set_y_limits(min_=low - pad, max_=high + pad)
    for index, line in enumerate(lines):
        points = thin(line.xs, line.ys, figure.width * 2)    # a Braille cell is two dots wide
        figure.plot([x for x, _ in points], [y for _, y in points],
                    lc=COLOURS[index % len(COLOURS)] if colour else None,
                    label=printable(line.label),
                    marker=None if colour else MARKERS[index % len(MARKERS)])
    return str(figure.show(legend=True)) + "\n"

"""Curves of several runs drawn in a terminal, in Braille dots: `journal plot` on a screen.

The one user of plotille (no dependencies, ~40 ms to import, MIT), chosen by measuring it
against uniplot, plotext, termplotlib and asciichartpy (README, Plot): the only one that is
light, numbers and names both axes, draws a legend, and keeps colours off where they do not
belong. Only `journal plot` imports this module. Each curve is thinned to two points a column
first (render/svg.py), so 100,000 points draw in milliseconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from journal.errors import UsageError
from journal.render.svg import Line, thin
from journal.text import printable, short_number

# Told apart by colour on a terminal that shows it; when colour is off, the first line in Braille
# dots (four times a marker's resolution), the others each by a marker.
COLOURS = ("bright_blue", "bright_red", "bright_green", "bright_magenta", "bright_yellow",
           "bright_cyan", "blue", "red")
MARKERS = (None, "x", "o", "+", "*", "#", "=", "~", "@", "%", "&", "$", "^", "v", "s", "d")


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
    ys = [y for line in lines for y in line.ys]
    x_low, x_high = _limits(xs, "steps", metric, margin=0.0)
    y_low, y_high = _limits(ys, "values", metric, margin=0.02)
    whole = all(x == int(x) for x in xs) and x_high - x_low >= 20    # steps: whole-number ticks
    figure.y_ticks_fkt = lambda low, high: short_number(low)
    figure.x_ticks_fkt = lambda low, high: str(round(low)) if whole else short_number(low)
    figure.set_x_limits(min_=x_low, max_=x_high)
    figure.set_y_limits(min_=y_low, max_=y_high)
    for index, line in enumerate(lines):
        points = thin(line.xs, line.ys, figure.width * 2)    # a Braille cell is two dots wide
        figure.plot([x for x, _ in points], [y for _, y in points],
                    lc=COLOURS[index % len(COLOURS)] if colour else None,
                    label=printable(line.label),
                    # past the colours, a marker as well
                    marker=MARKERS[(index if not colour else index // len(COLOURS))
                                   % len(MARKERS)])
    return _drawn(figure, colour) + "\n"


def _drawn(figure: Any, colour: bool) -> str:
    """The figure as text. plotille decides colour again by itself (standard output a terminal,
    NO_COLOR): when colour is wanted (`--color always` into a pipe), it is told so."""
    if not colour:
        return str(figure.show(legend=True))
    saved = {name: os.environ.get(name) for name in ("FORCE_COLOR", "NO_COLOR")}
    os.environ["FORCE_COLOR"] = "1"
    os.environ.pop("NO_COLOR", None)
    try:
        return str(figure.show(legend=True))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _limits(values: list[float], what: str, metric: str, margin: float
            ) -> tuple[float, float]:
    """The axis' ends: the values' span and `margin` of it more, a flat line in the middle,
    never past the largest float (plotille's arithmetic would turn them into NaN)."""
    low, high = min(values), max(values)
    if not math.isfinite(high - low):
        raise UsageError(f"the {what} of {printable(metric)} span more than a float can hold "
                         f"({short_number(low)} to {short_number(high)}): too wide to draw here",
                         hint="--svg FILE draws it")
    span = high - low
    pad = span * margin if span > 1e-300 else abs(high) * 0.1 if abs(high) > 1e-300 else 1.0
    if math.isfinite(low - pad) and math.isfinite(high + pad) and (high + pad) - (low - pad) > 0:
        return low - pad, high + pad
    if span > 1e-300:                           # at the edge of the floats: no margin
        return low, high
    if abs(high) > 1e-300:                      # a flat line at the edge: a tenth inward
        return (high * 0.9, high) if high > 0 else (low, low * 0.9)
    return -1.0, 1.0

"""`journal plot METRIC [REF...] [filters]`: the per-step curve of one metric for several runs,
as W&B's and MLflow's charts give it: in the terminal (render/plot.py), or as an SVG file
(`--svg FILE`, render/svg.py) to put in a paper draft or a slide.

The runs are the REFs given, else the newest of those the filters keep that logged the metric
(`-n` of them); a run named by a REF without that series is said on stderr and left out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from journal.errors import UsageError
from journal.read.listing import chosen_runs
from journal.record import StoredRun, short_id
from journal.render.curves import run_curves
from journal.render.markdown import split_title
from journal.render.svg import Line
from journal.store.filters import Filters
from journal.store.source import RunSource
from journal.text import printable

LABEL_WIDTH = 32       # of a run's label in the legend: its short id and its note's title
SVG_WIDTH, SVG_HEIGHT = 720, 360


@dataclass
class PlotRequest:
    metric: str
    refs: Sequence[str] = ()
    limit: int | None = 10
    svg: Path | None = None            # Path("-"): the SVG on stdout
    force: bool = False


def plot_runs(source: RunSource, request: PlotRequest, filters: Filters, *, out: IO[str],
              warn: Callable[[str], None]) -> int:
    """Draw the curves; how many runs they are."""
    metric = request.metric
    if not metric.strip():
        raise UsageError("plot needs a metric name", hint="journal plot loss")
    lines, seen = _lines(source, request, filters, warn)
    if not lines:
        named = ", ".join(printable(name) for name in list(seen)[:12]) or "none"
        raise UsageError(f"no run {'named' if request.refs else 'selected'} logged a series "
                         f"named {printable(metric)!r} (series logged: {named})",
                         hint="series come from run.log(step=..., NAME=...) in the Python API")
    if request.svg is not None:
        from journal.read.export import write_output
        from journal.render.svg import line_chart

        chart = line_chart(lines, title=metric, width=SVG_WIDTH, height=SVG_HEIGHT) + "\n"
        write_output(chart, None if str(request.svg) == "-" else request.svg,
                     force=request.force, out=out)
        return len(lines)
    from journal.render.plot import terminal_plot

    columns, rows = shutil.get_terminal_size((100, 30))
    out.write(terminal_plot(lines, metric=metric, width=min(columns, 200),
                            height=max(8, min(rows - 6 - len(lines), 30)),
                            colour=_colour(out)))
    out.flush()
    return len(lines)


def _lines(source: RunSource, request: PlotRequest, filters: Filters,
           warn: Callable[[str], None]) -> tuple[list[Line], dict[str, None]]:
    """One line a run that logged the metric (at most `limit` without REFs), and the names of
    every series the runs looked at logged (for the message when none has this one)."""
    lines: list[Line] = []
    seen: dict[str, None] = {}
    runs: Sequence[StoredRun]
    if request.refs:
        runs = chosen_runs(source, request.refs, filters, limit=None, sort=None)
    else:
        runs = source.select(filters)          # newest first; the first `limit` with the series
    for run in runs:
        if "series" not in run.record:
            if request.refs:
                warn(f"{run.id} logged no series (left out)")
            continue
        series = run_curves(run, source.journal_dir)
        seen.update(dict.fromkeys(series))
        curve = series.get(request.metric)
        if curve is None:
            if request.refs:
                warn(f"{run.id} logged no series named {printable(request.metric)!r} (left out)")
            continue
        lines.append(Line(_label(run), *curve))
        if not request.refs and request.limit is not None and len(lines) >= request.limit:
            break
    return lines, seen


def _label(run: StoredRun) -> str:
    title = printable(split_title(run.record.get("note"))[0] or "")
    label = f"{short_id(run.id)} {title}".strip()
    return label if len(label) <= LABEL_WIDTH else label[:LABEL_WIDTH - 1] + "…"


def _colour(out: IO[str]) -> bool:
    """Colours on a terminal, unless NO_COLOR (no-color.org) or a dumb terminal says no."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False

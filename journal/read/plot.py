"""`journal plot METRIC [REF...] [filters]`: the per-step curve of one metric for several runs,
as W&B's and MLflow's charts give it: in the terminal (render/plot.py), or as an SVG file
(`--svg FILE`, render/svg.py) to put in a paper draft or a slide.

The runs are the REFs given, else the newest of those the filters keep that logged the metric
(`-n` of them); a run named by a REF without that series is said on stderr and left out.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from journal.errors import UsageError
from journal.read.listing import chosen_runs
from journal.record import StoredRun, flat_params, short_id
from journal.render.curves import not_finite_text, points, run_curves
from journal.render.fields import varying_params
from journal.render.markdown import split_title
from journal.render.svg import Line
from journal.store.filters import Filters
from journal.store.source import RunSource
from journal.text import format_value, printable

if TYPE_CHECKING:
    from journal.store.sidefile import Curve

TITLE_WIDTH = 48       # of a run's short id and note title in the legend (then the params)
SVG_WIDTH, SVG_HEIGHT = 720, 360


@dataclass
class PlotRequest:
    metric: str
    refs: Sequence[str] = ()
    limit: int | None = 8           # as many as the colours and markers told apart
    svg: str | None = None             # a file, or "-" for stdout (`./-` is a file named -)
    force: bool = False


def plot_runs(source: RunSource, request: PlotRequest, filters: Filters, *, out: IO[str],
              warn: Callable[[str], None], colour: bool = False) -> int:
    """Draw the curves; how many runs they are."""
    metric = request.metric
    if not metric.strip():
        raise UsageError("plot needs a metric name", hint="journal plot loss")
    if request.force and request.svg is None:
        raise UsageError("--force goes with --svg FILE (it lets the file be replaced)")
    if request.svg is not None and not request.svg.strip():
        raise UsageError("--svg needs a file name (or - for stdout)")
    lines, seen, not_finite = _lines(source, request, filters, warn)
    if not lines and not_finite:
        raise UsageError(f"no run {'named' if request.refs else 'selected'} logged a finite "
                         f"value of {printable(metric)!r}: only NaN or inf")
    if not lines:
        names = [printable(name) for name in seen]
        named = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20
                                         else "") if names else "none"
        raise UsageError(f"no run {'named' if request.refs else 'selected'} logged a series "
                         f"named {printable(metric)!r} (series logged: {named})",
                         hint="series come from run.log(step=..., NAME=...) in the Python API")
    if request.svg is not None:
        from journal.read.output import write_output
        from journal.render.svg import line_chart

        chart = line_chart(lines, title=metric, width=SVG_WIDTH, height=SVG_HEIGHT,
                           legend=True) + "\n"
        to_file = request.svg != "-"
        write_output(chart, Path(request.svg) if to_file else None, force=request.force,
                     out=out, option="--svg")
        if to_file:
            warn(f"wrote {printable(str(request.svg))}: {len(lines)} run(s)")
        return len(lines)
    from journal.render.plot import terminal_plot

    columns, rows = shutil.get_terminal_size((100, 30))
    out.write(terminal_plot(lines, metric=metric, width=min(columns, 200),
                            height=max(8, min(rows - 6 - len(lines), 30)),
                            colour=colour))
    out.flush()
    return len(lines)


def _lines(source: RunSource, request: PlotRequest, filters: Filters,
           warn: Callable[[str], None]) -> tuple[list[Line], dict[str, None], int]:
    """One line a run that logged the metric (at most `limit` without REFs), the names of
    every series the runs looked at logged (for the message when none has this one), and how
    many runs logged it with no finite value."""
    found: list[tuple[StoredRun, Curve]] = []
    not_finite = 0
    seen: dict[str, None] = {}
    runs: Iterable[StoredRun]
    if request.refs:
        runs = chosen_runs(source, request.refs, filters, limit=None, sort=None)
    else:
        runs = source.iter_select(filters)     # newest first; the first `limit` with the series
    metric = printable(request.metric)
    for run in runs:
        series = run_curves(run, source.journal_dir)
        seen.update(dict.fromkeys(series))
        curve = series.get(request.metric)
        if curve is None or not curve.values:
            if request.refs and curve is None:
                warn(f"{run.id} logged no series named {metric!r} (left out)")
            elif curve is not None:
                not_finite += 1
                warn(f"{run.id} logged only NaN/inf for {metric!r}: {points(curve.points)} "
                     "(left out)")
            continue
        found.append((run, curve))
        if not request.refs and request.limit is not None and len(found) >= request.limit:
            break
    varying = varying_params([run for run, _ in found]) or []
    return [Line(_label(run, varying) + not_finite_text(curve), curve.steps, curve.values)
            for run, curve in found], seen, not_finite


def _label(run: StoredRun, varying: Sequence[str]) -> str:
    """The run's short id, its note's title and the params that tell it from the others."""
    title = printable(split_title(run.record.get("note"))[0] or "")
    params = flat_params(run.record)
    shown = [f"{name}={format_value(params[name])}" for name in varying[:3] if name in params]
    label = f"{short_id(run.id)} {title}".strip()
    if len(label) > TITLE_WIDTH:
        label = label[:TITLE_WIDTH - 1] + "…"
    return label + (f" ({printable(', '.join(shown))})" if shown else "")

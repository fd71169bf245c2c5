"""`journal list`: one line a run, newest first; or JSON lines / CSV for scripts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import IO, Any

from journal.durations import human_duration
from journal.errors import UsageError
from journal.filters import Filters, aware, lookup
from journal.runs import Run, effective_status
from journal.safetext import json_text, printable

HEADLINE_METRICS = 3
NOTE_WIDTH = 60
_STATUS_COLOUR = {"finished": "32", "failed": "31", "interrupted": "33", "killed": "33",
                  "crashed": "35", "running": "36"}


def list_runs(source: Any, filters: Filters, *, limit: int | None, sort: str | None, fmt: str,
              absolute: bool, out: IO[str], now: dt.datetime | None = None) -> None:
    if sort:
        runs = sort_runs(source.select(filters), sort)[:limit]
    else:
        runs = source.select(filters, limit=limit)
    now = now or dt.datetime.now().astimezone()
    if fmt == "json":
        for run in runs:
            out.write(json_text(run_json(run)) + "\n")
    elif fmt == "csv":
        write_csv(runs, out)
    else:
        colour = out.isatty()
        for line in text_lines(runs, now=now, absolute=absolute, colour=colour):
            out.write(line + "\n")
    out.flush()


def sort_runs(runs: list[Run], sort: str) -> list[Run]:
    """`acc`: highest first; `-loss`: lowest first. Runs without the value come last."""
    name, lowest_first = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if not name:
        raise UsageError("--sort needs a metric or param name", hint="e.g. --sort acc or --sort -loss")
    table, dot, rest = name.partition(".")
    table, name = (table, rest) if dot and table in ("params", "metrics") else (None, name)

    def number(run: Run) -> float | None:
        value = lookup(run.record, table, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return None
        return float(value)

    with_value = [run for run in runs if number(run) is not None]
    without = [run for run in runs if number(run) is None]
    with_value.sort(key=lambda run: number(run) or 0.0, reverse=not lowest_first)
    return with_value + without


# -- text ----------------------------------------------------------------------------------------

def text_lines(runs: Sequence[Run], *, now: dt.datetime, absolute: bool, colour: bool) -> list[str]:
    rows = [_columns(run, now, absolute) for run in runs]
    if not rows:
        return []
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = []
    for row, run in zip(rows, runs):
        cells = [cell.ljust(width) for cell, width in zip(row[:5], widths)]
        if colour:
            code = _STATUS_COLOUR.get(run.status, "0")
            cells[0] = f"\x1b[33m{cells[0]}\x1b[m"
            cells[2] = f"\x1b[{code}m{cells[2]}\x1b[m"
        tail = "  ".join(part for part in row[5:] if part)
        lines.append(("  ".join(cells) + ("  " + tail if tail else "")).rstrip())
    return lines


def _columns(run: Run, now: dt.datetime, absolute: bool) -> list[str]:
    record = run.record
    started = record.get("started")
    when = "?"
    if isinstance(started, dt.datetime):
        when = absolute_time(started) if absolute else relative_time(started, now)
    return [
        run.id, when, printable(run.status), commit_mark(record), duration_text(record, now),
        printable(first_line(record.get("note"), NOTE_WIDTH)), headline_metrics(record),
    ]


def absolute_time(moment: dt.datetime) -> str:
    return aware(moment).astimezone().strftime("%Y-%m-%d %H:%M")


def relative_time(moment: dt.datetime, now: dt.datetime) -> str:
    seconds = (now - aware(moment)).total_seconds()
    if seconds < 0:
        return "in the future"
    for size, unit in ((7 * 86400, "w"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            if unit == "w" and seconds >= 8 * 7 * 86400:
                return aware(moment).astimezone().strftime("%Y-%m-%d")
            return f"{int(seconds // size)}{unit} ago"
    return "just now" if seconds < 10 else f"{int(seconds)}s ago"


def commit_mark(record: Mapping[str, Any]) -> str:
    """`9ac7188*`: short commit, `*` when the tree was dirty; `-` outside git."""
    git = record.get("git")
    if not isinstance(git, Mapping):
        return "-"
    commit = git.get("commit")
    text = str(commit)[:7] if commit else "nocommit"
    return printable(text + ("*" if git.get("dirty") else ""))


def duration_text(record: Mapping[str, Any], now: dt.datetime) -> str:
    duration = record.get("duration")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return human_duration(float(duration), compact=True)
    started = record.get("started")
    # Still going: the time so far. A crashed run (its wrapper is gone) is not still going.
    if record.get("status") == "running" and isinstance(started, dt.datetime) \
            and effective_status(record) == "running":
        return human_duration((now - aware(started)).total_seconds(), compact=True) + "…"
    return "-"


def first_line(note: Any, width: int) -> str:
    lines = str(note or "").strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def headline_metrics(record: Mapping[str, Any], count: int = HEADLINE_METRICS) -> str:
    metrics = record.get("metrics")
    if not isinstance(metrics, Mapping):
        return ""
    shown = [f"{name}={_number(value)}" for name, value in list(metrics.items())[:count]]
    return printable(" ".join(shown))


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# -- JSON and CSV ----------------------------------------------------------------------------------

def run_json(run: Run) -> dict[str, Any]:
    """The record as scripts want it: every field, the effective status, the file it came from."""
    return {**run.record, "id": run.id, "status": run.status, "path": str(run.path)}


def write_csv(runs: Sequence[Run], out: IO[str]) -> None:
    """The same columns as `journal export -f csv`: one flat row a run."""
    from journal.exportrows import rows_csv

    out.write(rows_csv(runs))


"""One row a run: the lines of `journal list`, and the flat rows of `list --json/--csv` and
`export -f json|csv` for scripts, spreadsheets and pandas.

JSON and CSV carry the same columns (`params.NAME`, `metrics.NAME` flattened), so
`pandas.read_json` and `pandas.read_csv` give the same frame.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from journal.record import (
    Record,
    Status,
    StoredRun,
    aware,
    effective_status,
    first_note_line,
    flat_params,
    table,
)
from journal.text import display_width, human_duration, json_text, pad, printable, printable_block

HEADLINE_METRICS = 3      # metrics shown on a `journal list` line (the first ones of a run)
NOTE_WIDTH = 60
_STATUS_COLOUR: dict[str, str] = {Status.FINISHED: "32", Status.FAILED: "31", Status.INTERRUPTED: "33",
                  Status.KILLED: "33", Status.CRASHED: "35", Status.RUNNING: "36"}
COLUMNS = ("id", "started", "ended", "status", "exit_code", "duration", "commit", "branch",
           "dirty", "host", "cwd", "command", "note", "tags")


def rows(runs: Sequence[StoredRun], *, for_csv: bool = False
         ) -> tuple[list[str], list[dict[str, Any]]]:
    """A header and one row a run. Tags are a list (as `journal list --json` gives them), or
    `a;b` for CSV."""
    header = row_header(runs)
    return header, [row_of(run, header, for_csv=for_csv) for run in runs]


def row_header(runs: Iterable[StoredRun]) -> list[str]:
    """The columns: journal's, then every param, metric and environment entry any run has."""
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    environment: dict[str, None] = {}
    for run in runs:
        params.update(dict.fromkeys(flat_params(run.record)))
        metrics.update(dict.fromkeys(table(run.record, "metrics")))
        environment.update(dict.fromkeys(table(run.record, "environment")))
    return [*COLUMNS, *(f"params.{name}" for name in params),
            *(f"metrics.{name}" for name in metrics),
            *(f"environment.{name}" for name in environment)]   # packages: one JSON object


def row_of(run: StoredRun, header: Sequence[str], *, for_csv: bool = False) -> dict[str, Any]:
    """One run's values under `header`'s names."""
    record = run.record
    git = table(record, "git")
    command = record.get("command")
    row: dict[str, Any] = {
        "id": run.id, "started": record.get("started"), "ended": record.get("ended"),
        "status": run.shown_status, "exit_code": record.get("exit_code"),
        "duration": record.get("duration"), "commit": git.get("commit"),
        "branch": git.get("branch"), "dirty": git.get("dirty"), "host": record.get("host"),
        "cwd": record.get("cwd"),
        "command": shlex.join(map(str, command)) if isinstance(command, list) else None,
        "note": record.get("note"),
        "tags": _tags(record.get("tags")) if for_csv else _tag_list(record.get("tags")),
    }
    tables = {"params": flat_params(record), "metrics": table(record, "metrics"),
              "environment": table(record, "environment")}
    for name in header[len(COLUMNS):]:
        table_name, _, key = name.partition(".")
        row[name] = tables[table_name].get(key)
    return {name: value if name == "tags" and isinstance(value, list) else plain_value(value)
            for name, value in row.items()}


def rows_json(runs: Sequence[StoredRun]) -> str:
    """A JSON array, one object a line."""
    header, found = rows(runs)
    if not found:
        return "[]\n"
    # json_text: control, bidi and zero-width characters as JSON escapes, as `list --json` does
    lines = [json_text({name: row.get(name) for name in header}) for row in found]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def rows_csv(runs: Sequence[StoredRun]) -> str:
    out = io.StringIO()
    write_csv(lambda: runs, out)
    return out.getvalue()


def write_csv(runs: Callable[[], Iterable[StoredRun]], out: IO[str]) -> int:
    """CSV of the runs `runs()` gives, in two passes over them (the columns, then the rows), so
    that a stream of any length is written holding one record at a time; how many rows."""
    import csv

    header = row_header(runs())
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(name) for name in header])
    rows = 0
    for run in runs():
        row = row_of(run, header, for_csv=True)
        writer.writerow([csv_cell(row.get(name)) for name in header])
        rows += 1
    return rows


def _tags(value: Any) -> Any:
    """`a;b`; a hand-edited record may hold anything else, shown as it is."""
    return ";".join(map(str, value)) if isinstance(value, list) else value


def _tag_list(value: Any) -> Any:
    """Tags as a list of text; a hand-edited record's other kinds shown as they are."""
    if isinstance(value, list):
        return [tag if isinstance(tag, str) else json.dumps(plain_value(tag), default=str)
                for tag in value]
    return plain_value(value)


def plain_value(value: Any) -> Any:
    """JSON-ready: times as ISO text, NaN and infinities (not JSON) as the text `nan`, `inf`,
    lists and tables as JSON text."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)           # `nan`, `inf`: a diverged run is not a run without it
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def csv_cell(value: Any) -> Any:
    """Numbers as they are; text (a note, a tag, a hand-edited commit, a param's name) with
    control characters escaped, so a CSV printed to a terminal is inert too."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        value = printable_block(value)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value      # a spreadsheet would run `=cmd|...` as a formula
    return value


# -- list's lines ----------------------------------------------------------------------------------------

WIDTH_WINDOW = 500     # list lines whose cells set the columns' widths; later lines follow them


def text_lines(runs: Iterable[StoredRun], *, now: dt.datetime, absolute: bool, colour: bool
               ) -> Iterator[str]:
    """`journal list`'s lines, as the runs come: the first WIDTH_WINDOW set the columns, so a
    list of a million runs starts at once and holds a few hundred lines, not all of them."""
    stream = iter(runs)
    first = [(run, _columns(run, now, absolute)) for run in itertools.islice(stream, WIDTH_WINDOW)]
    if not first:
        return
    widths = [max(display_width(row[column]) for _, row in first) for column in range(5)]
    for run, row in itertools.chain(first, ((run, _columns(run, now, absolute))
                                            for run in stream)):
        cells = [pad(cell, width) for cell, width in zip(row[:5], widths)]
        if colour:
            code = _STATUS_COLOUR.get(run.status, "0")
            cells[0] = f"\x1b[33m{cells[0]}\x1b[m"
            cells[2] = f"\x1b[{code}m{cells[2]}\x1b[m"
        tail = "  ".join(part for part in row[5:] if part)
        yield ("  ".join(cells) + ("  " + tail if tail else "")).rstrip()


def _columns(run: StoredRun, now: dt.datetime, absolute: bool) -> list[str]:
    record = run.record
    started = record.get("started")
    when = "?"
    if isinstance(started, dt.datetime):
        when = absolute_time(started) if absolute else relative_time(started, now)
    return [
        run.id, when, printable(run.shown_status), commit_mark(record), duration_text(record, now),
        printable(first_line(record.get("note"), NOTE_WIDTH)), headline_metrics(record),
    ]


def absolute_time(moment: dt.datetime) -> str:
    return _local(moment).strftime("%Y-%m-%d %H:%M")


def _local(moment: dt.datetime) -> dt.datetime:
    """`moment` in local time; as written when that is outside the years datetime holds (a
    hand-written 0001-01-01T00:30+01:00 is year 0 in UTC)."""
    try:
        return aware(moment).astimezone()
    except (OverflowError, ValueError):
        return aware(moment)


def relative_time(moment: dt.datetime, now: dt.datetime) -> str:
    seconds = (now - aware(moment)).total_seconds()
    if seconds < 0:
        return "in the future"
    for size, unit in ((7 * 86400, "w"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            if unit == "w" and seconds >= 8 * 7 * 86400:
                return _local(moment).strftime("%Y-%m-%d")
            return f"{int(seconds // size)}{unit} ago"
    return "just now" if seconds < 10 else f"{int(seconds)}s ago"


def commit_mark(record: Record) -> str:
    """`9ac7188*`: short commit, `*` when the tree was dirty, `@name` for a linked worktree
    (the repository's worktrees share one journal); `-` outside git."""
    git = record.get("git")
    if not isinstance(git, Mapping):
        return "-"
    commit = git.get("commit")
    text = str(commit)[:7] if commit else "nocommit"
    worktree = git.get("worktree")
    where = f"@{worktree}" if isinstance(worktree, str) and worktree else ""
    return printable(text + ("*" if git.get("dirty") else "") + where)


def duration_text(record: Record, now: dt.datetime) -> str:
    duration = record.get("duration")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return human_duration(float(duration), compact=True)
    started = record.get("started")
    # Still going: the time so far. A crashed run (its wrapper is gone) is not still going.
    if record.get("status") == Status.RUNNING and isinstance(started, dt.datetime) \
            and effective_status(record) == Status.RUNNING:
        return human_duration((now - aware(started)).total_seconds(), compact=True) + "…"
    return "-"


def first_line(note: Any, width: int) -> str:
    line = first_note_line(note)
    return line if len(line) <= width else line[: width - 1] + "…"


def headline_metrics(record: Record, count: int = HEADLINE_METRICS) -> str:
    metrics = record.get("metrics")
    if not isinstance(metrics, Mapping):
        return ""
    shown = [f"{name}={_short_number(value)}" for name, value in list(metrics.items())[:count]]
    return printable(" ".join(shown))


def _short_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# -- JSON and CSV ----------------------------------------------------------------------------------

def run_json(run: StoredRun) -> dict[str, Any]:
    """The record as scripts want it: every field, the status as listings show it (`note` for
    a note-only entry), the file it came from."""
    return {**run.record, "id": run.id, "status": run.shown_status, "path": str(run.path)}

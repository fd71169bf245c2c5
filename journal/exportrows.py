"""`journal export --format json|csv`: one flat row a run, for spreadsheets and pandas.

JSON and CSV carry the same columns (`params.NAME`, `metrics.NAME` flattened), so
`pandas.read_json` and `pandas.read_csv` give the same frame.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from journal.runs import Run
from journal.safetext import json_text, printable_block

COLUMNS = ("id", "started", "ended", "status", "exit_code", "duration", "commit", "branch",
           "dirty", "host", "cwd", "command", "note", "tags")


def rows(runs: Sequence[Run]) -> tuple[list[str], list[dict[str, Any]]]:
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for run in runs:
        params.update(dict.fromkeys(_table(run.record, "params")))
        metrics.update(dict.fromkeys(_table(run.record, "metrics")))
    header = [*COLUMNS, *(f"params.{name}" for name in params),
              *(f"metrics.{name}" for name in metrics)]
    table = []
    for run in runs:
        record = run.record
        git = _table(record, "git")
        command = record.get("command")
        row: dict[str, Any] = {
            "id": run.id, "started": record.get("started"), "ended": record.get("ended"),
            "status": run.status, "exit_code": record.get("exit_code"),
            "duration": record.get("duration"), "commit": git.get("commit"),
            "branch": git.get("branch"), "dirty": git.get("dirty"), "host": record.get("host"),
            "cwd": record.get("cwd"),
            "command": shlex.join(map(str, command)) if isinstance(command, list) else None,
            "note": record.get("note"),
            "tags": _tags(record.get("tags")),
        }
        for table_name, names in (("params", params), ("metrics", metrics)):
            values = _table(record, table_name)
            for name in names:
                row[f"{table_name}.{name}"] = values.get(name)
        table.append({name: _plain(value) for name, value in row.items()})
    return header, table


def rows_json(runs: Sequence[Run]) -> str:
    """A JSON array, one object a line."""
    header, table = rows(runs)
    if not table:
        return "[]\n"
    # json_text: control, bidi and zero-width characters as JSON escapes, as `list --json` does
    lines = [json_text({name: row.get(name) for name in header}) for row in table]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def rows_csv(runs: Sequence[Run]) -> str:
    import csv

    header, table = rows(runs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_cell(name) for name in header])
    for row in table:
        writer.writerow([_cell(row.get(name)) for name in header])
    return out.getvalue()


def _tags(value: Any) -> Any:
    """`a;b`; a hand-edited record may hold anything else, shown as it is."""
    return ";".join(map(str, value)) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    """JSON-ready: times as ISO text, NaN and infinities (not JSON) as null."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _cell(value: Any) -> Any:
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


def _table(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if isinstance(value, Mapping) else {}

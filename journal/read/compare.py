"""`journal compare [REF...] [filters]`: runs side by side, as `dvc exp show` gives them: one row
a run, a column for each param whose value differs between the runs and one for every metric.

Markdown (a table a notes app shows, and a terminal reads), CSV or JSON. The runs are the REFs
given, else those the filters keep (newest first, `-n` of them); `--sort` orders them by a metric
or param, as `journal list --sort` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from journal.errors import UsageError
from journal.read.listing import chosen_runs
from journal.record import StoredRun, flat_params, is_note_only, short_id, table
from journal.render.fields import varying_params
from journal.render.markdown import table_cell, title_line
from journal.render.rows import csv_cell, plain_value
from journal.store.filters import Filters
from journal.store.source import RunSource
from journal.text import format_value, json_text

NOTE_WIDTH = 40
FORMATS = ("md", "csv", "json")


def compare_runs(source: RunSource, refs: Sequence[str], filters: Filters, *, limit: int | None,
                 sort: str | None, fmt: str, out: IO[str]) -> int:
    """Print the comparison; how many runs it holds."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint="-f md, csv or json")
    runs = chosen_runs(source, refs, filters, limit=limit, sort=sort)
    header, rows = comparison(runs)
    if fmt == "json":
        out.write("[\n" + ",\n".join(json_text(row) for row in rows) + "\n]\n" if rows else "[]\n")
    elif fmt == "csv":
        import csv

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(row.get(name)) for name in header])
    elif rows:
        out.write("| " + " | ".join(table_cell(name) for name in header) + " |\n")
        out.write("|" + "|".join(" --- " for _ in header) + "|\n")
        for row in rows:
            out.write("| " + " | ".join(_md_cell(name, row.get(name)) for name in header) + " |\n")
    out.flush()
    return len(rows)


def comparison(runs: Sequence[StoredRun]) -> tuple[list[str], list[dict[str, Any]]]:
    """The header (`run`, `status`, `note`, `params.X` for the params that differ, `metrics.X`
    for every metric) and one row a run."""
    params = varying_params(runs) or _params_of_some(runs)
    metrics: dict[str, None] = {}
    for run in runs:
        metrics.update(dict.fromkeys(table(run.record, "metrics")))
    header = ["run", "status", "note", *(f"params.{name}" for name in params),
              *(f"metrics.{name}" for name in metrics)]
    rows = []
    for run in runs:
        values = flat_params(run.record)
        run_metrics = table(run.record, "metrics")
        row: dict[str, Any] = {"run": run.id, "status": run.shown_status,
                               "note": title_line(run.record.get("note"))}
        row.update({f"params.{name}": values.get(name) for name in params})
        row.update({f"metrics.{name}": run_metrics.get(name) for name in metrics})
        rows.append({name: plain_value(value) for name, value in row.items()})
    return header, rows


def _params_of_some(runs: Sequence[StoredRun]) -> list[str]:
    """When no param differs between the runs that have params, but some runs (not notes) have
    none, the params are what differs: all of them, as the runs with params have them."""
    tables = [flat_params(run.record) for run in runs]
    if not any(tables) or all(tables[i] or is_note_only(run.record) for i, run in enumerate(runs)):
        return []
    names: dict[str, None] = {}
    for params in tables:
        names.update(dict.fromkeys(params))
    return list(names)


def _md_cell(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name == "run":
        return f"`{short_id(value)}`"
    text = format_value(value)
    if name == "note" and len(text) > NOTE_WIDTH:
        text = text[: NOTE_WIDTH - 1] + "…"
    return table_cell(text)

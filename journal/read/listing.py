"""`journal list`: one line a run, newest first; or JSON lines / CSV for scripts."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

from journal.errors import UsageError
from journal.record import StoredRun
from journal.render.rows import run_json, text_lines, write_csv
from journal.store.filters import Filters, lookup
from journal.store.source import RunSource
from journal.text import json_text


def list_runs(source: RunSource, filters: Filters, *, limit: int | None, sort: str | None,
              fmt: str, absolute: bool, out: IO[str], now: dt.datetime, colour: bool = False
              ) -> int:
    """Print the runs `filters` keep, newest first (or by `sort`): `fmt` is text, json or csv;
    `colour`: the text's ids and statuses coloured. How many runs were printed."""
    printed = 0

    def chosen() -> Iterator[StoredRun]:
        return streamed_runs(source, filters, limit=limit, sort=sort)

    if fmt == "json":
        for run in chosen():
            out.write(json_text(run_json(run)) + "\n")
            printed += 1
    elif fmt == "csv":
        printed = write_csv(chosen, out)
    else:
        # A line reads a few fields of its run: the index hands out only those.
        runs = streamed_runs(source, filters, limit=limit, sort=sort, summaries=True)
        lines = text_lines(runs, now=now, absolute=absolute, colour=colour)
        while batch := list(itertools.islice(lines, 256)):    # one write, not one a line
            out.write("\n".join(batch) + "\n")
            out.flush()     # a reader sees lines as they come, as before
            printed += len(batch)
    out.flush()
    return printed


def sort_runs(runs: list[StoredRun], sort: str) -> list[StoredRun]:
    """`acc`: highest first; `-loss`: lowest first. Runs without the value come last."""
    by_id = {run.id: run for run in runs}
    return [by_id[run_id] for run_id in sorted_ids(runs, sort, None)]


def sorted_ids(runs: Iterable[StoredRun], sort: str, limit: int | None) -> list[str]:
    """The ids of `sort_runs(runs, sort)[:limit]`, holding only ids and values as the runs go
    by (with a limit, only the best `limit` of them): `list --sort` at any size."""
    number, lowest_first = sort_value(sort)
    without: list[str] = []

    def keyed() -> Iterator[tuple[float, str]]:
        for run in runs:
            value = number(run)
            if value is not None:
                yield (value if lowest_first else -value), run.id
            elif limit is None or len(without) < limit:
                without.append(run.id)

    best = sorted(keyed(), key=_first) if limit is None else \
        heapq.nsmallest(limit, keyed(), key=_first)     # both keep ties in their order
    return ([run_id for _, run_id in best] + without)[:limit]


def _first(pair: tuple[float, str]) -> float:
    return pair[0]


def sort_value(sort: str) -> tuple[Callable[[StoredRun], float | None], bool]:
    """What `--sort NAME` (`-NAME`: lowest first) orders by: a run's number for it, or None;
    and whether the lowest comes first."""
    name, lowest_first = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if not name:
        raise UsageError("--sort needs a metric or param name", hint="e.g. --sort acc or --sort -loss")
    prefix, dot, rest = name.partition(".")
    where, name = (prefix, rest) if dot and prefix in ("params", "metrics") else (None, name)

    def number(run: StoredRun) -> float | None:
        value = lookup(run.record, where, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return None
        return float(value)

    return number, lowest_first


def chosen_runs(source: RunSource, refs: Sequence[str], filters: Filters, *, limit: int | None,
                sort: str | None) -> list[StoredRun]:
    """The runs a command over several runs works on: the REFs given (each once, in their order,
    those the filters keep: `compare @~5 @~4 @ --status finished`), else those the filters keep,
    newest first, `limit` of them; `sort` orders either by a metric or param."""
    if refs:
        chosen: dict[str, StoredRun] = {}
        for ref in refs:
            run = source.resolve(ref)
            chosen.setdefault(run.id, run)
        runs = [run for run in chosen.values() if filters.matches(run.record, run.status)]
        return sort_runs(runs, sort) if sort else runs
    return list(streamed_runs(source, filters, limit=limit, sort=sort))


def streamed_runs(source: RunSource, filters: Filters, *, limit: int | None, sort: str | None,
                  summaries: bool = False) -> Iterator[StoredRun]:
    """The runs the filters keep, newest first or by `sort`, `limit` of them, one at a time:
    memory does not grow with their number (`--sort` sees them all first, keeping only ids and
    values, and with a limit only the best `limit`). With `summaries`, a record may hold only
    what a one-line listing reads."""
    if sort:
        ids = sorted_ids(source.iter_select(filters), sort, limit)
        return (run for run in map(source.get, ids) if run is not None)
    return itertools.islice(source.iter_select(filters, summaries=summaries), limit)

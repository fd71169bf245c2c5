"""The SQL side of the index's filters: a WHERE clause that selects a superset of the runs a
`Filters` keeps (the exact test runs in Python on each candidate, so the two never disagree)."""

from __future__ import annotations

from typing import Any

from journal.store.filters import Condition, Filters


def sql_for(filters: Filters) -> tuple[str, list[Any]]:
    """A WHERE clause selecting a superset of what `filters` keeps; the exact test runs in Python
    on each candidate, so the two can never disagree."""
    clauses: list[str] = []
    args: list[Any] = []
    slack = 60.0   # hand-edited times and ids a minute off are still candidates
    # One range in one clause, so SQLite searches the `started` index (a week among 100,000
    # runs: 6 ms, not a 290 ms scan); a record without a start is a candidate all the same.
    if filters.since or filters.until:
        low = filters.since.timestamp() - slack if filters.since else float("-inf")
        high = filters.until.timestamp() + slack if filters.until else float("inf")
        clauses.append("(started IS NULL OR (started >= ? AND started < ?))")
        args += [low, high]
    for tag in filters.tags:
        clauses.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
        args.append(tag)
    if filters.statuses:
        wanted = set(filters.statuses)
        if wanted & {"running", "crashed"}:
            wanted |= {"running", "crashed"}     # crashed is a dead wrapper's `running`
        if "note" in wanted:
            wanted |= {"finished"}               # a note-only entry's record says finished
        clauses.append(f"status IN ({','.join('?' * len(wanted))})")
        args += sorted(wanted)
    for condition in filters.where:
        sql = _condition_sql(condition)
        if sql:
            clauses.append(sql[0])
            args += sql[1]
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def _condition_sql(condition: Condition) -> tuple[str, list[Any]] | None:
    """Only the cases whose SQL meaning is surely wider than the Python test. Values SQL cannot
    compare like Python does (nan and inf stored as objects, datetimes, arrays, numbers against
    text) are kept as candidates for the Python test to decide."""
    value = condition.value
    if condition.table == "params" or '"' in condition.name or "\\" in condition.name \
            or condition.name[:1] == "$":
        # Params are in the compressed body; quoting trouble, or a `$` key stored escaped:
        # Python alone decides.
        return None
    json_path = f'$."{condition.name}"'
    expr, args = "json_extract(metrics, ?)", [json_path]
    kind, kind_args = "json_type(metrics, ?)", [json_path]
    if condition.table is None:
        # A bare name is a metric's if the run has that metric, else a param's or a field's:
        # a run without the metric is a candidate for Python to decide.
        kind = f"coalesce({kind}, 'object')"
    if condition.op in (">", "<", ">=", "<=") and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return f"({kind} = 'object' OR {expr} {condition.op} ?)", [*kind_args, *args, value]
    if condition.op in ("=", "==") and isinstance(value, str):
        return (f"({kind} IN ('integer', 'real', 'true', 'false', 'object', 'array', 'null') "
                f"OR {expr} = ?)",
                [*kind_args, *args, value])
    return None

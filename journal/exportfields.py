"""The values behind an export template's placeholders: the whole note, each day, each run.

A run's values are journal.render's `run_fields`, the pieces `journal show` prints (one renderer,
not two), plus `key_params`. The note's and each day's are made here. Every value is escaped
Markdown, built with journal.markdown's primitives.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journal.markdown import code_span, inline_text, note_markdown, split_title, table_cell
from journal.render import FIELDS, format_value, human_duration
from journal.runs import Run
from journal.template import DAY, ROOT, RUN, Field, Filler, Value

SCHEMA: dict[str, Field] = {
    # the whole note
    "since": Field(ROOT), "until": Field(ROOT), "week": Field(ROOT), "generated": Field(ROOT),
    "runs": Field(ROOT), "finished": Field(ROOT), "failed": Field(ROOT),
    "compute_time": Field(ROOT), "summary": Field(ROOT, block=True),
    "commits": Field(ROOT, block=True),
    # each day
    "day": Field(DAY), "date": Field(DAY), "day_runs": Field(DAY),
    # each run
    **{name: Field(RUN, block=about.startswith("block:")) for name, about in FIELDS.items()},
    "key_params": Field(RUN),
}
CONDITIONS = ("runs", "commits")

HEADLINE_METRICS = 3      # the first metrics of each run, as `journal list` shows them
KEY_PARAMS = 12           # params shown for a run at most (those that vary, else the first)
BEST_METRICS = 6
COMMITS_SHOWN = 100
NONE = Value("—", "")
# Metrics named like these are better when lower; any other, when higher.
_LOWER_IS_BETTER = re.compile(
    r"loss|err|perplexity|ppl|mse|mae|rmse|wer|cer|fid|nll|bpd|latency|time|regret|distance", re.I)


def text(value: Any) -> Value:
    """A plain value shown as text."""
    plain = str(value)
    return Value(inline_text(plain), plain) if plain else NONE


@dataclass(frozen=True)
class Commit:
    sha: str
    when: dt.datetime
    author: str
    subject: str


# -- the whole note -------------------------------------------------------------------------------

def note_fields(runs: Sequence[Run], since: dt.date, until: dt.date, week: str,
                commits: list[Commit] | None, now: dt.datetime, filtered: bool
                ) -> dict[str, Filler]:
    statuses = Counter(run.status for run in runs)
    seconds = sum(_number(run.record.get("duration")) or 0.0 for run in runs)
    return {
        "since": text(since.isoformat()), "until": text(until.isoformat()), "week": text(week),
        "generated": text(now.strftime("%Y-%m-%d %H:%M")),
        "runs": text(len(runs)), "finished": text(statuses.get("finished", 0)),
        "failed": text(statuses.get("failed", 0)), "compute_time": text(human_duration(seconds)),
        "summary": Value(summary(runs, statuses, seconds, since, until, filtered)),
        "commits": Value(commits_markdown(commits, since, until)),
    }


def summary(runs: Sequence[Run], statuses: Counter[str], seconds: float, since: dt.date,
            until: dt.date, filtered: bool) -> str:
    if not runs:
        span = f"between {since.isoformat()} and {until.isoformat()}"
        return (f"No runs {span} match the filters.\n" if filtered
                else f"No runs were recorded {span}.\n")
    counts = ", ".join(f"{count} {status}" for status, count in statuses.most_common())
    plural = "run" if len(runs) == 1 else "runs"
    lines = [f"**{len(runs)} {plural}** ({inline_text(counts)}), "
             f"{inline_text(human_duration(seconds))} of compute.", ""]
    best = best_metrics(runs)
    if best:
        lines += ["| Metric | Best | Run |", "| --- | --- | --- |"]
        for name, value, lower, run in best:
            arrow = "lowest" if lower else "highest"
            lines.append(f"| {table_cell(name)} ({arrow}) | {table_cell(format_value(value))} | "
                         f"{code_span(run.id)} {table_cell(_title(run))} |")
    return "\n".join(lines).rstrip("\n") + "\n"


def best_metrics(runs: Sequence[Run]) -> list[tuple[str, float, bool, Run]]:
    """The headline metrics (the first few of each run, as `journal list` shows them, most common
    first) with their best value and the run that got it. Lower is better for names like loss."""
    seen: Counter[str] = Counter()
    for run in runs:
        seen.update(list(_table(run.record, "metrics"))[:HEADLINE_METRICS])
    best = []
    for name, _count in seen.most_common(BEST_METRICS):
        lower = bool(_LOWER_IS_BETTER.search(name))
        scored = [(value, run) for run in runs
                  if (value := _number(_table(run.record, "metrics").get(name))) is not None]
        if scored:
            value, run = (min if lower else max)(scored, key=lambda pair: pair[0])
            best.append((name, value, lower, run))
    return best


def commits_markdown(commits: list[Commit] | None, since: dt.date, until: dt.date) -> str:
    if commits is None:
        return "Not in a git repository.\n"
    if not commits:
        return f"No commits between {since.isoformat()} and {until.isoformat()}.\n"
    lines = [f"- {code_span(commit.sha[:7])} {commit.when.strftime('%Y-%m-%d')} "
             f"{inline_text(commit.subject)} ({inline_text(commit.author)})"
             for commit in commits[:COMMITS_SHOWN]]
    if len(commits) > COMMITS_SHOWN:
        lines.append(f"- … and {len(commits) - COMMITS_SHOWN} more")
    return "\n".join(lines) + "\n"


# -- days and runs --------------------------------------------------------------------------------

def day_fields(day: dt.date, runs: Sequence[Run]) -> dict[str, Filler]:
    return {"day": text(f"{day.strftime('%A')}, {day.isoformat()}"), "date": text(day.isoformat()),
            "day_runs": text(len(runs))}


def varying_params(runs: Sequence[Run]) -> list[str] | None:
    """The params whose value differs between the runs that have params (what a reader
    compares); None when none does, so each run shows its first few instead."""
    tables = [params for run in runs if (params := _table(run.record, "params"))]
    names: dict[str, None] = {}
    for params in tables:
        names.update(dict.fromkeys(params))
    missing = object()
    varying = [name for name in names
               if len({repr(params.get(name, missing)) for params in tables}) > 1]
    return varying or None


# Fields computed here group by group from journal.render's own pieces, so a run costs only what
# the template shows (`run_fields` builds all of them: ~1 ms a run, too slow for a 500-run week).
# Any other field comes from `run_fields` itself. tests/test_export.py checks both agree.
def _ids(p: Any) -> dict[str, str]:
    from journal.render import _JOURNAL_ID

    run_id = p.run.id
    short = run_id[:19] if _JOURNAL_ID.match(run_id) else run_id
    return {"id": inline_text(run_id), "short_id": inline_text(short)}


def _note(p: Any) -> dict[str, str]:
    from journal.render import _title_and_body

    title, body = _title_and_body(format_value(p.record.get("note") or ""), p.run.id, p.level + 1)
    return {"note_title": title, "note_first_line": title, "note_body": body}


def _whole_note(p: Any) -> dict[str, str]:
    return {"note": note_markdown(format_value(p.record.get("note") or ""), p.level + 1)}


def _status(p: Any) -> dict[str, str]:
    from journal.render import STATUS_MARKS

    code = p.record.get("exit_code")
    return {"status": inline_text(p.status()), "status_mark": STATUS_MARKS.get(p.status(), "?"),
            "outcome": inline_text(p.outcome()),
            "exit_code": inline_text(format_value(code)) if code is not None else ""}


def _command(p: Any) -> dict[str, str]:
    block, inline = p.command()
    return {"command": block, "command_inline": inline}


def _params(p: Any) -> dict[str, str]:
    from journal.render import _pairs_inline

    return {"params_inline": _pairs_inline(_table(p.record, "params"))}


def _metrics(p: Any) -> dict[str, str]:
    from journal.render import _pairs_inline

    return {"metrics_inline": _pairs_inline(_table(p.record, "metrics"))}


def _where(p: Any) -> dict[str, str]:
    return {name: inline_text(format_value(p.record.get(name, ""))) for name in ("host", "cwd")}


_GROUP_FIELDS = {
    _ids: ("id", "short_id"), _note: ("note_title", "note_first_line", "note_body"),
    _whole_note: ("note",), _status: ("status", "status_mark", "outcome", "exit_code"),
    _command: ("command", "command_inline"), _params: ("params_inline",),
    _metrics: ("metrics_inline",),
    _where: ("host", "cwd"),
}
_GROUPS: dict[str, Callable[[Any], dict[str, str]]] = {
    name: group for group, names in _GROUP_FIELDS.items() for name in names}
_GROUPS.update({name: (lambda p: p.times()) for name in (
    "started", "started_date", "started_time", "ended", "duration", "when")})
_GROUPS.update({name: (lambda p: p.code()) for name in (
    "commit", "commit_short", "commit_short_dirty", "dirty", "branch", "code", "changed",
    "untracked", "left_out")})


class RunFields(Mapping[str, Filler]):
    """A run's values: journal.render's run fields (the pieces `journal show` prints), plus
    `key_params`, each computed when a template first asks for it. Block fields are computed for
    the heading level they sit under, so a note's headings go below the run's own."""

    def __init__(self, run: Run, journal_dir: Path, key_params: list[str] | None,
                 level: int = 2) -> None:
        self.run = run
        self.journal_dir = journal_dir
        self.key_params = key_params
        self.level = level                 # for inline fields, which do not depend on it
        self._pieces: dict[int, Any] = {}
        self._values: dict[tuple[int, str], str] = {}

    def value(self, name: str, level: int) -> str:
        key = (level, name)
        if key not in self._values:
            group = _GROUPS.get(name)
            if group is not None:
                for field_name, text in group(self._at(level)).items():
                    self._values[(level, field_name)] = text
            else:
                from journal.render import run_fields

                for field_name, text in run_fields(self.run, self.journal_dir,
                                                   heading_level=level).items():
                    self._values[(level, field_name)] = text
        return self._values[key]

    def _at(self, level: int) -> Any:
        if level not in self._pieces:
            from journal.render import _Run

            self._pieces[level] = _Run(self.run, self.journal_dir, level, None)
        return self._pieces[level]

    def __getitem__(self, name: str) -> Filler:
        if name == "key_params":
            return self._key_params()
        spec = SCHEMA.get(name)
        if spec is None or spec.scope != RUN:
            raise KeyError(name)
        if spec.block:
            return lambda level: Value(self.value(name, max(level, 1)))
        return Value(self.value(name, self.level) or NONE.markdown)

    def __iter__(self) -> Iterator[str]:
        return (name for name, spec in SCHEMA.items() if spec.scope == RUN)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _key_params(self) -> Value:
        params = _table(self.run.record, "params")
        names = [name for name in self.key_params if name in params] if self.key_params else list(params)
        more = max(0, len(names) - KEY_PARAMS)
        names = names[:KEY_PARAMS]
        if not names:
            return NONE
        parts = [f"{name}={format_value(params[name])}" for name in names]
        shown = ", ".join(code_span(part) for part in parts)
        return Value(shown + (f" and {more} more" if more > 0 else ""), " ".join(parts))


def _title(run: Run) -> str:
    title = split_title(run.record.get("note"))[0] or ""
    return title if len(title) <= 60 else title[:59] + "…"


def _table(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None

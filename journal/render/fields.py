"""The values behind an export template's placeholders: the whole note, each day, each run.

A run's values are render/run.py's `RunFields`, the pieces `journal show` prints (one renderer,
not two), plus `key_params`. The note's and each day's are made here. Every value is escaped
Markdown, built with render/markdown.py's primitives.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journal.record import (
    StoredRun,
    finite_number,
    flat_params,
    is_note_only,
    param_value,
    table,
)
from journal.render.curves import TEXT, CurveStyle
from journal.render.markdown import code_span, inline_text, split_title, table_cell
from journal.render.run import FIELDS, RunFields
from journal.render.template import (
    DAY,
    MACHINE,
    ROOT,
    RUN,
    VALUE_FIELDS,
    Field,
    Filler,
    Value,
)
from journal.text import format_value, human_duration

TEMPLATE_FIELDS: dict[str, Field] = {
    # the whole note
    "since": Field(ROOT), "until": Field(ROOT), "week": Field(ROOT), "generated": Field(ROOT),
    "runs": Field(ROOT), "notes": Field(ROOT), "finished": Field(ROOT), "failed": Field(ROOT),
    "interrupted": Field(ROOT), "killed": Field(ROOT), "crashed": Field(ROOT),
    "running": Field(ROOT), "compute_time": Field(ROOT), "summary": Field(ROOT, block=True),
    "commits": Field(ROOT, block=True),
    # each day
    "day": Field(DAY), "date": Field(DAY), "day_runs": Field(DAY), "day_notes": Field(DAY),
    # each machine (the runs grouped by host)
    "machine": Field(MACHINE), "machine_runs": Field(MACHINE), "machine_notes": Field(MACHINE),
    "machine_users": Field(MACHINE),
    # each run
    **{name: Field(RUN, block=about.startswith("block:")) for name, about in FIELDS.items()},
    "key_params": Field(RUN),
}
CONDITIONS = ("runs", "notes", "commits")

HEADLINE_METRICS = 3      # the first metrics of each run, as `journal list` shows them
KEY_PARAMS = 12           # params shown for a run at most (those that vary, else the first)
BEST_METRICS = 6
COMMITS_SHOWN = 100
NONE = Value("—", "")
# Metrics named with one of these words are better when lower; any other, when higher. Words,
# not substrings: `answer_acc` holds "wer" and `confidence` holds "fid", and both are higher-better.
_LOWER_WORDS = frozenset({
    "loss", "losses", "err", "error", "errors", "perplexity", "ppl", "mse", "mae", "rmse", "wer",
    "cer", "fid", "nll", "bpd", "latency", "time", "regret", "distance"})
_WORD = re.compile(r"[a-z]+")


# In Japanese and Chinese names, which have no spaces to split words at: these inside a name.
_LOWER_PARTS = ("損失", "误差", "誤差", "損失関数", "损失", "エラー", "誤り", "遅延", "時間", "时间",
                "延迟", "距離", "距离", "困惑度")


def lower_is_better(name: str) -> bool:
    return any(word in _LOWER_WORDS for word in _WORD.findall(name.lower())) \
        or any(part in name for part in _LOWER_PARTS)


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

def note_fields(records: Sequence[StoredRun], since: dt.date, until: dt.date, week: str,
                commits: list[Commit] | None, now: dt.datetime, filtered: bool
                ) -> dict[str, Filler]:
    """The whole note's values. `runs` counts records with a command; note-only entries are
    `notes`, never runs, and never counted finished."""
    runs = [run for run in records if not is_note_only(run.record)]
    notes = len(records) - len(runs)
    statuses = Counter(run.status for run in runs)
    seconds = sum(finite_number(run.record.get("duration")) or 0.0 for run in runs)
    return {
        "since": text(since.isoformat()), "until": text(until.isoformat()), "week": text(week),
        "generated": text(now.strftime("%Y-%m-%d %H:%M")),
        "runs": text(len(runs)), "notes": text(notes),
        **{status: text(statuses.get(status, 0)) for status in _COUNTED},
        "compute_time": text(human_duration(seconds)),
        "summary": Value(summary(runs, notes, statuses, seconds, since, until, filtered)),
        "commits": Value(commits_markdown(commits, since, until)),
    }


_COUNTED = ("finished", "failed", "interrupted", "killed", "crashed", "running")


def summary(runs: Sequence[StoredRun], notes: int, statuses: Counter[str], seconds: float,
            since: dt.date, until: dt.date, filtered: bool) -> str:
    if not runs and not notes:
        span = f"between {since.isoformat()} and {until.isoformat()}"
        return (f"No runs {span} match the filters.\n" if filtered
                else f"No runs were recorded {span}.\n")
    counts = ", ".join(f"{count} {status}" for status, count in statuses.most_common())
    plural = "run" if len(runs) == 1 else "runs"
    head = f"**{len(runs)} {plural}**" + (f" ({inline_text(counts)})" if counts else "")
    if notes:
        head += f", {notes} note{'s' if notes != 1 else ''}"
    lines = [f"{head}, {inline_text(human_duration(seconds))} of compute.", ""]
    best = best_metrics(runs)
    if best:
        lines += ["| Metric | Best (finished runs) | Run |", "| --- | --- | --- |"]
        for name, value, lower, run in best:
            arrow = "lowest" if lower else "highest"
            lines.append(f"| {table_cell(name)} ({arrow}) | {table_cell(format_value(value))} | "
                         f"{code_span(run.id)} {table_cell(_title(run))} |")
    return "\n".join(lines).rstrip("\n") + "\n"


def best_metrics(runs: Sequence[StoredRun]) -> list[tuple[str, float, bool, StoredRun]]:
    """The headline metrics (the first few of each run, as `journal list` shows them, most common
    first) with their best value and the run that got it, among finished runs only (the last
    value a killed run printed is no result). Lower is better for names like loss."""
    runs = [run for run in runs if run.status == "finished" and not is_note_only(run.record)]
    seen: Counter[str] = Counter()
    for run in runs:
        seen.update(list(table(run.record, "metrics"))[:HEADLINE_METRICS])
    best = []
    for name, _count in seen.most_common(BEST_METRICS):
        lower = lower_is_better(name)
        scored = [(value, run) for run in runs
                  if (value := finite_number(table(run.record, "metrics").get(name))) is not None]
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

def day_fields(day: dt.date, runs: Sequence[StoredRun]) -> dict[str, Filler]:
    """`day_runs` counts runs with a command (notes are `day_notes`)."""
    real = sum(1 for run in runs if not is_note_only(run.record))
    return {"day": text(f"{day.strftime('%A')}, {day.isoformat()}"), "date": text(day.isoformat()),
            "day_runs": text(real), "day_notes": text(len(runs) - real)}


def machine_fields(host: str, runs: Sequence[StoredRun]) -> dict[str, Filler]:
    users = sorted({user for run in runs if isinstance(user := run.record.get("user"), str)})
    real = sum(1 for run in runs if not is_note_only(run.record))
    return {"machine": text(host), "machine_runs": text(real), "machine_notes": text(len(runs) - real),
            "machine_users": text(", ".join(users) if users else "-")}


def varying_params(runs: Sequence[StoredRun]) -> list[str] | None:
    """The params whose value differs between the runs that have params (what a reader
    compares); None when none does, so each run shows its first few instead."""
    tables = [params for run in runs if (params := flat_params(run.record))]
    names: dict[str, None] = {}
    for params in tables:
        names.update(dict.fromkeys(params))
    missing = object()
    varying = [name for name in names
               if len({repr(params.get(name, missing)) for params in tables}) > 1]
    return varying or None


class TemplateRunFields(Mapping[str, Filler]):
    """A run's values: render/run.py's run fields (the pieces `journal show` prints), plus
    `key_params`, each computed when a template first asks for it. Block fields are computed for
    the heading level they sit under, so a note's headings go below the run's own."""

    def __init__(self, run: StoredRun, journal_dir: Path, key_params: list[str] | None,
                 level: int = 2, curve_style: CurveStyle = TEXT) -> None:
        self.run = run
        self.curve_style = curve_style
        self.journal_dir = journal_dir
        self.key_params = key_params
        self.level = level                 # for inline fields, which do not depend on it
        self._at_level: dict[int, RunFields] = {}

    def value(self, name: str, level: int) -> str:
        if level not in self._at_level:
            self._at_level[level] = RunFields(self.run, self.journal_dir, heading_level=level,
                                              curve_style=self.curve_style)
        return self._at_level[level][name]

    def __getitem__(self, name: str) -> Filler:
        if name == "key_params":
            return self._key_params()
        if name.startswith(VALUE_FIELDS):
            return self._one_value(name)
        spec = TEMPLATE_FIELDS.get(name)
        if spec is None or spec.scope != RUN:
            raise KeyError(name)
        if spec.block:
            return lambda level: Value(self.value(name, max(level, 1)))
        return Value(self.value(name, self.level) or NONE.markdown)

    def __iter__(self) -> Iterator[str]:
        return (name for name, spec in TEMPLATE_FIELDS.items() if spec.scope == RUN)

    def _one_value(self, name: str) -> Value:
        """`metric:NAME[:DIGITS]` or `param:NAME[:DIGITS]` (a dotted name reaches into a nested
        config): the value, rounded to DIGITS decimals when it is a number; — when the run has
        none."""
        kind, _, rest = name.partition(":")
        key, _, digits = rest.rpartition(":")
        if not digits.isdigit():
            key, digits = rest, ""
        key = key.strip()
        if kind == "metric":
            value = table(self.run.record, "metrics").get(key)
        else:
            value = param_value(flat_params(self.run.record), key)
        if value is None:
            return NONE
        if digits and isinstance(value, int | float) and not isinstance(value, bool):
            return text(f"{value:.{int(digits)}f}")
        return text(format_value(value))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _key_params(self) -> Value:
        params = flat_params(self.run.record)
        names = [name for name in self.key_params if name in params] if self.key_params else list(params)
        more = max(0, len(names) - KEY_PARAMS)
        names = names[:KEY_PARAMS]
        if not names:
            return NONE
        parts = [f"{name}={format_value(params[name])}" for name in names]
        shown = ", ".join(code_span(part) for part in parts)
        return Value(shown + (f" and {more} more" if more > 0 else ""), " ".join(parts))


def _title(run: StoredRun) -> str:
    title = split_title(run.record.get("note"))[0] or ""
    return title if len(title) <= 60 else title[:59] + "…"

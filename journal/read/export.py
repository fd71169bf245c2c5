"""`journal export`: the runs of a time range as one note (Markdown or an HTML page) or as rows
(JSON, CSV), for a notes app, a progress report or a spreadsheet.

The note comes from a template (render/template.py): `--template FILE`, else
`.journal-template.md` at the work-tree root, else the packaged default (store/starter.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from journal.errors import UsageError
from journal.record import StoredRun, aware, is_note_only, started_at
from journal.store.context import Context
from journal.store.filters import build_filters, parse_when
from journal.store.source import RunSource
from journal.text import printable

if TYPE_CHECKING:
    from journal.render.curves import CurveStyle
    from journal.render.fields import Commit
    from journal.render.template import Data, Template

FORMATS = ("md", "html", "json", "csv", "enex")
DEFAULT_DAYS = 7


@dataclass
class ExportRequest:
    since: str | None = None
    until: str | None = None
    week: int | None = None            # 0: this ISO week, -1: the previous one; None: no --week
    tags: Sequence[str] = ()
    statuses: Sequence[str] = ()
    where: Sequence[str] = ()
    hosts: Sequence[str] = ()
    users: Sequence[str] = ()
    fmt: str = "md"
    template: Path | None = None
    single: bool = False               # -f enex: the weekly note as one note, not a note a run
    version: str = ""                  # journal's, for the file's `version` (-f enex)


@dataclass
class Exported:
    text: str
    runs: int
    first_day: dt.date
    last_day: dt.date


@dataclass
class TimeRange:
    since: dt.datetime
    until: dt.datetime | None          # None: open (up to now)
    first_day: dt.date
    last_day: dt.date
    week: str = field(default="")      # ISO week of the first day, e.g. 2026-W48


def export(request: ExportRequest, source: RunSource, context: Context) -> Exported:
    """The runs `request` selects, as one note or as rows; `context` gives the work tree (for its
    commits and template) and the clock (for the range)."""
    if request.fmt not in FORMATS:
        raise UsageError(f"unknown format {printable(request.fmt)!r}",
                         hint="use md, html, json, csv or enex")
    if request.single and request.fmt != "enex":
        raise UsageError("--single is for -f enex (the weekly note as one Evernote note)",
                         hint="journal export -f enex --single -o week.enex")
    now = context.now()
    template = None
    if request.fmt in ("md", "html") or request.single:
        template = load_template(request.template, context.root)
    runs, span = selected_runs(request, source, now)
    if request.fmt == "enex" and not request.single:
        text = _enex_of_runs(runs, context.journal_dir, now, request.version)
    elif request.fmt == "json":
        from journal.render.rows import rows_json
        text = rows_json(runs)
    elif request.fmt == "csv":
        from journal.render.rows import rows_csv
        text = rows_csv(runs)
    else:
        assert template is not None
        filtered = bool(request.tags or request.statuses or request.where)
        commits = commits_in_range(context, span)
        # The HTML page draws the curves as SVG: Markdown carries them in a fenced block whose
        # info string no note can guess, which html_page turns back into the SVG.
        style = _html_curves() if request.fmt == "html" else None
        front, body = template.render_parts(note_data(
            runs, span, commits, now, filtered, context.journal_dir, template.run_block_level(),
            style))
        if request.fmt == "html":
            from journal.render.html import html_page
            assert style is not None
            text = html_page(body, marker=style.marker, figures=style.figures)
        elif request.fmt == "enex":
            from journal.render.enex import EnexNote, enex_file
            from journal.render.markdown import split_title

            title = (_front_title(front) or split_title(body)[0]
                     or f"Experiments {span.first_day} – {span.last_day}")
            text = enex_file([EnexNote(title, body, now, now, ["journal"])], now, request.version)
        else:
            text = front + ("\n" if front else "") + body
    return Exported(text, sum(1 for run in runs if not is_note_only(run.record)),
                    span.first_day, span.last_day)


def _front_title(front: str) -> str | None:
    """The `title:` of a template's YAML front matter (a plain or quoted scalar), if it has one:
    the weekly note's title in a notes app, as Obsidian reads it."""
    import json
    import re

    found = re.search(r"^title:[ \t]*(.+?)[ \t]*$", front, re.M)
    if not found:
        return None
    value = found[1]
    if value.startswith('"') and value.endswith('"') and len(value) > 1:
        try:
            value = str(json.loads(value))
        except ValueError:
            value = value[1:-1]
    elif value.startswith("'") and value.endswith("'") and len(value) > 1:
        value = value[1:-1].replace("''", "'")
    return value.strip() or None


def _html_curves() -> CurveStyle:
    import secrets

    from journal.render.curves import CurveStyle
    return CurveStyle(marker=f"journal-curves-{secrets.token_hex(8)}", figures={})


def _enex_of_runs(runs: Sequence[StoredRun], journal_dir: Path, now: dt.datetime, version: str
                  ) -> str:
    """One Evernote note a record (runs and note-only entries), created when it started and
    updated when it last changed (its end, or its latest amendment)."""
    from journal.record import listed
    from journal.render.enex import EnexNote, enex_file
    from journal.render.markdown import title_line
    from journal.render.run import run_markdown

    notes = []
    for run in runs:
        title = title_line(run.record.get("note"), run.id)
        times = [moment for moment in (started_at(run.record), run.record.get("ended"),
                                       *(item.get("at") for item in listed(
                                           run.record.get("amendments")) if isinstance(item, dict)))
                 if isinstance(moment, dt.datetime)]
        tags = [tag for tag in listed(run.record.get("tags")) if isinstance(tag, str)]
        notes.append(EnexNote(title, run_markdown(run, journal_dir, heading_level=1),
                              started_at(run.record), max(times, key=aware) if times else None,
                              tags))
    return enex_file(notes, now, version)


def selected_runs(request: ExportRequest, source: RunSource, now: dt.datetime
                  ) -> tuple[list[StoredRun], TimeRange]:
    """The runs of the request's range that its filters keep, oldest first, and the range."""
    span = time_range(request, now)
    filters = dataclasses.replace(
        build_filters(tags=request.tags, statuses=request.statuses, where=request.where,
                      hosts=request.hosts, users=request.users, now=now),
        since=span.since, until=span.until)
    return sorted(source.select(filters, newest_first=False), key=_start), span


# -- the time range -------------------------------------------------------------------------------

def time_range(request: ExportRequest, now: dt.datetime) -> TimeRange:
    """`--week N` (ISO weeks, Monday to Sunday), else `--since/--until`, else the last 7 days
    (today and the six before it)."""
    until: dt.datetime | None
    if request.week is not None:
        if request.since or request.until:
            raise UsageError("--week cannot be combined with --since or --until")
        if abs(request.week) > 52 * 1000:
            raise UsageError(f"--week {request.week} is out of range",
                             hint="weeks from now: 0 this week, -1 the previous one")
        monday = now.date() - dt.timedelta(days=now.weekday()) + dt.timedelta(weeks=request.week)
        since = _midnight(monday)
        until = _midnight(monday + dt.timedelta(days=7))
    else:
        until = parse_when(request.until, now, end=True) if request.until else None
        if request.since:
            since = parse_when(request.since, now)
        else:
            end_day = (until - dt.timedelta(microseconds=1)).date() if until else now.date()
            since = _midnight(end_day - dt.timedelta(days=DEFAULT_DAYS - 1))
    if until is not None and since >= until:
        raise UsageError(f"the range is empty: --since {printable(request.since or '')} is not "
                         f"before --until {printable(request.until or '')}")
    first = since.astimezone().date()
    last = (until - dt.timedelta(microseconds=1)).astimezone().date() if until else now.date()
    year, week, _ = first.isocalendar()
    return TimeRange(since, until, first, max(first, last), f"{year}-W{week:02d}")


def _midnight(day: dt.date) -> dt.datetime:
    """The start of `day` in local time (the offset of that day, across DST changes)."""
    return dt.datetime.combine(day, dt.time()).astimezone()


def _start(run: StoredRun) -> dt.datetime:
    return started_at(run.record) or dt.datetime.min.replace(tzinfo=dt.timezone.utc)


# -- the template -----------------------------------------------------------------------------------

def load_template(option: Path | None, root: Path) -> Template:
    from journal.render.fields import CONDITIONS, TEMPLATE_FIELDS
    from journal.render.template import compile_template
    from journal.store.starter import export_template

    text, name = export_template(option, root)
    return compile_template(text, name, TEMPLATE_FIELDS, CONDITIONS)


def note_data(runs: Sequence[StoredRun], span: TimeRange, commits: list[Commit] | None,
              now: dt.datetime, filtered: bool, journal_dir: Path, level: int = 2,
              curve_style: CurveStyle | None = None) -> Data:
    from journal.render.curves import TEXT
    from journal.render.fields import (
        TemplateRunFields,
        day_fields,
        machine_fields,
        note_fields,
        varying_params,
    )
    from journal.render.template import Data, Day, Filler

    key_params = varying_params([run for run in runs if not is_note_only(run.record)])
    fields_of = {run.id: TemplateRunFields(run, journal_dir, key_params, level,
                                           curve_style or TEXT) for run in runs}

    def group(fields: dict[str, Filler], members: list[StoredRun]) -> Day:
        """A day's or a machine's values, its runs, and apart from them its notes."""
        return Day(fields, [fields_of[run.id] for run in members if not is_note_only(run.record)],
                   [fields_of[run.id] for run in members if is_note_only(run.record)])

    days = []
    for day, members in itertools.groupby(runs, key=lambda run: _start(run).astimezone().date()):
        day_runs = list(members)
        days.append(group(day_fields(day, day_runs), day_runs))
    by_host: dict[str, list[StoredRun]] = {}
    for run in runs:
        host = run.record.get("host")
        by_host.setdefault(host if isinstance(host, str) and host else "unknown host", []).append(run)
    machines = [group(machine_fields(host, host_runs), host_runs)
                for host, host_runs in sorted(by_host.items())]
    fields = note_fields(runs, span.first_day, span.last_day, span.week, commits, now, filtered)
    # `if runs`: anything in the range (a run or a note, as before notes were apart)
    conditions = {"runs": bool(runs), "notes": any(is_note_only(run.record) for run in runs),
                  "commits": bool(commits)}
    return Data(fields, days, conditions, machines)


# -- commits ----------------------------------------------------------------------------------------

def commits_in_range(context: Context, span: TimeRange) -> list[Commit] | None:
    """The commits made in the range on any local branch, oldest first (read-only `git log` with
    the user's config kept out of its output); None outside a git repository. A repository
    without commits, or a git that fails, gives none."""
    if context.worktree_root is None:
        return None
    from journal.git import Git, GitFailed
    from journal.render.fields import Commit
    from journal.store.config import load_config

    git = Git(context.worktree_root, load_config(context.journal_dir, context.environ).git_timeout,
              context.environ)
    args = ["log", "--branches", "HEAD", "--reverse", "-z", "--no-color", "--no-decorate",
            "--no-show-signature", "--no-mailmap", "--format=%H%x1f%cI%x1f%an%x1f%s",
            f"--since=@{int(span.since.timestamp())}"]
    if span.until is not None:
        args.append(f"--until=@{int(span.until.timestamp()) - 1}")
    try:
        output = git.run(*args)
    except GitFailed:
        return []
    commits = []
    for entry in output.decode("utf-8", "replace").split("\0"):
        parts = entry.strip("\n").split("\x1f")
        if len(parts) != 4:
            continue
        sha, when, author, subject = parts
        try:
            moment = dt.datetime.fromisoformat(when).astimezone()
        except ValueError:
            continue
        commits.append(Commit(sha, moment, author, subject))
    return commits


# -- the --week option ------------------------------------------------------------------------

def week_argument(week: bool, texts: Sequence[str] | None) -> int | None:
    """`--week` alone: 0 (this week); `--week -1`: the previous one; no `--week`: None. The N
    arrives as an argument (so that `-1` is not taken for an option), and so does anything the
    option parser did not know."""
    if not texts:
        return 0 if week else None
    unknown = [text for text in texts if text.startswith("-") and not _is_int(text)]
    text = unknown[0] if unknown else texts[-1] if len(texts) == 1 else texts[1]
    if unknown or len(texts) > 1:
        raise UsageError(f"no such option: {printable(text)}" if unknown
                         else f"unexpected argument {printable(text)!r}",
                         hint="see journal export --help")
    try:
        number = int(text)
    except ValueError:
        if text.startswith("-"):
            raise UsageError(f"no such option: {printable(text)}",
                             hint="see journal export --help") from None
        raise UsageError(f"unexpected argument {printable(text)!r}",
                         hint="see journal export --help") from None
    if not week:
        raise UsageError(f"unexpected argument {printable(text)!r}",
                         hint="a number of weeks goes with --week: --week -1") from None
    if number > 0:
        # Runs cannot start in a week to come: `--week 1` is surely meant as last week.
        raise UsageError(f"--week {number} is a week to come; past weeks count back",
                         hint="the previous week is --week -1" if number == 1
                         else f"{number} weeks back is --week -{number}")
    return number


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True

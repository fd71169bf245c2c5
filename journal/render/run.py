"""One run as Markdown: what `journal show` prints and `journal export` fills its templates from.

Two entry points, one set of pieces, so a run reads the same wherever it appears:

- `run_markdown(run, journal_dir)`: the whole note for one run (heading, note, amendments, status,
  time, code state, command, params, metrics, and optionally the patch and the log's last lines).
- `run_fields(run, journal_dir)`: the same pieces one by one, as a dict of Markdown strings that
  are already escaped (see FIELDS for the names), for export templates' placeholders.

Every value comes from a record, which may hold anything (hand edits, hostile notes): each one is
escaped where it lands (render/markdown.py) and made terminal-safe (journal.text). Paths named by
a record (`git.patch`, `log.path`) are read only when they lead inside the journal folder.
Times are shown in local time (or `tz`), with the zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from journal.record import (
    Record,
    Status,
    StoredRun,
    amendment_text,
    aware,
    finite_number,
    flat_params,
    is_note_only,
    listed,
    short_id,
    table,
    text_list,
)
from journal.render.curves import TEXT, CurveStyle, curves_markdown
from journal.render.markdown import (
    code_block,
    code_span,
    inline_text,
    note_markdown,
    split_title,
    table_cell,
)
from journal.store.files import open_regular
from journal.store.paths import shown_path
from journal.store.runfiles import (
    log_file,
    partial_copy,
    patch_file,
    read_log_tail,
    stayed_behind,
)
from journal.text import format_value, human_duration, printable_block

__all__ = ["FIELDS", "log_excerpt", "log_text", "run_fields", "run_markdown"]

STATUS_MARKS: dict[str, str] = {Status.FINISHED: "✓", Status.FAILED: "✗", Status.INTERRUPTED: "⏹",
                Status.KILLED: "☠", Status.CRASHED: "⚠", Status.RUNNING: "…"}
NOTE_MARK = "✎"                # a note-only entry: an idea, not a finished run
MAX_PATHS = 20                 # changed/untracked files listed before "and N more"
TITLE_WIDTH = 120              # a longer first line is cut in the heading and kept in the body
ERROR_WIDTH = 160              # of the error a run ended on, in its outcome

# name -> what it holds. Inline fields are one line, safe in a paragraph, list item, heading or
# table cell; block fields are whole Markdown blocks (ending with a newline, or empty) that must
# stand on their own lines, with a blank line before and after. Absent values are "".
FIELDS: dict[str, str] = {
    "id": "inline: the run id",
    "short_id": "inline: the id up to its milliseconds: a REF `journal show` takes while unique",
    "note_title": "inline: the note's first line as plain text (its heading text if it opens with "
                  "one), or the id when the note is empty or opens with a list, code or a table",
    "note_first_line": "inline: the same as note_title",
    "note": "block: the whole note as Markdown, headings demoted below the run's heading",
    "note_body": "block: the note without the line that became note_title",
    "amendments": "block: the amendments to the note, each a quote with its time",
    "status": "inline: finished, failed, interrupted, killed, crashed or running",
    "status_mark": "inline: a one-character mark for the status (✓ finished, ✗ failed, ⏹ interrupted, ☠ killed, ⚠ crashed, … running, ✎ a note)",
    "outcome": "inline: the status with the exit code, e.g. 'failed (exit code 1)'",
    "exit_code": "inline: the exit code",
    "started": "inline: start, local time with the zone, e.g. 2026-11-28 16:42:07 JST",
    "started_date": "inline: start date, e.g. 2026-11-28",
    "started_time": "inline: start time of day, e.g. 16:42",
    "ended": "inline: end, local time with the zone",
    "duration": "inline: how long it ran, e.g. 3h 30m 12s",
    "when": "inline: start, end and duration in one phrase",
    "commit": "inline: the full commit hash",
    "commit_short": "inline: the short commit hash",
    "commit_short_dirty": "inline: the short commit, with -dirty when the work tree had changes",
    "dirty": "inline: dirty or clean",
    "branch": "inline: the branch (empty on a detached HEAD or outside git)",
    "code": "inline: commit, branch and dirty state in one phrase",
    "changed": "inline: the changed tracked files, as code",
    "untracked": "inline: the untracked files, as code",
    "left_out": "inline: files kept out of the patch, as code",
    "host": "inline: the machine it ran on",
    "cwd": "inline: the directory it ran in, relative to the work-tree root",
    "command": "block: the command as a shell code block",
    "command_inline": "inline: the command as inline code",
    "params_table": "block: the params as a two-column table",
    "metrics_table": "block: the metrics as a two-column table",
    "params_inline": "inline: the params as `name=value` code, comma-separated",
    "metrics_inline": "inline: the metrics as `name=value` code, comma-separated",
    "tags": "inline: the tags, as code, comma-separated",
    "log_path": "inline: the log file, as code",
    "patch_path": "inline: the patch file, as code",
    "warnings": "inline: what was not captured or went wrong, or empty",
    "facts": "block: the list of facts `journal show` prints (when, code, files, tags, host, log)",
    "curves": "block: the per-step curves a script logged: a sparkline each in Markdown, an SVG "
              "chart each in the HTML export and vault notes",
}


# -- values ---------------------------------------------------------------------------------------

def _strings(value: Any) -> list[str]:
    """A list field's items as text; a scalar in its place as a list of one."""
    if isinstance(value, (list, tuple)):
        return [format_value(item) for item in value]
    return [] if value is None else [format_value(value)]


def _zone(moment: dt.datetime) -> str:
    name = moment.tzname() or ""
    if name.isalpha():
        return name
    offset = moment.strftime("%z")
    return f"{offset[:3]}:{offset[3:]}" if offset else ""


def _local(value: object, tz: dt.tzinfo | None) -> dt.datetime | None:
    """A time in `tz` (default: local); naive (hand-edited) times read as local, as filters do."""
    return aware(value).astimezone(tz) if isinstance(value, dt.datetime) else None


def _time_text(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} {_zone(moment)}".rstrip()



def _code_list(paths: list[str]) -> str:
    shown = ", ".join(code_span(path) for path in paths[:MAX_PATHS])
    more = len(paths) - MAX_PATHS
    return shown + (f" and {more} more" if more > 0 else "")


def _pairs_inline(values: Mapping[str, Any]) -> str:
    return ", ".join(code_span(f"{name}={format_value(value)}") for name, value in values.items())


def _pairs_table(values: Mapping[str, Any], header: str, at_default: Sequence[str] = ()) -> str:
    """A two-column table; a value the program left at its default says so."""
    if not values:
        return ""
    defaults = set(at_default)
    rows = [f"| {header} | value |", "|---|--:|"]
    rows += [f"| {table_cell(name) or ' '} | {table_cell(format_value(value)) or ' '}"
             f"{' (default)' if name in defaults else ''} |" for name, value in values.items()]
    return "\n".join(rows) + "\n"


def _params_table(record: Record) -> str:
    return _pairs_table(flat_params(record), "param", text_list(record.get("params_default")))


def _environment_items(record: Record) -> list[str]:
    """The facts list's lines about what the program ran on (schema 2's [environment])."""
    environment = table(record, "environment")
    items = []
    python = environment.get("python")
    if python:
        where = environment.get("executable")
        items.append(f"**Python:** {code_span(format_value(python))}"
                     + (f" ({code_span(format_value(where))})" if where else ""))
    if environment.get("platform"):
        items.append(f"**Platform:** {code_span(format_value(environment['platform']))}")
    gpus = _strings(environment.get("gpus"))
    if gpus:
        items.append("**GPUs:** " + ", ".join(map(code_span, gpus)))
    packages = environment.get("packages")
    if isinstance(packages, Mapping) and packages:
        pairs = [f"{name}=={format_value(version)}" for name, version in packages.items()]
        more = len(pairs) - MAX_PATHS
        items.append("**Packages:** " + ", ".join(map(code_span, pairs[:MAX_PATHS]))
                     + (f" and {more} more" if more > 0 else ""))
    return items


# -- files named by the record ------------------------------------------------------------------

_SGR = re.compile(r"(\x1b\[[0-9;:]*m)")


def log_text(data: bytes, *, keep_colour: bool) -> str:
    """Log bytes as text safe to show (render/logtext.py drops the escape sequences, and keeps the
    colours with `keep_colour`, for a terminal); a line redrawn with carriage returns shows its
    last state. Bytes that are not UTF-8 are shown as `\\xNN`."""
    from journal.render.logtext import clean_log

    cleaned = clean_log(data, keep_colour=keep_colour, keep_cr=False)
    text = cleaned.decode("utf-8", "backslashreplace")
    # Whatever is not a colour passes text.printable_block too, so nothing else can reach a terminal.
    pieces = _SGR.split(text)
    return "".join(piece if index % 2 else printable_block(piece)
                   for index, piece in enumerate(pieces))


def log_excerpt(run: StoredRun, journal_dir: Path, lines: int) -> tuple[str, bytes | None]:
    """A Markdown line saying which log this is (or why there is none to show), and the bytes of
    its last `lines` lines (None when there are none to show). Show them through `log_text`."""
    relative = table(run.record, "log").get("path")
    if not relative:
        return "**Log:** none, this run has no command\n", None
    shown = code_span(shown_path(journal_dir, relative))
    path = log_file(run.record, journal_dir)
    if path is None:
        return f"**Log:** {shown} is outside the journal folder, so it is not shown\n", None
    try:
        data = read_log_tail(path, lines)
    except FileNotFoundError:
        behind = stayed_behind(path)
        why = inline_text(behind) if behind else "is missing"
        return f"**Log:** {shown} {why}\n", None
    except OSError as exc:
        return f"**Log:** {shown} cannot be read ({inline_text(exc.strerror or exc)})\n", None
    if not data:
        return f"**Log:** {shown} is empty\n", None
    partial = partial_copy(path, _size(path))
    return f"**Log**, last {lines} lines of {shown}" + (
        f", {inline_text(partial)}" if partial else "") + "\n", data


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# -- the pieces ---------------------------------------------------------------------------------

def _title_and_body(note: str, run_id: str, level: int) -> tuple[str, str]:
    """The heading text (the note's title, else the id) and the note below it."""
    title, rest = split_title(note)
    if title is None or not title.strip():
        return inline_text(run_id), note_markdown(note, level)
    if len(title) > TITLE_WIDTH:
        return inline_text(title[: TITLE_WIDTH - 1] + "…"), note_markdown(note, level)
    return inline_text(title), note_markdown(rest, level)


def _amendments(record: Record, level: int, tz: dt.tzinfo | None) -> str:
    items = record.get("amendments")
    if not isinstance(items, list):
        return ""
    quotes = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        moment = _local(item.get("at"), tz)
        when = inline_text(_time_text(moment) if moment else format_value(item.get("at", "")))
        body = note_markdown(format_value(amendment_text(item)), level)
        # A quote keeps the amendment's Markdown inside it: a list or an open fence ends with it.
        quoted = [f"> **Amended {when}**".rstrip()]
        if body:
            quoted.append(">")
            quoted += [f"> {line}" if line else ">" for line in body.rstrip("\n").split("\n")]
        quotes.append("\n".join(quoted) + "\n")
    return "\n".join(quotes)


class _Run:
    """The pieces of one run's note, computed from its record."""

    def __init__(self, run: StoredRun, journal_dir: Path, heading_level: int, tz: dt.tzinfo | None,
                 curve_style: CurveStyle = TEXT) -> None:
        self.run = run
        self.curve_style = curve_style
        self.record = run.record
        self.journal_dir = journal_dir
        self.level = min(max(heading_level, 1), 6)
        self.tz = tz
        self.git = table(self.record, "git")

    def status(self) -> str:
        return self.run.status

    def note(self) -> str:
        return format_value(self.record.get("note") or "")

    def outcome(self) -> str:
        status = self.status()
        code = self.record.get("exit_code")
        if status == Status.CRASHED:
            return "crashed (its journal process is gone; the record still said running)"
        if status == Status.RUNNING:
            return f"running on {self.record.get('host', '?')}"
        if "command" not in self.record:
            return "note only (no command)" if status == Status.FINISHED else status
        if isinstance(code, int) and not isinstance(code, bool):
            return f"{status} (exit code {code}){self._error()}"
        return status + self._error()

    def _error(self) -> str:
        """`: RuntimeError: loss is NaN` when the script said why it ended (the API keeps the
        exception it ended on): the weekly note says why a run failed, not only that it did."""
        error = self.record.get("error")
        if not isinstance(error, str) or not error.strip():
            return ""
        lines = error.strip().splitlines()
        # "Type: message" and its first line; of a whole traceback, its last line (the error)
        line = lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()
        if len(lines) > 1 and not lines[0].startswith("Traceback"):
            line += " …"
        return ": " + (line if len(line) <= ERROR_WIDTH else line[:ERROR_WIDTH - 1] + "…")

    @functools.cached_property
    def times(self) -> dict[str, str]:
        started = _local(self.record.get("started"), self.tz)
        ended = _local(self.record.get("ended"), self.tz)
        seconds = finite_number(self.record.get("duration"))
        out = {"started": "", "started_date": "", "started_time": "", "ended": "", "duration": "",
               "when": ""}
        if started:
            out.update(started=_time_text(started), started_date=f"{started:%Y-%m-%d}",
                       started_time=f"{started:%H:%M}")
        if ended:
            out["ended"] = _time_text(ended)
        if seconds is not None:
            out["duration"] = human_duration(seconds)
        when = out["started"] or format_value(self.record.get("started", "?"))
        if ended and started:
            end = f"{ended:%H:%M:%S}" if ended.date() == started.date() else out["ended"]
            when += f" to {end}"
        if out["duration"] and "command" in self.record:
            when += f", {out['duration']}"
        elif self.status() == Status.RUNNING:
            when += ", still running"
        out["when"] = when
        return {name: inline_text(value) for name, value in out.items()}

    @functools.cached_property
    def code(self) -> dict[str, str]:
        git = self.git
        out = dict.fromkeys(("commit", "commit_short", "commit_short_dirty", "dirty", "branch",
                             "code", "changed", "untracked", "left_out"), "")
        if not git and "git" not in self.record:
            out["code"] = "not in a git repository"
            return out
        commit = format_value(git.get("commit", ""))
        branch = format_value(git.get("branch", ""))
        dirty = git.get("dirty") is True
        short = commit[:7]
        out.update(
            commit=inline_text(commit), commit_short=inline_text(short),
            commit_short_dirty=inline_text(short + ("-dirty" if dirty else "") if short else ""),
            dirty="dirty" if dirty else "clean", branch=inline_text(branch),
            changed=_code_list(_strings(git.get("changed"))),
            untracked=_code_list(_strings(git.get("untracked"))),
            left_out=_code_list(_strings(git.get("left_out"))),
        )
        phrase = code_span(short) if short else "no commit yet"
        phrase += f" on {code_span(branch)}" if branch else " (detached HEAD)" if short else ""
        if dirty:
            counts = [f"{len(_strings(git.get(name)))} {name}" for name in ("changed", "untracked")
                      if _strings(git.get(name))]
            phrase += ", **dirty**" + (f" ({', '.join(counts)})" if counts else "")
        else:
            phrase += ", clean"
        out["code"] = phrase
        return out

    def warnings(self) -> list[str]:
        record, git = self.record, self.git
        found = []
        if _strings(git.get("partial")):
            parts = ", ".join(map(inline_text, _strings(git.get("partial"))))
            found.append(f"not captured: {parts}")
        if record.get("error") and not isinstance(record["error"], str):    # a string: outcome
            found.append("error: " + inline_text(format_value(record["error"])))
        found += ["problem: " + inline_text(line) for line in _strings(record.get("problems"))]
        return found

    def facts(self, times: dict[str, str], code: dict[str, str]) -> str:
        record, git = self.record, self.git
        items = [f"**When:** {times['when']}", f"**Code:** {code['code']}"]
        situation = [inline_text(f"{format_value(git['in_progress'])} in progress")
                     if git.get("in_progress") else "",
                     (f"linked worktree {code_span(str(git['worktree']))}"
                      if isinstance(git.get("worktree"), str) and git["worktree"] != "linked"
                      else "linked worktree") if git.get("worktree") else "",
                     "shallow clone" if git.get("shallow") else ""]
        if any(situation):
            items.append("**Repository:** " + ", ".join(part for part in situation if part))
        for label, name in (("Changed", "changed"), ("Untracked", "untracked"),
                            ("Left out of the patch", "left_out")):
            if code[name]:
                items.append(f"**{label}:** {code[name]}")
        if _strings(git.get("redacted")):
            masked = _code_list(_strings(git.get("redacted")))
            items.append(f"**Secrets masked in the patch of:** {masked}")
        submodules = [sub for sub in listed(git.get("submodules")) if isinstance(sub, Mapping)]
        if submodules:
            items.append("**Submodules:** " + ", ".join(
                code_span(format_value(sub.get("path", "?")))
                + (f" at {code_span(format_value(sub['commit'])[:7])}" if sub.get("commit") else "")
                + (" (dirty)" if sub.get("dirty") else "") for sub in submodules))
        if _strings(record.get("tags")):
            items.append("**Tags:** " + ", ".join(map(code_span, _strings(record.get("tags")))))
        where = code_span(format_value(record["host"])) if record.get("host") else ""
        cwd = format_value(record.get("cwd", ""))
        if cwd and cwd != ".":
            where += f" in {code_span(cwd)}" if where else code_span(cwd)
        if where:
            user = record.get("user")
            by = f", by {code_span(format_value(user))}" if isinstance(user, str) and user else ""
            items.append(f"**Host:** {where}{by}")
        env = table(record, "env")
        if env:
            items.append("**Environment:** " + _pairs_inline(env))
        items += _environment_items(record)
        log = table(record, "log")
        if log.get("path"):
            size = finite_number(log.get("bytes"))
            items.append(f"**Log:** {code_span(shown_path(self.journal_dir, log['path']))}"
                         + (f" ({int(size)} bytes)" if size is not None else ""))
        if git.get("patch"):
            items.append(f"**Patch:** {code_span(shown_path(self.journal_dir, git['patch']))}")
        items += [f"**Warning:** {line}" for line in self.warnings()]
        return "\n".join(f"- {item}" for item in items) + "\n"

    def command(self) -> tuple[str, str]:
        argv = self.record.get("command")
        if not isinstance(argv, list) or not argv:
            return "", ""
        text = shlex.join(format_value(arg) for arg in argv)
        return code_block(text, "sh"), code_span(text)

    def patch_section(self) -> str:
        relative = self.git.get("patch")
        if not relative:
            return "**Patch:** none, the work tree was clean\n" if self.git else ""
        shown = code_span(shown_path(self.journal_dir, relative))
        path = patch_file(self.record, self.journal_dir)
        if path is None:
            return f"**Patch:** {shown} is outside the journal folder, so it is not shown\n"
        try:
            with open_regular(path) as handle:
                data = handle.read()
        except OSError as exc:
            return f"**Patch:** {shown} cannot be read ({inline_text(exc.strerror or exc)})\n"
        text = data.decode("utf-8", "surrogateescape")
        return f"**Patch** {shown}\n\n" + code_block(text, "diff")

    def log_section(self, lines: int) -> str:
        heading, data = log_excerpt(self.run, self.journal_dir, lines)
        if data is None:
            return heading
        return f"{heading}\n" + code_block(log_text(data, keep_colour=False), "text")


# Each field is made by one group, with the fields that share its work, so a reader that needs a
# few fields (an export template, ~1,000 runs a second) computes only their groups.
def _id_fields(p: _Run) -> dict[str, str]:
    return {"id": inline_text(p.run.id), "short_id": inline_text(short_id(p.run.id))}


def _note_fields(p: _Run) -> dict[str, str]:
    title, body = _title_and_body(p.note(), p.run.id, p.level + 1)
    return {"note_title": title, "note_first_line": title, "note_body": body}


def status_mark(run: StoredRun) -> str:
    """The run's one-character mark: its status's, or ✎ for a note-only entry."""
    return NOTE_MARK if is_note_only(run.record) else STATUS_MARKS.get(run.status, "?")


def _status_fields(p: _Run) -> dict[str, str]:
    exit_code = p.record.get("exit_code")
    return {"status": inline_text(p.status()), "status_mark": status_mark(p.run),
            "outcome": inline_text(p.outcome()),
            "exit_code": inline_text(format_value(exit_code)) if exit_code is not None else ""}


def _command_fields(p: _Run) -> dict[str, str]:
    command, command_inline = p.command()
    return {"command": command, "command_inline": command_inline}


def _file_path(p: _Run, relative: Any) -> str:
    return code_span(shown_path(p.journal_dir, relative)) if relative else ""


_FIELD_GROUPS: tuple[tuple[str, Callable[[_Run], Mapping[str, str]]], ...] = (
    ("id short_id", _id_fields),
    ("note_title note_first_line note_body", _note_fields),
    ("note", lambda p: {"note": note_markdown(p.note(), p.level + 1)}),
    ("amendments", lambda p: {"amendments": _amendments(p.record, p.level + 1, p.tz)}),
    ("status status_mark outcome exit_code", _status_fields),
    ("started started_date started_time ended duration when", lambda p: p.times),
    ("commit commit_short commit_short_dirty dirty branch code changed untracked left_out",
     lambda p: p.code),
    ("host cwd", lambda p: {name: inline_text(format_value(p.record.get(name, "")))
                            for name in ("host", "cwd")}),
    ("command command_inline", _command_fields),
    ("params_table", lambda p: {"params_table": _params_table(p.record)}),
    ("metrics_table",
     lambda p: {"metrics_table": _pairs_table(table(p.record, "metrics"), "metric")}),
    ("params_inline", lambda p: {"params_inline": _pairs_inline(flat_params(p.record))}),
    ("metrics_inline", lambda p: {"metrics_inline": _pairs_inline(table(p.record, "metrics"))}),
    ("tags", lambda p: {"tags": ", ".join(map(code_span, _strings(p.record.get("tags"))))}),
    ("log_path", lambda p: {"log_path": _file_path(p, table(p.record, "log").get("path"))}),
    ("patch_path", lambda p: {"patch_path": _file_path(p, p.git.get("patch"))}),
    ("warnings", lambda p: {"warnings": "; ".join(p.warnings())}),
    ("facts", lambda p: {"facts": p.facts(p.times, p.code)}),
    ("curves", lambda p: {"curves": curves_markdown(p.run, p.journal_dir, p.curve_style)}),
)
_GROUP_OF = {name: group for names, group in _FIELD_GROUPS for name in names.split()}


class RunFields(Mapping[str, str]):
    """The FIELDS of one run, as escaped Markdown, each group computed when first asked for.
    `heading_level` is the level of the run's own heading in the document: the note's headings
    are demoted below it. `tz`: the zone times are shown in (default: local)."""

    def __init__(self, run: StoredRun, journal_dir: Path, *, heading_level: int = 2,
                 tz: dt.tzinfo | None = None, curve_style: CurveStyle = TEXT) -> None:
        self._pieces = _Run(run, journal_dir, heading_level, tz, curve_style)
        self._values: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self._values:
            self._values.update(_GROUP_OF[name](self._pieces))   # KeyError: not a field
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(FIELDS)

    def __len__(self) -> int:
        return len(FIELDS)


def run_fields(run: StoredRun, journal_dir: Path, *, heading_level: int = 2, tz: dt.tzinfo | None = None
               ) -> dict[str, str]:
    """Every field of FIELDS for one run (see RunFields)."""
    return dict(RunFields(run, journal_dir, heading_level=heading_level, tz=tz))


def run_markdown(run: StoredRun, journal_dir: Path, *, heading_level: int = 2, diff: bool = False,
                 log_lines: int | None = None, tz: dt.tzinfo | None = None,
                 curves: CurveStyle | None = TEXT) -> str:
    """One run as a Markdown note: a heading at `heading_level` (the note's first line, or the
    id), the rest of the note, its amendments, a status line, the facts, the command, params,
    metrics and curves (drawn in the `curves` style; None: left out); with `diff` the patch,
    with `log_lines` the last lines of the log (escapes dropped)."""
    fields = RunFields(run, journal_dir, heading_level=heading_level, tz=tz,
                       curve_style=curves or TEXT)
    pieces = fields._pieces
    level = pieces.level
    # The status line is a paragraph: it ends whatever list or quote the note ended with, so the
    # facts list below cannot merge into it.
    status = (f"**{fields['status_mark']} {fields['outcome']}** · run {code_span(run.id)}\n")
    blocks = [f"{'#' * level} {fields['note_title']}\n", fields["note_body"], fields["amendments"],
              status, fields["facts"]]
    if fields["command"]:
        blocks += ["**Command**\n", fields["command"]]
    if fields["params_table"]:
        source = run.record.get("params_from")
        blocks += [(f"**Params**{f' (as {source} parsed them)' if isinstance(source, str) else ''}"
                   "\n"), fields["params_table"]]
    if fields["metrics_table"]:
        blocks += ["**Metrics**\n", fields["metrics_table"]]
    if curves is not None and fields["curves"]:
        blocks += ["**Curves**\n", fields["curves"]]
    if diff:
        blocks.append(pieces.patch_section())
    if log_lines is not None:
        blocks.append(pieces.log_section(log_lines))
    return "\n".join(block for block in blocks if block)

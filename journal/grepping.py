"""`journal grep`: where did that 82.476% come from?

A Python regex over each run's searchable fields (note, amendments, tags, params, metrics,
command, git fields, status, host, errors) and its log, printed in the spirit of `git grep`:
`<run id>:<where>:<line>`. The index keeps every run's searchable lines as one text, so a literal
is found by SQLite in C and only candidate runs are looked at line by line.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from journal.errors import UsageError
from journal.filters import Filters
from journal.safetext import json_text, printable

_META = re.compile(r"[\\.^$*+?{}\[\]|()]")
_ANCHORS = re.compile(r"\\[AZ]")
_GIT_FIELDS = ("commit", "branch", "changed", "untracked", "left_out", "in_progress")
_MAX_SHOWN = 400        # characters of a matching line shown around the match


@dataclass
class GrepOptions:
    pattern: str
    fixed: bool = False
    ignore_case: bool = False
    ids_only: bool = False
    logs: bool = True
    as_json: bool = False


@dataclass
class Match:
    run_id: str
    where: str          # a field name, or `log:LINE`
    line: str
    start: int
    end: int


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ", ".join(_scalar(item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key} = {_scalar(item)}" for key, item in value.items())
    return str(value)


def searchable_lines(record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, line) pairs grep looks at, in the order a reader expects them."""
    def lines(field: str, text: Any) -> Iterator[tuple[str, str]]:
        for line in str(text).splitlines() or [""]:
            if line:
                yield field, line

    yield from lines("note", record.get("note", ""))
    for amendment in record.get("amendments") or []:
        if isinstance(amendment, Mapping):
            yield from lines("amendment", amendment.get("text", ""))
    for tag in record.get("tags") or []:
        yield from lines("tag", tag)
    command = record.get("command")
    if isinstance(command, list):
        yield from lines("command", shlex.join(str(arg) for arg in command))
    for table in ("params", "metrics"):
        values = record.get(table)
        if isinstance(values, Mapping):
            for name, value in values.items():
                yield from lines(f"{table}.{name}", f"{name} = {_scalar(value)}")
    git = record.get("git")
    if isinstance(git, Mapping):
        for name in _GIT_FIELDS:
            value = git.get(name)
            for item in value if isinstance(value, list) else [value] if value else []:
                yield from lines(f"git.{name}", item)
    for name in ("status", "host", "cwd", "error"):
        if record.get(name):
            yield from lines(name, record[name])
    for problem in record.get("problems") or []:
        yield from lines("problems", problem)


def searchable_text(record: Mapping[str, Any]) -> str:
    """The index's form: `field<TAB>line` lines (fields hold no tab or newline)."""
    return "\n".join(f"{field}\t{line}" for field, line in searchable_lines(record))


def compile_pattern(options: GrepOptions) -> re.Pattern[str]:
    text = re.escape(options.pattern) if options.fixed else options.pattern
    try:
        return re.compile(text, re.IGNORECASE if options.ignore_case else 0)
    except re.error as exc:
        raise UsageError(f"bad regular expression {printable(options.pattern)!r}: {exc}",
                         hint="use -F to search for the text literally") from None


def _required_literal(options: GrepOptions) -> str | None:
    """Text every match must contain, for SQLite to find candidate runs with; None if unknown."""
    literal = options.pattern if options.fixed or not _META.search(options.pattern) else None
    if not literal or (options.ignore_case and not literal.isascii()):
        return None        # SQLite's lower() folds ASCII only
    return literal


def grep_runs(source: Any, filters: Filters, options: GrepOptions, *, out: IO[str]) -> bool:
    """Print the matches; True when something matched."""
    pattern = compile_pattern(options)
    # A line match is also a match in the lines joined with MULTILINE, so one search over a run's
    # whole text rules it out cheaply. \A and \Z mean something else there: no shortcut then.
    whole = None if _ANCHORS.search(pattern.pattern) else re.compile(
        pattern.pattern, pattern.flags | re.MULTILINE)
    printer = _Printer(out, options, colour=out.isatty() and not options.as_json)
    found = False
    selected: list[str] = []
    for run_id, text, record in _candidates(source, filters, options):
        selected.append(run_id)
        if whole is not None and not whole.search(text):
            continue
        for line in text.split("\n"):
            field, _, content = line.partition("\t")
            match = pattern.search(content)
            if match:
                found = True
                if printer.emit(Match(run_id, field, content, match.start(), match.end())):
                    break
    if options.logs:
        found = _grep_logs(source.journal_dir, selected, pattern, printer,
                           _quick_bytes(options)) or found
    out.flush()
    return found


def _candidates(source: Any, filters: Filters, options: GrepOptions
                ) -> Iterator[tuple[str, str, Any]]:
    """(id, `field<TAB>line` text, record or None) of the runs the filters keep, newest first."""
    from journal.runs import effective_status

    index = getattr(source, "_index", None)
    if index is None:
        for run in source.select(filters):
            yield run.id, searchable_text(run.record), run.record
        return
    from journal.index import record_from_json

    # Searching the logs means every selected run is a candidate, not just the text matches.
    literal = None if options.logs else _required_literal(options)
    for run_id, text, record_json in index.search_rows(filters, literal, options.ignore_case):
        if filters.empty:
            yield run_id, text, None
            continue
        record = record_from_json(record_json)
        if filters.matches(record, effective_status(record)):
            yield run_id, text, record


def _grep_logs(journal_dir: Path, run_ids: list[str], pattern: re.Pattern[str],
               printer: _Printer, quick: re.Pattern[bytes] | None) -> bool:
    logs = journal_dir / "logs"
    try:
        present = set(os.listdir(logs))
    except OSError:
        return False
    found = False
    for run_id in run_ids:
        name = f"{run_id}.log"
        if name in present:
            found = _grep_log(run_id, logs / name, pattern, printer, quick) or found
    return found


def _grep_log(run_id: str, path: Path, pattern: re.Pattern[str], printer: _Printer,
              quick: re.Pattern[bytes] | None) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if quick is not None and not quick.search(data):
        return False     # a literal not in the bytes: no need to decode the log
    found = False
    for number, line in enumerate(data.decode("utf-8", "surrogateescape").split("\n"), 1):
        for segment in reversed(line.split("\r")):      # progress bars: the part left visible
            match = pattern.search(segment)
            if match:
                found = True
                if printer.emit(Match(run_id, f"log:{number}", segment, match.start(), match.end())):
                    return True
                break
    return found


def _quick_bytes(options: GrepOptions) -> re.Pattern[bytes] | None:
    literal = _required_literal(options)
    if literal is None or not literal.isascii():
        return None
    return re.compile(re.escape(literal.encode()), re.IGNORECASE if options.ignore_case else 0)


class _Printer:
    def __init__(self, out: IO[str], options: GrepOptions, *, colour: bool) -> None:
        self.out = out
        self.options = options
        self.colour = colour
        self.listed: set[str] = set()

    def emit(self, match: Match) -> bool:
        """Print one match; True when the rest of this run need not be searched (-l)."""
        if self.options.ids_only:
            if match.run_id not in self.listed:
                self.listed.add(match.run_id)
                self.out.write(match.run_id + "\n")
            return True
        if self.options.as_json:
            self.out.write(json_text({
                "id": match.run_id, "where": match.where, "line": match.line,
                "match": [match.start, match.end],
            }) + "\n")
            return False
        before, hit, after = _clip(match)
        before, hit, after = printable(before), printable(hit), printable(after)
        if self.colour:
            self.out.write(f"\x1b[35m{match.run_id}\x1b[36m:{printable(match.where)}:\x1b[m"
                           f"{before}\x1b[1;31m{hit}\x1b[m{after}\n")
        else:
            self.out.write(f"{match.run_id}:{printable(match.where)}:{before}{hit}{after}\n")
        return False


def _clip(match: Match) -> tuple[str, str, str]:
    """The match with some context, for very long lines (a log line can be megabytes)."""
    line = match.line
    start = max(0, match.start - _MAX_SHOWN // 2)
    end = min(len(line), match.end + _MAX_SHOWN // 2)
    before = ("…" if start else "") + line[start:match.start]
    after = line[match.end:end] + ("…" if end < len(line) else "")
    return before, line[match.start:match.end], after

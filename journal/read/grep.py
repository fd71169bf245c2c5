"""`journal grep`: where did that 82.476% come from?

A Python regex over each run's searchable fields (note, amendments, tags, params, metrics,
command, git fields, status, host, errors) and its log, printed in the spirit of `git grep`:
`<run id>:<where>:<line>`. The index keeps every run's searchable lines as one text beside its
record, so a literal is looked for in that text at once and only candidate runs are looked at
line by line.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from journal.errors import UsageError
from journal.record import Status, effective_status, searchable_text
from journal.store.files import read_regular
from journal.store.filters import Filters
from journal.store.pool import ordered_map
from journal.store.source import RunSource
from journal.text import json_text, printable

if TYPE_CHECKING:
    from journal.store.index import Index

_META = re.compile(r"[\\.^$*+?{}\[\]|()]")
# What makes a match in one line differ from a match in `field<TAB>line` lines joined with
# MULTILINE: start anchors (the line is preceded by its field there) and look-arounds.
_CONTEXT = re.compile(r"\\[AZ]|\^|\(\?<?[=!]")
# Python's re.IGNORECASE matches these ASCII letters to non-ASCII ones too: the Kelvin sign,
# the long s, the dotted and dotless i. Bytes regexes (over logs) know only ASCII.
_FOLDS_TO_ASCII = {"k": ("\u212a",), "s": ("\u017f",), "i": ("\u0130", "\u0131")}
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


def compile_pattern(options: GrepOptions) -> re.Pattern[str]:
    text = re.escape(options.pattern) if options.fixed else options.pattern
    try:
        return re.compile(text, re.IGNORECASE if options.ignore_case else 0)
    except (re.error, OverflowError) as exc:
        raise UsageError(f"bad regular expression {printable(repr(options.pattern))}: {exc}",
                         hint="use -F to search for the text literally") from None


def _literal(options: GrepOptions) -> str | None:
    """Text every match must contain, or None if unknown. With -i it is ASCII only (bytes
    regexes fold ASCII only)."""
    literal = options.pattern if options.fixed or not _META.search(options.pattern) else None
    if not literal or (options.ignore_case and not literal.isascii()):
        return None
    return literal


def required_text(options: GrepOptions) -> list[str]:
    """Strings one of which every matching run's text holds, for the index to find candidate
    runs with; empty when that is not known. With -i: the literal (compared in lower case), then
    the non-ASCII letters -i matches to its letters (the Kelvin sign for k, ...), as a text
    holding one of them may match although its ASCII lower case does not hold the literal."""
    literal = _literal(options)
    if literal is None:
        return []
    if not options.ignore_case:
        return [literal]
    lower = literal.lower()
    return [literal] + [other for letter, others in _FOLDS_TO_ASCII.items() if letter in lower
                        for other in others]


def grep_runs(source: RunSource, filters: Filters, options: GrepOptions, *, out: IO[str]) -> bool:
    """Print the matches; True when something matched."""
    search = _Search.made(source.journal_dir, options, colour=out.isatty() and not options.as_json)
    index = source.index
    if index is None:
        printer = search.printer(out)
        found = False
        for run in source.select(filters):
            text = _with_status(searchable_text(run.record), run.status)
            found = search.run(run.id, text, printer) or found
    else:
        with index.guarded():
            found = _search_index(index, filters, search, out)
    out.flush()
    return found


@dataclass
class _Search:
    """Searching one run, made once a command (and inherited by forked workers)."""
    options: GrepOptions
    pattern: re.Pattern[str]
    # A line match is also a match in the lines joined with MULTILINE, so one search over a
    # run's whole text rules it out cheaply, unless the pattern looks at what surrounds its
    # match (`^`, \A, \Z, look-arounds): each line is preceded by its field name there.
    whole: re.Pattern[str] | None
    literal: str | None         # in every matching text (None: unknown, or -i)
    logs: dict[str, str]
    quick: Callable[[bytes], bool] | None
    colour: bool

    @classmethod
    def made(cls, journal_dir: Path, options: GrepOptions, *, colour: bool) -> _Search:
        pattern = compile_pattern(options)
        whole = None if _CONTEXT.search(pattern.pattern) else re.compile(
            pattern.pattern, pattern.flags | re.MULTILINE)
        literal = None if options.ignore_case else _literal(options)
        return cls(options, pattern, whole, literal,
                   _log_files(journal_dir) if options.logs else {}, _quick_test(options), colour)

    def printer(self, out: IO[str]) -> _Printer:
        return _Printer(out, self.options, colour=self.colour)

    def run(self, run_id: str, text: str, printer: _Printer) -> bool:
        """Print one run's matches, its fields then its log (as git grep goes file by file);
        True when something matched."""
        found = listed = False
        if (self.literal is None or self.literal in text) \
                and (self.whole is None or self.whole.search(text)):
            for line in text.split("\n"):
                field, _, content = line.partition("\t")
                match = self.pattern.search(content)
                if match:
                    found = True
                    if printer.emit(Match(run_id, field, content, match.start(), match.end())):
                        listed = True
                        break
        log = self.logs.get(run_id)
        if log is not None and not listed:
            found = _grep_log(run_id, log, self.pattern, printer, self.quick) or found
        return found


# The runs are searched a range of ids at a time, newest first; with many ranges, by one
# process a core (decompressing every run's text and reading every log is what grep waits on).
RANGE_RUNS = 500
PARALLEL_FROM = 8           # ranges (4,000 runs) before more processes are used
IN_FLIGHT = 16              # ranges searched or waiting to be written at once

# What a forked worker searches with: set before the workers start, inherited by them.
_WORK: tuple[Index, Filters, _Search] | None = None


def _search_index(index: Index, filters: Filters, search: _Search, out: IO[str]) -> bool:
    global _WORK
    found = False
    _WORK = (index, filters, search)
    try:
        for range_found, text in ordered_map(
                _search_range, index.id_ranges(filters, RANGE_RUNS), in_flight=IN_FLIGHT,
                parallel_from=PARALLEL_FROM, started=index.reconnect_in_worker):
            out.write(text)
            found = found or range_found
    finally:
        _WORK = None
    return found


def _search_range(between: tuple[str, str]) -> tuple[bool, str]:
    """Whether the runs with ids in `between` (newest, oldest) match, and what to print."""
    assert _WORK is not None
    index, filters, search = _WORK
    options = search.options
    # Searching the logs means every selected run is a candidate, not just the text matches.
    containing = [] if options.logs else required_text(options)
    buffer = io.StringIO()
    printer = search.printer(buffer)
    found = False
    for run_id, text in _indexed_candidates(index, filters, containing, options.ignore_case,
                                            between):
        found = search.run(run_id, text, printer) or found
    return found, buffer.getvalue()


def _indexed_candidates(index: Index, filters: Filters, containing: list[str], fold_case: bool,
                        between: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """(id, `field<TAB>line` text) of the runs the filters keep, newest first; a `running` run
    whose wrapper is gone says `crashed`, as `list` says."""
    for run_id, text, whole in index.search_rows(filters, containing, fold_case, between):
        # The plain test first: it rules out nearly every run at a fraction of the regex's cost.
        still_running = _RUNNING_LINE in text and _RUNNING.search(text) is not None
        if filters.empty and not still_running:
            yield run_id, text
            continue
        record = whole()
        status = effective_status(record)
        if filters.matches(record, status):
            yield run_id, _with_status(text, status) if still_running else text


_RUNNING_LINE = f"status\t{Status.RUNNING}"
_RUNNING = re.compile(rf"^{_RUNNING_LINE}$", re.M)


def _with_status(text: str, status: str) -> str:
    """The searchable text with the status a reader should see (the record may say `running`
    of a run whose wrapper died)."""
    if status == Status.RUNNING:
        return text
    return _RUNNING.sub(f"status\t{status}", text, count=1)


def _log_files(journal_dir: Path) -> dict[str, str]:
    """Run id -> its log: `logs/<id>.log` by name, never a path taken from a record."""
    logs = os.path.join(journal_dir, "logs")
    try:
        names = os.listdir(logs)
    except OSError:
        return {}
    # Strings, not Paths: a Path costs more than searching a small log (100,000 logs).
    return {name[:-4]: os.path.join(logs, name) for name in names if name.endswith(".log")}


def _grep_log(run_id: str, path: str, pattern: re.Pattern[str], printer: _Printer,
              quick: Callable[[bytes], bool] | None) -> bool:
    try:
        data = read_regular(path, sys.maxsize)
    except OSError:
        return False
    if quick is not None and not quick(data):
        return False     # a literal not in the bytes: no need to decode the log
    found = False
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    if lines[-1] == "":
        lines.pop()      # a final newline ends the last line; it does not start another
    for number, line in enumerate(lines, 1):
        for segment in reversed(line.split("\r")):      # progress bars: the part left visible
            match = pattern.search(segment)
            if match:
                found = True
                if printer.emit(Match(run_id, f"log:{number}", segment, match.start(), match.end())):
                    return True
                break
    return found


def _quick_test(options: GrepOptions) -> Callable[[bytes], bool] | None:
    """A test every log holding a match passes, or None: the literal in the bytes."""
    literal = _literal(options)
    if literal is None or not literal.isascii():
        return None
    if not options.ignore_case:
        needle = literal.encode()
        return lambda data: needle in data     # bytes' own search: a third faster than a regex
    regex = _folded_bytes(literal)
    return lambda data: regex.search(data) is not None


def _folded_bytes(literal: str) -> re.Pattern[bytes]:
    """The ASCII `literal` as a bytes regex with -i, the non-ASCII letters -i matches too."""
    parts = []
    for char in literal:
        others = _FOLDS_TO_ASCII.get(char.lower(), ())
        plain = re.escape(char.encode())
        parts.append(b"(?:" + b"|".join([plain, *(re.escape(o.encode()) for o in others)]) + b")"
                     if others else plain)
    return re.compile(b"".join(parts), re.IGNORECASE)


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
            text = json_text({
                "id": match.run_id, "where": match.where, "line": match.line,
                "match": [match.start, match.end],
            })
            # A log's bytes that are not UTF-8 are lone surrogates here: written as JSON's
            # \udcXX escapes (json.loads gives them back), not as bytes that are not UTF-8.
            self.out.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
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

"""`journal grep`: where did that 82.476% come from?

A Python regex over each run's searchable fields (note, amendments, tags, params, metrics,
command, git fields, status, host, errors) and its log, printed in the spirit of `git grep`:
`<run id>:<where>:<line>`, with grep's letters (-F -i -w -v -c -l -L -e). The index keeps every
run's searchable lines as one text beside its record, so a literal is looked for in that text at
once and only candidate runs are looked at line by line.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from journal.errors import UsageError
from journal.record import Status, effective_status, searchable_text
from journal.store.files import TooLarge, open_regular, read_regular
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
    patterns: list[str]             # a line matches if one of them matches (-e, repeatable)
    fixed: bool = False             # -F: the patterns are literal strings
    ignore_case: bool = False       # -i
    word: bool = False              # -w: a match must be a whole word
    invert: bool = False            # -v: select the lines that do not match
    count: bool = False             # -c: `<id>:<selected lines>` for runs with any
    ids_only: bool = False          # -l: the ids of runs with a selected line
    without_match: bool = False     # -L: the ids of runs without one
    quiet: bool = False             # -q: nothing printed; the exit status says, at the first
    no_id: bool = False             # -h: lines without the run's id in front
    logs: bool = True
    as_json: bool = False


@dataclass
class Match:
    run_id: str
    where: str          # a field name, or `log:LINE`
    line: str
    start: int          # the match in `line` (start == end for a line selected by -v)
    end: int


def compile_pattern(options: GrepOptions) -> re.Pattern[str]:
    """One regex for the patterns (any of them), a whole word with -w."""
    return _compiled(_joined(options, word=options.word), options)


def _joined(options: GrepOptions, *, word: bool) -> str:
    parts = [re.escape(text) if options.fixed else text for text in options.patterns]
    for text, part in zip(options.patterns, parts):
        _compiled(part, options, shown=text)      # the bad one named, not the joined regex
    parts = [_scoped(part) for part in parts]
    joined = parts[0] if len(parts) == 1 else "|".join(f"(?:{part})" for part in parts)
    # grep's -w: no word character right before or after the match.
    return rf"(?<!\w)(?:{joined})(?!\w)" if word else joined


_GLOBAL_FLAGS = re.compile(r"(?:\(\?([aiLmsux]+)\))+")


def _scoped(pattern: str) -> str:
    """A pattern's leading global flags (`(?i)x`) made its own (`(?i:x)`): once patterns are
    joined (-e) or wrapped (-w) they would not be leading, and must not reach the others."""
    found = _GLOBAL_FLAGS.match(pattern)
    if found is None:
        return pattern
    flags = "".join(dict.fromkeys(re.findall(r"[aiLmsux]", found[0])))
    rest = pattern[found.end():]
    return f"(?{flags}:{rest}\n)" if "x" in flags else f"(?{flags}:{rest})"   # `#` ends at \n


def _compiled(text: str, options: GrepOptions, shown: str | None = None) -> re.Pattern[str]:
    try:
        return re.compile(text, re.IGNORECASE if options.ignore_case else 0)
    except (re.error, OverflowError, RecursionError) as exc:
        shown = text if shown is None else shown
        raise UsageError(f"bad regular expression {printable(repr(shown))}: {exc}",
                         hint="use -F to search for the text literally") from None


def _literals(options: GrepOptions) -> list[str] | None:
    """Texts one of which every match contains (one a pattern), or None if unknown. With -i
    they are ASCII only (bytes regexes fold ASCII only); -v selects lines without them."""
    if options.invert:
        return None
    literals = [text for text in options.patterns if options.fixed or not _META.search(text)]
    if len(literals) < len(options.patterns) or not all(literals) \
            or (options.ignore_case and not all(text.isascii() for text in literals)):
        return None
    return literals


def required_text(options: GrepOptions) -> list[str]:
    """Strings one of which every matching run's text holds, for the index to find candidate
    runs with; empty when that is not known. With -i (one pattern): the literal (compared in
    lower case), then the non-ASCII letters -i matches to its letters (the Kelvin sign for k,
    ...), as a text holding one of them may match although its lower case does not hold it."""
    literals = _literals(options)
    if literals is None:
        return []
    if not options.ignore_case:
        return literals
    if len(literals) > 1:
        return []
    lower = literals[0].lower()
    return literals + [other for letter, others in _FOLDS_TO_ASCII.items() if letter in lower
                       for other in others]


def grep_runs(source: RunSource, filters: Filters, options: GrepOptions, *, out: IO[str],
              colour: bool = False) -> bool:
    """Print what grep selects; True when something was (with -L: a run was listed)."""
    search = _Search.made(source.journal_dir, options, colour=colour)
    index = source.index
    if index is None:
        printer = search.printer(out)
        found = False
        for run in source.select(filters):
            text = _with_status(searchable_text(run.record), run.status)
            found = search.run(run.id, text, printer) or found
            if found and options.quiet:
                break
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
    # match (`^`, \A, \Z, look-arounds): each line is preceded by its field name there. With
    # -w, the pattern without its word bounds: a match of it is needed all the same.
    whole: re.Pattern[str] | None
    literals: list[str] | None          # one of them in every matching text (None: unknown, -i)
    logs: dict[str, str]
    quick: Callable[[bytes], bool] | None
    colour: bool
    logs_home: str          # the journal folder, links resolved

    @classmethod
    def made(cls, journal_dir: Path, options: GrepOptions, *, colour: bool) -> _Search:
        pattern = compile_pattern(options)
        bare = _joined(options, word=False)
        whole = None if options.invert or _CONTEXT.search(bare) else re.compile(
            bare, pattern.flags | re.MULTILINE)
        literals = None if options.ignore_case else _literals(options)
        return cls(options, pattern, whole, literals,
                   _log_files(journal_dir) if options.logs else {}, _quick_test(options), colour,
                   os.path.realpath(journal_dir))

    def printer(self, out: IO[str]) -> _Printer:
        return _Printer(out, self.options, colour=self.colour)

    def may_match(self, text: str) -> bool:
        if self.literals is not None and not any(literal in text for literal in self.literals):
            return False
        return self.whole is None or self.whole.search(text) is not None

    def run(self, run_id: str, text: str, printer: _Printer) -> bool:
        """Print one run's selected lines, its fields then its log (as git grep goes file by
        file); True when it had any (with -L: when it was listed)."""
        printer.begin(run_id)
        if self.options.invert or self.may_match(text):
            for line in text.split("\n"):
                where, _, content = line.partition("\t")
                if printer.selected(self._selection(run_id, where, content)):
                    return printer.end()
        log = self.logs.get(run_id)
        if log is not None:
            self._search_log(run_id, log, printer)
        return printer.end()

    def _selection(self, run_id: str, where: str, line: str) -> Match | None:
        """The line as grep selects it (matching, or with -v not matching), or None."""
        match = self.pattern.search(line)
        if self.options.invert:
            return None if match else Match(run_id, where, line, 0, 0)
        return None if match is None else Match(run_id, where, line, match.start(), match.end())

    def _search_log(self, run_id: str, path: str, printer: _Printer) -> None:
        if os.path.islink(path) and not _inside(path, self.logs_home):
            return      # a log file linked to a file outside the journal is not read
        number = 0      # lines before this block
        for block in _log_blocks(path):
            lines = block.decode("utf-8", "surrogateescape").split("\n") \
                if self.quick is None or self.quick(block) else None
            if lines is None:       # a literal not in the bytes: no need to decode them
                number += block.count(b"\n") + (not block.endswith(b"\n"))
                continue
            if lines[-1] == "":
                lines.pop()     # a final newline ends the last line; it does not start another
            for number, line in enumerate(lines, number + 1):
                if printer.selected(self._log_line(run_id, number, line)):
                    return

    def _log_line(self, run_id: str, number: int, line: str) -> Match | None:
        """A log line as grep selects it. Progress bars (`\r`): a segment that matches, else
        the part left visible."""
        segments = line.split("\r")
        chosen = None
        for segment in reversed(segments):
            if self.pattern.search(segment):
                chosen = segment
                break
        if self.options.invert:
            shown = next((part for part in reversed(segments) if part), "")
            return None if chosen is not None else Match(run_id, f"log:{number}", shown, 0, 0)
        return None if chosen is None else self._selection(run_id, f"log:{number}", chosen)


LOG_BLOCK = 8 << 20         # bytes of a log searched at a time


def _log_blocks(path: str) -> Iterator[bytes]:
    """The log in blocks of whole lines (the last may end without a newline): a small log in
    one read, a log of gigabytes a block at a time, so memory stays bounded."""
    try:
        yield read_regular(path, LOG_BLOCK)
        return
    except TooLarge:
        pass
    except OSError:
        return
    try:
        with open_regular(Path(path)) as handle:
            rest = b""
            while block := handle.read(LOG_BLOCK):
                cut = block.rfind(b"\n") + 1
                if not cut and len(rest) < LOG_BLOCK:    # a line goes on: kept whole a while
                    rest += block
                    continue
                # (a line longer than a block, as `\r` progress bars without `\n` make, is
                # searched in pieces: memory stays bounded)
                block, rest = rest + block[:cut or len(block)], block[cut:] if cut else b""
                yield block
            if rest:
                yield rest
    except OSError:
        return


# The runs are searched a range of ids at a time, newest first; with many ranges, by one
# process a core (decompressing every run's text and reading every log is what grep waits on).
RANGE_RUNS = 500
PARALLEL_FROM = 8           # ranges (4,000 runs) before more processes are used
IN_FLIGHT = 16              # ranges searched or waiting to be written at once

# What a forked worker searches with: set before the workers start, inherited by them; and
# where this process writes when it searches a range itself (and the process it is).
_WORK: tuple[Index, Filters, _Search, IO[str], int] | None = None


def _search_index(index: Index, filters: Filters, search: _Search, out: IO[str]) -> bool:
    global _WORK
    found = False
    _WORK = (index, filters, search, out, os.getpid())
    try:
        for range_found, text in ordered_map(
                _search_range, index.id_ranges(filters, RANGE_RUNS), in_flight=IN_FLIGHT,
                parallel_from=PARALLEL_FROM, started=index.reconnect_in_worker):
            out.write(text)
            found = found or range_found
            if found and search.options.quiet:
                break
    finally:
        _WORK = None
    return found


def _search_range(between: tuple[str, str]) -> tuple[bool, str]:
    """Whether the runs with ids in `between` (newest, oldest) had selected lines, and what to
    print."""
    assert _WORK is not None
    index, filters, search, out, here = _WORK
    options = search.options
    # Runs whose text cannot match are left out by the index, unless their logs are searched
    # too, or the runs without a match are the answer (-L), or lines without one (-v).
    narrowed = not (options.logs or options.without_match or options.invert)
    containing = required_text(options) if narrowed else []
    # Searched here (few runs): printed as found, so `| head` stops it and nothing piles up;
    # by a worker: kept for the parent to write in order.
    buffer = None if os.getpid() == here else io.StringIO()
    printer = search.printer(out if buffer is None else buffer)
    found = False
    for run_id, text in _indexed_candidates(index, filters, containing, options.ignore_case,
                                            between):
        found = search.run(run_id, text, printer) or found
        if found and options.quiet:
            break           # -q: the first is enough
    return found, "" if buffer is None else buffer.getvalue()


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


def _inside(path: str, folder: str) -> bool:
    return os.path.realpath(path).startswith(folder.rstrip(os.sep) + os.sep)


def _quick_test(options: GrepOptions) -> Callable[[bytes], bool] | None:
    """A test every log holding a match passes, or None: one of the literals in the bytes."""
    literals = _literals(options)
    if literals is None or not all(literal.isascii() for literal in literals):
        return None
    if not options.ignore_case:
        needles = [literal.encode() for literal in literals]
        if len(needles) == 1:
            needle = needles[0]
            return lambda data: needle in data     # bytes' own search: a third of a regex's time
        return lambda data: any(needle in data for needle in needles)
    regexes = [_folded_bytes(literal) for literal in literals]
    return lambda data: any(regex.search(data) for regex in regexes)


def _folded_bytes(literal: str) -> re.Pattern[bytes]:
    """The ASCII `literal` as a bytes regex with -i, the non-ASCII letters -i matches too."""
    parts = []
    for char in literal:
        others = _FOLDS_TO_ASCII.get(char.lower(), ())
        plain = re.escape(char.encode())
        parts.append(b"(?:" + b"|".join([plain, *(re.escape(o.encode()) for o in others)]) + b")"
                     if others else plain)
    return re.compile(b"".join(parts), re.IGNORECASE)


@dataclass
class _Printer:
    """What grep prints of each run: its selected lines, or their number (-c), or its id (-l
    when it has one, -L when it has none)."""
    out: IO[str]
    options: GrepOptions
    colour: bool
    run_id: str = ""
    count: int = 0
    ids: bool = field(init=False)       # -l or -L: a run's first selected line settles it

    def __post_init__(self) -> None:
        self.ids = self.options.ids_only or self.options.without_match

    def begin(self, run_id: str) -> None:
        self.run_id, self.count = run_id, 0

    def selected(self, match: Match | None) -> bool:
        """Take one line (None: not selected); True when the rest of the run need not be
        searched."""
        if match is None:
            return False
        self.count += 1
        if self.ids or self.options.quiet:
            return True
        if not self.options.count:
            self._line(match)
        return False

    def end(self) -> bool:
        """The run's summary line, if any; True when the run counts as found for the exit
        status (with -L: when it was listed, as GNU grep has it)."""
        options = self.options
        if options.without_match:
            if not self.count and not options.quiet:
                self._id_line()
            return not self.count
        if options.quiet:
            return bool(self.count)
        if self.count and options.ids_only:
            self._id_line()
        elif self.count and options.count:
            self.out.write(json_text({"id": self.run_id, "count": self.count}) + "\n"
                           if options.as_json else f"{self._where(None)}{self.count}\n")
        return bool(self.count)

    def _id_line(self) -> None:
        if self.options.as_json:
            self.out.write(json_text({"id": self.run_id}) + "\n")
        else:
            self.out.write(f"\x1b[35m{self.run_id}\x1b[m\n" if self.colour else self.run_id + "\n")

    def _where(self, where: str | None) -> str:
        """`<id>:` or `<id>:<where>:` (with -h, `<where>:`), coloured as grep colours a file
        name."""
        if self.options.no_id and where is not None:
            return f"\x1b[36m{printable(where)}:\x1b[m" if self.colour else f"{printable(where)}:"
        if self.colour:
            return f"\x1b[35m{self.run_id}\x1b[36m:" + \
                ("" if where is None else f"{printable(where)}:") + "\x1b[m"
        return f"{self.run_id}:" + ("" if where is None else f"{printable(where)}:")

    def _line(self, match: Match) -> None:
        if self.options.as_json:
            text = json_text({
                "id": match.run_id, "where": match.where, "line": match.line,
                "match": [match.start, match.end] if match.end > match.start or
                not self.options.invert else None,
            })
            # A log's bytes that are not UTF-8 are lone surrogates here: written as JSON's
            # \udcXX escapes (json.loads gives them back), not as bytes that are not UTF-8.
            self.out.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
            return
        before, hit, after = (printable(part) for part in _clip(match))
        if self.colour and hit:
            hit = f"\x1b[1;31m{hit}\x1b[m"
        self.out.write(f"{self._where(match.where)}{before}{hit}{after}\n")


def _clip(match: Match) -> tuple[str, str, str]:
    """The match with some context, for very long lines (a log line can be megabytes)."""
    line = match.line
    start = max(0, match.start - _MAX_SHOWN // 2)
    end = min(len(line), match.end + _MAX_SHOWN // 2)
    before = ("…" if start else "") + line[start:match.start]
    after = line[match.end:end] + ("…" if end < len(line) else "")
    return before, line[match.start:match.end], after

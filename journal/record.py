"""The record: one run on disk, as every writer and reader of journal sees it.

A record is the dict `tomllib` reads from `.journal/runs/**/<id>.toml`. This module is the schema's
one home (DESIGN.md, "Record schema"):

- `Record` and its tables: the field names and their types, checked by mypy;
- `Status`: what a run's `status` may say, and `effective_status`, what a reader should see;
- run ids: how they are made (`new_run_id`), what a valid one is, the time one begins with;
- the schema version: `upgrade` checks it on read and brings older records up to date in memory;
- tolerant accessors: a record may be hand-edited or come from another machine, so readers never
  trust a field's type (`table`, `listed`, `finite_number`, ...);
- `typed_value`: how text becomes a param's value (int, float, bool, else str);
- `searchable_lines`: the fields `journal grep` and the index search, in one order.

It imports nothing of journal's but `journal.text`, and nothing heavy: research scripts reach it
through `journal.start()`. The TypedDicts exist for the type checker only (`typing` costs a script
milliseconds to import): at run time `Record` is `dict`, which is what a record is.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum

from journal.text import printable

TYPE_CHECKING = False     # see the module docstring; type checkers treat this name as True
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, NotRequired, TypedDict, TypeGuard

    class GitState(TypedDict, total=False):
        commit: str                 # 40 (or 64) hex; absent before the first commit
        tree: str                   # the captured state's tree: the commit's with the patch
        branch: str                 # absent on a detached HEAD
        dirty: bool
        changed: list[str]
        untracked: list[str]
        patch: str                  # relative to the journal folder
        left_out: list[str]
        partial: list[str]          # what could not be captured
        redacted: list[str]         # files whose patch had secrets masked
        in_progress: str            # merge, rebase, ...
        worktree: str               # "linked"
        shallow: bool
        submodules: list[Submodule]

    class Submodule(TypedDict, total=False):
        path: str
        commit: str                 # absent when not initialised
        initialized: bool           # False when not initialised
        dirty: bool
        moved: bool                 # checked out at another commit than the parent records

    class LogInfo(TypedDict, total=False):
        path: str                   # relative to the journal folder
        bytes: int

    class Series(TypedDict, total=False):
        path: str                   # the side file with every logged point
        points: int

    class Amendment(TypedDict):
        at: dt.datetime
        text: NotRequired[str]          # a note added after the fact
        tags: NotRequired[list[str]]    # `journal tag`'s changes, `+name` / `-name`, in order

    class Record(TypedDict, total=False):
        schema: int
        id: str
        note: str
        tags: list[str]
        status: str                 # a Status
        started: dt.datetime
        # None only in memory: a placeholder that keeps the finished record's fields in order
        ended: dt.datetime | None
        duration: float | None
        exit_code: int | None
        command: list[str]
        cwd: str
        host: str
        user: str                   # who ran it (capture/who.py)
        rerun_of: str               # `journal rerun`: the id of the run this one repeats
        pid: int
        git: GitState
        params: dict[str, Any]      # nested where the program's config is; None kept (as {})
        params_from: str            # the parser the program's params came from (argparse, ...)
        params_default: list[str]   # params the program left at their default
        metrics: dict[str, Any]
        env: dict[str, str]
        environment: dict[str, Any]   # platform; python, executable, packages, gpus
        log: LogInfo
        series: Series
        error: str
        problems: list[str]
        amendments: list[Amendment]
else:     # at run time every one of them is what tomllib gives: a dict
    GitState = Submodule = LogInfo = Series = Amendment = Record = dict


# -- statuses -------------------------------------------------------------------------------------

class Status(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"     # SIGINT, to journal or the child's death by it
    KILLED = "killed"               # SIGTERM, SIGHUP or any other fatal signal
    CRASHED = "crashed"             # never written: a `running` run whose wrapper is gone


STATUSES = tuple(status.value for status in Status)
THIS_HOST = os.uname().nodename
# `[environment] platform` of every run: the kernel and machine, as `platform.platform()` begins
# (that call costs ~1 ms at start-up; this costs nothing).
PLATFORM = "-".join(os.uname()[i] for i in (0, 2, 4))   # sysname, release, machine


def is_note_only(record: Mapping[str, object]) -> bool:
    """A note-only entry (`journal new` without a command): an idea, not a run."""
    return not record.get("command")


def effective_status(record: Mapping[str, object]) -> str:
    """The status a reader should see: a `running` run whose wrapper died on this host is
    `crashed`; one on another host cannot be checked and stays `running`."""
    status = str(record.get("status", "?"))
    if status != Status.RUNNING or record.get("host") != THIS_HOST:
        return status
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return status        # no pid, or one os.kill would read as a process group
    if not pid_alive(pid) or _pid_reused(pid, record.get("started")):
        return Status.CRASHED
    return status


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_reused(pid: int, started: object) -> bool:
    """True when process `pid` began after the run did: the wrapper died and its pid went to
    another process. Linux only (/proc); elsewhere a live pid is taken at its word."""
    if not isinstance(started, dt.datetime):
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])               # field 22: start time, clock ticks after boot
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime "))
        began = boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    # A minute of slack: the boot time is rounded to the second and moves when the clock is set.
    return began > aware(started).timestamp() + 60


# -- run ids --------------------------------------------------------------------------------------

VALID_ID = re.compile(r"[A-Za-z0-9._-]+")       # and not starting with `.` (hidden, temp files)
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"   # Crockford base32: no i, l, o, u
_JOURNAL_ID = re.compile(r"\d{8}-\d{6}\.\d{3}-")
_SHORT_ID = 19                                    # `20261128-074207.123`


def new_run_id(started: dt.datetime, short_commit: str | None) -> str:
    """`20261128-074207.123-9ac7188-k3f9qa`: UTC start (so ids sort by time across time zones and
    machines), the commit, and 30 random bits so runs started in the same millisecond on several
    machines still differ. Uniqueness in one folder is enforced again when the file is created."""
    utc = started.astimezone(dt.UTC)
    stamp = utc.strftime("%Y%m%d-%H%M%S") + f".{utc.microsecond // 1000:03d}"
    random = int.from_bytes(os.urandom(4), "big")
    suffix = "".join(_ID_ALPHABET[(random >> shift) & 31] for shift in range(0, 30, 5))
    return f"{stamp}-{short_commit or 'nocommit'}-{suffix}"


def is_valid_id(text: str) -> bool:
    """Safe as a file name in the journal folder: `[A-Za-z0-9._-]`, not hidden."""
    return bool(VALID_ID.fullmatch(text)) and not text.startswith(".")


def short_id(run_id: str) -> str:
    """The id up to its milliseconds (a REF while unique); other ids whole."""
    return run_id[:_SHORT_ID] if _JOURNAL_ID.match(run_id) else run_id


def id_time(run_id: str) -> dt.datetime | None:
    """The UTC start time an id begins with, or None for ids not made by `journal`."""
    try:
        return dt.datetime.strptime(run_id[:19], "%Y%m%d-%H%M%S.%f").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def id_month(run_id: str) -> str:
    """The folder a record is sharded into (`2026-11` for an id of November 2026)."""
    return f"{run_id[:4]}-{run_id[4:6]}"


# -- the schema version ---------------------------------------------------------------------------

SCHEMA_VERSION = 2          # what this journal writes
# Ordered steps that bring a record of schema N up to N+1, in memory (files are never rewritten
# behind the user's back). Schema 2 only adds fields (`environment`, `params_from`,
# `params_default`, nested params, None params as {}), so a schema 1 record is one as it is.
Migration = Callable[[dict[str, object]], dict[str, object]]
MIGRATIONS: dict[int, Migration] = {1: lambda record: record}


def upgrade(record: Record, where: str, warn: Callable[[str], None],
            migrations: Mapping[int, Migration] | None = None,
            current: int = SCHEMA_VERSION, *, in_place: bool = False) -> Record:
    """`record` as this version of journal reads it: older schemas upgraded step by step; a newer
    or unreadable `schema` is one warning naming `where` (the record is still shown from the
    fields it understands). `in_place`: the caller just parsed `record` and nobody else holds
    it, so the steps may change it rather than a copy."""
    steps = MIGRATIONS if migrations is None else migrations
    version = record.get("schema", current)
    if type(version) is int and version == current:
        return record
    if type(version) is not int or version < 1:
        warn(f"warning: {where}: unknown schema {printable(repr(version))}; "
             "showing the fields this journal understands")
        return record
    if version > current:
        warn(f"warning: {where} has schema {version}, newer than this journal knows "
             f"({current}); showing the fields it understands (upgrade journal to see the rest)")
        return record
    # Steps may change nested tables: the caller's record is left as it was.
    upgraded: dict[str, object] = dict(record) if in_place else _copied(dict(record))
    while version < current:
        step = steps.get(version)
        if step is None:
            warn(f"warning: {where}: no upgrade from schema {version}; shown as it is")
            return record
        upgraded = step(upgraded)
        version += 1
        upgraded["schema"] = version
    return upgraded  # type: ignore[return-value]


# -- fields of the wrong type ----------------------------------------------------------------------

_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    **dict.fromkeys(("git", "params", "metrics", "env", "log", "series", "environment"),
                    ((dict,), "a table")),
    **dict.fromkeys(("tags", "command", "amendments", "problems", "params_default"),
                    ((list,), "a list")),
    **dict.fromkeys(("id", "note", "status", "host", "user", "cwd", "error", "params_from",
                     "rerun_of"),
                    ((str,), "text")),
    **dict.fromkeys(("started", "ended"), ((dt.datetime,), "a time")),
    **dict.fromkeys(("exit_code", "pid"), ((int,), "a whole number")),
    "duration": ((int, float), "a number of seconds"),
}


def wrong_fields(record: Mapping[str, object]) -> list[str]:
    """The fields a hand edit (or another program) left of a kind no reader can use: `git = []`,
    `metrics = 5`, `duration = -5`; each as `name (what it should be)`."""
    wrong = []
    for name, (kinds, what) in _KINDS.items():
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, kinds) or isinstance(value, bool):
            wrong.append(f"{name} (not {what})")
        elif name == "duration" and not (0 <= value < float("inf")):  # type: ignore[operator]
            wrong.append(f"{name} (not {what})")
        elif name == "tags" and not all(isinstance(tag, str) for tag in listed(value)):
            wrong.append(f"{name} (not a list of text)")
    return wrong


def warn_of_wrong_fields(record: Record, where: str, warn: Callable[[str], None]) -> Record:
    """`record`, after one warning naming the file and the fields of a kind no reader expects
    (readers still show what they can of them: a tolerant reader never trusts a field's kind)."""
    wrong = wrong_fields(record)
    if wrong:
        warn(f"warning: {where}: fields of the wrong kind: {', '.join(wrong)}")
    return record


# -- reading fields tolerantly --------------------------------------------------------------------
# Readers never trust a field's type: a record may be hand-edited or written by another version.

def table(record: Mapping[str, object], name: str) -> Mapping[str, Any]:
    # Any, not object: a table's values are whatever the record holds (params of every type),
    # and each reader checks the type of the value it uses.
    """A table field (`params`, `metrics`, `git`, `log`, ...), or an empty one."""
    value = record.get(name)
    return value if isinstance(value, Mapping) else {}


def listed(value: object) -> list[Any]:
    """A list field as a list; a hand-edited scalar in its place as a list of one."""
    if isinstance(value, list):
        return value
    return [] if value is None or isinstance(value, Mapping) else [value]


def text_list(value: object) -> list[str]:
    """A list of strings (`tags`, `git.changed`, ...) with any item that is not one as text."""
    return [str(item) for item in value] if isinstance(value, list) else []


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float, not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_number(value: object) -> float | None:
    """A number as a float, or None for anything else, nan and infinities included."""
    if not is_number(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def aware(moment: dt.datetime) -> dt.datetime:
    """Naive datetimes (hand-edited records) are read as local time."""
    return moment if moment.tzinfo else moment.astimezone()


def started_at(record: Mapping[str, object]) -> dt.datetime | None:
    started = record.get("started")
    return aware(started) if isinstance(started, dt.datetime) else None


# -- params ---------------------------------------------------------------------------------------
# A program's params are a table, nested where its config is (Hydra's `[params.model]`), and a
# value it had as None is kept: TOML has no null, so a record writes it as an empty table
# (`resume = {}`), which no reader takes for text. Readers address nested params by dotted
# names (`model.lr`), as `--where` does, through `flat_params`.


def is_none_param(value: object) -> bool:
    """A param the program had as None, as a record holds it (an empty table)."""
    return value is None or (isinstance(value, Mapping) and not value)


def _copied(value: Any) -> Any:
    """A record's tables and arrays copied, its values (immutable) shared: what deepcopy does
    for a record, faster and with no reference cycle left behind (see _read_none_params)."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def read_none_params(record: Record) -> Record:
    """`record` (as just parsed) with each param written `{}` read back as None, in place
    (in nested tables and in arrays too)."""
    params = record.get("params")
    if isinstance(params, dict):
        _read_none_params(params)
    return record


# The walks below are functions of their own, not closures: a closure that calls itself is a
# reference cycle, and the short-lived reading commands run without the cyclic GC (cli/main.py),
# so each record read would leave one behind (2.8 KB a run: gigabytes at a million).

def _read_none_params(values: dict[str, Any] | list[Any]) -> None:
    keys = range(len(values)) if isinstance(values, list) else list(values)
    for key in keys:
        value = values[key]  # type: ignore[index]
        if isinstance(value, (dict, list)):
            if value or isinstance(value, list):
                _read_none_params(value)
            else:
                values[key] = None  # type: ignore[index]


def flat_params(record: Mapping[str, object]) -> dict[str, Any]:
    """The record's params with nested tables as dotted names, and None for a None param."""
    flat: dict[str, Any] = {}
    _flatten(table(record, "params"), "", flat)
    return flat


def _flatten(values: Mapping[str, Any], prefix: str, flat: dict[str, Any]) -> None:
    for key, value in values.items():
        name = f"{prefix}{key}" if prefix else key
        # Most values are numbers and text: the type test is the cheap one (an abstract
        # Mapping check costs ten times more, and a sweep holds a million of them).
        if type(value) in _SCALARS:
            flat[name] = value
        elif isinstance(value, Mapping) and value:
            _flatten(value, f"{name}.", flat)
        else:
            flat[name] = None if is_none_param(value) else value


_SCALARS = frozenset({str, int, float, bool})
_PLAIN = frozenset({str, int})      # shown by scalar_text as str() shows them


def param_value(params: Mapping[str, Any], name: str, missing: Any = None) -> Any:
    """The param `name` (a dotted name reaches into a nested table: `model.lr`; None for one
    the program had as None), or `missing`."""
    if name in params:
        value = params[name]
        return None if is_none_param(value) else value
    head, dot, rest = name.partition(".")
    while dot:
        inner = params.get(head)
        if isinstance(inner, Mapping) and inner:
            return param_value(inner, rest, missing)
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"                     # a key with a dot in it: `a.b` in [params]
    return missing


def merge_params(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with each of `overrides` on top, later ones winning. A dotted name (`--param
    model.lr=0.1`) replaces the nested value it names (Hydra's `[params.model] lr`) instead of
    standing beside it."""
    import copy

    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for override in overrides:
        for name, value in override.items():
            target, key = merged, name
            while "." in key and key not in target:
                head, _, rest = key.partition(".")
                inner = target.get(head)
                if not isinstance(inner, dict) or not inner:
                    break
                target, key = inner, rest
            target[key] = copy.deepcopy(value)
    return merged


# -- values ---------------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)")   # 1_000 as int() takes it; 007 stays text
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": True, "false": False, "True": True, "False": False, "TRUE": True, "FALSE": False}
INT64 = range(-(2**63), 2**63)                   # what a TOML integer holds


def typed_value(text: str) -> int | float | bool | str:
    """'32' -> 32, '3e-4' -> 0.0003, 'true' -> True, anything else stays a string."""
    if _INT.fullmatch(text):
        number = int(text)
        return number if number in INT64 else text
    if _FLOAT.fullmatch(text):
        value = float(text)
        return value if math.isfinite(value) else text   # 1e999 keeps its digits
    return _BOOLS.get(text, text)


def looks_numeric(text: str) -> bool:
    """An int or float as `typed_value` reads one (`-1`, `3e-4`): a value, never an option."""
    return bool(_INT.fullmatch(text) or _FLOAT.fullmatch(text))


# -- tags -----------------------------------------------------------------------------------------

_TAG = re.compile(r"[^\s+\-][^\s]*")
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
MAX_TAG_LENGTH = 200
TAG_RULE = (f"a tag is one word of visible characters, not starting with + or - "
            f"(at most {MAX_TAG_LENGTH})")


def is_valid_tag(tag: str) -> bool:
    """One word of visible characters, not starting with `+` or `-` (which `journal tag` reads
    as adding or removing one)."""
    return bool(_TAG.fullmatch(tag)) and not _INVISIBLE.search(tag) and len(tag) <= MAX_TAG_LENGTH


def amendment_text(amendment: Mapping[str, object]) -> str:
    """What an amendment says, for a reader: its text, and a tag change as `tags +a -b`."""
    text = amendment.get("text")
    parts = [text] if isinstance(text, str) and text else []
    changes = [change for change in listed(amendment.get("tags")) if isinstance(change, str)]
    if changes:
        parts.append("tags " + " ".join(changes))
    return "\n\n".join(parts)


# -- what grep searches ---------------------------------------------------------------------------

_GIT_SEARCHED = ("commit", "branch", "changed", "untracked", "left_out", "in_progress")


def scalar_text(value: object) -> str:
    """A value as one piece of searchable text: TOML's true/false, floats as Python's repr,
    lists comma-separated, tables as `k = v` pairs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ", ".join(scalar_text(item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key} = {scalar_text(item)}" for key, item in value.items())
    return str(value)


def searchable_lines(record: Mapping[str, object]) -> Iterator[tuple[str, str]]:
    """(field, line) pairs `journal grep` looks at, in the order a reader expects them. Field
    names hold no tab or newline (names from the record are escaped); lines hold no newline."""
    def lines(name: str, text: object) -> Iterator[tuple[str, str]]:
        for line in (text if type(text) is str else scalar_text(text)).splitlines():
            if line:
                yield name, line

    yield from lines("note", record.get("note", ""))
    for amendment in listed(record.get("amendments")):
        if isinstance(amendment, Mapping):
            yield from lines("amendment", amendment_text(amendment))
    for tag in listed(record.get("tags")):
        yield from lines("tag", tag)
    command = record.get("command")
    if isinstance(command, list):
        yield from lines("command", shlex.join(
            arg if type(arg) is str else scalar_text(arg) for arg in command))
    elif isinstance(command, str):
        yield from lines("command", command)
    for name in ("params", "metrics"):
        values = flat_params(record) if name == "params" else table(record, name)
        for key, value in values.items():
            shown = key if key.isprintable() else printable(key)   # no tab, no newline
            line = f"{key} = {value if type(value) in _PLAIN else scalar_text(value)}"
            if line.isprintable():          # one line as it is: most params and every metric
                yield f"{name}.{shown}", line
            else:
                yield from lines(f"{name}.{shown}", line)
    git = table(record, "git")
    for name in _GIT_SEARCHED:
        for item in listed(git.get(name)):
            if item:
                yield from lines(f"git.{name}", item)
    for name in ("status", "host", "cwd", "error"):
        if record.get(name):
            yield from lines(name, record[name])
    for problem in listed(record.get("problems")):
        yield from lines("problems", problem)


def first_note_line(note: object) -> str:
    """The note's first line that is not blank, without its surrounding spaces."""
    lines = str(note or "").strip().splitlines()
    return lines[0].strip() if lines else ""


SUMMARY_NOTE_CHARS = 240
SHORT_COMMIT = 7            # a listing's commit: `9ac7188`


def summary_of(record: Mapping[str, object]) -> dict[str, Any]:
    """The few small fields a one-line listing and the filters other than --where read, as the
    record holds them, less what the index keeps in columns of its own (status, start, tags,
    metrics): duration, host, pid and user, the note's first line, the command's first word
    (whether there is one: a note-only entry has none), the short commit and its state."""
    summary: dict[str, Any] = {
        key: record[key] for key in ("duration", "host", "pid", "user") if key in record}
    if "note" in record:
        # A one-line listing shows far fewer characters than this.
        summary["note"] = first_note_line(record["note"])[:SUMMARY_NOTE_CHARS]
    command = record.get("command")
    if command is not None:
        summary["command"] = command[:1] if isinstance(command, (str, list)) else command
    git = record.get("git")
    if isinstance(git, Mapping):
        summary["git"] = {key: git[key] for key in ("commit", "dirty", "worktree") if key in git}
        if isinstance(git.get("commit"), str):
            summary["git"]["commit"] = git["commit"][:SHORT_COMMIT]
    return summary


def searchable_text(record: Mapping[str, object]) -> str:
    """The index's form of `searchable_lines`: `field<TAB>line` lines."""
    return "\n".join(f"{name}\t{line}" for name, line in searchable_lines(record))


# -- a record on disk -----------------------------------------------------------------------------

class StoredRun:
    """A record as a reader has it: its id, the file it came from, and what it says."""

    __slots__ = ("id", "_path", "record")

    def __init__(self, run_id: str, path: Path | str, record: Record) -> None:
        self.id = run_id
        self._path = path
        self.record = record

    @property
    def path(self) -> Path:
        # Made when asked: a listing of a million runs never looks at their paths.
        if isinstance(self._path, str):
            from pathlib import Path  # loaded by every reader already; not at start-up here

            self._path = Path(self._path)
        return self._path

    @property
    def status(self) -> str:
        return effective_status(self.record)

    @property
    def shown_status(self) -> str:
        """The status a reader is shown in a table or properties: `note` for a note-only entry
        (an idea, not a finished run), else the effective status."""
        return "note" if is_note_only(self.record) else effective_status(self.record)

    def __repr__(self) -> str:
        return f"StoredRun({self.id!r}, {str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredRun) and (self.id, self.path, self.record) == (
            other.id, other.path, other.record)

    __hash__ = None  # type: ignore[assignment]

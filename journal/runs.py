"""Reading runs back: find records, parse them, resolve REFs, select by filters, newest first.

`RunSource` is what every reading command uses. It answers from the derived index when it can
(journal/index.py) and from the TOML files otherwise; both give the same answers, and the TOML
files stay the only source of truth. A record that does not parse is skipped with a warning that
names its file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journal.errors import UsageError
from journal.filters import Filters
from journal.safetext import printable

VALID_ID = re.compile(r"[A-Za-z0-9._-]+")
_NTH_BEFORE = re.compile(r"(?:@|latest)~(\d+)")
_THIS_HOST = os.uname().nodename


@dataclass
class Run:
    id: str
    path: Path              # the record file
    record: dict[str, Any]  # as tomllib reads it

    @property
    def status(self) -> str:
        """The status a reader should see: a `running` run whose wrapper died on this host is
        `crashed`; one on another host cannot be checked and stays `running`."""
        return effective_status(self.record)


def effective_status(record: Mapping[str, Any]) -> str:
    status = str(record.get("status", "?"))
    if status != "running" or record.get("host") != _THIS_HOST:
        return status
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return status        # no pid, or one os.kill would read as a process group
    from journal.store import pid_alive

    if not pid_alive(pid) or _pid_reused(pid, record.get("started")):
        return "crashed"
    return status


def _pid_reused(pid: int, started: Any) -> bool:
    """True when process `pid` began after the run did: the wrapper died and its pid went to
    another process. Linux only (/proc); elsewhere a live pid is taken at its word."""
    import datetime as dt

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
    from journal.filters import aware

    # A minute of slack: the boot time is rounded to the second and moves when the clock is set.
    return began > aware(started).timestamp() + 60


def record_files(journal_dir: Path) -> Iterator[tuple[str, Path]]:
    """(id, path) of every record under `runs/`, at any depth; temp and lock files skipped."""
    stack = [journal_dir / "runs"]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif name.endswith(".toml") and VALID_ID.fullmatch(name[:-5]):
                yield name[:-5], Path(entry.path)


def parse_record(path: Path, warn: Callable[[str], None]) -> dict[str, Any] | None:
    """The record in `path`, or None with a warning naming the file when it does not parse."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            data = handle.read()
        record = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        return None          # deleted since it was listed
    except OSError as exc:
        warn(f"warning: skipped {path}: {exc.strerror}")
        return None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        warn(f"warning: skipped {path}: not a valid record ({exc})")
        return None
    return record


class RunSource:
    """The runs of one journal folder."""

    def __init__(self, journal_dir: Path, warn: Callable[[str], None], *, use_index: bool = True
                 ) -> None:
        self.journal_dir = journal_dir
        self.warn = warn
        self._index: Any = None
        if journal_dir.exists() and not journal_dir.is_dir():
            raise UsageError(f"the journal folder {printable(str(journal_dir))} is not a folder",
                             hint="JOURNAL_DIR or .journal names a file")
        if use_index and os.environ.get("JOURNAL_NO_INDEX") != "1":
            from journal.index import open_index

            self._index = open_index(journal_dir, warn)
        self._files: dict[str, Path] | None = None

    # -- ids ----------------------------------------------------------------------------------

    def _all_files(self) -> dict[str, Path]:
        if self._files is None:
            self._files = dict(sorted(record_files(self.journal_dir)))
        return self._files

    def ids(self) -> list[str]:
        """Every run id, oldest first."""
        if self._index is not None:
            return self._index.ids()
        return list(self._all_files())

    def ids_with_prefix(self, prefix: str) -> list[str]:
        if self._index is not None:
            return self._index.ids_with_prefix(prefix)
        return [run_id for run_id in self._all_files() if run_id.startswith(prefix)]

    # -- runs ---------------------------------------------------------------------------------

    def get(self, run_id: str) -> Run | None:
        if self._index is not None:
            return self._index.get(run_id)
        path = self._all_files().get(run_id)
        if path is None:
            return None
        record = parse_record(path, self.warn)
        return None if record is None else Run(run_id, path, record)

    def select(self, filters: Filters | None = None, limit: int | None = None,
               newest_first: bool = True) -> list[Run]:
        """The runs that pass `filters`, newest first, reading no more records than needed."""
        filters = filters or Filters()
        if self._index is not None:
            return self._index.select(filters, limit, newest_first)
        ids = list(self._all_files())
        chosen: list[Run] = []
        for run_id in reversed(ids) if newest_first else ids:
            if not id_may_match(run_id, filters):
                continue
            run = self.get(run_id)
            if run is not None and filters.matches(run.record, run.status):
                chosen.append(run)
                if limit is not None and len(chosen) >= limit:
                    break
        return chosen

    def resolve(self, ref: str) -> Run:
        """A REF: an id, a unique prefix of one, `@`/`latest`, or `@~N` (the N-th before the newest)."""
        run_id = self.resolve_id(ref)
        run = self.get(run_id)
        if run is None:
            raise UsageError(f"run {run_id} cannot be read", hint="see the warning above about its file")
        return run

    def resolve_id(self, ref: str) -> str:
        ref = ref.strip()
        nth = 0
        if ref in ("@", "latest"):
            nth = 0
        elif match := _NTH_BEFORE.fullmatch(ref):
            nth = int(match[1])
        else:
            return self._resolve_prefix(ref)
        ids = self.ids()
        if nth >= len(ids):
            raise UsageError(
                f"there is no run {printable(ref)}: the journal has {len(ids)} run(s)",
                hint="record one with: journal new --note \"...\" -- COMMAND" if not ids else None,
            )
        return ids[-1 - nth]

    def _resolve_prefix(self, ref: str) -> str:
        if not ref or not VALID_ID.fullmatch(ref):
            raise UsageError(f"unknown run {printable(repr(ref))}", hint="`journal list` shows the runs")
        candidates = self.ids_with_prefix(ref)
        if ref in candidates:
            return ref
        if not candidates:
            raise UsageError(f"unknown run {printable(repr(ref))}", hint="`journal list` shows the runs")
        if len(candidates) > 1:
            shown = ", ".join(candidates[-10:][::-1]) + (" ..." if len(candidates) > 10 else "")
            raise UsageError(f"ambiguous run {printable(repr(ref))}: {len(candidates)} runs match: {shown}",
                             hint="give more characters of the id")
        return candidates[0]

    def resolve_all(self, refs: Sequence[str]) -> list[Run]:
        return [self.resolve(ref) for ref in refs]


def id_may_match(run_id: str, filters: Filters) -> bool:
    """Ids start with their UTC start time, so a time range rules most ids out unread."""
    if not (filters.since or filters.until):
        return True
    started = id_time(run_id)
    if started is None:
        return True
    # A minute of slack: hand-made ids and clocks that disagree about the millisecond.
    import datetime as dt

    slack = dt.timedelta(minutes=1)
    if filters.since and started < filters.since - slack:
        return False
    return not (filters.until and started >= filters.until + slack)


def id_time(run_id: str) -> Any:
    """The UTC start time an id begins with, or None for ids not made by `journal`."""
    import datetime as dt

    try:
        return dt.datetime.strptime(run_id[:19], "%Y%m%d-%H%M%S.%f").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None

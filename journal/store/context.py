"""What a command runs in: where (the directory, the work tree, the journal folder), with which
environment, and at what time. Found once per command (`Context.find`) and handed down, so that
nothing below the command line reads the process's globals and tests can set each of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from journal.errors import UsageError
from journal.store.paths import find_journal_dir, find_worktree_root
from journal.text import printable

CLOCK_VARIABLE = "JOURNAL_NOW"              # a fixed "now" (ISO 8601), for tests and demos


def local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def clock(environ: Mapping[str, str]) -> Callable[[], dt.datetime]:
    """The clock a command reads "now" from: the wall clock, or the fixed time `JOURNAL_NOW`
    gives (ISO 8601; without an offset, local time), so that a test or a demo does not depend on
    when it runs."""
    fixed = environ.get(CLOCK_VARIABLE)
    if not fixed:
        return local_now
    try:
        moment = dt.datetime.fromisoformat(fixed)
        moment = moment if moment.tzinfo else moment.astimezone()
    except (ValueError, OverflowError):
        raise UsageError(f"{CLOCK_VARIABLE}={printable(repr(fixed))} is not a time",
                         hint=f"give an ISO 8601 time such as 2026-11-28T16:42:07+09:00, "
                              f"or unset {CLOCK_VARIABLE}") from None
    return lambda: moment


@dataclass(frozen=True)
class Context:
    """What a command runs in, found once per command and handed to what it calls: the
    directory, the work tree around it (None outside git), the journal folder, the environment
    and the clock."""

    cwd: Path
    worktree_root: Path | None
    journal_dir: Path
    environ: Mapping[str, str]
    now: Callable[[], dt.datetime] = local_now

    @classmethod
    def find(cls, cwd: Path, environ: Mapping[str, str]) -> Context:
        cwd = cwd.resolve()
        root = find_worktree_root(cwd, environ)
        return cls(cwd, root, find_journal_dir(cwd, root, environ), environ, clock(environ))

    @property
    def root(self) -> Path:
        """The work-tree root, or outside git the folder that holds the journal folder."""
        return self.worktree_root or self.journal_dir.parent

    def relative_cwd(self) -> str:
        try:
            return self.cwd.relative_to(self.root).as_posix()
        except ValueError:
            return str(self.cwd)

"""Where things are: the work tree, the journal folder, and each run's files inside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from journal.errors import UsageError
from journal.record import id_month
from journal.text import printable

JOURNAL_FOLDER = ".journal"
TEMPLATE_NAME = ".journal-template.md"      # the export template `journal init` writes
CLOCK_VARIABLE = "JOURNAL_NOW"              # a fixed "now" (ISO 8601), for tests and demos


def find_worktree_root(start: Path, environ: Mapping[str, str]) -> Path | None:
    """The work tree containing `start`, found the way git finds it, without starting git."""
    if environ.get("GIT_WORK_TREE"):
        return (start / environ["GIT_WORK_TREE"]).resolve()
    if environ.get("GIT_DIR"):
        return start     # git's rule: GIT_DIR without GIT_WORK_TREE makes the cwd the top
    for folder in (start, *start.parents):
        marker = folder / ".git"
        if marker.is_dir() or marker.is_file():
            return folder
    return None


def find_journal_dir(cwd: Path, worktree_root: Path | None, environ: Mapping[str, str]) -> Path:
    """`JOURNAL_DIR`, else `.journal/` at the work-tree root, else the nearest ancestor that has
    one, else `.journal/` in `cwd`."""
    override = environ.get("JOURNAL_DIR")
    if override:
        return (cwd / override).resolve()
    if worktree_root is not None:
        return worktree_root / JOURNAL_FOLDER
    for folder in (cwd, *cwd.parents):
        if (folder / JOURNAL_FOLDER).is_dir():
            return folder / JOURNAL_FOLDER
    return cwd / JOURNAL_FOLDER


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
    except ValueError:
        raise UsageError(f"{CLOCK_VARIABLE}={printable(repr(fixed))} is not a time",
                         hint=f"give an ISO 8601 time such as 2026-11-28T16:42:07+09:00, "
                              f"or unset {CLOCK_VARIABLE}") from None
    moment = moment if moment.tzinfo else moment.astimezone()
    return lambda: moment


@dataclass(frozen=True)
class Place:
    """Where a command runs, found once per command: the directory, the work tree around it (None
    outside git), the journal folder, the environment and the clock."""

    cwd: Path
    worktree_root: Path | None
    journal_dir: Path
    environ: Mapping[str, str]
    now: Callable[[], dt.datetime] = local_now

    @classmethod
    def find(cls, cwd: Path, environ: Mapping[str, str]) -> Place:
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


# -- a run's files --------------------------------------------------------------------------------

def run_path(journal_dir: Path, run_id: str) -> Path:
    """Records are sharded by month (`runs/2026-11/`) so no folder grows without bound."""
    return journal_dir / "runs" / id_month(run_id) / f"{run_id}.toml"


def log_path(journal_dir: Path, run_id: str) -> Path:
    return journal_dir / "logs" / f"{run_id}.log"


def patch_path(journal_dir: Path, run_id: str) -> Path:
    return journal_dir / "patches" / f"{run_id}.patch"


def relative_to_journal(journal_dir: Path, path: Path) -> str:
    return path.relative_to(journal_dir).as_posix()


def inside_journal(journal_dir: Path, relative: object) -> Path | None:
    """`journal_dir / relative` if it stays inside the journal folder, links resolved: a record is
    data (it may come from another machine), and a crafted `patch = "../../.ssh/id_rsa"` must not
    make `show --diff` or `tail` print that file."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return None
    base = journal_dir.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path != base else None


def shown_path(journal_dir: Path, relative: object) -> str:
    """How a file in the journal folder is named for a reader: `.journal/logs/<id>.log` for the
    usual folder (relative to the work tree), else the full path."""
    if journal_dir.name == JOURNAL_FOLDER:
        return f"{JOURNAL_FOLDER}/{relative}"
    return str(journal_dir / str(relative))

"""Where things are: the work tree, the journal folder, and each run's files inside it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from journal.record import id_month

JOURNAL_FOLDER = ".journal"
TEMPLATE_NAME = ".journal-template.md"      # the export template `journal init` writes


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
    """`JOURNAL_DIR`, else `.journal/` at the root of the repository's main work tree (a linked
    worktree's runs land in the repository's one journal), else the nearest ancestor that has
    one, else `.journal/` in `cwd`."""
    override = environ.get("JOURNAL_DIR")
    if override:
        return (cwd / override).resolve()
    if worktree_root is not None:
        return main_worktree_root(worktree_root) / JOURNAL_FOLDER
    for folder in (cwd, *cwd.parents):
        if (folder / JOURNAL_FOLDER).is_dir():
            return folder / JOURNAL_FOLDER
    return cwd / JOURNAL_FOLDER


def main_worktree_root(worktree_root: Path) -> Path:
    """The main work tree of the repository `worktree_root` belongs to: itself, unless it is a
    linked worktree (`git worktree add`: its `.git` file names a folder that has `commondir`).
    A submodule (a `.git` file too, but no `commondir`) and a bare repository's worktrees keep
    their own."""
    marker = worktree_root / ".git"
    if not marker.is_file():
        return worktree_root
    try:
        first = marker.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        if not first.startswith("gitdir:"):
            return worktree_root
        git_dir = (worktree_root / first[len("gitdir:"):].strip()).resolve()
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    except (OSError, IndexError):
        return worktree_root
    return common.parent if common.name == ".git" else worktree_root


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

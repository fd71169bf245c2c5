"""`journal checkout REF [DIR]`: a run's exact code, rebuilt in a new linked worktree.

The worktree is made at the run's commit (detached: no branch is made or moved), its patch is
applied (the uncommitted changes and the untracked files it captured), and its path is the only
thing printed, so `cd "$(journal checkout @)"` works. The user's own checkout, index and
branches are untouched: git writes only the new worktree and its entry under `.git/worktrees/`.
What the record says the patch could not hold is named on stderr: files left out (credentials,
big files) and lines whose secrets were masked (they read `***`).

The result is checked against `git.tree`, the tree id recorded at capture (schema 2): a
different tree removes the worktree again and is one error. Runs recorded before `git.tree` are
checked by the patch applying cleanly alone (said so).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from journal.errors import UsageError
from journal.git import Git, GitFailed, tree_with_patch
from journal.record import short_id, table, text_list
from journal.store.config import load_config
from journal.store.context import Context
from journal.store.paths import inside_journal
from journal.store.runfiles import stayed_behind
from journal.store.source import RunSource
from journal.text import printable


def checkout_run(source: RunSource, ref: str, folder: str | None, *, context: Context,
                 out: TextIO, say: Callable[[str], None]) -> Path:
    """Rebuild run `ref`'s code in a new worktree (`folder`, default beside the repository,
    named after it and the run's short id); print its path on `out` and return it."""
    run = source.resolve(ref)
    git_state = table(run.record, "git")
    commit = git_state.get("commit")
    if not isinstance(commit, str) or not commit:
        raise UsageError(f"run {run.id} has no commit to check out",
                         hint="it was recorded outside git or before the first commit")
    root = context.worktree_root
    if root is None:
        raise UsageError("not in a git repository", hint="run journal checkout inside the repository")
    from journal.store.paths import main_worktree_root

    main = main_worktree_root(root)
    target = (context.cwd / folder).resolve() if folder else \
        main.parent / f"{main.name}-{short_id(run.id)}"
    if target.exists():
        raise UsageError(f"{printable(str(target))} exists already",
                         hint="give another DIR, or remove that one")
    patch = git_state.get("patch")
    patch_file = None
    if isinstance(patch, str) and patch:
        patch_file = inside_journal(source.journal_dir, patch)
        if patch_file is None:       # a record is data: it may come from another machine
            raise UsageError(f"run {run.id}'s patch path {printable(patch)!r} is outside the "
                             "journal folder; not used")
        if not patch_file.is_file():
            behind = stayed_behind(patch_file)
            raise UsageError(f"run {run.id}'s patch {printable(str(patch_file))} "
                             + (behind if behind else "is missing"),
                             hint="a run's code cannot be rebuilt exactly without its patch")
    git = Git(main, load_config(source.journal_dir, context.environ).git_timeout, context.environ)
    try:
        git.run("cat-file", "-e", f"{commit}^{{commit}}")
    except GitFailed:
        raise UsageError(f"commit {commit[:12]} of run {run.id} is not in this repository",
                         hint="fetch it first (git fetch --all)") from None
    try:
        git.run("worktree", "add", "--detach", "--quiet", str(target), commit)
    except GitFailed as exc:
        raise UsageError(f"cannot make a worktree at {printable(str(target))}: {exc}") from None
    if patch_file is not None:
        try:
            git.run("apply", "--binary", "--whitespace=nowarn", str(patch_file.resolve()),
                    cwd=target)
        except GitFailed as exc:
            _remove_worktree(git, target)
            raise UsageError(f"run {run.id}'s patch does not apply to {commit[:12]}: {exc}",
                             hint="the worktree was removed again") from None
    for name, what in (("left_out", "left out of the patch, not rebuilt"),
                       ("redacted", "secrets masked in the patch: those lines read ***")):
        paths = text_list(git_state.get(name))
        if paths:
            say(f"{what}: " + ", ".join(map(printable, paths)))
    rebuilt = f"rebuilt {short_id(run.id)} at {commit[:12]}" + (
        " with its patch" if patch_file is not None else "")
    recorded = git_state.get("tree")
    if isinstance(recorded, str) and recorded:
        try:
            # The commit and the patch this worktree was made from, as the capture made them
            # (a scratch index, no filters, ignored files included): equal to the recorded tree
            # when neither changed since the run.
            found = tree_with_patch(git, commit, patch_file.read_bytes() if patch_file else b"")
        except (GitFailed, OSError) as exc:
            _remove_worktree(git, target)
            raise UsageError(f"cannot check the rebuilt code of run {run.id}: {exc}",
                             hint="the worktree was removed again") from None
        if found != recorded:
            _remove_worktree(git, target)
            raise UsageError(f"the rebuilt code of run {run.id} is not what it ran: tree "
                             f"{found[:12]}, recorded {printable(recorded[:12])}",
                             hint="the worktree was removed again; its patch or commit differs "
                                  "from the run's") from None
        say(f"{rebuilt}; checked: its tree is the recorded {recorded[:12]}")
    else:
        say(f"{rebuilt}; the run has no recorded tree id, so the patch applying cleanly is "
            "the check")
    out.write(str(target) + "\n")
    return target


def rerun_setup(source: RunSource, ref: str, extra: list[str], *, context: Context,
                say: Callable[[str], None]) -> tuple[list[str], Path, str]:
    """For `journal rerun`: the run's command (with `extra` added), the folder to run it in (a
    new worktree with its exact code, at the run's `cwd` there) and the run's id. A command
    that held a secret (masked on record) cannot be run again as recorded: one error line."""
    from journal.redact import MASK

    run = source.resolve(ref)
    command = run.record.get("command")
    if not isinstance(command, list) or not command:
        raise UsageError(f"run {run.id} ran no command", hint="a note-only entry has nothing to rerun")
    if any(MASK in str(arg) for arg in command):
        raise UsageError(f"run {run.id}'s command held a secret, masked on record: it cannot "
                         "be run again as recorded",
                         hint="journal checkout REF, then run it there by hand")
    root = context.worktree_root
    if root is None:
        raise UsageError("not in a git repository", hint="run journal rerun inside the repository")
    from journal.store.paths import main_worktree_root

    main = main_worktree_root(root)
    base = main.parent / f"{main.name}-{short_id(run.id)}-rerun"
    folder, number = base, 1
    while folder.exists():
        number += 1
        folder = base.with_name(f"{base.name}-{number}")
    import io

    target = checkout_run(source, run.id, str(folder), context=context, out=io.StringIO(), say=say)
    say(f"rerunning {run.id} in {target}")
    cwd = run.record.get("cwd")
    where = target / cwd if isinstance(cwd, str) and cwd not in ("", ".") else target
    return [str(arg) for arg in command] + extra, where if where.is_dir() else target, run.id


def _remove_worktree(git: Git, target: Path) -> None:
    with contextlib.suppress(GitFailed):
        git.run("worktree", "remove", "--force", str(target))
    if target.exists():
        shutil.rmtree(target, ignore_errors=True)
    with contextlib.suppress(GitFailed):
        git.run("worktree", "prune")

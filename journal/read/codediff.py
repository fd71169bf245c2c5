"""The code between two recorded states (a commit plus an uncommitted patch each): the commits
from one to the other, and the difference between the exact code of both, read-only.

The user's repository is only read. Building a state needs an index and new objects (the patched
blobs, the trees), and writing an object that git finds already stored *refreshes* the stored
copy's mtime, in alternates too, so borrowing the repository as an alternate object store would
still touch it. Instead each state is built as a *sparse* tree in a scratch object directory
that knows nothing of the repository: only the paths that can differ (those changed between the
two commits and those the patches touch) are copied in, with `pack-objects --stdout` from the
repository and `unpack-objects` into the scratch directory. Paths outside that set are equal on
both sides, so the diff of the sparse trees is the diff of the full ones.

Git runs through `journal.git.Git` (neutral config, no optional locks, timeouts) with the neutral
diff flags, so the user's colour, prefix, external-diff and textconv settings change nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from journal.git import NEUTRAL_DIFF_FLAGS, Git, GitFailed
from journal.text import printable

MAX_COMMITS = 50        # commits listed in each direction; the rest are counted
PATHS_PER_CALL = 500    # pathspecs per ls-tree call, well under the argument size limit
SHOW_FLAGS = ("-r", "-p", "--stat=100,60", "--stat-graph-width=40", "--summary", "-M",
              "-O/dev/null", *NEUTRAL_DIFF_FLAGS)


class NoCode(Exception):
    """The code cannot be compared; the message says why, for the user."""


@dataclass
class State:
    side: str               # "A" or "B"
    commit: str | None      # None: before the first commit
    patch: bytes            # b"": none (clean, or its file is gone)


def compare(root: Path, a: State, b: State, *, excluded: Iterable[str], timeout: float,
            environ: Mapping[str, str], scratch: Path) -> tuple[list[str], bytes]:
    """Lines about the commits between A and B, and the diff from A's code to B's (empty when
    the code is the same). `excluded` are pathspecs left out of the diff (the journal folder).
    Raises NoCode or GitFailed."""
    repo = Git(root, timeout, environ)
    _check_commits(repo, [a, b])
    lines = commits_between(repo, a.commit, b.commit)
    excluded = list(excluded)
    if not a.patch and not b.patch and a.commit and b.commit:
        diff = repo.run("diff-tree", *SHOW_FLAGS, a.commit, b.commit, "--", ".", *excluded)
        return lines, diff
    paths = _paths_that_may_differ(repo, a, b, excluded)
    scratch_git = _scratch(root, timeout, environ, scratch)
    entries = {state.side: _entries(repo, state.commit, paths) for state in (a, b)}
    _copy_blobs(repo, scratch_git, [*entries["A"], *entries["B"]])
    trees = [_tree(scratch_git, scratch, state, entries[state.side], lines) for state in (a, b)]
    diff = scratch_git.run("diff-tree", *SHOW_FLAGS, *trees, "--", ".", *excluded)
    return lines, diff


# -- commits ------------------------------------------------------------------------------------

def _check_commits(repo: Git, states: list[State]) -> None:
    wanted = [state for state in states if state.commit]
    if not wanted:
        return
    answer = repo.run("cat-file", "--batch-check",
                      stdin="".join(f"{state.commit}^{{commit}}\n" for state in wanted).encode())
    for state, line in zip(wanted, answer.decode("utf-8", "replace").splitlines()):
        if line.endswith(" missing"):
            raise NoCode(f"commit {_short(state.commit)} of run {state.side} is not in this "
                         "repository (garbage-collected, or made in another clone): the code "
                         "cannot be compared")


def commits_between(repo: Git, old: str | None, new: str | None) -> list[str]:
    if not old or not new:
        return [] if old == new else ["  one run was made before the first commit"]
    if old == new:
        return ["  same commit"]
    try:
        base = repo.run("merge-base", old, new).decode().strip()
    except GitFailed:
        base = ""          # no common history (git says so with a failing exit status)
    if base == old:
        return _log(repo, "commits from A to B", f"{old}..{new}")
    if base == new:
        return ["  B is not a descendant of A: B's commit is an ancestor of A's",
                *_log(repo, "commits in A, not in B", f"{new}..{old}")]
    if not base:
        return ["  B is not a descendant of A: their commits share no history"]
    return [f"  B is not a descendant of A: they branched at {_short(base)}",
            *_log(repo, "commits only in B", f"{old}..{new}"),
            *_log(repo, "commits only in A", f"{new}..{old}")]


def _log(repo: Git, title: str, span: str) -> list[str]:
    count = int(repo.run("rev-list", "--count", span).strip() or 0)
    output = repo.run("log", "--no-show-signature", "--encoding=UTF-8", "--abbrev=7",
                      "--format=%h %s", f"--max-count={MAX_COMMITS}", span)
    lines = [f"  {title} ({count}):"]
    lines += ["    " + printable(line) for line in output.decode("utf-8", "replace").splitlines()]
    if count > MAX_COMMITS:
        lines.append(f"    ... and {count - MAX_COMMITS} more")
    return lines


def _short(commit: str | None) -> str:
    return printable((commit or "")[:7])


# -- building the two states --------------------------------------------------------------------

def _paths_that_may_differ(repo: Git, a: State, b: State, excluded: list[str]) -> list[str]:
    """Paths changed between the two commits, and the paths either patch touches."""
    paths: set[str] = set()
    commits = [state.commit for state in (a, b) if state.commit]
    if len(commits) == 2 and commits[0] != commits[1]:
        listing = repo.run("diff-tree", "-r", "-z", "--name-only", "--no-renames", *commits,
                           "--", ".", *excluded)
        paths.update(_decode(name) for name in listing.split(b"\0") if name)
    elif len(commits) == 1:     # the other run came before the first commit: all of it differs
        listing = repo.run("ls-tree", "-r", "-z", "--name-only", "--full-tree", commits[0])
        paths.update(_decode(name) for name in listing.split(b"\0") if name)
    for state in (a, b):
        if state.patch:
            paths.update(_patch_paths(repo, state.patch))
    return sorted(paths)


def _patch_paths(repo: Git, patch: bytes) -> set[str]:
    """Every path a patch names (`apply --numstat` only reads the patch)."""
    try:
        output = repo.run("apply", "--numstat", "-z", "-", stdin=patch)
    except GitFailed:
        return set()        # a patch git cannot read: said when it fails to apply
    paths: set[str] = set()
    fields = output.split(b"\0")
    index = 0
    while index < len(fields):
        field = fields[index]
        index += 1
        if not field:
            continue
        name = field.split(b"\t", 2)[2] if field.count(b"\t") >= 2 else b""
        if name:
            paths.add(_decode(name))
        else:               # a rename or copy: the old and new names follow
            paths.update(_decode(part) for part in fields[index:index + 2] if part)
            index += 2
    return paths


def _entries(repo: Git, commit: str | None, paths: list[str]) -> list[bytes]:
    """`ls-tree -z` lines (`mode type oid\\tpath`) of `paths` in `commit`."""
    if not commit or not paths:
        return []
    literal = Git(repo.root, repo.timeout, {**repo.env, "GIT_LITERAL_PATHSPECS": "1"})
    entries: list[bytes] = []
    for start in range(0, len(paths), PATHS_PER_CALL):
        chunk = paths[start:start + PATHS_PER_CALL]
        output = literal.run("ls-tree", "-r", "-z", "--full-tree", commit, "--", *chunk)
        entries += [entry for entry in output.split(b"\0") if entry]
    return entries


def _scratch(root: Path, timeout: float, environ: Mapping[str, str], scratch: Path) -> Git:
    """git for `root` whose index and objects are in `scratch` and see none of the repository's."""
    objects = scratch / "objects"
    objects.mkdir()
    env = {name: value for name, value in environ.items()
           if name not in ("GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_INDEX_FILE")}
    env["GIT_OBJECT_DIRECTORY"] = str(objects)
    return Git(root, timeout, env)


def _copy_blobs(repo: Git, scratch_git: Git, entries: list[bytes]) -> None:
    """The blobs the entries name, copied from the repository into the scratch objects."""
    oids = sorted({entry.split(b"\t", 1)[0].split(b" ")[2] for entry in entries
                   if entry.split(b" ", 2)[1:2] == [b"blob"]})
    if not oids:
        return
    # --window=0: no delta search, the pack only carries the objects across.
    pack = repo.run("pack-objects", "--stdout", "-q", "--window=0", stdin=b"\n".join(oids) + b"\n")
    scratch_git.run("unpack-objects", "-q", stdin=pack)


def _tree(scratch_git: Git, scratch: Path, state: State, entries: list[bytes],
          notes: list[str]) -> str:
    """The sparse tree of one state: its commit's entries, with its patch applied."""
    index_git = Git(scratch_git.root, scratch_git.timeout,
                    {**scratch_git.env, "GIT_INDEX_FILE": str(scratch / f"index-{state.side}")})

    def fill() -> None:
        index_git.run("read-tree", "--empty")
        if entries:
            index_git.run("update-index", "-z", "--index-info", stdin=b"\0".join(entries) + b"\0")

    fill()
    if state.patch:
        try:
            index_git.run("apply", "--cached", "--whitespace=nowarn", "-", stdin=state.patch)
        except GitFailed as exc:
            notes.append(f"  the patch of run {state.side} does not apply "
                         f"({printable(str(exc))}): comparing its commit only")
            fill()
    return index_git.run("write-tree").decode().strip()


def _decode(raw: bytes) -> str:
    return os.fsdecode(raw)

"""Capture the code state a run starts from: commit, branch, dirty files and a patch that
rebuilds them.

Two plain `git` calls through journal.git (this runs before every experiment). The capture is
read-only towards the user's repo (no index, HEAD, branch or work-tree writes:
`GIT_OPTIONAL_LOCKS=0`, and the plumbing `diff-index`, because porcelain `git diff` rewrites the
index when it finds stat-dirty files whatever the lock setting), machine-readable output only
(`-z`), and flags that make the user's git config and environment (colour, prefixes, context size,
external diff, textconv, pagers) unable to change what is captured.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from journal.git import NEUTRAL_DIFF_FLAGS, Git, GitFailed, exclude_pathspec
from journal.record import GitState, Submodule
from journal.store.paths import TEMPLATE_NAME
from journal.text import printable

_DIFF_FLAGS = (
    "-p", "--binary", *NEUTRAL_DIFF_FLAGS, "--no-renames", "--ignore-submodules=all",
    "--full-index", "--unified=3",
)
_SNIFF_BYTES = 8000   # git's own test for binary: a NUL byte in the first 8000 bytes
_SUBMODULE_LINE = re.compile(r"^[ +\-U]([0-9a-f]{40,64}) (.*?)(?: \([^ ]*\))?$")   # (describe)
_IN_PROGRESS = (
    ("MERGE_HEAD", "merge"), ("rebase-merge", "rebase"), ("rebase-apply", "rebase"),
    ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert"), ("BISECT_LOG", "bisect"),
)


@dataclass
class CodeState:
    """What the record's `[git]` table says, the patch bytes, and the lines to tell the user."""

    fields: GitState = field(default_factory=lambda: GitState())
    patch: bytes = b""
    warnings: list[str] = field(default_factory=list)

    @property
    def short_commit(self) -> str | None:
        commit = self.fields.get("commit")
        return commit[:7] if commit else None


def _git_dir(root: Path) -> Path | None:
    """The repository folder for a work tree (`.git`, or where a `.git` file points for linked
    worktrees and submodules)."""
    marker = root / ".git"
    if marker.is_dir():
        return marker
    try:
        text = marker.read_text(encoding="utf-8", errors="surrogateescape").strip()
    except OSError:
        return None
    if text.startswith("gitdir:"):
        return (root / text[len("gitdir:"):].strip()).resolve()
    return None


@dataclass
class _Status:
    commit: str | None = None
    branch: str | None = None
    changed: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    submodule_flags: dict[str, str] = field(default_factory=dict)   # path -> "CMU" flags


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def parse_status(output: bytes) -> _Status:
    """Parse `git status --porcelain=v2 -z --branch`."""
    status = _Status()
    entries = output.split(b"\0")
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if entry.startswith(b"# branch.oid "):
            oid = _decode(entry[13:])
            status.commit = None if oid == "(initial)" else oid
        elif entry.startswith(b"# branch.head "):
            head = _decode(entry[14:])
            status.branch = None if head == "(detached)" else head
        elif entry[:2] in (b"1 ", b"2 ", b"u "):
            fields_count = {b"1 ": 8, b"2 ": 9, b"u ": 10}[entry[:2]]
            parts = entry.split(b" ", fields_count)
            path = _decode(parts[fields_count])
            status.changed.append(path)
            if parts[2].startswith(b"S"):
                status.submodule_flags[path] = _decode(parts[2][1:])
            if entry[:2] == b"2 ":
                index += 1   # the rename's original path follows; --no-renames makes this rare
        elif entry.startswith(b"? "):
            status.untracked.append(_decode(entry[2:]))
    return status


def capture_code_state(
    root: Path,
    journal_dir: Path,
    *,
    untracked_max_bytes: int,
    left_out_globs: Sequence[str],
    timeout: float,
    redact_patch: Callable[[bytes], tuple[bytes, list[str], list[str]]],
    environ: Mapping[str, str],
    own_output: Sequence[str] = (),
) -> CodeState:
    """The code state of the work tree at `root`, before the run starts. Never raises for git
    trouble: what could not be captured is listed in `partial` and explained in `warnings`.
    `own_output`: the files this run's output is redirected to (`> out.txt`), not code."""
    state = CodeState()
    git = Git(root, timeout, environ)
    excluded = exclude_pathspec(root, journal_dir)
    try:
        status = parse_status(git.run(
            "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all",
            "--ignore-submodules=none", "--no-renames", "--", ".", *excluded,
        ))
    except GitFailed as exc:
        state.fields["partial"] = ["status", "patch"]
        state.warnings.append(printable(f"code state not captured: {exc}"))
        return state

    # The template `journal init` put at the root is ours until the user commits it: like
    # `.journal/`, it must not make every run dirty. Once tracked, its changes count as any file's.
    # So is the file `nohup journal new ... > out.txt` writes to: the shell created it for this
    # very run.
    status.untracked = [path for path in status.untracked
                        if path != TEMPLATE_NAME and path not in own_output]
    fields = state.fields
    if status.commit:
        fields["commit"] = status.commit
    if status.branch:
        fields["branch"] = status.branch
    git_dir = _git_dir(root)
    fields.update(_repo_situation(git_dir))
    submodules = _submodules(git, root, status, state) if (root / ".gitmodules").exists() else []
    submodules_dirty = any(sub.get("dirty") for sub in submodules)
    fields["dirty"] = bool(status.changed or status.untracked or submodules_dirty)
    fields["changed"] = status.changed
    fields["untracked"] = status.untracked
    if submodules:
        fields["submodules"] = submodules

    tracked_changes = [path for path in status.changed if path not in status.submodule_flags]
    # Credential files are kept out of the patch when tracked too: a changed .env is no safer
    # for having an older version in git.
    left_out = [path for path in tracked_changes if _matches_any(path, left_out_globs)]
    patch = b""
    if len(tracked_changes) > len(left_out):
        kept_out = [f":(top,exclude,literal){path}" for path in left_out]
        try:
            # `diff-index`, not `diff`: porcelain diff writes a refreshed index to the user's repo.
            base = status.commit or _empty_tree(git)
            patch = git.run("diff-index", *_DIFF_FLAGS, base, "--", ".", *excluded, *kept_out)
        except GitFailed as exc:
            fields.setdefault("partial", []).append("patch")
            state.warnings.append(f"uncommitted changes not captured: {exc}")
    included, untracked_left_out, notes = _untracked_patch(
        root, status.untracked, untracked_max_bytes, left_out_globs
    )
    left_out += untracked_left_out
    patch += included
    if notes:
        state.warnings.append("left out of the patch: " + ", ".join(notes))
    if patch:
        patch, redacted, unmaskable = redact_patch(patch)
        if redacted:
            fields["redacted"] = redacted
            state.warnings.append("secrets masked in the patch of: " + ", ".join(redacted))
        if unmaskable:
            left_out += unmaskable
            state.warnings.append("left out of the patch (a secret where it cannot be masked: "
                                  "on an unchanged line, in a file name or in binary data): "
                                  + ", ".join(unmaskable))
    if left_out:
        fields["left_out"] = left_out
    state.patch = patch
    state.warnings = [printable(line) for line in state.warnings]
    return state


def redirected_output(root: Path) -> list[str]:
    """The work-tree paths (relative to `root`) of the regular files this process's stdout and
    stderr write to; none where /proc cannot say (not Linux)."""
    paths: list[str] = []
    for fd in (1, 2):
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
            paths.append(target.relative_to(root.resolve()).as_posix())
        except (OSError, ValueError):
            continue
    return paths


def _empty_tree(git: Git) -> str:
    """Base for a repo with no commit yet (the id differs between SHA-1 and SHA-256 repos)."""
    return _decode(git.run("hash-object", "-t", "tree", "--stdin", stdin=b"")).strip()


def _linked_worktree_name(git_dir: Path) -> str:
    """A linked worktree's folder name (its `.git/worktrees/<name>/gitdir` names its `.git`
    file), which `list` and `show` give: runs of all worktrees share one journal."""
    try:
        return Path(_decode((git_dir / "gitdir").read_bytes()).strip()).parent.name or "linked"
    except OSError:
        return "linked"


def _repo_situation(git_dir: Path | None) -> GitState:
    """Merge/rebase in progress, linked worktree, shallow clone: facts a reader of the run needs."""
    situation: GitState = {}
    if git_dir is None:
        return situation
    for marker, name in _IN_PROGRESS:
        if (git_dir / marker).exists():
            situation["in_progress"] = name
            break
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        situation["worktree"] = _linked_worktree_name(git_dir)
        try:
            common = (git_dir / _decode(commondir.read_bytes()).strip()).resolve()
        except OSError:
            pass
    if (common / "shallow").exists():
        situation["shallow"] = True
    return situation


def _submodules(git: Git, root: Path, status: _Status, state: CodeState) -> list[Submodule]:
    """Each submodule's checked-out commit and dirtiness: the parent's diff leaves both out."""
    try:
        output = _decode(git.run("submodule", "status", "--recursive"))
    except GitFailed as exc:
        state.warnings.append(f"submodule commits not captured: {exc}")
        state.fields.setdefault("partial", []).append("submodules")
        return []
    flags_of = dict(status.submodule_flags)   # path -> "CMU"; nested ones filled in on demand
    looked_into: set[str] = set()
    submodules: list[Submodule] = []
    for line in output.splitlines():
        match = _SUBMODULE_LINE.match(line)
        if not match:
            continue
        path = match.group(2)
        if path not in flags_of:
            _nested_flags(git, root, path, flags_of, looked_into, state)
        flags = flags_of.get(path, "...")
        entry: Submodule = {"path": path}
        if line.startswith("-"):
            entry["initialized"] = False
        else:
            entry["commit"] = match.group(1)
        entry["dirty"] = flags[1] == "M" or flags[2] == "U"
        if flags[0] == "C" or line.startswith("+"):
            entry["moved"] = True   # checked out at another commit than the parent records
        submodules.append(entry)
        if entry["dirty"]:
            state.warnings.append(f"submodule {path} has uncommitted changes: they are not in the patch")
    return submodules


def _nested_flags(git: Git, root: Path, path: str, flags_of: dict[str, str],
                  looked_into: set[str], state: CodeState) -> None:
    """Flags of a nested submodule, from a status inside the submodule that holds it. Only a
    dirty holder can hold a dirty submodule (git counts nested changes as the holder's), so a
    clean holder costs no git call."""
    holders = [known for known in flags_of if path.startswith(known + "/")]
    if not holders:
        return
    holder = max(holders, key=len)
    if holder in looked_into or not ("M" in flags_of[holder] or "U" in flags_of[holder]):
        return
    looked_into.add(holder)
    try:
        inner = parse_status(git.run(
            "status", "--porcelain=v2", "-z", "--untracked-files=all", "--ignore-submodules=none",
            cwd=root / holder,
        ))
    except GitFailed as exc:
        state.warnings.append(f"submodule {holder} not looked into: {exc}")
        return
    for inner_path, flags in inner.submodule_flags.items():
        flags_of[f"{holder}/{inner_path}"] = flags


def _matches_any(path: str, globs: Sequence[str]) -> bool:
    """Case-insensitive: `server.PEM` is as secret as `server.pem`. A file's name or its whole
    path may match a glob."""
    path = path.lower()
    pattern = _one_pattern(tuple(globs))
    return bool(pattern.match(path.rsplit("/", 1)[-1]) or pattern.match(path))


@functools.lru_cache(maxsize=16)
def _one_pattern(globs: tuple[str, ...]) -> re.Pattern[str]:
    """The globs as one compiled regular expression (fnmatch's translation of each, joined):
    one match a path, not one fnmatch a path and glob (5,000 dirty files x 40 globs)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(glob.lower())})" for glob in globs)
                      or "(?!)")


def _untracked_patch(
    root: Path, untracked: list[str], max_bytes: int, left_out_globs: Sequence[str]
) -> tuple[bytes, list[str], list[str]]:
    """New-file patch sections for untracked text files; the rest named, with reasons for the user."""
    patch = bytearray()
    left_out: list[str] = []
    notes: list[str] = []
    for path in untracked:
        if path.endswith("/"):
            left_out.append(path)
            notes.append(f"{path} (a nested repository)")
            continue
        if _matches_any(path, left_out_globs):
            left_out.append(path)   # credentials: named, never read
            continue
        full = root / os.fsdecode(path.encode("utf-8", "surrogateescape"))
        try:
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                patch += new_file_section(path, os.readlink(full).encode("utf-8", "surrogateescape"),
                                          "120000")
                continue
            if not stat.S_ISREG(info.st_mode):   # a fifo would block the read forever
                left_out.append(path)
                notes.append(f"{path} (not a regular file)")
                continue
            if info.st_size > max_bytes:
                left_out.append(path)
                notes.append(f"{path} (over {max_bytes} bytes)")
                continue
            data = full.read_bytes()
        except OSError as exc:
            left_out.append(path)
            notes.append(f"{path} ({exc.strerror})")
            continue
        if b"\0" in data[:_SNIFF_BYTES]:
            left_out.append(path)
            notes.append(f"{path} (binary)")
            continue
        mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
        patch += new_file_section(path, data, mode)
    return bytes(patch), left_out, notes


def quote_path(path: str) -> bytes:
    """A path as git writes it in patch headers: C-quoted when it holds special bytes."""
    raw = path.encode("utf-8", "surrogateescape")
    if not any(byte < 0x20 or byte >= 0x7F or byte in b'"\\' for byte in raw):
        return raw
    escapes = {0x07: b"\\a", 0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0B: b"\\v", 0x0C: b"\\f",
               0x0D: b"\\r", 0x22: b'\\"', 0x5C: b"\\\\"}
    out = bytearray(b'"')
    for byte in raw:
        if byte in escapes:
            out += escapes[byte]
        elif byte < 0x20 or byte >= 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def _prefixed(prefix: str, path: str) -> bytes:
    quoted = quote_path(path)
    if quoted.startswith(b'"'):
        return b'"' + prefix.encode() + quoted[1:]
    return prefix.encode() + quoted


def new_file_section(path: str, data: bytes, mode: str) -> bytes:
    """A `git diff`-style section creating `path` with `data`; `git apply` rebuilds it exactly."""
    a_path, b_path = _prefixed("a/", path), _prefixed("b/", path)
    out = bytearray(b"diff --git " + a_path + b" " + b_path + b"\n")
    out += b"new file mode " + mode.encode() + b"\n"
    if not data:
        return bytes(out)
    lines = data.split(b"\n")
    ends_with_newline = lines[-1] == b""
    if ends_with_newline:
        lines.pop()
    out += b"--- /dev/null\n+++ " + b_path + b"\n"
    out += b"@@ -0,0 +1" + (b"," + str(len(lines)).encode() if len(lines) != 1 else b"") + b" @@\n"
    for line in lines:
        out += b"+" + line + b"\n"
    if not ends_with_newline:
        out += b"\\ No newline at end of file\n"
    return bytes(out)

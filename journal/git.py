"""The one way journal runs git: plain subprocesses with the user's config and environment kept
out of what we parse, machine-readable output, a timeout, and nothing left running.

Every git call of journal goes through `Git.run`: the capture before each run (capture/gitstate),
the code comparison of `journal diff`, the commits of an export, `journal checkout` and `journal
sync`. Plain `git`, not GitPython: `journal new` runs before every experiment, and two git
processes cost a third of GitPython's import alone; and `journal sync` must cost at most twice a
`git fetch` that brings nothing (about 15 ms from a local remote), while importing GitPython
takes 160 ms (measured on the 2-core machine of bench/, 2026-11-30). DESIGN.md names GitPython
for sync and checkout; these figures are why neither uses it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

# Config that would change the bytes we parse or the patch we write.
_NEUTRAL_CONFIG = (
    "-c", "core.quotepath=on", "-c", "color.ui=never", "-c", "diff.noprefix=false",
    "-c", "diff.mnemonicPrefix=false", "-c", "diff.suppressBlankEmpty=false",
    "-c", "diff.relative=false", "-c", "status.relativePaths=false",
)
# Flags that keep the user's diff settings (colour, external diff, textconv, prefixes, relative
# paths) out of any diff we read or show.
NEUTRAL_DIFF_FLAGS = (
    "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative", "--src-prefix=a/",
    "--dst-prefix=b/",
)
# Environment that would change the bytes git writes (GIT_DIFF_OPTS=-u0 makes a patch that
# `git apply` refuses, and beats --unified); the rest of the user's environment is kept.
_DROPPED_ENV = ("GIT_DIFF_OPTS", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_TRACE", "GIT_TRACE2",
                "GIT_TRACE2_EVENT", "GIT_TRACE2_PERF", "GIT_FLUSH")


class GitFailed(Exception):
    """git could not be started, failed, or took too long; the message says which."""


class Git:
    """git in one work tree, with a timeout for every call. `prompts`: git may ask for a
    password or passphrase on the terminal (`journal sync` reaching a remote with the user's
    own credentials); every other call runs in its own session and never asks."""

    def __init__(self, root: Path, timeout: float, environ: Mapping[str, str], *,
                 prompts: bool = False) -> None:
        self.root = root
        self.timeout = timeout
        self.prompts = prompts
        self.env = {
            **{name: value for name, value in environ.items() if name not in _DROPPED_ENV},
            "GIT_OPTIONAL_LOCKS": "0",      # status must not refresh (write) the user's index
            "GIT_PAGER": "cat",
            "LC_ALL": "C",
        }
        if not prompts:
            self.env["GIT_TERMINAL_PROMPT"] = "0"

    def run(self, *args: str, stdin: bytes | None = None, cwd: Path | None = None) -> bytes:
        """git's output; GitFailed when it cannot start, fails or outlives the timeout."""
        returncode, stdout, stderr = self.attempt(*args, stdin=stdin, cwd=cwd)
        if returncode != 0:
            raise GitFailed(f"`git {_command(args)}` failed: {first_error(stderr, returncode)}")
        return stdout

    def attempt(self, *args: str, stdin: bytes | None = None, cwd: Path | None = None
                ) -> tuple[int, bytes, bytes]:
        """git's exit status, output and error output (for a caller that reads why it failed);
        GitFailed when it cannot start or outlives the timeout. git runs in its own process
        group, so on a timeout (or Ctrl-C) everything it started is killed too, not left running
        in the user's repo."""
        try:
            process = subprocess.Popen(
                ["git", *_NEUTRAL_CONFIG, *args], cwd=cwd or self.root, env=self.env,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=not self.prompts,
            )
        except OSError as exc:
            raise GitFailed(f"cannot run git: {exc.strerror}") from exc
        try:
            stdout, stderr = process.communicate(stdin, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(process)
            raise GitFailed(f"`git {_command(args)}` took longer than {self.timeout:g}s") from exc
        except BaseException:
            _kill_group(process)
            raise
        return process.returncode, stdout, stderr


def _command(args: tuple[str, ...]) -> str:
    """The git command in `args` (after any `-c name=value`), for a message."""
    words = iter(args)
    for word in words:
        if word == "-c":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return args[0] if args else "git"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:                   # it shares our group (it may prompt): only git itself
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    process.wait()


def first_error(stderr: bytes, returncode: int) -> str:
    """The line that says what went wrong: the first `fatal:`/`error:` line, as warnings and trace
    output may come before it."""
    text = stderr.decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[0] if lines else f"exit status {returncode}"


def exclude_pathspec(root: Path, journal_dir: Path) -> list[str]:
    """`.journal/` never counts as a change (records must not make the next run dirty): neither
    the journal in use (`JOURNAL_DIR` may put it anywhere in the work tree) nor `.journal/` at
    the root."""
    folders = [".journal"]
    try:
        relative = journal_dir.resolve().relative_to(root.resolve())
    except ValueError:
        relative = None
    if relative is not None and relative.parts and relative.as_posix() not in folders:
        folders.append(relative.as_posix())
    return [f":(top,exclude,literal){folder}" for folder in folders]


# -- tree ids of a captured state (schema 2's `git.tree`) ---------------------------------------
# Built in a scratch index, never the user's, and what it writes (blobs, trees) goes to a scratch
# object folder that borrows the repository's objects: the user's repository is read, never
# written. The capture makes it from the commit and the patch after the child started (it needs no
# work tree); `journal checkout` makes it again from the commit and the patch it applied: equal
# ids mean neither changed since the run, so the rebuilt code is the captured code.

def tree_with_patch(git: Git, commit: str, patch: bytes) -> str:
    """The tree of `commit` with `patch` applied (untracked files it holds included)."""
    with _Scratch(git, git.root, room=len(patch)) as scratch:
        scratch.run("read-tree", commit)
        if patch:
            scratch.run("apply", "--cached", "--binary", "--whitespace=nowarn", "-", stdin=patch)
        return scratch.run("write-tree").decode().strip()


class _Scratch:
    """`git` in `folder` with a scratch index and a scratch object folder, removed afterwards."""

    def __init__(self, git: Git, folder: Path, room: int = 0) -> None:
        self.git = git
        self.folder = folder
        self.room = room            # bytes the objects may take: about the patch's size

    def __enter__(self) -> Git:
        import tempfile

        objects = self.git.run("rev-parse", "--git-path", "objects", cwd=self.folder)
        shared = (self.folder / os.fsdecode(objects.strip())).resolve()
        self.scratch = tempfile.TemporaryDirectory(prefix="journal-tree-",
                                                   dir=_memory_folder(self.room))
        own = Path(self.scratch.name)
        (own / "objects").mkdir()
        scratch = Git(self.folder, self.git.timeout, self.git.env)
        alternates = self.git.env.get("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        scratch.env = {**self.git.env, "GIT_INDEX_FILE": str(own / "index"),
                       "GIT_OBJECT_DIRECTORY": str(own / "objects"),
                       # no hook of the user's for a scratch index (post-index-change)
                       "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath",
                       "GIT_CONFIG_VALUE_0": os.devnull,
                       "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(
                           filter(None, (str(shared), alternates)))}
        return scratch

    def __exit__(self, *_exc: object) -> None:
        self.scratch.cleanup()


MEMORY_FOLDER = "/dev/shm"


def _memory_folder(room: int) -> str | None:
    """A folder in memory for scratch objects when there is plenty of room in it: a patch of
    5,000 new files is 5,000 loose objects, which a disk's file system creates and deletes in
    6 s of system time and a tmpfs in 0.7 s. None (the usual temp folder) otherwise, or where
    there is no such folder (a container's 64 MB /dev/shm fills: room for 4x the patch, and
    64 MB to spare, is asked)."""
    try:
        status = os.statvfs(MEMORY_FOLDER)
    except OSError:
        return None
    free = status.f_bavail * status.f_frsize
    writable = os.access(MEMORY_FOLDER, os.W_OK | os.X_OK)
    return MEMORY_FOLDER if writable and free >= 4 * room + (64 << 20) else None

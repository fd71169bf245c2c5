"""Shared fixtures: a sealed git environment, real repositories in tmp dirs, and the real CLI.

The tests run the working tree's code, never an installed copy: this folder's parent comes first
on `sys.path` here, and every process a test starts (`python -m journal`, a training script that
imports journal, a child of `journal new`) gets it first on `PYTHONPATH`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from journal.store.config import DEFAULT_ENV_ALLOW  # noqa: E402  (after the path is set)

_SEALED_GIT = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_AUTHOR_DATE": "2026-11-01T12:00:00+09:00",
    "GIT_COMMITTER_DATE": "2026-11-01T12:00:00+09:00",
    "GIT_TERMINAL_PROMPT": "0",
}


@pytest.fixture(autouse=True)
def sealed_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every test gets its own HOME and no system git config, so the user's config cannot leak in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name, value in _SEALED_GIT.items():
        monkeypatch.setenv(name, value)
    for name in ("JOURNAL_DIR", "JOURNAL_RUN_ID", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
                 "NO_COLOR", "PAGER", "LESS"):
        monkeypatch.delenv(name, raising=False)
    # No pager unless a test asks for one: a test's pseudo-terminal is nobody's keyboard.
    monkeypatch.setenv("JOURNAL_PAGER", "cat")
    # The recorded environment must not depend on the host (CI runs inside an activated venv).
    for name in DEFAULT_ENV_ALLOW:
        monkeypatch.delenv(name, raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]))
    return dict(os.environ)


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode("utf-8", "surrogateescape")


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for name, text in (files or {"train.py": "print('hello')\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one commit holding train.py."""
    return make_repo(tmp_path / "repo")


def journal(*args: str | bytes, cwd: Path, env: Mapping[str, str] | None = None,
            input: bytes | None = None, timeout: float = 60,
            entry: Callable[[list[str]], object] | None = None
            ) -> subprocess.CompletedProcess[bytes]:
    """`journal ARGS` through the real entry point (journal.cli.main; `entry` for another), in
    this process, with real file descriptors: stdin (`input`, else empty), stdout and stderr are
    files at fds 0, 1 and 2 (not terminals, as with a pipe), which a command `journal new` starts
    writes to as well.
    The environment and working directory are the command's for the call, and everything is put
    back after it."""
    argv = [os.fsdecode(arg) for arg in args]     # bytes as a process gets them: surrogateescape
    with _as_a_process(cwd, env, input, timeout) as (out, err):
        code = _exit_code_of(argv, entry)
    return subprocess.CompletedProcess(["journal", *argv], code, out.getvalue(), err.getvalue())


def journal_process(*args: str, cwd: Path, env: Mapping[str, str] | None = None,
                    input: bytes | None = None, timeout: float = 60
                    ) -> subprocess.CompletedProcess[bytes]:
    """`python -m journal ARGS` in a process of its own, for what only a process shows: what
    start-up imports, signals, real concurrency."""
    return subprocess.run([sys.executable, "-m", "journal", *args], cwd=cwd, env=env,
                          input=input, capture_output=True, timeout=timeout)


def _exit_code_of(argv: list[str], entry: Callable[[list[str]], object] | None) -> int:
    from journal.cli.main import main

    try:
        (entry or main)(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


class _Captured:
    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.data = b""

    def getvalue(self) -> bytes:
        return self.data


@contextlib.contextmanager
def _as_a_process(cwd: Path, env: Mapping[str, str] | None, input: bytes | None,
                  timeout: float) -> Iterator[tuple[_Captured, _Captured]]:
    out, err = _Captured(), _Captured()
    stdin = tempfile.TemporaryFile()
    stdin.write(input or b"")
    stdin.seek(0)
    saved_fds = {fd: os.dup(fd) for fd in (0, 1, 2)}
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_env, saved_cwd, gc_was_on = dict(os.environ), os.getcwd(), gc.isenabled()

    def too_long(_signum: int, _frame: object) -> None:
        raise subprocess.TimeoutExpired(["journal"], timeout)

    previous_alarm = signal.signal(signal.SIGALRM, too_long)
    # What a command sets for itself (journal new ignores these once its record is final, as it
    # is about to exit) is the command's: this process gets its own back.
    saved_handlers = {sig: signal.getsignal(sig)
                      for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                                  signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE)}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(stdin.fileno(), 0)
        os.dup2(out.file.fileno(), 1)
        os.dup2(err.file.fileno(), 2)
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if os.environ.get("TZ") != saved_env.get("TZ"):
            time.tzset()
        os.chdir(cwd)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        yield out, err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        for sig, handler in saved_handlers.items():
            signal.signal(sig, handler)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for fd, saved in saved_fds.items():
            os.dup2(saved, fd)
            os.close(saved)
        os.chdir(saved_cwd)
        tz_changed = os.environ.get("TZ") != saved_env.get("TZ")
        os.environ.clear()
        os.environ.update(saved_env)
        if tz_changed:
            time.tzset()
        if gc_was_on:
            gc.enable()
        for captured in (out, err):
            captured.file.seek(0)
            captured.data = captured.file.read()
            captured.file.close()
        stdin.close()


def records(journal_dir: Path) -> list[dict[str, Any]]:
    """Every record under journal_dir/runs, parsed with the stdlib, oldest first."""
    files = sorted(journal_dir.glob("runs/**/*.toml"), key=lambda p: p.name)
    return [tomllib.loads(path.read_text(encoding="utf-8")) for path in files]


def only_record(journal_dir: Path) -> dict[str, Any]:
    found = records(journal_dir)
    assert len(found) == 1, f"expected one record, found {len(found)}"
    return found[0]

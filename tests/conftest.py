"""Shared fixtures: a sealed git environment, real repositories in tmp dirs, and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from journal.store.config import DEFAULT_ENV_ALLOW

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
    for name in ("JOURNAL_DIR", "JOURNAL_RUN_ID", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    # The recorded environment must not depend on the host (CI runs inside an activated venv).
    for name in DEFAULT_ENV_ALLOW:
        monkeypatch.delenv(name, raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
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


def journal(*args: str, cwd: Path, env: dict[str, str] | None = None, input: bytes | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run the real CLI in a subprocess (real fds, real signals)."""
    return subprocess.run(
        [sys.executable, "-m", "journal", *args], cwd=cwd, env=env, input=input,
        capture_output=True, timeout=timeout,
    )


def records(journal_dir: Path) -> list[dict[str, Any]]:
    """Every record under journal_dir/runs, parsed with the stdlib, oldest first."""
    files = sorted(journal_dir.glob("runs/**/*.toml"), key=lambda p: p.name)
    return [tomllib.loads(path.read_text(encoding="utf-8")) for path in files]


def only_record(journal_dir: Path) -> dict[str, Any]:
    found = records(journal_dir)
    assert len(found) == 1, f"expected one record, found {len(found)}"
    return found[0]

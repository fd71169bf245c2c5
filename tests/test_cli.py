"""The command line as a whole: help, version, errors, and what start-up imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from conftest import journal
from journal import __version__
from journal.cli import app

HEAVY = ("git", "tomlkit", "markdown_it", "rich", "pydantic")


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"journal {__version__}\n"


def test_every_command_has_help_with_an_example() -> None:
    for command in ("init", "new"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "Example: journal " + command in result.stdout


def test_unknown_option_is_an_error_without_traceback(repo: Path) -> None:
    done = journal("new", "--bogus", cwd=repo)
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr and b"No such option" in done.stderr


def test_bad_metric_is_one_line(repo: Path) -> None:
    done = journal("new", "-m", "acc", cwd=repo)
    assert done.returncode == 2
    assert done.stderr == b"journal: error: --metric expects NAME=VALUE, got 'acc'\n"


def _modules_loaded_by(*args: str, cwd: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "journal", *args], cwd=cwd,
                          capture_output=True, check=True)
    names = set()
    for line in done.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_start_up_imports_nothing_heavy(repo: Path) -> None:
    for args in (("--version",), ("new", "-n", "x"), ("new", "--", "true"), ("--help",)):
        loaded = _modules_loaded_by(*args, cwd=repo)
        assert "journal" in loaded
        assert loaded.isdisjoint(HEAVY), (args, loaded & set(HEAVY))

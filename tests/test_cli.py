"""The command line as a whole: help, version, errors, and what start-up imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import journal, records
from typer.testing import CliRunner

from journal import __version__
from journal.cli.app import app

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
    assert done.stderr == b"journal: error: no such option: --bogus\nhint: see `journal new --help`\n"


@pytest.mark.parametrize(("args", "says"), [
    (("list", "-n", "abc"), "invalid value for '-n' / '--limit': 'abc' is not a valid int range"),
    (("diff", "@"), "missing argument 'REF2'"),
    (("bogus",), "no such command 'bogus'"),
    (("show", "--format"), "option '--format' requires an argument"),
])
def test_usage_errors_are_one_line_and_a_hint(repo: Path, args: tuple[str, ...], says: str) -> None:
    done = journal(*args, cwd=repo)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2
    assert lines[0] == f"journal: error: {says}", lines
    assert len(lines) == 2 and lines[1].startswith("hint: see `journal"), lines


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


def test_plain_journal_new_does_not_import_typer(repo: Path) -> None:
    for args in (("new", "-n", "x", "-t", "a", "--", "true"), ("new", "-q", "true"), ("new", "-m", "a=1")):
        assert "typer" not in _modules_loaded_by(*args, cwd=repo), args
    # Help and malformed options go to typer, which owns those messages.
    assert "typer" in _modules_loaded_by("new", "--help", cwd=repo)


FAST_AND_TYPER_CASES = [
    ["-n", "why", "-t", "a", "--tag", "b", "-m", "acc=1.5", "--param=lr=3e-4", "--", "true", "--lr", "1"],
    ["--note=x=y", "-q", "-tfoo", "-p", "k=v", "true", "-n", "not-ours"],
    ["-n", "-dash-note", "--", "sh", "-c", "exit 0"],
    ["-m", "loss=0.25", "-n", "note only"],
]


@pytest.mark.parametrize("args", FAST_AND_TYPER_CASES)
def test_the_fast_reader_and_typer_read_new_the_same_way(tmp_path: Path, args: list[str]) -> None:
    """journal.cli.new reads plain `journal new` lines without typer; both must record the same."""
    from conftest import make_repo, records

    fast_repo = make_repo(tmp_path / "fast", {"a.txt": "a\n"})
    typer_repo = make_repo(tmp_path / "typer", {"a.txt": "a\n"})
    done = journal("new", *args, cwd=fast_repo)
    assert done.returncode == 0, done.stderr
    from journal.cli.app import run_app

    via_typer = journal("new", *args, cwd=typer_repo, entry=run_app)
    assert via_typer.returncode == 0, via_typer.stderr
    fields = ("note", "tags", "params", "metrics", "command", "status")
    fast, slow = records(fast_repo / ".journal")[0], records(typer_repo / ".journal")[0]
    assert {name: fast.get(name) for name in fields} == {name: slow.get(name) for name in fields}


def test_the_clock_is_injectable(repo: Path) -> None:
    """JOURNAL_NOW fixes every command's "now": a run's start and end, an amendment's time,
    `list`'s relative times and `export`'s range; a time that cannot be read is one error."""
    import datetime as dt

    from readkit import cli, clock_at

    moment = dt.datetime(2026, 11, 28, 16, 42, 7, 123000, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    env = {**os.environ, **clock_at(moment)}
    assert journal("new", "-q", "-n", "fixed", "--", "true", cwd=repo, env=env).returncode == 0
    record = records(repo / ".journal")[0]
    assert record["started"] == record["ended"] == moment
    assert record["id"].startswith("20261128-074207.123-")
    assert journal("note", "@", "later", cwd=repo, env=env).returncode == 0
    assert records(repo / ".journal")[0]["amendments"][0]["at"] == moment
    later = clock_at(moment + dt.timedelta(hours=3))
    assert cli("list", cwd=repo, env=later).lines[0].split()[1] == "3h"
    week = cli("export", "--week", cwd=repo, env=later).out
    assert "2026-11-23" in week and "fixed" in week
    bad = journal("list", cwd=repo, env={**os.environ, "JOURNAL_NOW": "tuesday-ish"})
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("journal: error: JOURNAL_NOW='tuesday-ish' is not a time")


def test_version_is_answered_before_anything_else_loads(repo: Path) -> None:
    loaded = _modules_loaded_by("--version", cwd=repo)
    # (pathlib is the editable install's finder's, not journal's)
    assert {"typer", "typing", "dataclasses", "inspect", "json"}.isdisjoint(loaded), loaded
    done = journal("--version", cwd=repo)
    assert done.returncode == 0 and done.stdout.decode().startswith("journal ")


def test_a_command_builds_only_its_own_options_and_help_still_lists_them_all(repo: Path
                                                                            ) -> None:
    listed = journal("--help", cwd=repo).stdout.decode()
    for name in ("init", "new", "list", "show", "grep", "export", "plot", "sync"):
        assert f" {name} " in listed, name
    assert b"--limit" in journal("list", "--help", cwd=repo).stdout
    wrong = journal("lisst", cwd=repo)
    assert wrong.returncode == 2 and b"lisst" in wrong.stderr
    from journal.cli.app import app
    assert len(app.registered_commands) > 10        # the app is whole again after a command

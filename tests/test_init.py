"""`journal init` and where the journal folder is found."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from conftest import git, journal, only_record, records
from typer.testing import CliRunner

from journal.cli.app import app
from journal.store.starter import default_template


def test_init_creates_the_folder_config_and_template(repo: Path) -> None:
    done = journal("init", cwd=repo)
    assert done.returncode == 0, done.stderr
    jdir = repo / ".journal"
    assert sorted(p.name for p in jdir.iterdir()) == [".gitignore", "config.toml", "logs", "patches", "runs"]
    assert tomllib.loads((jdir / "config.toml").read_text()) == {"capture": {}, "redact": {}, "env": {}, "sync": {}}
    assert "# untracked_max_bytes = 1048576" in (jdir / "config.toml").read_text()
    assert (repo / ".journal-template.md").read_text() == default_template()
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        f"journal: created {jdir / 'config.toml'}",
        f"journal: created {jdir / '.gitignore'}",
        f"journal: created {repo / '.journal-template.md'}",
    ]


def test_init_never_overwrites_a_users_files(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text("[capture]\ngit_timeout = 3\n")
    (repo / ".journal-template.md").write_text("# my template\n")
    done = journal("init", cwd=repo)
    assert done.returncode == 0
    assert (repo / ".journal" / "config.toml").read_text() == "[capture]\ngit_timeout = 3\n"
    assert (repo / ".journal-template.md").read_text() == "# my template\n"
    assert f"journal: kept existing {repo / '.journal-template.md'}" in done.stderr.decode()


def test_init_from_a_subdirectory_uses_the_work_tree_root(repo: Path) -> None:
    sub = repo / "a" / "b"
    sub.mkdir(parents=True)
    assert journal("init", cwd=sub).returncode == 0
    assert (repo / ".journal" / "config.toml").is_file()
    assert (repo / ".journal-template.md").is_file()
    assert not (sub / ".journal").exists()


def test_packaged_template_matches_the_repo_copy() -> None:
    root = Path(__file__).resolve().parents[1]
    assert (root / ".journal-template.md").read_text() == default_template()


def test_outside_git_the_nearest_ancestor_journal_is_used(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".journal").mkdir(parents=True)
    deep = project / "x" / "y"
    deep.mkdir(parents=True)
    done = journal("new", "-n", "outside git", "--", "true", cwd=deep)
    assert done.returncode == 0, done.stderr
    assert b"not in a git repository" not in done.stderr       # a journal that exists: quiet
    record = only_record(project / ".journal")
    assert "git" not in record
    assert record["cwd"] == "x/y"
    assert record["id"].split("-")[2] == "nocommit"


def test_outside_git_without_a_journal_the_current_directory_gets_one(tmp_path: Path) -> None:
    first = journal("new", "-n", "here", cwd=tmp_path)
    assert first.returncode == 0 and only_record(tmp_path / ".journal")["note"] == "here"
    said = [line for line in first.stderr.decode().splitlines() if "git repository" in line]
    assert said == [f"journal: not in a git repository: the journal is {tmp_path / '.journal'} "
                    "(no code state is recorded; JOURNAL_DIR chooses another folder)"]
    second = journal("new", "-n", "again", "--", "true", cwd=tmp_path)
    assert second.returncode == 0 and b"git repository" not in second.stderr    # said once


def test_init_honours_journal_dir(tmp_path: Path, repo: Path) -> None:
    target = tmp_path / "elsewhere" / "j"
    result = CliRunner().invoke(app, ["init"], env={**os.environ, "JOURNAL_DIR": str(target)})
    assert result.exit_code == 0
    assert (target / "config.toml").is_file()


def test_journal_folder_is_not_a_change_after_init(repo: Path) -> None:
    assert journal("init", cwd=repo).returncode == 0
    git(repo, "add", ".journal-template.md")
    git(repo, "commit", "-q", "-m", "template")
    assert journal("new", "-n", "clean", cwd=repo).returncode == 0
    record = only_record(repo / ".journal")
    assert record["git"]["dirty"] is False and "patch" not in record["git"]


def test_the_template_init_wrote_is_not_a_change_until_it_is_tracked(repo: Path) -> None:
    assert journal("init", cwd=repo).returncode == 0
    assert journal("new", "-n", "right after init", cwd=repo).returncode == 0
    git_fields = only_record(repo / ".journal")["git"]
    assert git_fields["dirty"] is False and git_fields["untracked"] == []
    # Committed, it is the user's file: an edit to it is a change like any other.
    git(repo, "add", ".journal-template.md")
    git(repo, "commit", "-q", "-m", "template")
    (repo / ".journal-template.md").write_text("# my template\n")
    assert journal("new", "-n", "edited", cwd=repo).returncode == 0
    edited = [r for r in records(repo / ".journal") if r["note"] == "edited"][0]["git"]
    assert edited["dirty"] is True and edited["changed"] == [".journal-template.md"]


def test_bad_config_value_names_the_setting(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text("[capture]\nuntracked_max_byte = 5\n")
    done = journal("new", "-n", "x", cwd=repo)
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert lines[0].endswith("unknown setting capture.untracked_max_byte")
    assert lines[1] == "hint: known: untracked_max_bytes, git_timeout, left_out, python_hook"


def test_journal_new_without_init_still_keeps_scratch_files_out_of_git(repo: Path) -> None:
    assert journal("new", "-n", "no init", cwd=repo).returncode == 0
    ignore = repo / ".journal" / ".gitignore"
    assert "*.lock" in ignore.read_text() and "*.tmp" in ignore.read_text()
    (repo / ".journal" / "x.lock").write_text("")
    assert "x.lock" not in git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored=no")
    ignore.write_text("# mine\n")
    assert journal("new", "-n", "again", cwd=repo).returncode == 0
    assert ignore.read_text() == "# mine\n"           # a user's file is never rewritten

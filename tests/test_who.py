"""Who ran a run: `user`, as git would name the author, else the login name."""

from __future__ import annotations

from pathlib import Path

from conftest import journal, only_record

from journal.capture.who import run_user


def test_the_author_email_from_the_environment_then_the_configs_then_the_login(
        tmp_path: Path) -> None:
    repo, home = tmp_path / "repo", tmp_path / "home"
    (repo / ".git").mkdir(parents=True)
    home.mkdir()
    bare = {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "LOGNAME": "login-name"}
    assert run_user(bare, repo) == "login-name"
    (home / ".gitconfig").write_text("[core]\n\teditor = vi\n[user]\n\tname = Ana\n"
                                     "\temail = \"ana.global@lab.org\"  # work\n")
    assert run_user(bare, repo) == "ana.global"
    (repo / ".git" / "config").write_text("[user] email = ana.repo@lab.org\n")
    assert run_user(bare, repo) == "ana.repo"
    assert run_user({**bare, "GIT_AUTHOR_EMAIL": "override@x.org"}, repo) == "override"
    assert run_user({**bare, "GIT_CONFIG_GLOBAL": str(tmp_path / "none")}, None) == "login-name"


def test_a_run_records_who_ran_it(repo: Path) -> None:
    done = journal("new", "-n", "who", cwd=repo, env={"GIT_AUTHOR_EMAIL": "bob@example.org"})
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["user"] == "bob"
    shown = journal("show", "@", cwd=repo)
    assert b"by `bob`" in shown.stdout

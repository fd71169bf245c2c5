"""`journal export --vault DIR`: one note a run, one a week, for Obsidian or Logseq; rewritten
only where journal wrote it and nobody edited it since."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml
from conftest import journal, records


def week_of_runs(repo: Path) -> list[str]:
    for note, args in (("Adam instead of SGD", ("-m", "acc=82.5", "-p", "lr=3e-4", "--", "true")),
                       ("idea: warm-up", ()), ("Bigger batch [test] | b", ("--", "false"))):
        journal("new", "-n", note, "-t", "sweep", *args, cwd=repo)
    return [run["id"] for run in sorted(records(repo / ".journal"), key=lambda r: r["started"])]


def test_a_vault_holds_a_note_a_run_and_a_note_a_week(repo: Path, tmp_path: Path) -> None:
    ids = week_of_runs(repo)
    vault = tmp_path / "vault"
    done = journal("export", "--vault", str(vault), cwd=repo)
    assert done.returncode == 0, done.stderr
    assert b"4 note(s) written, 0 unchanged, 0 skipped" in done.stderr
    note = (vault / "runs" / f"{ids[0]}.md").read_text()
    front = yaml.safe_load(note.split("---\n")[1])
    assert front["status"] == "finished" and front["metric_acc"] == 82.5
    assert front["param_lr"] == 0.0003 and front["tags"] == ["sweep"]
    assert "# Adam instead of SGD" in note
    assert yaml.safe_load((vault / "runs" / f"{ids[1]}.md").read_text().split("---\n")[1])[
        "status"] == "note"
    week = dt.date.today().isocalendar()
    week_note = (vault / "weeks" / f"{week[0]}-W{week[1]:02d}.md").read_text()
    assert yaml.safe_load(week_note.split("---\n")[1]) == {
        "week": f"{week[0]}-W{week[1]:02d}", "runs": 2, "notes": 1, "tags": ["journal"]}
    assert f"- ✓ [[runs/{ids[0]}|Adam instead of SGD]]" in week_note
    assert f"- ✎ [[runs/{ids[1]}|idea: warm-up]]" in week_note
    assert f"- ✗ [[runs/{ids[2]}|Bigger batch (test) / b]]" in week_note


def test_writing_again_rewrites_only_what_changed_and_nothing_of_the_users(
        repo: Path, tmp_path: Path) -> None:
    ids = week_of_runs(repo)
    vault = tmp_path / "vault"
    assert journal("export", "--vault", str(vault), cwd=repo).returncode == 0
    again = journal("export", "--vault", str(vault), cwd=repo)
    assert b"0 note(s) written, 4 unchanged, 0 skipped" in again.stderr
    edited = vault / "runs" / f"{ids[0]}.md"
    edited.write_text(edited.read_text() + "\nmy own thoughts\n")
    mine = vault / "runs" / "my-summary.md"
    mine.write_text("mine\n")
    os.remove(vault / "runs" / f"{ids[2]}.md")                    # written again
    assert journal("note", ids[0], "amended", cwd=repo).returncode == 0
    assert journal("note", ids[1], "amended too", cwd=repo).returncode == 0
    done = journal("export", "--vault", str(vault), cwd=repo)
    assert done.returncode == 0
    err = done.stderr.decode()
    assert f"skipped runs/{ids[0]}.md: edited since journal wrote it" in err
    assert "2 note(s) written, 1 unchanged, 1 skipped" in err
    assert edited.read_text().endswith("my own thoughts\n")       # the user's edit kept
    assert mine.read_text() == "mine\n"
    assert "amended too" in (vault / "runs" / f"{ids[1]}.md").read_text()
    assert (vault / "runs" / f"{ids[2]}.md").exists()


def test_a_file_journal_did_not_write_is_never_touched(repo: Path, tmp_path: Path) -> None:
    ids = week_of_runs(repo)
    vault = tmp_path / "vault"
    (vault / "runs").mkdir(parents=True)
    theirs = vault / "runs" / f"{ids[0]}.md"
    theirs.write_text("someone else's note\n")
    done = journal("export", "--vault", str(vault), cwd=repo)
    assert done.returncode == 0
    assert f"skipped runs/{ids[0]}.md: journal did not write it".encode() in done.stderr
    assert theirs.read_text() == "someone else's note\n"
    bad = journal("export", "--vault", str(vault), "-o", "x.md", cwd=repo)
    assert bad.returncode == 2 and b"takes no -o" in bad.stderr
    (tmp_path / "file").write_text("x")
    bad = journal("export", "--vault", str(tmp_path / "file"), cwd=repo)
    assert bad.returncode == 2 and b"is not a folder" in bad.stderr


def test_a_week_note_lists_its_whole_week_and_bad_vaults_are_one_line(
        repo: Path, tmp_path: Path) -> None:
    monday = dt.datetime(2026, 11, 23, 9, tzinfo=dt.timezone.utc)
    for day, note in ((0, "monday run"), (3, "thursday run")):
        env = {**os.environ, "JOURNAL_NOW": (monday + dt.timedelta(days=day)).isoformat()}
        assert journal("new", "-n", note, "--", "true", cwd=repo, env=env).returncode == 0
    vault = tmp_path / "vault"
    thursday = {**os.environ, "JOURNAL_NOW": (monday + dt.timedelta(days=3, hours=1)).isoformat()}
    for since in ("2026-11-20", "2026-11-26"):            # the second range covers Thursday only
        done = journal("export", "--vault", str(vault), "--since", since, cwd=repo, env=thursday)
        assert done.returncode == 0, done.stderr
        week = (vault / "weeks" / "2026-W48.md").read_text()
        assert "monday run" in week and "thursday run" in week
    assert journal("export", "--vault", "", cwd=repo).returncode == 2
    fifo = tmp_path / "fifo-vault"
    fifo.mkdir()
    os.mkfifo(fifo / ".journal-vault.json")
    done = journal("export", "--vault", str(fifo), "--since", "2026-11-20", cwd=repo, env=thursday,
                   timeout=20)
    assert done.returncode == 2 and b"is not journal's manifest" in done.stderr

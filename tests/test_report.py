"""The final report: the block `journal new` prints when a run ends, ready to paste into notes."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import journal, only_record

from journal.render.report import final_report
from journal.text import human_duration

PY = sys.executable
JST = dt.timezone(dt.timedelta(hours=9))
RUN_ID = "20261128-074207.123-9ac7188-k3f9qa"


def full_record() -> dict[str, Any]:
    return {
        "schema": 1,
        "id": RUN_ID,
        "note": "MLPのレイヤ数を3に増やしてみる\nsecond line",
        "tags": ["mlp", "mode3"],
        "status": "finished",
        "started": dt.datetime(2026, 11, 28, 16, 42, 7, 123000, tzinfo=JST),
        "ended": dt.datetime(2026, 11, 28, 20, 12, 19, 0, tzinfo=JST),
        "duration": 12612.4,
        "exit_code": 0,
        "command": ["python", "train_my_model.py", "--mode", "3", "--note", "two words"],
        "git": {"commit": "9ac7188" + "0" * 33, "branch": "main", "dirty": True},
        "metrics": {"Hoge1 Acc": 82.476, "Hoge2 Acc": 71.46, "epochs": 25},
        "log": {"path": f"logs/{RUN_ID}.log", "bytes": 10},
    }


def test_the_block_for_a_finished_run() -> None:
    assert final_report(full_record(), Path("/home/me/proj/.journal")) == f"""\
journal run {RUN_ID}
  note      MLPのレイヤ数を3に増やしてみる
            second line
  tags      mlp, mode3
  command   python train_my_model.py --mode 3 --note 'two words'
  commit    9ac7188-dirty (main)
  started   2026-11-28 16:42:07+09:00
  duration  3h 30m 12s
  status    finished (exit 0)
  metrics   Hoge1 Acc = 82.476
            Hoge2 Acc = 71.46
            epochs    = 25
  log       /home/me/proj/.journal/logs/{RUN_ID}.log
"""


def test_a_failed_run_a_note_only_entry_and_a_running_one() -> None:
    failed = {**full_record(), "status": "failed", "exit_code": 1, "error": "ValueError: bad"}
    assert "  status    failed (exit 1): ValueError: bad\n" in final_report(failed, Path("/j"))
    note_only = {"id": RUN_ID, "note": "idea", "status": "finished",
                 "git": {"commit": "a" * 40, "dirty": False}}
    assert final_report(note_only, Path("/j")) == (
        f"journal run {RUN_ID}\n  note      idea\n  commit    aaaaaaa\n  status    finished\n")
    running = {"id": RUN_ID, "status": "running", "ended": None, "duration": None,
               "exit_code": None, "git": {"dirty": True}}
    assert final_report(running, Path("/j")) == (
        f"journal run {RUN_ID}\n  commit    no commit yet, dirty\n  status    running\n")


def test_text_from_the_record_cannot_drive_the_terminal() -> None:
    record = {**full_record(),
              "note": "ok\x1b]52;c;ZXZpbA==\x07 \u202eevil",
              "command": ["python", "-c", "print('\x1b[2J')"],
              "metrics": {"acc\x1b[31m": 1.0},
              "git": {"commit": "b" * 40, "branch": "feat\x9b", "dirty": False}}
    text = final_report(record, Path("/j"))
    assert "\x1b" not in text and "\u202e" not in text and "\x9b" not in text and "\x07" not in text
    assert "ok\\x1b]52;c;ZXZpbA==\\x07 \\u202eevil" in text
    assert "acc\\x1b[31m = 1.0" in text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.04, "0.0s"), (12.5, "12.5s"), (59.96, "1m 00s"), (61, "1m 01s"), (3599.6, "1h 00m 00s"),
    (3600, "1h 00m 00s"), (12612.4, "3h 30m 12s"), (90061, "25h 01m 01s"), (-61, "1m 01s"),
])
def test_durations(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_journal_new_prints_the_report_on_stderr_and_quiet_turns_it_off(repo: Path) -> None:
    script = "import journal; print('out'); journal.log(acc=0.5)"
    done = journal("new", "-n", "report me", "--", PY, "-c", script, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"out\n"                       # stdout stays the command's
    record = only_record(repo / ".journal")
    assert done.stderr.decode() == final_report(record, repo / ".journal")
    assert "  metrics   acc = 0.5\n" in done.stderr.decode()
    assert f"  log       {repo / '.journal' / 'logs' / record['id']}.log\n" in done.stderr.decode()
    quiet = journal("new", "--quiet", "--", PY, "-c", "print('out')", cwd=repo)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, b"out\n", b"")
    short = journal("new", "-q", "--", "sh", "-c", "exit 3", cwd=repo)
    assert (short.returncode, short.stderr) == (3, b"")

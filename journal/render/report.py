"""The final report: one run as a short block to paste into a notes app (Evernote, Obsidian, ...).

    journal run 20261128-074207.123-9ac7188-k3f9qa
      note      MLP with 3 layers instead of 2
      command   python train.py --mode 3 --resume ckpts/hoge1.model
      commit    9ac7188-dirty (main)
      started   2026-11-28 16:42:07+09:00
      duration  3h 30m 12s
      status    finished (exit 0)
      metrics   Hoge1 Acc = 82.476
                Hoge2 Acc = 71.46
      log       /home/me/project/.journal/logs/20261128-074207.123-9ac7188-k3f9qa.log

Printed by `journal new` when a run ends, and by `journal show REF --format report`. Every value
comes from a record, which may hold anything: it is made safe for a terminal here.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from journal.record import Record
from journal.text import display_width, human_duration, pad, printable, printable_block, time_text

_LABEL = 10           # width of the label column
_INDENT = " " * (2 + _LABEL)
_MAX_NAME = 40        # metric names longer than this are not padded to


def final_report(record: Record, journal_dir: Path, *, status: str | None = None) -> str:
    """The block for one run; `status`: the one a reader should see (`crashed` for a run whose
    wrapper is gone), when not the record's own."""
    lines = [f"journal run {printable(str(record.get('id', '?')))}"]

    def add(label: str, value: str) -> None:
        lines.append(f"  {label:<{_LABEL}}{value}")

    note = str(record.get("note") or "").strip()
    if note:
        first, *rest = printable_block(note).splitlines()
        add("note", first)
        lines.extend(_INDENT + line if line else "" for line in rest)
    tags = record.get("tags")
    if tags:
        add("tags", printable(", ".join(str(tag) for tag in tags)))
    command = record.get("command")
    if command:
        add("command", printable(shlex.join(str(arg) for arg in command)))
    git = record.get("git")
    if isinstance(git, Mapping):
        add("commit", describe_commit(git))
    if record.get("started"):
        add("started", printable(time_text(record["started"])))
    duration = record.get("duration")
    if isinstance(duration, (int, float)):
        add("duration", human_duration(float(duration)))
    add("status", _status(record, status))
    metrics = record.get("metrics")
    if isinstance(metrics, Mapping) and metrics:
        names = [printable(str(name)) for name in metrics]
        width = min(max(map(display_width, names)), _MAX_NAME)
        for index, (name, value) in enumerate(zip(names, metrics.values())):
            text = f"{pad(name, width)} = {printable(_value(value))}"
            if index == 0:
                add("metrics", text)
            else:
                lines.append(_INDENT + text)
    log = record.get("log")
    if isinstance(log, Mapping) and log.get("path"):
        add("log", printable(_log_line(record, journal_dir / str(log["path"]))))
    return "\n".join(lines) + "\n"


def describe_commit(git: Mapping[str, object]) -> str:
    commit = git.get("commit")
    if commit:
        text = str(commit)[:7] + ("-dirty" if git.get("dirty") else "")   # as git describe says
    else:
        text = "no commit yet" + (", dirty" if git.get("dirty") else "")
    if git.get("branch"):
        text += f" ({git['branch']})"
    if git.get("partial"):
        text += " (code state partly captured)"
    return printable(text)




def _status(record: Record, status: str | None) -> str:
    text = status or str(record.get("status", "?"))
    if record.get("exit_code") is not None:
        text += f" (exit {record['exit_code']})"
    if record.get("error"):
        text += f": {record['error']}"
    return printable(text)


def _value(value: object) -> str:
    """A metric as the report has always shown it: true/false, floats in their shortest form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return float.__repr__(value)
    return str(value)


def _log_line(record: Record, path: Path) -> str:
    """The log's path, or why there is none: a log that could not be opened is not named as if
    it held the output."""
    for problem in record.get("problems", []):
        if isinstance(problem, str) and problem.startswith("cannot open the log"):
            return f"none ({problem})"
    return str(path)

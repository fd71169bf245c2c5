"""`journal.logger()`: the logger researchers set up by hand, bound to the current run.

It may be asked for before the run starts (`log = journal.logger(__name__)` at the top of a
module): lines then go to the console only, and the run's file and header follow at
`journal.start()`. The handlers go on the root logger, once: every named logger reaches them
through propagation, so `journal.logger("a")` and `journal.logger("b")` never write a line twice.
Console lines are plain; the run's log file gets timestamped ones. Under `journal new` there is
no file handler: the wrapper already copies the console (stdout and stderr) into the run's log
byte for byte, and a second writer would put every line there twice, interleaved with that copy.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Protocol

from journal.record import Record, table
from journal.render.report import describe_commit

_MARK = "_journal_run"          # set on our handlers: the run id, or "console"
FILE_FORMAT = "%(asctime)s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_headed: set[str] = set()       # runs whose header was written (once, even if attached twice)
_files: dict[str, logging.Handler] = {}   # run id -> the file handler of its log (standalone)
_wanted = False                 # journal.logger() was called: each run started gets bound


class LoggedRun(Protocol):
    """What the logger needs of a run (journal.api.run.Run is one)."""

    id: str
    attached: bool
    finished: bool
    params: dict[str, Any]
    log_path: Path | None

    @property
    def record(self) -> Record: ...

    @property
    def console_teed(self) -> bool: ...   # its console goes to its log already (api/console.py)

    def _open_log_file(self) -> Path | None: ...


def bind(run: LoggedRun | None, name: str | None) -> logging.Logger:
    """The logger `name` (None: the root), with our handlers in place; bound to `run` if any."""
    global _wanted
    _wanted = True
    root = logging.getLogger()
    if not any(getattr(h, _MARK, None) == "console" for h in root.handlers) \
            and not _has_console(root):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        setattr(console, _MARK, "console")
        root.addHandler(console)
    target = logging.getLogger(name)
    if target.level == logging.NOTSET or (target is root and target.level == logging.WARNING):
        target.setLevel(logging.INFO)   # info lines are the point; a level the user set stays
    if run is not None and not run.finished:
        run_started(run)
    return target


def run_started(run: LoggedRun) -> None:
    """Give `run` the log file (standalone) and its header, if a logger was asked for."""
    if not _wanted:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):   # a file handler left by an earlier run of this process
        mark = getattr(handler, _MARK, None)
        if mark not in (None, "console", run.id):
            root.removeHandler(handler)
            handler.close()
            _files.pop(mark, None)
    path = run._open_log_file() if not run.attached and not run.console_teed \
        and run.id not in _files else None
    if path is not None:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FILE_FORMAT, DATE_FORMAT))
        setattr(handler, _MARK, run.id)
        root.addHandler(handler)
        _files[run.id] = handler
    if run.id not in _headed:
        _headed.add(run.id)
        for line in header(run):
            record = root.makeRecord("journal", logging.INFO, "journal", 0, line, (), None)
            for handler in root.handlers:
                if getattr(handler, _MARK, None) is not None or _is_console(handler):
                    handler.handle(record)


def header(run: LoggedRun) -> list[str]:
    """What careful researchers log first: which run, which code, where the log is, the params."""
    lines = [f"journal run {run.id}"]
    note = str(run.record.get("note") or "").strip()
    if note:
        lines.append(f"note: {note.splitlines()[0]}")
    if "git" in run.record:
        lines.append(f"git: {describe_commit(table(run.record, 'git'))}")
    if run.log_path is not None:
        lines.append(f"log file: {run.log_path}")
    lines += [f"param: {name}={value!r}" if isinstance(value, str) else f"param: {name}={value}"
              for name, value in run.params.items()]
    return lines


def run_ended(run_id: str) -> None:
    """The run ended: its log file is closed; the console handler stays for later lines."""
    handler = _files.pop(run_id, None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _is_console(handler: logging.Handler) -> bool:
    return type(handler) is logging.StreamHandler and getattr(handler, "stream", None) in (
        sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)


def _has_console(root: logging.Logger) -> bool:
    """The script set up its own console handler (logging.basicConfig): do not add a second."""
    return any(_is_console(h) and getattr(h, _MARK, None) is None for h in root.handlers)

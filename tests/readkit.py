"""Helpers for the tests of the reading commands (list, grep, REFs, index): the CLI in-process
and records written straight to disk when a test needs many of them or odd ones."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journal.record import new_run_id
from journal.store.paths import run_path
from journal.store.toml import dumps

HOST = os.uname().nodename
COMMIT = "9ac7188c0ffee0000000000000000000deadbeef"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Result:
    """`journal ARGS` in this process through the real entry point (conftest.journal), with `env`
    added to the environment; stdout and stderr are not terminals."""
    from conftest import journal

    done = journal(*args, cwd=cwd, env={**os.environ, **env} if env else None)
    return Result(done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))


def both(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Result:
    """The command with the index and without it (JOURNAL_NO_INDEX=1): both must say the same."""
    with_index = cli(*args, cwd=cwd, env=env)
    without = cli(*args, cwd=cwd, env={**(env or {}), "JOURNAL_NO_INDEX": "1"})
    assert (with_index.code, _steady(with_index.out)) == (without.code, _steady(without.out)), \
        (with_index, without)
    return with_index


def _steady(text: str) -> str:
    """Output without what moves between two calls: seconds ago, a running run's time so far."""
    import re

    return re.sub(r"\b\d+s ago|\S+(?: \S+)?…", "~", text)


def one_error_line(result: Result) -> str:
    """The one error line of a failed command (a `hint:` line may follow), never a traceback."""
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert "Traceback" not in result.err
    assert lines and lines[0].startswith("journal: error: "), lines
    assert all(line.startswith("hint: ") for line in lines[1:]), lines
    return lines[0]


def local(*parts: int) -> dt.datetime:
    """A local, offset-aware datetime."""
    return dt.datetime(*parts).astimezone()  # type: ignore[arg-type]


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def clock_at(moment: dt.datetime) -> dict[str, str]:
    """The environment that makes a command's clock read `moment` (JOURNAL_NOW)."""
    return {"JOURNAL_NOW": moment.isoformat()}


def write_run(journal_dir: Path, started: dt.datetime | None = None, *, run_id: str | None = None,
              folder: Path | None = None, **fields: Any) -> str:
    """A finished run's record, written as `journal new` would; `fields` override or add
    (None removes a field). Returns the id."""
    started = started or now()
    run_id = run_id or new_run_id(started, COMMIT[:7])
    record: dict[str, Any] = {
        "schema": 1, "id": run_id, "note": "a run", "tags": [], "status": "finished",
        "started": started, "ended": started + dt.timedelta(seconds=12.5), "duration": 12.5,
        "exit_code": 0, "command": ["python", "train.py"], "cwd": ".", "host": HOST, "pid": 1,
        "git": {"commit": COMMIT, "branch": "main", "dirty": False, "changed": [], "untracked": []},
        "params": {}, "metrics": {},
    }
    for name, value in fields.items():
        if value is None:
            record.pop(name, None)
        else:
            record[name] = value
    path = run_path(journal_dir, run_id) if folder is None else folder / f"{run_id}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(record), encoding="utf-8")
    return run_id


def record_path(journal_dir: Path, run_id: str) -> Path:
    found = list((journal_dir / "runs").rglob(f"{run_id}.toml"))
    assert len(found) == 1, found
    return found[0]


def ids_listed(result: Result) -> list[str]:
    return [line.split()[0] for line in result.lines]


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def other_host() -> str:
    name = "gpu-elsewhere-01"
    assert name != HOST and name != socket.gethostname()
    return name


def tag_by_hand(journal_dir: Path, run_id: str, tag: str) -> None:
    """A tag written into the record file directly (a hand edit, a record from elsewhere), for
    tags that `journal new -t` and `journal tag` refuse."""
    import tomllib

    path = record_path(journal_dir, run_id)
    record = tomllib.loads(path.read_text())
    record["tags"] = [*record.get("tags", []), tag]
    path.write_text(dumps(record))


def drain(leader: int) -> bytes:
    """Everything a pseudo-terminal's other side wrote until it was closed; closes `leader`."""
    shown = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:         # EIO: the last holder of the other side closed it
            break
        if not piece:
            break
        shown += piece
    os.close(leader)
    return shown

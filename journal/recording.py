"""Put a run on record before it starts, and record how it ended: `journal new`, and the
standalone runs of the Python API (journal.api), which share `open_run` and `finish_run`."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journal import sidefile, store
from journal.config import Config, load_config
from journal.errors import StoreError
from journal.gitstate import CodeState, capture_code_state, find_worktree_root
from journal.params import params_from_argv
from journal.redact import Redactor

SCHEMA_VERSION = 1


def local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


@dataclass
class Place:
    """Where a command runs and where its journal is."""

    cwd: Path
    worktree_root: Path | None
    journal_dir: Path

    @classmethod
    def find(cls, cwd: Path, environ: Mapping[str, str]) -> Place:
        cwd = cwd.resolve()
        root = find_worktree_root(cwd, environ)
        return cls(cwd, root, store.find_journal_dir(cwd, root, environ))

    def relative_cwd(self) -> str:
        base = self.worktree_root or self.journal_dir.parent
        try:
            return self.cwd.relative_to(base).as_posix()
        except ValueError:
            return str(self.cwd)


@dataclass
class NewRun:
    """What the user asked `journal new` to record."""

    command: Sequence[str] = ()
    note: str | None = None
    tags: Sequence[str] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    run_id: str
    record_path: Path
    exit_code: int
    status: str
    record: dict[str, Any] = field(default_factory=dict)   # as last written
    started: bool = False      # the command was started (False: note-only, or not found)


@dataclass
class OpenRun:
    """A run whose record is on disk, with what finishing it needs."""

    place: Place
    config: Config
    redactor: Redactor
    record: dict[str, Any]
    clock_start: float
    now: Callable[[], dt.datetime]

    @property
    def run_id(self) -> str:
        return str(self.record["id"])

    @property
    def journal_dir(self) -> Path:
        return self.place.journal_dir


def open_run(
    request: NewRun,
    place: Place,
    *,
    environ: Mapping[str, str],
    warn: Callable[[str], None],
    now: Callable[[], dt.datetime] = local_now,
    running: bool = True,
    with_log: bool = True,
) -> OpenRun:
    """Capture the code state and write the record (`running`, or `finished` for a note)."""
    config = load_config(place.journal_dir)
    redactor = Redactor(config.redact_names, config.redact_values)
    started = now()
    clock_start = time.monotonic()
    code = _capture(place, config, redactor, environ)
    for line in code.warnings:
        warn(line)
    record = _initial_record(request, place, code, config, redactor, environ, started, running)
    _create(place.journal_dir, record, code, with_log)
    return OpenRun(place, config, redactor, record, clock_start, now)


def record_new(
    request: NewRun,
    place: Place,
    *,
    environ: Mapping[str, str],
    warn: Callable[[str], None],
    now: Callable[[], dt.datetime] = local_now,
) -> Outcome:
    command = bool(request.command)
    run = open_run(request, place, environ=environ, warn=warn, now=now, running=command,
                   with_log=command)
    record = run.record
    record_path = store.run_path(place.journal_dir, run.run_id)
    if not command:
        return Outcome(run.run_id, record_path, 0, record["status"], record)

    from journal.runner import run_command

    scanner = None
    if run.config.metric_patterns:
        from journal.patterns import MetricScanner

        scanner = MetricScanner(run.config.metric_patterns)
    from journal.logmask import LogMasker, known_secrets

    log_file = store.log_path(place.journal_dir, run.run_id)
    child_env = {**environ, "JOURNAL_RUN_ID": run.run_id, "JOURNAL_DIR": str(place.journal_dir)}
    masker = LogMasker(run.redactor, known_secrets(request.command, record["command"], environ,
                                                      run.redactor))
    try:
        result = run_command(list(request.command), env=child_env, log_file=log_file,
                             watch=scanner.feed if scanner else None, log_masker=masker)
    except KeyboardInterrupt:
        # Ctrl-C before the child was started: the run is on record, so say how it ended.
        finish_run(run, warn, status="interrupted", exit_code=130)
        raise
    if result.error:
        record["error"] = run.redactor.text(result.error)
        warn(record["error"])
    if result.problems:
        record["problems"] = [run.redactor.text(line) for line in result.problems]
        for line in record["problems"]:
            warn(line)
    record["log"]["bytes"] = result.log_bytes
    status = _status_of(result.exit_code, result.child_signal, result.received_signal)
    if scanner is not None:
        scanner.close()
    status = _fold_child(run, request, status, scanner.metrics if scanner else {})
    finish_run(run, warn, status=status, exit_code=result.exit_code)
    return Outcome(run.run_id, record_path, result.exit_code, record["status"], record,
                   started=result.error is None)


def _fold_child(run: OpenRun, request: NewRun, status: str, from_output: Mapping[str, Any]
                ) -> str:
    """Bring in what the command gave through the Python API (its side file) and the metrics
    matched in its output. The wrapper is the only writer of these fields, and it writes them
    once, after the command exited: the command's writes and the wrapper's never cross.
    Explicit `--param`/`--metric` win over the API, which wins over what was parsed or matched."""
    record = run.record
    side = sidefile.fold(sidefile.path(run.journal_dir, run.run_id))
    if side.params:
        argv = list(request.command)
        params = {**params_from_argv(argv[1:]), **side.params, **request.params}
        record["params"] = run.redactor.mapping(params)
    metrics = {**from_output, **side.metrics, **record.get("metrics", {})}
    if metrics:
        record["metrics"] = metrics
    note_series(run, side.points)
    if side.error and "error" not in record:
        record["error"] = run.redactor.text(side.error)
    if status == "finished" and side.status in ("failed", "interrupted"):
        status = side.status    # the script said so, though it exited 0
    return status


def note_series(run: OpenRun, points: int) -> None:
    """Point the record at the side file that holds every logged value, when there is one."""
    if points:
        side_file = sidefile.path(run.journal_dir, run.run_id)
        run.record["series"] = {
            "path": store.relative_to_journal(run.journal_dir, side_file), "points": points,
        }


def _capture(place: Place, config: Config, redactor: Redactor, environ: Mapping[str, str]
             ) -> CodeState:
    if place.worktree_root is None:
        return CodeState()
    return capture_code_state(
        place.worktree_root,
        place.journal_dir,
        untracked_max_bytes=config.untracked_max_bytes,
        left_out_globs=config.left_out,
        timeout=config.git_timeout,
        redact_patch=redactor.safe_patch,
        environ=environ,
    )


def _initial_record(
    request: NewRun,
    place: Place,
    code: CodeState,
    config: Config,
    redactor: Redactor,
    environ: Mapping[str, str],
    started: dt.datetime,
    running: bool,
) -> dict[str, Any]:
    command = list(request.command)
    params = {**params_from_argv(command[1:]), **request.params}
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "id": "",
        "note": redactor.text(request.note or ""),
        "tags": list(dict.fromkeys(redactor.text(tag) for tag in request.tags)),
        "status": "running" if running else "finished",
        "started": started,
        "ended": None,       # placeholders keep the finished record's fields in reading order
        "duration": None,
        "exit_code": None,
    }
    if command:
        record["command"] = redactor.argv(command)
    record["cwd"] = place.relative_cwd()
    record["host"] = os.uname().nodename
    record["pid"] = os.getpid()
    if place.worktree_root is not None:
        record["git"] = code.fields
    env = {name: environ[name] for name in config.env_allow if name in environ}
    for table, values in (("params", params), ("metrics", request.metrics), ("env", env)):
        if values:
            record[table] = redactor.mapping(values)
    return record


def _create(journal_dir: Path, record: dict[str, Any], code: CodeState, with_log: bool) -> str:
    """Write the patch and the `running` record under a fresh id. Failing here means the child is
    never started: a run that cannot be put on record is not run."""

    def make_id() -> str:
        run_id = store.new_run_id(record["started"], code.short_commit)
        if code.patch:
            patch_file = store.patch_path(journal_dir, run_id)
            if not store.create_exclusive(patch_file, code.patch):
                return make_id()
            record["git"]["patch"] = store.relative_to_journal(journal_dir, patch_file)
        if with_log:
            log_file = store.log_path(journal_dir, run_id)
            record["log"] = {"path": store.relative_to_journal(journal_dir, log_file), "bytes": 0}
        return run_id

    try:
        return store.create_record(journal_dir, record, make_id)
    except OSError as exc:
        raise StoreError(f"cannot write to {journal_dir}: {exc.strerror}") from exc


def _status_of(exit_code: int, child_signal: int | None, received_signal: int | None) -> str:
    """interrupted: SIGINT (to journal or the child's death by it); killed: any other fatal signal."""
    for signum in (received_signal, child_signal):
        if signum is not None:
            return "interrupted" if signum == signal.SIGINT else "killed"
    return "finished" if exit_code == 0 else "failed"


def finish_run(run: OpenRun, warn: Callable[[str], None], *, status: str,
               exit_code: int | None = None) -> None:
    """The final write: how the run ended, under the record's lock (amendments made meanwhile by
    `journal note`/`journal tag`, or by the script's `journal.start(note=...)`, are kept)."""
    record = run.record
    record["status"] = status
    record["ended"] = run.now()
    record["duration"] = round(time.monotonic() - run.clock_start, 3)
    record["exit_code"] = exit_code
    for table in ("env", "log", "series"):   # tables added late still come after params/metrics
        if table in record:
            record[table] = record.pop(table)
    try:
        store.update_record(run.journal_dir, record)
    except StoreError as exc:
        # The child's exit status still passes through; the record stays `running`.
        warn(exc.message)

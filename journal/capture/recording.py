"""Put a run on record before it starts, and record how it ended: `journal new`, and the
standalone runs of the Python API (journal.api), which share `open_run` and `finish_run`.

The flow of one `journal new -- CMD`:

    open_run      config, code state (capture/gitstate), the `running` record and the patch on
                  disk; a run that cannot be put on record is not run
    run_command   the child, its output to the terminal and the log (capture/runner), secrets
                  masked in the log (capture/logmask), metrics read from it (capture/patterns)
    finish_run    what the script gave through the API (its side file), how it ended: the final
                  write, under the record's lock

Every record reaches the disk masked by `Redactor.record`, which the store's writers take as
their `mask`: the one redaction step of a record, whatever fields it holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from journal.capture.gitstate import CodeState, capture_code_state, redirected_output
from journal.capture.params import params_from_argv
from journal.capture.who import run_user
from journal.errors import StoreError
from journal.record import (
    PLATFORM,
    SCHEMA_VERSION,
    THIS_HOST,
    GitState,
    Record,
    Status,
    merge_params,
    new_run_id,
)
from journal.redact import Redactor
from journal.store import sidefile
from journal.store.config import Config, load_config
from journal.store.context import Context
from journal.store.files import create_exclusive
from journal.store.paths import log_path, patch_path, relative_to_journal, run_path
from journal.store.records import (
    RESERVE_BYTES,
    USER_FIELDS,
    create_record,
    release_space,
    reserve_space,
    rewrite_record,
)

if TYPE_CHECKING:
    from pathlib import Path

    from journal.capture.hook import HookInbox, HookReport


@dataclass
class NewRun:
    """What the user asked `journal new` (or `journal.start()`) to record."""

    command: Sequence[str] = ()
    note: str | None = None
    tags: Sequence[str] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    rerun_of: str | None = None      # `journal rerun`: the run this one repeats


@dataclass
class Outcome:
    run_id: str
    exit_code: int
    record: Record             # as last written
    started: bool = False      # the command was started (False: note-only, or not found)
    # Ctrl-C on the keyboard ended the command: journal should end as it did (a shell stops a
    # loop of `journal new` runs only when its child died of SIGINT, as without journal).
    interrupted_from_keyboard: bool = False


@dataclass
class OpenRun:
    """A run whose record is on disk, with what finishing it needs."""

    context: Context
    config: Config
    redactor: Redactor
    record: Record              # as last written (secrets masked)
    clock_start: float
    argv_params: dict[str, Any]  # the params read from the command line, read once

    @property
    def run_id(self) -> str:
        return self.record["id"]

    @property
    def journal_dir(self) -> Path:
        return self.context.journal_dir


def open_run(request: NewRun, context: Context, *, warn: Callable[[str], None], running: bool = True,
             with_log: bool = True) -> OpenRun:
    """Capture the code state and write the record (`running`, or `finished` for a note)."""
    config = load_config(context.journal_dir, context.environ)
    redactor = Redactor(config.redact_names, config.redact_values, context.environ)
    started = context.now()
    clock_start = time.monotonic()
    code = _capture(context, config, redactor)
    if not running:
        _record_tree(context, config, code.fields, code.patch)
    for line in code.warnings:
        warn(redactor.shapes(line))       # a file may be named after a secret
    argv_params = params_from_argv(list(request.command)[1:])
    record = _initial_record(request, context, code, config, argv_params, started, running)
    if context.worktree_root is None and not context.journal_dir.exists():
        # Once, as the folder is made: outside git, where the runs go is not obvious.
        warn(f"not in a git repository: the journal is {context.journal_dir} (no code state "
             "is recorded; JOURNAL_DIR chooses another folder)")
    record = _create(context.journal_dir, redactor, record, code, with_log)
    return OpenRun(context, config, redactor, record, clock_start, argv_params)


def record_new(request: NewRun, context: Context, *, warn: Callable[[str], None],
               report: Callable[[Record], None] | None = None) -> Outcome:
    """`journal new`: put the run on record, run its command if it has one, record the end, and
    hand the final record to `report` (the block printed for the user's notes). From before the
    record is written to the report, SIGINT, SIGTERM and SIGHUP go to the child while it runs,
    and change nothing after it (runner.SignalRelay): the record states the child's fate, and
    journal exits with its code. One that comes before the child starts keeps it from starting."""
    if not request.command:
        run = open_run(request, context, warn=warn, running=False, with_log=False)
        return Outcome(run.run_id, 0, run.record)

    from journal.capture.logmask import LogMasker, known_secrets
    from journal.capture.runner import SignalRelay, run_command

    with SignalRelay() as relay:
        run = open_run(request, context, warn=warn, running=True, with_log=True)
        scanner = None
        if run.config.metric_patterns:
            from journal.capture.patterns import MetricScanner

            scanner = MetricScanner(run.config.metric_patterns)
        child_env = {**context.environ, "JOURNAL_RUN_ID": run.run_id,
                     "JOURNAL_DIR": str(context.journal_dir)}
        masker = LogMasker(run.redactor, known_secrets(
            request.command, run.record.get("command", []), context.environ, run.redactor))
        inbox = _hook_inbox(run, request)
        try:
            if inbox is not None:
                from journal.capture.hook import hook_environment

                child_env = hook_environment(child_env, inbox.address)
            result = run_command(list(request.command), env=child_env,
                                 log_file=log_path(context.journal_dir, run.run_id), relay=relay,
                                 watch=scanner.feed if scanner else None, log_masker=masker,
                                 orphan=_Orphan(run, request, inbox), inbox=inbox)
            if inbox is not None:
                inbox.drain()
        finally:
            if inbox is not None:
                inbox.close()
        record = run.record
        if result.error:
            record["error"] = result.error
        if result.problems:
            record["problems"] = list(result.problems)
        for line in [result.error or "", *result.problems]:
            if line:
                warn(run.redactor.text(line))
        record.setdefault("log", {})["bytes"] = result.log_bytes
        if scanner is not None:
            scanner.close()
        status = _status_of(result.exit_code, result.child_signal, result.received_signal)
        status = _fold_child(run, request, status, scanner.metrics if scanner else {},
                             inbox.report if inbox is not None else None)
        try:
            finish_run(run, warn, status=status, exit_code=result.exit_code,
                       ended_at=result.ended_at)
        finally:
            result.dismiss()        # the keeper stayed, to record the end if this was killed
        started = result.error is None and result.ended_at is not None
        if report is not None and started:
            report(run.record)
    keyboard = result.had_terminal and result.child_signal == signal.SIGINT
    return Outcome(run.run_id, result.exit_code, run.record, started=started,
                   interrupted_from_keyboard=keyboard)


class _Orphan:
    """What the record is told, by journal's keeper (capture/keeper.py, the command's parent),
    when the wrapper is killed (SIGKILL) while its command runs: who copies the output on, then
    how the run ended, as the wrapper would have recorded it, with the reason in `problems`."""

    def __init__(self, run: OpenRun, request: NewRun, inbox: HookInbox | None) -> None:
        self.run = run
        self.request = request
        self.inbox = inbox
        self.wrapper = os.getpid()

    def taken_over(self, keeper_pid: int, command_ended: bool) -> None:
        record = self.run.record
        if self.inbox is not None:
            _adopt_hook_fields(self.run, self.inbox.report)
        record["pid"] = keeper_pid        # the run is still going while the keeper is
        if command_ended:
            self._note(f"journal's wrapper (pid {self.wrapper}) was killed while it recorded the "
                       f"end of the run: journal's keeper (pid {keeper_pid}) recorded it")
        else:
            self._note(f"journal's wrapper (pid {self.wrapper}) was killed while its command "
                       f"ran: journal's keeper (pid {keeper_pid}) copied the output on, to where "
                       "it went and to the log, and recorded the end")
        with contextlib.suppress(StoreError):
            write_record(self.run)

    def orphaned(self, returncode: int, ended_at: float, problems: list[str]) -> None:
        run = self.run
        for problem in problems:
            self._note(problem)
        with contextlib.suppress(OSError):
            run.record.setdefault("log", {})["bytes"] = \
                log_path(run.journal_dir, run.run_id).stat().st_size
        child_signal = -returncode if returncode < 0 else None
        exit_code = 128 + child_signal if child_signal else returncode
        if self.inbox is not None:
            self.inbox.drain()
            self.inbox.close()
        status = _fold_child(run, self.request, _status_of(exit_code, child_signal, None), {},
                             self.inbox.report if self.inbox is not None else None)
        finish_run(run, lambda _message: None, status=status, exit_code=exit_code,
                   ended_at=ended_at)

    def _note(self, problem: str) -> None:
        record = self.run.record
        record["problems"] = [*record.get("problems", []), problem]


def _fold_child(run: OpenRun, request: NewRun, status: str, from_output: Mapping[str, Any],
                hook: HookReport | None) -> str:
    """Bring in what the command gave through the Python API (its side file), what the Python
    hook reported, and the metrics matched in its output. The wrapper is the only writer of
    these fields: the command's writes and the wrapper's never cross. Explicit `--param` and
    `--metric` win over the API, which wins over the hook, which wins over what was parsed from
    the command line or matched in the output."""
    record = run.record
    side = sidefile.fold(sidefile.path(run.journal_dir, run.run_id))
    if hook is not None:
        _take_hook_report(run, request, hook)
    if side.params:
        hook_params = hook.params if hook is not None else None
        record["params"] = merge_params(run.argv_params if hook_params is None else hook_params,
                                        side.params, request.params)
    metrics = {**from_output, **side.metrics, **record.get("metrics", {})}
    if metrics:
        record["metrics"] = metrics
    note_series(run, side.points)
    if side.error and "error" not in record:
        record["error"] = side.error
    if status == Status.FINISHED and side.status in (Status.FAILED, Status.INTERRUPTED):
        status = side.status    # the script said so, though it exited 0
    return status


def _hook_inbox(run: OpenRun, request: NewRun) -> HookInbox | None:
    """The socket a Python command's start-up hook reports to; None when the command is not
    Python, the hook is turned off (`[capture] python_hook = false`), or no socket can be had
    (then the record says so, and the command runs all the same)."""
    from journal.capture.hook import HookInbox, may_run_python

    if not run.config.python_hook or not may_run_python(request.command,
                                                            run.context.environ):
        return None

    def show_params(report: HookReport) -> None:
        """The record shows the program's params while it runs (`journal list`, `show`)."""
        _take_hook_report(run, request, report)
        with contextlib.suppress(StoreError):
            write_record(run)

    try:
        return HookInbox(on_params=show_params)
    except OSError as exc:
        run.record["problems"] = [*run.record.get("problems", []),
                                  f"the Python hook was off: no socket for it ({exc.strerror})"]
        return None


def _take_hook_report(run: OpenRun, request: NewRun, report: HookReport) -> None:
    """The hook's params replace journal's guess from the command line (the program's own
    parse knows its defaults, and what the guess got wrong); `--param` stays on top."""
    record = run.record
    if report.params is not None:
        record["params"] = merge_params(report.params, request.params)
        if report.parser:
            record["params_from"] = report.parser
        defaults = [name for name in report.defaults if name not in request.params]
        if defaults:
            record["params_default"] = defaults
        else:
            record.pop("params_default", None)
    if report.environment:
        record["environment"] = {**record.get("environment", {}), **report.environment}
    if report.problems:
        problems = record.get("problems", [])
        record["problems"] = [*problems, *(text for text in report.problems
                                           if text not in problems)]


def _adopt_hook_fields(run: OpenRun, report: HookReport) -> None:
    """The keeper, taking over: what the wrapper had written of the hook's reports (the keeper's
    copy of the record is from before the command started) is where its own reports build on."""
    from journal.store.records import read_record

    current = read_record(run_path(run.journal_dir, run.run_id), None)
    if current is None:
        return
    parser = current.get("params_from")
    if isinstance(parser, str) and isinstance(current.get("params"), dict):
        report.params = {**current["params"], **(report.params or {})}
        report.parser = report.parser or parser
        defaults = current.get("params_default")
        if isinstance(defaults, list):
            report.defaults = [*report.defaults, *(str(name) for name in defaults)]
    environment = current.get("environment")
    if isinstance(environment, dict):
        report.environment = {**environment, **report.environment}


def note_series(run: OpenRun, points: int) -> None:
    """Point the record at the side file that holds every logged value, when there is one."""
    if points:
        side_file = sidefile.path(run.journal_dir, run.run_id)
        run.record["series"] = {"path": relative_to_journal(run.journal_dir, side_file),
                                "points": points}


def _capture(context: Context, config: Config, redactor: Redactor) -> CodeState:
    if context.worktree_root is None:
        return CodeState()
    return capture_code_state(
        context.worktree_root,
        context.journal_dir,
        untracked_max_bytes=config.untracked_max_bytes,
        left_out_globs=config.left_out,
        timeout=config.git_timeout,
        redact_patch=redactor.safe_patch,
        environ=context.environ,
        own_output=redirected_output(context.worktree_root),
    )


def _initial_record(request: NewRun, context: Context, code: CodeState, config: Config,
                    argv_params: Mapping[str, Any], started: dt.datetime, running: bool
                    ) -> Record:
    """The record as it is before the run: raw, secrets still in (the writer masks them)."""
    params = {**argv_params, **request.params}
    record: Record = {
        "schema": SCHEMA_VERSION,
        "id": "",
        "note": request.note or "",
        "tags": list(request.tags),
        "status": Status.RUNNING if running else Status.FINISHED,
        "started": started,
        "ended": None,       # placeholders keep the finished record's fields in reading order
        "duration": None,
        "exit_code": None,
    }
    if request.command:
        record["command"] = list(request.command)
    record["cwd"] = context.relative_cwd()
    record["host"] = THIS_HOST
    record["user"] = run_user(context.environ, context.worktree_root)
    if request.rerun_of:
        record["rerun_of"] = request.rerun_of
    record["pid"] = os.getpid()
    if context.worktree_root is not None:
        record["git"] = code.fields
    env = {name: context.environ[name] for name in config.env_allow if name in context.environ}
    if params:
        record["params"] = params
    if request.metrics:
        record["metrics"] = dict(request.metrics)
    if env:
        record["env"] = env
    record["environment"] = {"platform": PLATFORM}
    return record


def _create(journal_dir: Path, redactor: Redactor, record: Record, code: CodeState,
            with_log: bool) -> Record:
    """Write the patch and the `running` record under a fresh id; returns the record written.
    Failing here means the child is never started: a run that cannot be put on record is not run."""
    git = record.get("git")

    def make_id() -> str:
        run_id = new_run_id(record["started"], code.short_commit)
        if code.patch and git is not None:
            patch_file = patch_path(journal_dir, run_id)
            if not create_exclusive(patch_file, code.patch):
                return make_id()
            git["patch"] = relative_to_journal(journal_dir, patch_file)
        if with_log:
            record["log"] = {"path": relative_to_journal(journal_dir, log_path(journal_dir, run_id)),
                             "bytes": 0}
        return run_id

    try:
        written = create_record(journal_dir, record, make_id, mask=redactor.record)
    except OSError as exc:
        raise StoreError(f"cannot write to {journal_dir}: {exc.strerror}") from exc
    if written["status"] == Status.RUNNING:
        reserve_space(run_path(journal_dir, written["id"]))   # room for the final write
    return written


def _status_of(exit_code: int, child_signal: int | None, received_signal: int | None) -> str:
    """interrupted: SIGINT (to journal or the child's death by it); killed: any other fatal signal
    (SIGTERM, SIGHUP, SIGQUIT to journal; or the child's death by any signal)."""
    for signum in (received_signal, child_signal):
        if signum is not None:
            return Status.INTERRUPTED if signum == signal.SIGINT else Status.KILLED
    return Status.FINISHED if exit_code == 0 else Status.FAILED


def finish_run(run: OpenRun, warn: Callable[[str], None], *, status: str,
               exit_code: int | None = None, ended_at: float | None = None) -> None:
    """The final write: how the run ended, under the record's lock (amendments made meanwhile by
    `journal note`/`journal tag`, or by the script's `journal.start(note=...)`, are kept).
    `ended_at`: when the run ended (time.monotonic()), if not now: the wrapper may have waited
    for its command's children's output after the command ended."""
    record = run.record
    finished = time.monotonic()
    ended_at = finished if ended_at is None else min(ended_at, finished)
    record["status"] = status
    ended = run.context.now() - dt.timedelta(seconds=finished - ended_at)
    started = record.get("started")
    record["ended"] = max(ended, started) if started is not None else ended   # a frozen clock
    record["duration"] = round(ended_at - run.clock_start, 3)
    record["exit_code"] = exit_code
    for name in ("env", "environment", "log", "series"):   # late tables after params/metrics
        if name in record:
            record[name] = record.pop(name)
    git_state = record.get("git")
    if git_state is not None and "tree" not in git_state and run.context.worktree_root:
        _record_tree(run.context, run.config, git_state, _patch_of(run))
    try:
        try:
            write_record(run)
        except StoreError as exc:
            if not _disk_full(exc) or not _make_room_in_the_log(run):
                raise
            write_record(run)          # the log gave up its end to the record
    except StoreError as exc:
        # The child's exit status still passes through; the record stays `running`.
        warn(exc.message)
    release_space(run_path(run.journal_dir, run.run_id))


def _record_tree(context: Context, config: Config, git_state: GitState, patch: bytes | None
                 ) -> None:
    """`git.tree`: the tree of the captured state, made at the end of the run (from the commit
    and the patch; the child never waits for it). Left out when git cannot make it, or when the
    patch is gone: `journal checkout` then checks by the patch applying."""
    commit = git_state.get("commit")
    if not commit or patch is None or context.worktree_root is None:
        return
    from journal.git import Git, GitFailed, tree_with_patch

    try:
        git_state["tree"] = tree_with_patch(
            Git(context.worktree_root, config.git_timeout, context.environ), commit, patch)
    except GitFailed:
        pass


def _patch_of(run: OpenRun) -> bytes | None:
    """The run's patch as captured (b"" for a clean state); None when it cannot be read."""
    relative = run.record.get("git", {}).get("patch")
    if not relative:
        return b""
    try:
        return (run.journal_dir / relative).read_bytes()
    except OSError:
        return None


def _disk_full(exc: StoreError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno == errno.ENOSPC


def _make_room_in_the_log(run: OpenRun) -> bool:
    """The disk is full and the record's final write did not fit even in the space kept for it:
    the log's last part goes, so that the record can say how the run ended. True if the log was
    cut."""
    log = log_path(run.journal_dir, run.run_id)
    try:
        size = log.stat().st_size
        keep = max(0, size - RESERVE_BYTES)
        os.truncate(log, keep)
    except OSError:
        return False
    record = run.record
    record.setdefault("log", {})["bytes"] = keep
    record["problems"] = [*record.get("problems", []),
                          f"the disk was full: the log was cut from {size} to {keep} bytes to "
                          "make room for this record"]
    return keep < size


def write_record(run: OpenRun) -> None:
    """Rewrite a run's record from `run.record`, keeping the note, tags and amendments on disk
    (a user may have amended them while the run went on). `run.record` (the same dict, which the
    API's `Run.record` shares) then says what was written."""
    record = run.record

    def keep_amendments(current: Record | None) -> Record:
        if current is not None:
            for name in USER_FIELDS:
                if name in current:
                    record[name] = current[name]   # type: ignore[literal-required]
        return record

    try:
        written = rewrite_record(run_path(run.journal_dir, run.run_id), keep_amendments,
                                 mask=run.redactor.record)
    except StoreError:
        record.update(run.redactor.record(record))   # what would have been written
        raise
    assert written is not None
    fields = cast(dict[str, object], record)      # the same dict, refilled in place
    fields.clear()
    fields.update(written)

"""The Python API for research scripts: `journal.start()`, `run.log()`, `journal.logger()`.

    import journal
    run = journal.start(note="Adam instead of SGD", params=args)   # argparse, dict or dataclass
    for step in range(steps):
        run.log(step=step, loss=loss)    # every value kept in the side file; the last in [metrics]
    run.finish()                         # or: with journal.start(...) as run: ...

Standalone (`python train.py`), a run writes its own record with the same code capture as
`journal new` and finishes it at exit: `failed` when the script dies of an exception. Under
`journal new -- python train.py` (JOURNAL_RUN_ID set) it attaches to the wrapper's record and never
writes the wrapper's fields: params, metrics and how the script ended go to the run's side file,
which the wrapper folds into the record once the script has exited (store/sidefile.py).

Importing this module stays cheap: the code capture, the config and logging load when used.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping

from journal.api.values import metric_value, plain_params, step_value
from journal.record import INT64, Status, is_valid_id
from journal.store import sidefile

TYPE_CHECKING = False     # typing and pathlib would cost a script ~10 ms to import
if TYPE_CHECKING:
    import logging
    from pathlib import Path
    from typing import Any, Protocol

    from journal.api.console import ConsoleTee
    from journal.capture.recording import OpenRun
    from journal.record import Record
    from journal.redact import Redactor

    class RunWatcher(Protocol):
        def run_started(self, run: Run) -> None: ...
        def run_ended(self, run_id: str) -> None: ...

_encode = json.JSONEncoder(separators=(",", ":")).encode


def _within_floats(value: Any) -> Any:
    """`value` with every int beyond 64 bits as a float (infinity past the floats): JSON would
    write it digit by digit, and Python refuses an int of more than 4,300 digits."""
    if isinstance(value, dict):
        return {key: _within_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_within_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        return _as_float(value)
    return value


def _as_float(number: int) -> float:
    """An int as a float; infinity past the floats, as a float's own arithmetic overflows."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


_MAX_ERROR = 2000
_current: Run | None = None
# Told when a run starts and ends: journal.logger() adds its module (api/runlog.py) here, so
# `logging` is imported only by the scripts that ask for a logger.
_watchers: list[RunWatcher] = []
_exit_hook_installed = False


class Run:
    """One run as a script sees it; get one from `journal.start()`."""

    def __init__(self, run_id: str, journal_dir: Path, redactor: Redactor, *, attached: bool,
                 record: Record, opened: OpenRun | None = None, quiet: bool = False
                 ) -> None:
        self.id = run_id
        self.journal_dir = journal_dir
        self.attached = attached            # to a `journal new` wrapper's record
        self.record = record                # as read or written at start
        self.params: dict[str, Any] = dict(record.get("params", {}))
        self._sent_params: dict[str, Any] = dict(self.params)
        self._warned: set[str] = set()
        self.metrics: dict[str, Any] = {}   # the last value of each name
        self.log_path: Path | None = None   # the run's log file, once there is one
        self.finished = False
        self._redactor = redactor
        self._names: dict[str, str] = {}    # metric name -> as written (a token-shaped one masked)
        self._opened = opened               # standalone: what finishing the record needs
        self._quiet = quiet
        self._side_file = sidefile.path(journal_dir, run_id)
        self._fd: int | None = None
        self._console: ConsoleTee | None = None   # standalone: the console teed to the log
        self._side_failed = False
        self._points = 0
        self._pid = os.getpid()             # a forked child does not finish its parent's run
        self._stale_exc = _last_exception()  # an error from before the run (interactive)
        log = record.get("log")
        if attached and isinstance(log, Mapping) and log.get("path"):
            self.log_path = journal_dir / str(log["path"])

    @property
    def console_teed(self) -> bool:
        return self._console is not None

    def __repr__(self) -> str:
        state = "finished" if self.finished else "attached" if self.attached else "running"
        return f"<journal.Run {self.id} {state}>"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: object) -> None:
        if value is None:
            self.finish()
        else:
            self._end(*_outcome(value))   # the exception goes on

    def log(self, data: Mapping[str, Any] | None = None, step: int | None = None,
            **metrics: Any) -> None:
        """Record metrics: `run.log(loss=0.31, acc=0.82, step=10)`, or a dict as W&B and MLflow
        take it, `run.log({"val/acc": 0.8, "loss": 0.3}, step=10)`. The last value of each is
        kept in the record's [metrics]; every call is kept in the side file with its time and
        step. A value that is no number (text, a huge int, None) never stops the training: one
        warning names it, and it is kept where it can be (the side file; a huge int as a float)."""
        if self.finished:
            raise RuntimeError(f"journal: run {self.id} is finished; start a new one to log more")
        if data is not None and not isinstance(data, Mapping):
            if step is None and isinstance(data, int) and not isinstance(data, bool):
                data, step = None, data              # run.log(10, loss=...): the old order
            else:
                self._warn_once("log", f"run.log() takes a dict of metrics, not "
                                       f"{type(data).__name__}; nothing was logged")
                return
        items = {**{str(k): v for k, v in (data or {}).items()}, **metrics}
        self._sync_params()
        if not items:
            return
        values = {}
        for name, value in items.items():
            # The side file is committed and synced as the record is: a name or a text value
            # shaped like a secret is masked here (each name once: they repeat every step).
            shown = self._names.get(name)
            if shown is None:
                shown = masked = self._redactor.shapes(name)
                if masked != name:      # two masked names must not become one series
                    taken, number = set(self._names.values()), 2
                    while shown in taken:
                        shown, number = f"{masked}_{number}", number + 1
                self._names[name] = shown
            kind = type(value)
            if kind is float or (kind is int and value in INT64):
                values[shown] = value
            else:
                kept = self._metric(name, value)
                values[shown] = kept if isinstance(kept, int | float) \
                    else self._redactor.mapping({shown: kept})[shown]
        entry: dict[str, Any] = {"t": round(time.time(), 3), "metrics": values}
        if step is not None:
            try:
                entry["step"] = step if type(step) is int and step in INT64 else \
                    _within_floats(step_value(step))
            except TypeError as exc:
                self._warn_once("step", f"{str(exc).removeprefix('journal: ')}; "
                                        "logged without a step")
        self.metrics.update({name: value for name, value in values.items()
                             if type(value) in (int, float, bool)})
        self._points += 1
        self._append(entry)

    def log_params(self, params: Any = None, **more: Any) -> None:
        """Add or change params after start: `run.log_params(seed=1)`, `run.log_params(args)`
        (a dict, an argparse.Namespace, a dataclass). `run.params["x"] = 3` is kept too."""
        self.params.update({**plain_params(params), **plain_params(more)})
        self._sync_params()

    def _metric(self, name: str, value: Any) -> Any:
        """A value that is not a plain int or float, as the side file keeps it (with a warning
        when it cannot be a metric)."""
        try:
            number = metric_value(name, value)
        except TypeError:
            self._warn_once(name, f"metric {name!r} is {type(value).__name__}, not a number: "
                                  "kept in the run's series only, not in [metrics]")
            return plain_params({name: value})[name]
        if isinstance(number, int) and not isinstance(number, bool) and number not in INT64:
            shown = str(number) if number.bit_length() < 1000 else \
                f"an int of {number.bit_length()} bits"     # str() refuses 4,300 digits
            self._warn_once(name, f"metric {name!r} = {shown} does not fit in 64 bits: "
                                  "kept as a float")
            return _as_float(number)
        return number

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _warn(message)

    def _sync_params(self) -> None:
        """Params set after start (`run.params[...] = ...`) go to the side file (attached) or
        into the record at its end (standalone); each change is sent once."""
        if self.params == self._sent_params:
            return
        changed = {name: value for name, value in self.params.items()
                   if name not in self._sent_params or self._sent_params[name] != value}
        self._sent_params = dict(self.params)
        if changed and self.attached:
            self._append({"t": round(time.time(), 3),
                          "params": self._redactor.mapping(plain_params(changed))})

    def finish(self) -> None:
        """End the run as `finished`. Standalone, the record gets its metrics now; attached, the
        wrapper writes the record when the script exits."""
        self._end(Status.FINISHED)

    # -- inside the package

    def _append(self, entry: dict[str, Any]) -> None:
        """One line, one write (O_APPEND): lines never interleave, a kill tears at most one."""
        if self._fd is None:
            if self._side_failed:
                return
            try:
                self._fd = sidefile.open_for_append(self._side_file)
            except OSError as exc:
                self._side_broken(exc)
                return
        try:
            text = _encode(entry)
        except (ValueError, OverflowError):     # an int past str()'s 4,300 digits, nested
            text = _encode(_within_floats(entry))
        data = (text + "\n").encode()
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            self._side_broken(exc)

    def _side_broken(self, exc: OSError) -> None:
        # The training goes on; only the per-step file is given up (the last values are kept).
        self._side_failed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        _warn(f"cannot write {self._side_file}: {exc.strerror}; metrics are kept in memory only")

    def _end(self, status: str, error: str | None = None, exit_code: int | None = None) -> None:
        global _current
        if self.finished or os.getpid() != self._pid:
            return
        self._sync_params()
        self.finished = True
        if _current is self:
            _current = None
        for watcher in _watchers:
            watcher.run_ended(self.id)
        if error:
            error = self._redactor.text(error)[:_MAX_ERROR]
        if self.attached:
            if status != Status.FINISHED:
                self._append({"t": round(time.time(), 3), "status": status, "error": error})
        else:
            self._write_record(status, error, exit_code)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write_record(self, status: str, error: str | None, exit_code: int | None) -> None:
        from journal.capture.recording import finish_run, note_series
        from journal.render.report import final_report

        opened = self._opened
        assert opened is not None
        record = opened.record
        if self.params:
            from journal.record import merge_params

            record["params"] = merge_params(record.get("params", {}), plain_params(self.params))
        metrics = {**record.get("metrics", {}), **sidefile.storable(self.metrics)}
        if metrics:
            record["metrics"] = metrics
        if not self._side_failed:
            note_series(opened, self._points)
        if error:
            record["error"] = error
        if self._console is not None:
            self._console.stop()
            self._console = None
        record["environment"] = {**record.get("environment", {}), **_this_interpreter()}
        log = record.get("log")
        if self.log_path is not None and log is not None:
            try:
                log["bytes"] = self.log_path.stat().st_size
            except OSError:
                pass
        finish_run(opened, _warn, status=status, exit_code=exit_code)
        if not self._quiet:
            _say_block(final_report(opened.record, self.journal_dir))

    def _open_log_file(self) -> Path | None:
        """Standalone: the run's own log, `.journal/logs/<id>.log`, named in the record at once.
        None (and a warning) when it cannot be created: the script goes on without it."""
        if self.log_path is not None:
            return self.log_path
        from journal.errors import StoreError
        from journal.store.paths import log_path, relative_to_journal

        path = log_path(self.journal_dir, self.id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError as exc:
            _warn(f"cannot create the log {path}: {exc.strerror}; logging to the console only")
            return None
        self.log_path = path
        if self._opened is not None:
            from journal.capture.recording import write_record

            self._opened.record["log"] = {"path": relative_to_journal(self.journal_dir, path),
                                          "bytes": 0}
            try:
                write_record(self._opened)
            except StoreError as exc:
                _warn(exc.message)   # the final write names the log anyway
        return path


def start(note: str | None = None, params: Any = None, tags: Iterable[str] = (), *,
          quiet: bool = False, console: bool = True) -> Run:
    """Start a run: attach to the `journal new` wrapper's record if there is one, else write a
    new record (code state captured as by `journal new`; `command` is sys.argv). A run still
    going in this process is finished first. `quiet`: no final report on stderr (standalone).
    `console`: standalone, what the script prints also goes to the run's log (as under
    `journal new`)."""
    global _current
    if _current is not None and not _current.finished and _current._pid == os.getpid():
        _current.finish()
    plain = plain_params(params)
    tag_list = [tags] if isinstance(tags, str) else [str(tag) for tag in tags]
    run = _attach(note, plain, tag_list) or _standalone(note, plain, tag_list, quiet, console)
    _current = run
    _install_exit_hook()
    for watcher in _watchers:
        watcher.run_started(run)
    return run


def log(data: Mapping[str, Any] | None = None, step: int | None = None, **metrics: Any) -> None:
    """`run.log(...)` on the current run (started now if there is none)."""
    (_current or start()).log(data, step, **metrics)


def current_run() -> Run | None:
    return _current


def logger(name: str | None = None) -> logging.Logger:
    """A standard `logging.Logger`: plain lines on the console, timestamped lines in the run's
    log file, and the run id, git revision and params at the top. Bound to the current run, or to
    the next one started (until then, console only). Calling it again adds no handlers."""
    import journal.api.runlog as runlog

    if runlog not in _watchers:
        _watchers.append(runlog)
    return runlog.bind(_current, name)


# -- attached or standalone


def _attach(note: str | None, params: dict[str, Any], tags: list[str]) -> Run | None:
    """The wrapper's run, when this script runs under `journal new` and that run is going."""
    run_id = os.environ.get("JOURNAL_RUN_ID", "")
    folder = os.environ.get("JOURNAL_DIR", "")
    if not run_id or not folder or not is_valid_id(run_id):
        return None
    from pathlib import Path

    from journal.redact import Redactor
    from journal.store.config import load_config
    from journal.store.paths import run_path
    from journal.store.records import read_record

    journal_dir = Path(folder).resolve()
    record = read_record(run_path(journal_dir, run_id), None)
    if record is None or record.get("status") != Status.RUNNING:
        return None   # left over in the environment: this script gets a run of its own
    config = load_config(journal_dir)
    redactor = Redactor(config.redact_names, config.redact_values, os.environ)
    params = redactor.mapping(params)
    if params:
        record["params"] = {**record.get("params", {}), **params}
    run = Run(run_id, journal_dir, redactor, attached=True, record=record)
    if params:
        run._append({"t": round(time.time(), 3), "params": params})
    if note or tags:
        amended = _join_note_and_tags(run_path(journal_dir, run_id), redactor,
                                      redactor.text(note or ""), [redactor.text(t) for t in tags])
        if amended is not None:
            record["note"], record["tags"] = amended.get("note", ""), amended.get("tags", [])
    return run


def _join_note_and_tags(path: Path, redactor: Redactor, note: str, tags: list[str]
                        ) -> Record | None:
    """The script's note and tags join the wrapper's. These are the fields the wrapper's final
    write takes from disk (as for `journal note`), so this locked write cannot be overwritten."""
    from journal.errors import StoreError
    from journal.store.records import rewrite_record

    def join(current: Record | None) -> Record | None:
        if current is None:
            return None
        old_note = str(current.get("note") or "")
        old_tags = list(current.get("tags") or [])
        new_note = old_note
        if note and note not in old_note.split("\n\n"):
            new_note = f"{old_note}\n\n{note}" if old_note else note
        new_tags = list(dict.fromkeys([*old_tags, *tags]))
        if (new_note, new_tags) == (old_note, old_tags):
            return None
        return {**current, "note": new_note, "tags": new_tags}

    try:
        return rewrite_record(path, join, mask=redactor.record)
    except (StoreError, OSError) as exc:
        _warn(f"could not add the note and tags to run {path.stem}: {exc}")
        return None


def _standalone(note: str | None, params: dict[str, Any], tags: list[str], quiet: bool,
                console: bool) -> Run:
    from pathlib import Path

    from journal.capture.recording import NewRun, open_run
    from journal.store.context import Context

    context = Context.find(Path.cwd(), os.environ)
    request = NewRun(command=list(sys.argv), note=note, tags=tags, params=params)
    opened = open_run(request, context, warn=_warn, running=True, with_log=False)
    run = Run(opened.run_id, context.journal_dir, opened.redactor, attached=False,
              record=opened.record, opened=opened, quiet=quiet)
    _install_signal_hooks()
    if console and _console_is_ours():
        from journal.api.console import ConsoleTee

        log_file = run._open_log_file()
        if log_file is not None:
            run._console = ConsoleTee.start(log_file, opened.redactor, list(sys.argv))
    return run


def _this_interpreter() -> dict[str, Any]:
    """The `[environment]` a standalone run adds at its end, as `journal new`'s hook would
    report it: this interpreter and the distributions of the modules the script imported."""
    from journal.capture.pyhook import _journal_hook as hook

    found: dict[str, Any] = {"python": "%d.%d.%d" % sys.version_info[:3],
                             "executable": sys.executable}
    try:
        packages = hook.packages()
        gpus = hook.gpus()
    except Exception:          # never the end of a run over this
        return found
    if packages is not None:
        found["packages"] = packages
    if gpus:
        found["gpus"] = gpus
    return found


def _console_is_ours() -> bool:
    """sys.stdout and sys.stderr write to fds 1 and 2 (not a notebook's own streams)."""
    try:
        return sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


# -- how a run ends


def _install_exit_hook() -> None:
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(_at_exit)
        _exit_hook_installed = True


def _install_signal_hooks() -> None:
    """Standalone, SIGTERM and SIGHUP (a scheduler's time limit, a closed ssh session) would kill
    the script without atexit: the record would stay `running`. Where the script left them at the
    default (it may have its own handlers), the run is ended `killed` first, then the signal does
    what it would have done. Under `journal new` the wrapper records this instead."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return      # signal handlers can only be set from the main thread
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _on_fatal_signal)


def _on_fatal_signal(signum: int, _frame: object) -> None:
    import signal

    run = _current
    try:
        if run is not None and not run.finished and run._pid == os.getpid():
            run._end(Status.KILLED, f"killed by {signal.Signals(signum).name}", 128 + signum)
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _at_exit() -> None:
    """A run still going when the interpreter exits ends here: `failed` (or `interrupted`) when
    an exception killed the script. Python sets sys.last_exc/last_value for an uncaught exception
    before atexit runs, so this sees it whatever the script did to sys.excepthook."""
    run = _current
    if run is None or run.finished or run._pid != os.getpid():
        return
    exc = _last_exception()
    if exc is not None and exc is not run._stale_exc:
        run._end(*_outcome(exc))
    else:
        run._end(Status.FINISHED)


def _last_exception() -> BaseException | None:
    return getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)


def _outcome(exc: BaseException) -> tuple[str, str | None, int | None]:
    """(status, error, exit code) for a run ended by `exc`."""
    if isinstance(exc, KeyboardInterrupt):
        return Status.INTERRUPTED, "KeyboardInterrupt", None
    if isinstance(exc, SystemExit):
        if exc.code in (None, 0):
            return Status.FINISHED, None, None
        return Status.FAILED, f"SystemExit: {exc.code}", exc.code if isinstance(exc.code, int) else 1
    message = str(exc)
    name = type(exc).__name__
    return Status.FAILED, f"{name}: {message}" if message else name, None


def _warn(message: str) -> None:
    from journal.text import printable

    _say_block(f"journal: {printable(message)}\n")


def _say_block(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass   # no stderr (closed, or pythonw): the record has it all

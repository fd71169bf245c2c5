"""`journal tail`: print a run's log, or follow it while the run is going.

What `ls -t logs/* | head -1 | xargs tail -f` did by hand, made to know the run: `-f` stops by
itself when the run ends (the record leaves `running`, or its wrapper on this host is gone), and
the log is shown through `logtext` so nothing the program printed can drive the reader's
terminal (`--raw` gives the bytes as they are).

Following is by descriptor, not by name: the wrapper keeps writing through the descriptor it
opened, so a log renamed away (rotated) still grows where we read it. A log truncated in place
(`logrotate copytruncate`, `: > log`) is read again from its new start, as `tail -f` does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from journal.errors import JournalError
from journal.record import THIS_HOST, Status, StoredRun, effective_status, table
from journal.render.logtext import LogCleaner
from journal.store.files import open_regular
from journal.store.records import read_record
from journal.store.runfiles import (
    log_file,
    partial_copy,
    start_of_last_lines,
    stayed_behind,
)
from journal.store.source import RunSource
from journal.text import printable

CHUNK = 1 << 20        # bytes read and written at a time: memory stays flat for a 10 GB log
POLL = 0.2             # seconds between looks at a log that has stopped growing
STATUS_EVERY = 0.5     # seconds between re-reads of the record while following
WAIT_NOTE_AFTER = 0.5  # seconds a follower waits silently for a log that is not there yet
EXIT_INTERRUPTED = 130     # Ctrl-C, as a shell reports a job stopped by SIGINT
EXIT_BROKEN_PIPE = 141     # the reader went away (`| head`), as for SIGPIPE


class LogUnavailable(JournalError):
    """The run has no log to show: a note-only entry, or its log file is gone."""


def tail_log(source: RunSource, ref: str, *, follow: bool, lines: int | None, raw: bool,
             out: IO[bytes], colour: bool, poll: float = POLL) -> int:
    """Print the log of run `ref` to `out` (binary); the exit code. `lines`: only the last N.
    `follow`: keep printing what the run writes until it ends. `raw`: bytes unchanged;
    otherwise cleaned of escapes, keeping the log's colours with `colour`."""
    writer = _Writer(out, None if raw else LogCleaner(keep_colour=colour))
    try:
        run = source.resolve(ref)
        path = _log_to_show(source.journal_dir, run)
        handle = _open(run, path, follow, poll, source.warn)
        with handle:
            partial = partial_copy(path, os.fstat(handle.fileno()).st_size)
            if partial:
                source.warn(f"the log of run {run.id} here is {partial}")
            if lines is not None:
                handle.seek(start_of_last_lines(handle, lines))
            writer.copy(handle)
            if follow:
                host = run.record.get("host")
                if run.status == Status.RUNNING and isinstance(host, str) and host != THIS_HOST:
                    source.warn(f"run {run.id} runs on {printable(host)}: its new output "
                                "arrives here with each journal sync")
                _follow(run, handle, path, writer, source.warn, poll)
        writer.finish()
    except KeyboardInterrupt:
        # Stopping a follow is the normal way out of it: no traceback, no "Aborted!", and what
        # was read is shown. 130 (not 0) so a script can tell "I stopped it" from "the run ended".
        try:
            writer.finish()
        except (OSError, KeyboardInterrupt):
            pass
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence(out)
        return EXIT_BROKEN_PIPE
    return 0


def _log_to_show(journal_dir: Path, run: StoredRun) -> Path:
    """The run's log file, from the record. Records may come from other machines (git pull,
    rsync): a log path that leaves the journal folder is refused, never opened."""
    relative = table(run.record, "log").get("path")
    if not isinstance(relative, str) or not relative:
        why = "it is a note-only entry" if not run.record.get("command") else \
            "its output was not captured"
        raise LogUnavailable(f"run {run.id} has no log: {why}",
                             hint=f"`journal show {run.id}` shows its record")
    path = log_file(run.record, journal_dir)
    if path is None:
        raise LogUnavailable(f"run {run.id}: its log path {printable(relative)!r} is outside "
                             f"the journal folder; not opened")
    return path


class _Writer:
    """Copies log bytes to `out`, cleaned unless raw, flushed per chunk so a follower sees
    output as the run writes it."""

    def __init__(self, out: IO[bytes], cleaner: LogCleaner | None) -> None:
        self.out = out
        self.cleaner = cleaner
        self.coloured = False

    def write(self, data: bytes) -> None:
        if self.cleaner is not None:
            data = self.cleaner.feed(data)
            # Only SGR survives cleaning, so any ESC written means colour may be left on.
            self.coloured = self.coloured or b"\x1b" in data
        self._put(data)

    def _put(self, data: bytes) -> None:
        # A buffered write may take only part of a big chunk (a signal, or a reader that went
        # away mid-write): write the rest, which also surfaces the broken pipe.
        view = memoryview(data)
        while view:
            written = self.out.write(view)
            view = view[len(view) if written is None else written:]
        if data:
            self.out.flush()

    def copy(self, handle: IO[bytes]) -> int:
        """Everything from the current position to the end of the file; bytes copied."""
        total = 0
        while chunk := handle.read(CHUNK):
            self.write(chunk)
            total += len(chunk)
        return total

    def finish(self) -> None:
        """What the cleaner still holds (a last line without its newline), and a colour reset
        when a log cut short mid-colour would leave the terminal coloured."""
        if self.cleaner is None:
            return
        data = self.cleaner.flush()
        if self.coloured or b"\x1b" in data:
            data += b"\x1b[0m"
            self.coloured = False
        self._put(data)


def _open(run: StoredRun, path: Path, follow: bool, poll: float, warn: Callable[[str], None]
          ) -> IO[bytes]:
    """The log, open for reading. A run is on record a moment before its log is created, so a
    follower waits for the file while the run is `running` (and says so if it takes long)."""
    waiting_since = time.monotonic()
    over = _RunEnd(run)
    said = False
    while True:
        try:
            return open_regular(path)
        except FileNotFoundError:
            if not follow:
                break
            now = time.monotonic()
            if over.seen(now):
                break
            if not said and now - waiting_since >= WAIT_NOTE_AFTER:
                warn(f"waiting for the log of run {run.id} to appear: {path}")
                said = True
            time.sleep(poll)
        except OSError as exc:
            raise LogUnavailable(f"cannot read the log of run {run.id} ({path}): "
                                 f"{exc.strerror}") from None
    behind = stayed_behind(path)
    if behind is not None:
        raise LogUnavailable(f"the log of run {run.id} {behind}",
                             hint="to bring it: raise [sync] max_file_bytes on the machine that "
                                  "has it and here, then sync both")
    raise LogUnavailable(f"the log of run {run.id} is missing: {path}",
                         hint="it was deleted or moved; `journal show` still has the record")


def _follow(run: StoredRun, handle: IO[bytes], path: Path, writer: _Writer,
            warn: Callable[[str], None], poll: float) -> None:
    """Print what the run writes until it ends, then what is left. The wrapper closes the log
    before it records the end, so once the record says the run is over the log is complete. A
    log replaced by a longer copy (`journal sync` bringing another machine's run further) is
    followed on from where the old one ended."""
    over = _RunEnd(run)
    current = handle
    try:
        while True:
            if writer.copy(current):
                continue
            if os.fstat(current.fileno()).st_size < current.tell():
                warn(f"the log of run {run.id} was truncated; following it from its new start")
                writer.finish()
                current.seek(0)
                continue
            replaced = _replacement(path, current)
            if replaced is not None:
                current = replaced
                continue
            if over.seen(time.monotonic()):
                replaced = _replacement(path, current)   # the last copy came with the end
                if replaced is not None:
                    current = replaced
                    continue
                break
            time.sleep(poll)
        writer.copy(current)
    finally:
        if current is not handle:
            current.close()


def _replacement(path: Path, handle: IO[bytes]) -> IO[bytes] | None:
    """The file now at `path`, positioned where `handle` is, when it is another file than
    `handle`'s (replaced, as `journal sync` replaces a log it brings further); else None."""
    try:
        if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
            return None
        replaced = open_regular(path)
    except OSError:
        return None
    replaced.seek(min(handle.tell(), os.fstat(replaced.fileno()).st_size))
    return replaced


class _RunEnd:
    """Whether a followed run has ended, asked of its record at most every STATUS_EVERY seconds
    (a poll of the log is cheap; reading the record is not)."""

    def __init__(self, run: StoredRun) -> None:
        self.run = run
        self._next_check = 0.0

    def seen(self, now: float) -> bool:
        if now < self._next_check:
            return False
        self._next_check = now + STATUS_EVERY
        return _current_status(self.run) != Status.RUNNING


def _current_status(run: StoredRun) -> str:
    """The run's status now (its record is rewritten when it ends): `crashed` when its wrapper
    on this host is gone; a record that has disappeared counts as over."""
    record = read_record(run.path, None)
    return "gone" if record is None else effective_status(record)


def _silence(out: IO[bytes]) -> None:
    """The reader closed the pipe: point our stdout at /dev/null, so the interpreter's final
    flush does not fail again with a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass

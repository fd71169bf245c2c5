"""Run the child: its output reaches the user unchanged and the log as well; signals reach it first.

Knows nothing of git or records. Output goes through pipes (byte-exact) or, for a stream whose
destination is a terminal, through a pseudo-terminal so colours and progress bars look as they do
without `journal`. `journal` never changes the child's fate: when the log or the terminal fails,
the child keeps running, and its exit status passes through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from journal.capture.sinks import LogMasker, MaskedLog, Sink, open_log

if TYPE_CHECKING:
    from journal.capture.keeper import Keeper

# Signals that end a run (the record says it was interrupted or killed), and signals programs use
# to be told something (SLURM's `--signal=USR1@60` before a time limit, a checkpoint request):
# both go to the command while it runs; only the first change how the run is recorded.
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
PASSED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)
FORWARDED_SIGNALS = ENDING_SIGNALS + PASSED_SIGNALS
_CHUNK = 65536
_TICK = 0.1         # seconds between looks at the child, the window size and the signals


class Orphan(Protocol):
    """What a record is told when its wrapper is killed while the command runs (in the keeper)."""

    def taken_over(self, keeper_pid: int) -> None: ...
    def orphaned(self) -> None: ...


@dataclass
class RunResult:
    exit_code: int                      # what `journal` exits with, as a shell would report it
    child_signal: int | None = None     # the signal that killed the child
    received_signal: int | None = None  # the first signal `journal` got and forwarded
    error: str | None = None            # the child could not be started
    problems: list[str] = field(default_factory=list)   # log or terminal failures, for the record
    log_bytes: int = 0
    ended_at: float | None = None       # time.monotonic() when the child was seen to end


def _is_foreground_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


def _window_size(fd: int) -> bytes | None:
    import fcntl
    import termios

    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None


def _set_window_size(fd: int, size: bytes) -> None:
    import fcntl
    import termios

    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


class _SizeFollower:
    """Keeps each pseudo-terminal the size of the user's terminal when it is resized. The kernel
    tells only the terminal's foreground group (the child, or `journal`, depending on who has
    the keyboard), and the child would then read its pseudo-terminal's old size: so `journal`
    looks at the size a few times a second and, on a change, resizes and signals SIGWINCH itself."""

    INTERVAL = 0.2

    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        self.pairs = pairs                  # (the user's terminal, our pseudo-terminal's master)
        self.sizes = {user: _window_size(user) for user, _master in pairs}
        self.due = time.monotonic() + self.INTERVAL

    def check(self, process_group: int) -> None:
        if not self.pairs or time.monotonic() < self.due:
            return
        self.due = time.monotonic() + self.INTERVAL
        changed = False
        for user, master in self.pairs:
            size = _window_size(user)
            if size is not None and size != self.sizes[user]:
                self.sizes[user] = size
                _set_window_size(master, size)
                changed = True
        if changed:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process_group, signal.SIGWINCH)


def _open_pty_like(terminal_fd: int) -> tuple[int, int]:
    """A pseudo-terminal the size of `terminal_fd`, passing output bytes through untranslated."""
    import termios

    master, slave = os.openpty()
    size = _window_size(terminal_fd)
    if size is not None:
        _set_window_size(slave, size)
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST   # no \n -> \r\n here: the user's terminal does that itself
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


class SignalRelay:
    """journal's answer to SIGINT, SIGTERM, SIGHUP and SIGQUIT (and SIGUSR1, SIGUSR2, which are
    passed on and change nothing in the record), from before the child starts until the
    record is final (a context manager around both), and noted only after it, to the exit.

    While the child runs, each signal goes to its process group, and journal stays up to record
    how the run ended. Once the child has ended, a signal changes nothing in the record (it states
    the child's fate) and journal still exits with the child's code: it only ends the wait for
    output that the child's own children still write (`late`). A signal this process inherited
    as ignored (`nohup`, a background job of a script) stays ignored, and the child inherits it
    so, as it would without journal."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None   # the child, once it runs
        self.child_ended = False
        self.received: list[int] = []         # while the child could still be told
        self.late: list[int] = []             # after it had ended
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalRelay:
        for sig in FORWARDED_SIGNALS:
            if signal.getsignal(sig) != signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        # The record is final and journal is about to exit with the child's code: a signal now
        # is too late to matter, and must not make journal die of it instead. The handlers stay
        # (noting, as after the child's end); a caller that goes on living may `restore()` the
        # ones it had. (Not SIG_IGN: a command started later in this process would inherit it.)
        self.child_ended = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        # The child may have ended a moment before journal noticed: ask (a poll that finds the
        # wait busy in the main flow answers None, and the signal is then the child's).
        if self.child_ended or (self.process is not None and self.process.poll() is not None):
            if signum in ENDING_SIGNALS:
                self.late.append(signum)
            return
        if signum in ENDING_SIGNALS:
            self.received.append(signum)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)   # the child leads its own process group

    def started(self, process: subprocess.Popen[bytes]) -> None:
        """The child runs: signals that came while it was being started reach it now."""
        self.process = process
        for signum in self.received:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signum)

    @property
    def first(self) -> int | None:
        return self.received[0] if self.received else None


def _take_terminal(terminal_fd: int) -> None:
    """Make the calling process group the terminal's foreground one (as a shell does for a job),
    so the child can read the keyboard (pdb, prompts) and Ctrl-C reaches it directly."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(terminal_fd, os.getpgrp())
    finally:
        signal.signal(signal.SIGTTOU, previous)


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_file: Path,
    relay: SignalRelay,
    stdout_fd: int | None = None,
    stderr_fd: int | None = None,
    watch: Callable[[int, bytes], None] | None = None,
    log_masker: LogMasker | None = None,
    orphan: Orphan | None = None,
) -> RunResult:
    """Run `argv`, copying its output through and to `log_file`, with `relay` (entered by the
    caller) passing signals on. `watch(stream, data)`, if given, sees every chunk after it was
    passed on (stream 0 is stdout, 1 is stderr), so it never delays the bytes; if it fails, it is
    dropped and the run goes on. `log_masker` masks secrets in what goes to the log (the
    terminal gets the output as it is). `orphan`: what to tell the record if this process is
    killed while its command runs (capture/keeper.py copies the output on)."""
    stdout_fd = sys.stdout.fileno() if stdout_fd is None else stdout_fd
    stderr_fd = sys.stderr.fileno() if stderr_fd is None else stderr_fd
    problems: list[str] = []
    if not argv or not argv[0]:
        return RunResult(127, error="command not found: ''", problems=problems)   # as bash says
    if relay.received:          # Ctrl-C (or another signal) while the run was put on record
        signum = relay.received[0]
        problems.append(f"not started: {signal.Signals(signum).name} came first")
        return RunResult(128 + signum, received_signal=signum, problems=problems)
    log = open_log(log_file, problems)
    streams: list[tuple[int, Sink]] = []   # (read end, where it goes)
    child_ends: list[int] = []
    terminals: list[tuple[int, int]] = []   # (the user's terminal, our pseudo-terminal)
    try:
        for fd, name in ((stdout_fd, "stdout"), (stderr_fd, "stderr")):
            if os.isatty(fd):
                read_end, write_end = _open_pty_like(fd)
                terminals.append((fd, read_end))
            else:
                read_end, write_end = os.pipe()
            streams.append((read_end, Sink(fd, f"writing to {name}", problems)))
            child_ends.append(write_end)
        hand_over_terminal = _is_foreground_terminal(0)
        try:
            process = subprocess.Popen(
                list(argv), stdout=child_ends[0], stderr=child_ends[1], env=dict(env),
                process_group=None if hand_over_terminal else 0,
                preexec_fn=_child_in_foreground if hand_over_terminal else None,
            )
        except FileNotFoundError:
            return RunResult(127, error=f"command not found: {argv[0]}", problems=problems)
        except OSError as exc:
            return RunResult(126, error=f"cannot execute {argv[0]}: {exc.strerror}",
                             problems=problems)
        finally:
            for end in child_ends:
                os.close(end)
        relay.started(process)
        masked_log = MaskedLog(log, log_masker)
        keeper = None
        if orphan is not None:
            from journal.capture.keeper import Keeper

            keeper = Keeper.start(streams, masked_log, orphan.taken_over, orphan.orphaned)
        try:
            returncode, ended_at = _pump(streams, masked_log, process, relay, watch, problems,
                                         _SizeFollower(terminals), keeper)
        finally:
            if keeper is not None:
                keeper.dismiss()
        if hand_over_terminal:
            with contextlib.suppress(OSError):
                _take_terminal(0)
    finally:
        for read_end, _sink in streams:
            with contextlib.suppress(OSError):
                os.close(read_end)
        if log.fd is not None:
            os.close(log.fd)
    child_signal = -returncode if returncode < 0 else None
    return RunResult(
        exit_code=128 + child_signal if child_signal else returncode,
        child_signal=child_signal,
        received_signal=relay.first,
        problems=problems,
        log_bytes=log.written,
        ended_at=ended_at,
    )


def _child_in_foreground() -> None:
    """Runs in the child between fork and exec: its own process group, in the terminal's foreground."""
    os.setpgid(0, 0)
    _take_terminal(0)


def _pump(streams: list[tuple[int, Sink]], log: MaskedLog, process: subprocess.Popen[bytes],
          relay: SignalRelay, watch: Callable[[int, bytes], None] | None, problems: list[str],
          sizes: _SizeFollower, keeper: Keeper | None) -> tuple[int, float]:
    """Copy the child's output to where it belongs and to the log, as it comes (the log is written
    unbuffered: a SIGKILL of `journal` loses nothing already read), until every writer has closed
    it: the child's own children may write after it ended, as with `cmd | cat`. A signal after
    the child ended ends that wait. Returns the child's return code and when it ended."""
    selector = selectors.DefaultSelector()
    for index, (read_end, sink) in enumerate(streams):
        selector.register(read_end, selectors.EVENT_READ, (index, sink))
    returncode: int | None = None
    ended_at = 0.0
    while selector.get_map():
        events = selector.select(_TICK)
        if returncode is None:
            sizes.check(process.pid)    # the child leads its own process group
        log.tick()
        for key, _mask in events:
            try:
                data = os.read(key.fd, _CHUNK)
            except OSError as exc:   # a pseudo-terminal reports EIO once the child side is closed
                if exc.errno not in (errno.EIO, errno.EBADF):
                    raise
                data = b""
            if not data:
                selector.unregister(key.fd)
                continue
            index, sink = key.data
            # The log first: a wrapper killed between the two writes has the output on record
            # (its keeper copies on from the next read), and the terminal loses at most a chunk.
            log.write(data)
            sink.write(data)
            if sink.reader_gone:
                # The reader of journal's output went away (`| head`): the child's next write
                # must find its pipe closed too, as it would without journal (SIGPIPE, EPIPE).
                selector.unregister(key.fd)
                _close_read_end(streams, key.fd)
                if keeper is not None:
                    keeper.let_go(index)
            if watch is not None:
                try:
                    watch(index, data)
                except Exception as exc:   # a scanning bug must not stop the copying
                    problems.append(f"reading metrics from the output stopped: {exc!r}")
                    watch = None
        if returncode is None:
            returncode = process.poll()
            if returncode is not None:
                ended_at = time.monotonic()
                relay.child_ended = True
        elif relay.late:
            break   # Ctrl-C while late output is awaited ends the wait (the record is the child's)
    selector.close()
    if returncode is None:
        returncode = process.wait()
        ended_at = time.monotonic()
        relay.child_ended = True
    log.close()
    return returncode, ended_at


def _close_read_end(streams: list[tuple[int, Sink]], fd: int) -> None:
    """Close a read end now, and take it out of `streams` so it is not closed twice (its number
    may belong to another file by then)."""
    os.close(fd)
    streams[:] = [(read_end, sink) for read_end, sink in streams if read_end != fd]

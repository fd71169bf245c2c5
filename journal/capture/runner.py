"""Run the child: its output reaches the user unchanged and the log as well; signals reach it first.

Knows nothing of git or records. Output goes through pipes (byte-exact) or, for a stream whose
destination is a terminal, through a pseudo-terminal so colours and progress bars look as they do
without `journal`. `journal` never changes the child's fate: when the log or the terminal fails,
the child keeps running, and its exit status passes through.
"""

from __future__ import annotations

import contextlib
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

from journal.capture.keeper import CannotStart, Inbox, Orphan, start_command
from journal.capture.sinks import CHUNK, LogMasker, MaskedLog, Sink, open_log, pass_on

if TYPE_CHECKING:
    from journal.capture.keeper import Keeper

# Signals that end a run (the record says it was interrupted or killed), and signals programs use
# to be told something (SLURM's `--signal=USR1@60` before a time limit, a checkpoint request):
# both go to the command while it runs; only the first change how the run is recorded.
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
PASSED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)
FORWARDED_SIGNALS = ENDING_SIGNALS + PASSED_SIGNALS
_TICK = 0.1         # seconds between looks at the child, the window size and the signals


@dataclass
class RunResult:
    exit_code: int                      # what `journal` exits with, as a shell would report it
    child_signal: int | None = None     # the signal that killed the child
    received_signal: int | None = None  # the first signal `journal` got and forwarded
    error: str | None = None            # the child could not be started
    problems: list[str] = field(default_factory=list)   # log or terminal failures, for the record
    log_bytes: int = 0
    ended_at: float | None = None       # time.monotonic() when the child was seen to end
    had_terminal: bool = False          # the command was given the terminal (the keyboard)
    # Call once the run is on record: the keeper (the command's parent) stays until then, to
    # record the end itself if this process is killed while it writes the record.
    dismiss: Callable[[], None] = lambda: None


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


def _enlarge(pipe: int) -> None:
    """A 1 MiB pipe instead of 64 KiB: a chatty command's output is copied in 16x fewer rounds
    (each a read, two writes and a look for secrets). Where it cannot be had, as it is."""
    import fcntl

    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(pipe, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)


def same_file(first: int, second: int) -> bool:
    """Both descriptors are one file, pipe or terminal (`> out.txt 2>&1`, `2>&1 | tee`)."""
    try:
        a, b = os.fstat(first), os.fstat(second)
    except OSError:
        return False
    return (a.st_dev, a.st_ino, a.st_rdev) == (b.st_dev, b.st_ino, b.st_rdev)


def same_terminal(first: int, second: int) -> bool:
    """Both descriptors are one terminal (not merely two terminals)."""
    return os.isatty(first) and os.isatty(second) and same_file(first, second)


def open_pty_like(terminal_fd: int) -> tuple[int, int]:
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
        self.process: Child | None = None      # the child, once it runs
        self.child_ended = False
        self.received: list[int] = []         # while the child could still be told
        self.late: list[int] = []             # after it had ended
        self._previous: dict[int, Any] = {}
        self._handling = False                # a signal is being handled: more wait their turn
        self._waiting: list[int] = []

    def __enter__(self) -> SignalRelay:
        for sig in FORWARDED_SIGNALS:
            if signal.getsignal(sig) != signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def defaults(self) -> list[int]:
        """The signals the command gets back at their defaults: all that journal's keeper ignores,
        but those this process itself inherited ignored (nohup), which stay ignored."""
        from journal.capture.keeper import IGNORED_BY_THE_KEEPER

        return [sig for sig in IGNORED_BY_THE_KEEPER
                if sig in self._previous or (sig not in FORWARDED_SIGNALS
                                             and signal.getsignal(sig) != signal.SIG_IGN)]

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
        # A burst of signals would nest handlers as deep as it is long (Python runs a handler
        # between any two bytecodes, another handler's too): one handles, the others queue.
        if self._handling:
            self._waiting.append(signum)
            return
        self._handling = True
        try:
            self._take(signum)
            while self._waiting:
                self._take(self._waiting.pop(0))
        finally:
            self._handling = False

    def _take(self, signum: int) -> None:
        # The child may have ended a moment before journal noticed: look, without reading
        # anything (a read here could take what the main flow is about to read).
        if self.child_ended or (self.process is not None and self.process.seems_ended()):
            if signum in ENDING_SIGNALS:
                self.late.append(signum)
            return
        if signum in ENDING_SIGNALS:
            self.received.append(signum)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)   # the child leads its own process group

    def started(self, process: Child) -> None:
        """The child runs: signals that came while it was being started reach it now."""
        self.process = process
        for signum in self.received:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signum)

    @property
    def first(self) -> int | None:
        return self.received[0] if self.received else None


def _process_state(pid: int) -> bytes:
    """The state letter of /proc/PID/stat (R, S, T for stopped, Z, ...), or b"" if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2][1:2]
    except OSError:
        return b""


def _follow_a_stop(pid: int) -> None:
    """Ctrl-Z stops the command, which has the terminal; its shell waits for `journal`, which
    must then stop too, or the shell hangs with no prompt. When the shell continues journal
    (`fg`, `bg`), journal continues the command, and gives it the terminal back if journal has it."""
    if _process_state(pid) != b"T":
        return
    with contextlib.suppress(OSError):
        _take_terminal(0)
    os.kill(os.getpid(), signal.SIGSTOP)
    # ... continued: in the foreground (`fg`) or not (`bg`)
    if _is_foreground_terminal(0):
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(0, pid)
        finally:
            signal.signal(signal.SIGTTOU, previous)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGCONT)


def _pid_gone(pid: int) -> bool:
    """The process has ended (a zombie counts: it has, though no one has waited for it yet)."""
    return _process_state(pid) in (b"Z", b"X")    # unknown (no /proc): not gone


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
    inbox: Inbox | None = None,
) -> RunResult:
    """Run `argv`, copying its output through and to `log_file`, with `relay` (entered by the
    caller) passing signals on. `watch(stream, data)`, if given, sees every chunk after it was
    passed on (stream 0 is stdout, 1 is stderr), so it never delays the bytes; if it fails, it is
    dropped and the run goes on. `log_masker` masks secrets in what goes to the log (the
    terminal gets the output as it is). With `orphan`, the command is started by a keeper
    (capture/keeper.py) that tells `orphan` how the run ended if this process is killed.
    `inbox` (the Python hook's reports, capture/hook.py) is served while the output is copied."""
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
        if same_terminal(stdout_fd, stderr_fd):
            # One pseudo-terminal for both, as a plain run has one terminal for both: what the
            # command writes to either arrives in the order written (tracebacks, progress bars).
            read_end, write_end = open_pty_like(stdout_fd)
            terminals.append((stdout_fd, read_end))
            streams.append((read_end, Sink(stdout_fd, "writing to the terminal", problems)))
            child_ends += [write_end, write_end]
        elif same_file(stdout_fd, stderr_fd):
            # `> out.txt 2>&1`: one pipe for both, so the file gets them in the order written,
            # as it would without journal.
            read_end, write_end = os.pipe()
            _enlarge(read_end)
            streams.append((read_end, Sink(stdout_fd, "writing to stdout and stderr", problems)))
            child_ends += [write_end, write_end]
        else:
            for fd, name in ((stdout_fd, "stdout"), (stderr_fd, "stderr")):
                if os.isatty(fd):
                    read_end, write_end = open_pty_like(fd)
                    terminals.append((fd, read_end))
                else:
                    read_end, write_end = os.pipe()
                    _enlarge(read_end)
                streams.append((read_end, Sink(fd, f"writing to {name}", problems)))
                child_ends.append(write_end)
        masked_log = MaskedLog(log, log_masker)
        try:
            child = _start(argv, env, child_ends, _is_foreground_terminal(0), relay, streams,
                           masked_log, orphan, inbox)
        except CannotStart as exc:
            return RunResult(exc.code, error=exc.message, problems=problems)
        finally:
            for end in set(child_ends):
                with contextlib.suppress(OSError):
                    os.close(end)
        relay.started(child)
        if inbox is not None:
            inbox.started(child.pid)
        try:
            returncode, ended_at = _pump(streams, masked_log, child, relay, watch, problems,
                                         _SizeFollower(terminals), inbox)
            child.wait()
        except BaseException:
            child.dismiss()
            raise
        if child.owns_terminal:
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
        dismiss=child.dismiss,
        had_terminal=child.owns_terminal,
    )


class Child(Protocol):
    """The command, as the wrapper follows it."""

    pid: int                    # it leads its own process group
    owns_terminal: bool         # it was given the terminal, to take back at its end
    status_fd: int | None       # readable once it has ended, if it can tell so

    def poll(self) -> int | None: ...
    def seems_ended(self) -> bool: ...  # for a signal handler: no read, no wait, no lock
    def ended(self) -> float: ...      # time.monotonic() of its end, once poll() said it
    def wait(self) -> None: ...
    def dismiss(self) -> None: ...     # once the run is on record


def _start(argv: Sequence[str], env: Mapping[str, str], child_ends: list[int],
           hand_over_terminal: bool, relay: SignalRelay, streams: list[tuple[int, Sink]],
           log: MaskedLog, orphan: Orphan | None, inbox: Inbox | None) -> Child:
    """The command, started by a keeper (or directly, without `orphan` or when no process can
    be forked); CannotStart when it cannot be."""
    own_terminal = (lambda: _take_terminal(0)) if hand_over_terminal else None
    if orphan is not None:
        from journal.capture.keeper import Keeper

        try:
            keeper = Keeper.start(argv, env, child_ends, own_terminal=own_terminal,
                                  default_signals=relay.defaults(), streams=streams, log=log,
                                  orphan=orphan, inbox=inbox)
            return _KeptChild(keeper, hand_over_terminal)
        except OSError:
            pass                # no keeper: the wrapper is the command's parent, as before
    try:
        process = start_command(argv, stdout=child_ends[0], stderr=child_ends[1],
                                env=dict(env), process_group=0, preexec_fn=own_terminal)
    except FileNotFoundError:
        raise CannotStart(127, f"command not found: {argv[0]}") from None
    except OSError as exc:
        raise CannotStart(126, f"cannot execute {argv[0]}: {exc.strerror}") from None
    return _DirectChild(process, hand_over_terminal)


class _KeptChild:
    def __init__(self, keeper: Keeper, owns_terminal: bool) -> None:
        self.keeper = keeper
        self.pid = keeper.pid
        self.owns_terminal = owns_terminal
        self.status_fd: int | None = keeper.status_fd

    def poll(self) -> int | None:
        return self.keeper.poll()

    def seems_ended(self) -> bool:
        return self.keeper.returncode is not None or self.keeper.has_news()

    def ended(self) -> float:
        return self.keeper.ended_at

    def wait(self) -> None:
        self.keeper.wait()

    def dismiss(self) -> None:
        self.keeper.dismiss()


class _DirectChild:
    def __init__(self, process: subprocess.Popen[bytes], owns_terminal: bool) -> None:
        self.process = process
        self.pid = process.pid
        self.owns_terminal = owns_terminal
        self.status_fd: int | None = None
        self._ended = 0.0

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is not None and not self._ended:
            self._ended = time.monotonic()
        return code

    def seems_ended(self) -> bool:
        return self.process.returncode is not None or _pid_gone(self.pid)

    def ended(self) -> float:
        return self._ended

    def wait(self) -> None:
        self.process.wait()

    def dismiss(self) -> None:
        pass


def _pump(streams: list[tuple[int, Sink]], log: MaskedLog, child: Child, relay: SignalRelay,
          watch: Callable[[int, bytes], None] | None, problems: list[str],
          sizes: _SizeFollower, inbox: Inbox | None) -> tuple[int, float]:
    """Copy the child's output to where it belongs and to the log, as it comes (the log is written
    unbuffered: a SIGKILL of `journal` loses nothing already read), until the child has ended and
    every writer has closed its output: the child's own children may write after it ended, as
    with `cmd | cat`. A signal after the child ended ends that wait. Returns the child's return
    code and when it ended."""
    selector = selectors.DefaultSelector()
    for index, (read_end, sink) in enumerate(streams):
        selector.register(read_end, selectors.EVENT_READ, (index, sink))
    streams_open = len(streams)
    if child.status_fd is not None:
        selector.register(child.status_fd, selectors.EVENT_READ, None)    # wakes at its end
    for fd in inbox.fds() if inbox is not None else ():
        selector.register(fd, selectors.EVENT_READ, _HOOK)
    returncode: int | None = None
    ended_at = 0.0
    while streams_open or returncode is None:
        events = selector.select(_TICK)
        if returncode is None:
            sizes.check(child.pid)    # the child leads its own process group
            if child.owns_terminal:
                _follow_a_stop(child.pid)
        log.tick()
        if inbox is not None:
            inbox.tick()
        for key, _mask in events:
            if key.data is None:
                continue                          # the child's end: polled below
            if key.data is _HOOK:
                assert inbox is not None
                _serve(inbox, selector, key.fd)
                continue
            index, sink = key.data
            data, still_open = pass_on(key.fd, index, sink, log)
            if not still_open:
                selector.unregister(key.fd)
                streams_open -= 1
                if data:
                    # The reader of journal's output went away (`| head`): the child's next
                    # write must find its pipe closed too, as without journal (SIGPIPE, EPIPE).
                    _close_read_end(streams, key.fd)
                    if isinstance(child, _KeptChild):
                        child.keeper.let_go(index)
            if not data:
                continue
            if watch is not None:
                try:
                    watch(index, data)
                except Exception as exc:   # a scanning bug must not stop the copying
                    problems.append(f"reading metrics from the output stopped: {exc!r}")
                    watch = None
        if returncode is None:
            returncode = child.poll()
            if returncode is not None:
                ended_at = child.ended()
                relay.child_ended = True
                if child.status_fd is not None:
                    selector.unregister(child.status_fd)
        elif relay.late:
            break   # Ctrl-C while late output is awaited ends the wait (the record is the child's)
    selector.close()
    relay.child_ended = True
    log.close()
    return returncode, ended_at


_HOOK = object()     # the selector's mark on the Python hook's sockets


def _serve(inbox: Inbox, selector: selectors.BaseSelector, fd: int) -> None:
    for new in inbox.ready(fd):
        selector.register(new, selectors.EVENT_READ, _HOOK)
    if inbox.is_done(fd):
        selector.unregister(fd)


def _close_read_end(streams: list[tuple[int, Sink]], fd: int) -> None:
    """Close a read end now, and take it out of `streams` so it is not closed twice (its number
    may belong to another file by then)."""
    os.close(fd)
    streams[:] = [(read_end, sink) for read_end, sink in streams if read_end != fd]

"""The keeper: the command's parent, which outlives a wrapper killed with SIGKILL.

`journal new` (the wrapper) copies its command's output from a pipe (or a pseudo-terminal) to the
user and the log. Were the wrapper the command's parent, a `kill -9` of it (by mistake, or an
out-of-memory kill) would leave that pipe without a reader, and the command would die at its next
print; and a `kill -9` of the whole job (`timeout -k`, a scheduler) would leave the command, in a
process group of its own, running on as an orphan. So the wrapper forks a keeper, and the keeper
starts the command and waits for it:

- The keeper tells the wrapper the command's pid, then its exit status and when it ended (a
  status pipe); the wrapper copies the output, passes signals on and records the run as before,
  then dismisses the keeper (`x` on a lifeline pipe only the wrapper writes), which exits.
- The wrapper dies alone (`kill -9 PID`): the lifeline reads empty, and the keeper takes over: it
  copies the rest of the output to where the wrapper did, until every writer has closed it, waits
  for the command, and writes how the run ended, its true exit status included (`Orphan`).
- The whole job is killed (`kill -9 -PGID`): the keeper dies with the wrapper, and the command,
  which asked the kernel for it (PR_SET_PDEATHSIG, Linux), is killed with its parent, as it would
  have been in the job's group without journal.

The keeper ignores the signals meant for the wrapper and its command (it shares the wrapper's
process group; the command gets back the dispositions the wrapper inherited), and never returns
into its caller: it ends with os._exit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from journal.capture.sinks import MaskedLog, Sink, pass_on
from journal.store.pool import die_with_parent

_DISMISS = b"x"
IGNORED_BY_THE_KEEPER = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                         signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTOU, signal.SIGWINCH,
                         signal.SIGALRM)


class Orphan(Protocol):
    """What a record is told, in the keeper, when its wrapper was killed while the command ran."""

    def taken_over(self, keeper_pid: int, command_ended: bool) -> None: ...
    def orphaned(self, returncode: int, ended_at: float, problems: list[str]) -> None: ...


class Inbox(Protocol):
    """Descriptors to serve beside the output (the Python hook's socket, capture/hook.py)."""

    def started(self, pid: int) -> None: ...          # the command runs, as `pid`
    def fds(self) -> list[int]: ...
    def ready(self, fd: int) -> list[int]: ...        # serve fd; returns new fds to watch
    def is_done(self, fd: int) -> bool: ...
    def tick(self) -> None: ...                       # a few times a second


class CannotStart(Exception):
    """The command could not be started: `code` (127 not found, 126 not executable) and why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Keeper:
    """The wrapper's handle on its keeper, and through it on the command."""

    def __init__(self, keeper_pid: int, lifeline: int, status: int) -> None:
        self.keeper_pid = keeper_pid
        self.pid = 0                # the command's: it leads its own process group
        self.status_fd = status     # readable when the command has ended
        self._lifeline = lifeline
        self._pending = b""
        self.returncode: int | None = None
        self.ended_at = 0.0

    @classmethod
    def start(cls, argv: Sequence[str], env: Mapping[str, str], child_ends: Sequence[int], *,
              own_terminal: Callable[[], None] | None, default_signals: Sequence[int],
              streams: list[tuple[int, Sink]], log: MaskedLog, orphan: Orphan,
              inbox: Inbox | None = None) -> Keeper:
        """Fork the keeper, which starts `argv` with `child_ends` as its stdout and stderr, in a
        process group of its own (`own_terminal` also gives it the terminal), with
        `default_signals` back at their defaults. CannotStart when the command cannot start;
        OSError when no keeper can be forked."""
        lifeline_read, lifeline_write = os.pipe()
        status_read, status_write = os.pipe()
        pid = os.fork()
        if pid == 0:            # the keeper
            code = 1
            try:
                os.close(lifeline_write)
                os.close(status_read)
                _keep(argv, env, child_ends, own_terminal, default_signals, streams, log,
                      orphan, inbox, lifeline_read, status_write)
                code = 0
            finally:
                os._exit(code)
        os.close(lifeline_read)
        os.close(status_write)
        keeper = cls(pid, lifeline_write, status_read)
        first = keeper._line(block=True)
        if first.startswith("P"):
            keeper.pid = int(first[1:])
            return keeper
        keeper.dismiss()
        number, _, message = first[1:].partition(" ")
        raise CannotStart(int(number) if number.isdigit() else 126, message or "the keeper failed")

    def poll(self) -> int | None:
        """The command's return code once it has ended (as subprocess gives it), else None."""
        if self.returncode is None:
            line = self._line(block=False)
            if line.startswith("R"):
                code, _, when = line[1:].partition(" ")
                self.returncode, self.ended_at = int(code), float(when)
        return self.returncode

    def has_news(self) -> bool:
        """The keeper has said something not read yet (after the pid: the command's end)."""
        if b"\n" in self._pending:
            return True
        try:
            return bool(select.select([self.status_fd], [], [], 0)[0])
        except (OSError, ValueError):      # closed: the keeper was dismissed
            return True

    def wait(self) -> int:
        while self.poll() is None:
            select.select([self.status_fd], [], [], 1.0)
        assert self.returncode is not None
        return self.returncode

    def let_go(self, index: int) -> None:
        """Stop holding stream `index` (the wrapper closed it: its reader went away)."""
        with contextlib.suppress(OSError):
            os.write(self._lifeline, str(index).encode())

    def dismiss(self) -> None:
        """The wrapper is done: the keeper exits without touching anything."""
        with contextlib.suppress(OSError):
            os.write(self._lifeline, _DISMISS)
        for fd in (self._lifeline, self.status_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ChildProcessError, InterruptedError):
            os.waitpid(self.keeper_pid, 0)

    def _line(self, *, block: bool) -> str:
        """The next whole line from the keeper ('' if none yet; at EOF, 'E126 ...')."""
        while b"\n" not in self._pending:
            if not block and not select.select([self.status_fd], [], [], 0)[0]:
                return ""
            try:
                data = os.read(self.status_fd, 256)
            except OSError:
                data = b""
            if not data:
                return "E126 journal's keeper ended before the command did"
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode("utf-8", "replace")


def _keep(argv: Sequence[str], env: Mapping[str, str], child_ends: Sequence[int],
          own_terminal: Callable[[], None] | None, default_signals: Sequence[int],
          streams: list[tuple[int, Sink]], log: MaskedLog, orphan: Orphan,
          inbox: Inbox | None, lifeline: int, status: int) -> None:
    """The keeper's life: start the command, tell the wrapper, wait; take over if it dies."""
    for signum in IGNORED_BY_THE_KEEPER:
        signal.signal(signum, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)
    keeper_pid = os.getpid()
    dies_with_parent = die_with_parent()

    def child_setup() -> None:           # in the command's process, between fork and exec
        if dies_with_parent is not None:
            dies_with_parent()
            if os.getppid() != keeper_pid:
                os._exit(137)             # the keeper died already: so must the command
        for signum in default_signals:
            signal.signal(signum, signal.SIG_DFL)
        if own_terminal is not None:
            own_terminal()

    try:
        process = start_command(argv, stdout=child_ends[0], stderr=child_ends[1],
                                env=dict(env), process_group=0, preexec_fn=child_setup)
    except FileNotFoundError:
        _say(status, f"E127 command not found: {argv[0]}")
        return
    except OSError as exc:
        _say(status, f"E126 cannot execute {argv[0]}: {exc.strerror}")
        return
    finally:
        for end in set(child_ends):     # one descriptor twice when both streams share a terminal
            os.close(end)
    _say(status, f"P{process.pid}")
    ended_at = _wait_for_the_command(process, lifeline, status, streams)
    if ended_at is None:
        return                            # dismissed: the wrapper recorded the run
    orphan.taken_over(keeper_pid, command_ended=bool(ended_at))
    copy_to_the_end([stream for stream in streams if stream[0] >= 0], log, inbox)
    log.close()
    if process.returncode is None:
        process.wait()
        ended_at = time.monotonic()
    problems = [problem for _, sink in streams for problem in sink.problems]
    orphan.orphaned(process.returncode, ended_at, list(dict.fromkeys(problems)))


def start_command(argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen, but a script without a `#!` line runs with /bin/sh, as a shell (and
    execvp) would run it, instead of failing with "Exec format error"."""
    try:
        return subprocess.Popen(list(argv), **options)
    except OSError as exc:
        if exc.errno != errno.ENOEXEC:
            raise
    env = options.get("env")
    path = env.get("PATH") if isinstance(env, Mapping) else None
    script = argv[0] if os.sep in argv[0] else shutil.which(argv[0], path=path) or argv[0]
    return subprocess.Popen(["/bin/sh", script, *argv[1:]], **options)


def _wait_for_the_command(process: subprocess.Popen[bytes], lifeline: int, status: int,
                          streams: list[tuple[int, Sink]]) -> float | None:
    """Until the wrapper dismisses the keeper (None) or dies (when the command ended, if it has
    by then, else 0.0); the command's end is told to the wrapper as it happens."""
    pidfd = _pidfd(process.pid)
    ended_at = 0.0
    while True:
        watched = [lifeline] if ended_at or pidfd is None else [lifeline, pidfd]
        ready = select.select(watched, [], [], None if ended_at or pidfd is not None else 0.05)[0]
        if not ended_at and process.poll() is not None:
            ended_at = time.monotonic()
            _say(status, f"R{process.returncode} {ended_at}")
            if pidfd is not None:
                os.close(pidfd)
        if lifeline not in ready:
            continue
        try:
            message = os.read(lifeline, 64)
        except OSError:
            message = b""
        if not message:                       # the wrapper died
            return ended_at
        if _DISMISS in message:
            return None
        for index in message.decode("ascii", "replace"):
            if index.isdigit() and int(index) < len(streams):
                read_end, sink = streams[int(index)]
                with contextlib.suppress(OSError):
                    os.close(read_end)
                streams[int(index)] = (-1, sink)


def copy_to_the_end(streams: list[tuple[int, Sink]], log: MaskedLog, inbox: Inbox | None
                     ) -> None:
    """What the wrapper did, without it: every chunk to the log and to its destination, until
    every writer has closed the output; and the hook's reports, to the same end. (Also the
    standalone API's console copier, api/console.py.)"""
    selector = selectors.DefaultSelector()
    for index, (read_end, sink) in enumerate(streams):
        selector.register(read_end, selectors.EVENT_READ, (index, sink))
    for fd in inbox.fds() if inbox is not None else ():
        selector.register(fd, selectors.EVENT_READ, None)
    streams_open = len(streams)
    while streams_open:
        for key, _mask in selector.select(0.5):
            if key.data is None:
                assert inbox is not None
                for new in inbox.ready(key.fd):
                    selector.register(new, selectors.EVENT_READ, None)
                if inbox.is_done(key.fd):
                    selector.unregister(key.fd)
                continue
            index, sink = key.data
            try:
                data, still_open = pass_on(key.fd, index, sink, log)
            except OSError:            # the keeper copies what it can, never gives up the run
                data, still_open = b"", False
            if not still_open:
                selector.unregister(key.fd)
                streams_open -= 1
                if data:             # `| head` went away: the command must see it too
                    with contextlib.suppress(OSError):
                        os.close(key.fd)
        log.tick()
        if inbox is not None:
            inbox.tick()
    selector.close()


def _say(status: int, line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(status, (line + "\n").encode())


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when `pid` ends (Linux 5.3+), else None (polled)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None

"""The keeper: the command's output outlives a wrapper killed with SIGKILL.

`journal new` copies its command's output from a pipe (or a pseudo-terminal) to the user and the
log. A wrapper killed with SIGKILL (`kill -9`, an out-of-memory kill) would leave that pipe
without a reader, and the command would die at its next print (SIGPIPE): killing journal would
kill the experiment. So the wrapper forks a keeper as soon as the command runs: a copy of itself
that holds the same output pipes and waits on a lifeline, a pipe only the wrapper writes to.

- The wrapper lives: it reads the output as before and, when it is done, dismisses the keeper
  (`x` on the lifeline), which exits at once. When the wrapper passes a closed reader on to the
  command (`| head`), it tells the keeper to let go of that stream too (its number).
- The wrapper dies: the lifeline reads empty, and the keeper takes over: it copies the rest of
  the output to where the wrapper did, until every writer has closed it, then tells the record
  (`taken_over` and `orphaned`). The command's exit status is not the keeper's to know (the
  command is the dead wrapper's child): the record says what happened, and `list` shows the run
  `crashed` once the keeper is gone too.

The keeper ignores the signals meant for the wrapper and its command (it shares the wrapper's
process group), and never returns into the caller: it ends with os._exit.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
from collections.abc import Callable

from journal.capture.sinks import MaskedLog, Sink

_CHUNK = 65536
_DISMISS = b"x"
_IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTOU, signal.SIGWINCH,
            signal.SIGALRM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class Keeper:
    """The wrapper's handle on its keeper."""

    def __init__(self, pid: int, lifeline: int) -> None:
        self.pid = pid
        self._lifeline = lifeline

    @classmethod
    def start(cls, streams: list[tuple[int, Sink]], log: MaskedLog,
              taken_over: Callable[[int], None], orphaned: Callable[[], None]) -> Keeper | None:
        """Fork the keeper of `streams` (read end, destination) and `log`. `taken_over(pid)` and
        `orphaned()` run in the keeper if the wrapper dies: when it starts copying, and when the
        output has closed. None when no process can be made (the run goes on as before)."""
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return None
        if pid == 0:            # the keeper
            code = 1
            try:
                os.close(write_end)
                _keep(read_end, streams, log, taken_over, orphaned)
                code = 0
            finally:
                os._exit(code)
        os.close(read_end)
        return cls(pid, write_end)

    def let_go(self, index: int) -> None:
        """Stop holding stream `index` (the wrapper closed it: its reader went away)."""
        with contextlib.suppress(OSError):
            os.write(self._lifeline, str(index).encode())

    def dismiss(self) -> None:
        """The wrapper is done: the keeper exits without touching anything."""
        with contextlib.suppress(OSError):
            os.write(self._lifeline, _DISMISS)
        with contextlib.suppress(OSError):
            os.close(self._lifeline)
        with contextlib.suppress(ChildProcessError, InterruptedError):
            os.waitpid(self.pid, 0)


def _keep(lifeline: int, streams: list[tuple[int, Sink]], log: MaskedLog,
          taken_over: Callable[[int], None], orphaned: Callable[[], None]) -> None:
    """The keeper's life: wait on the lifeline; take over if it breaks."""
    for signum in _IGNORED:
        signal.signal(signum, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)
    held = dict(enumerate(streams))
    while True:
        try:
            message = os.read(lifeline, 64)
        except OSError:
            message = b""
        if not message:
            break                                 # the wrapper died
        if _DISMISS in message:
            return
        for index in message.decode("ascii", "replace"):
            stream = held.pop(int(index), None) if index.isdigit() else None
            if stream is not None:
                with contextlib.suppress(OSError):
                    os.close(stream[0])
    taken_over(os.getpid())
    _copy_to_the_end(list(held.values()), log)
    log.close()
    orphaned()


def _copy_to_the_end(streams: list[tuple[int, Sink]], log: MaskedLog) -> None:
    """What the wrapper did, without it: every chunk to its destination and to the log, until
    every writer has closed the output."""
    selector = selectors.DefaultSelector()
    for read_end, sink in streams:
        selector.register(read_end, selectors.EVENT_READ, sink)
    while selector.get_map():
        for key, _mask in selector.select(0.5):
            try:
                data = os.read(key.fd, _CHUNK)
            except OSError:            # EIO: the pseudo-terminal's child side is closed
                data = b""
            if not data:
                selector.unregister(key.fd)
                continue
            log.write(data)
            key.data.write(data)
        log.tick()
    selector.close()

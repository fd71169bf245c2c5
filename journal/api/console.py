"""A standalone API run's console, teed to its log: what `python train.py` prints (its
subprocesses' output too) still reaches the terminal as it is, and also goes to
`.journal/logs/<id>.log`, masked as `journal new`'s log is, so `journal grep` finds it.

At the descriptor level: fds 1 and 2 are pointed at a pipe (a pseudo-terminal when they were a
terminal, one for both when they were the same one, so programs still see a terminal and the
order of the two streams is kept) that a thread copies on. `stop()` puts them back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from journal.capture.sinks import MaskedLog
    from journal.redact import Redactor

# Seconds the copying may take to finish, in all: a background process the script started may
# still hold the pipe, and what it writes after the script's end is not copied (README).
_WAIT_AT_STOP = 0.2


class ConsoleTee:
    def __init__(self, log: MaskedLog, copies: list[tuple[int, list[int], int]]) -> None:
        self.log = log
        self._copies = copies             # (read end, the fds pointed at it, the saved original)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._copy, args=(read_end, saved, index),
                                          daemon=True, name="journal-console")
                         for index, (read_end, _fds, saved) in enumerate(copies)]
        for thread in self._threads:
            thread.start()

    @classmethod
    def start(cls, log_file: Path, redactor: Redactor, argv: list[str]) -> ConsoleTee | None:
        """Tee fds 1 and 2 to `log_file`; None (nothing changed) where it cannot be done."""
        from journal.capture.logmask import LogMasker, known_secrets
        from journal.capture.runner import open_pty_like, same_terminal
        from journal.capture.sinks import MaskedLog, open_log

        problems: list[str] = []
        sink = open_log(log_file, problems)
        if sink.fd is None:
            return None
        masker = LogMasker(redactor, known_secrets(argv, redactor.argv(argv), os.environ,
                                                   redactor))
        groups = [[1, 2]] if same_terminal(1, 2) else [[1], [2]]
        copies: list[tuple[int, list[int], int]] = []
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            for fds in groups:
                if os.isatty(fds[0]):
                    read_end, write_end = open_pty_like(fds[0])
                else:
                    read_end, write_end = os.pipe()
                saved = os.dup(fds[0])
                for fd in fds:
                    os.dup2(write_end, fd)
                os.close(write_end)
                copies.append((read_end, fds, saved))
        except OSError:
            _put_back(copies)
            os.close(sink.fd)
            return None
        return cls(MaskedLog(sink, masker), copies)

    def stop(self) -> int:
        """Put fds 1 and 2 back, let the copying finish, close the log; returns its size."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        _put_back(self._copies)
        deadline = time.monotonic() + _WAIT_AT_STOP
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self.log.close()
            if self.log.sink.fd is not None:
                os.close(self.log.sink.fd)
                self.log.sink.fd = None
        return self.log.sink.written

    def _copy(self, read_end: int, destination: int, stream: int) -> None:
        while True:
            try:
                data = os.read(read_end, 65536)
            except OSError:           # EIO: the pseudo-terminal's other side is closed
                data = b""
            if not data:
                break
            with self._lock:
                self.log.write(data, stream)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(destination, view):]
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    # The reader went away (`python train.py | head`): the script must see its
                    # own pipe closed too (BrokenPipeError), as without journal.
                    break
        with contextlib.suppress(OSError):
            os.close(read_end)
        with contextlib.suppress(OSError):
            os.close(destination)


def _put_back(copies: list[tuple[int, list[int], int]]) -> None:
    """The original descriptors back at 1 and 2 (the copy of each is kept for its thread)."""
    for _read_end, fds, saved in copies:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.dup2(saved, fd)

"""Where a run's output goes: the user's terminal or pipe, and the log (through the secret
masker). Each is written until it fails once, then given up, and the failure is kept for the
record: journal never changes the child's fate because one of its own destinations failed."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class LogMasker(Protocol):
    """Rewrites what goes to the log (capture/logmask.py masks secrets); `now` is monotonic."""

    def feed(self, data: bytes, now: float) -> bytes: ...
    def due(self, now: float) -> bytes: ...
    def flush(self) -> bytes: ...
    def fresh(self) -> LogMasker: ...       # the same masks, for another stream


class Sink:
    """A destination that is written until it fails once, then given up (and the failure kept).
    `reader_gone`: it failed because the reader of a pipe went away (`| head`)."""

    def __init__(self, fd: int | None, what: str, problems: list[str]) -> None:
        self.fd = fd
        self.what = what
        self.problems = problems
        self.written = 0
        self.reader_gone = False

    def write(self, data: bytes) -> None:
        if self.fd is None:
            return
        view = memoryview(data)
        try:
            while view:
                count = os.write(self.fd, view)
                view = view[count:]
                self.written += count
        except OSError as exc:
            self.problems.append(f"{self.what} failed after {self.written} bytes: {exc.strerror}")
            self.fd = None
            self.reader_gone = exc.errno == errno.EPIPE


def open_log(log_file: Path, problems: list[str]) -> Sink:
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        problems.append(f"cannot open the log {log_file}: {exc.strerror}")
        return Sink(None, "writing the log", problems)
    return Sink(fd, "writing the log", problems)


CHUNK = 1 << 20     # bytes read at once (the runner makes its pipes this big, Linux)


def pass_on(fd: int, index: int, sink: Sink, log: MaskedLog) -> tuple[bytes, bool]:
    """One chunk of stream `index` from `fd`, to the log first (a wrapper killed between the two
    writes has it on record, and its keeper copies on from the next read), then to `sink`.
    Returns the chunk and whether the stream is still to be read: not at its end (a
    pseudo-terminal reports EIO once its child side is closed), nor once the sink's reader went
    away (`| head`), which the caller passes on by closing `fd`."""
    try:
        data = os.read(fd, CHUNK)
    except OSError as exc:
        if exc.errno not in (errno.EIO, errno.EBADF):
            raise
        data = b""
    if not data:
        return data, False
    log.write(data, index)
    sink.write(data)
    return data, not sink.reader_gone


class MaskedLog:
    """The log sink behind a LogMasker, one for each stream (stdout's partial line must not be
    ended by a line of stderr: a secret cut between them would never be seen whole). A masking
    bug must neither stop the copying nor leak: the log then ends there, and the record says
    why."""

    def __init__(self, sink: Sink, masker: LogMasker | None) -> None:
        self.sink = sink
        self.masker = masker
        self._maskers: dict[int, LogMasker] = {}
        self.broken = False

    def write(self, data: bytes, stream: int = 0) -> None:
        self._masked(lambda masker: masker.feed(data, time.monotonic()), data, stream)

    def tick(self) -> None:
        for stream in list(self._maskers):
            self._masked(lambda masker: masker.due(time.monotonic()), b"", stream)

    def close(self) -> None:
        for stream in list(self._maskers):
            self._masked(lambda masker: masker.flush(), b"", stream)

    def _masked(self, step: Callable[[LogMasker], bytes], raw: bytes, stream: int) -> None:
        if self.broken:
            return
        if self.masker is None:
            self.sink.write(raw)
            return
        try:
            masker = self._maskers.get(stream)
            if masker is None:
                masker = self._maskers[stream] = self.masker if not self._maskers \
                    else self.masker.fresh()
            data = step(masker)
        except Exception as exc:
            self.sink.problems.append(f"masking secrets in the log failed ({exc!r}): "
                                      f"the log stops after {self.sink.written} bytes")
            self.broken = True
            return
        self.sink.write(data)

"""`<record>.lock`: writers of one record take turns, as git's writers of `index.lock` do."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from journal.errors import StoreError
from journal.record import THIS_HOST, pid_alive

LOCK_TIMEOUT = 10.0


@contextlib.contextmanager
def record_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock of the record at `path`, created exclusively. A lock left by a dead process
    on this host is broken; any other is waited for, up to `timeout` seconds."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if _lock_is_stale(lock):
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() > deadline:
                raise StoreError(
                    f"run {path.stem} is locked by another journal process ({lock})",
                    hint=f"if no journal command is running, remove {lock}",
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    try:
        os.write(descriptor, f"{os.getpid()} {THIS_HOST}\n".encode())
        os.close(descriptor)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _lock_is_stale(lock: Path) -> bool:
    try:
        pid_text, _, host = lock.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False    # being written right now, or not ours to judge
    return host == THIS_HOST and not pid_alive(pid)

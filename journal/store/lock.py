"""`<record>.lock`: writers of one record take turns, as git's writers of `index.lock` do."""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from journal.errors import StoreError
from journal.record import THIS_HOST, pid_alive
from journal.store.files import read_regular

LOCK_TIMEOUT = 10.0
# A holder writes its pid a moment after it creates the lock; an empty (or unreadable) lock older
# than this was left by a holder killed in between, and is broken like a dead holder's.
EMPTY_LOCK_STALE_AFTER = 5.0


@contextlib.contextmanager
def record_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of the record at `path`, created exclusively. A lock left by a dead process
    on this host is broken; any other is waited for, up to `timeout` seconds."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + (LOCK_TIMEOUT if timeout is None else timeout)
    delay = 0.002
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            break
        except FileExistsError:
            judged = _stale(lock)
            if judged is not None:
                _break(lock, judged)
                continue
            if time.monotonic() > deadline:
                raise StoreError(
                    f"run {path.stem} is locked by another journal process ({lock})",
                    hint=f"if no journal command is running, remove {lock}",
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    try:
        # Who holds it, for others to tell a dead holder's lock; on a full disk it stays empty,
        # and is still ours (an empty lock is stale only once it is old: `_lock_is_stale`).
        with contextlib.suppress(OSError):
            os.write(descriptor, f"{os.getpid()} {THIS_HOST}\n".encode())
        os.close(descriptor)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _stale(lock: Path) -> tuple[int, int] | None:
    """The lock's (inode, mtime) when it is stale: its holder on this host is dead, or it is an
    old empty lock. None when it is held, gone, or not ours to judge."""
    try:
        info = os.lstat(lock)
        if not stat.S_ISREG(info.st_mode):
            return (info.st_ino, info.st_mtime_ns)     # a FIFO or a link is no lock of ours
        text = read_regular(lock, 4096).decode().strip()
    except (OSError, UnicodeDecodeError):
        return None
    pid_text, _, host = text.partition(" ")
    if not pid_text.isdigit():
        # Empty or torn: being written right now, or its writer was killed before it could say
        # who it is. Only the second grows old.
        stale = time.time() - info.st_mtime > EMPTY_LOCK_STALE_AFTER
    else:
        stale = host == THIS_HOST and not pid_alive(int(pid_text))
    return (info.st_ino, info.st_mtime_ns) if stale else None


def _break(lock: Path, judged: tuple[int, int]) -> None:
    """Remove the stale lock `judged`, and only it: another waiter may have broken it already
    and a live holder taken the name since. It is moved aside first (one mover wins), then
    checked to be the one judged; a live holder's lock is put back."""
    aside = lock.with_name(f".{lock.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")
    try:
        os.rename(lock, aside)
    except OSError:
        return              # someone else broke it first
    try:
        info = os.lstat(aside)
        if (info.st_ino, info.st_mtime_ns) != judged:
            with contextlib.suppress(OSError):
                os.link(aside, lock)          # a live holder's: give it back
    finally:
        with contextlib.suppress(OSError):
            os.unlink(aside)

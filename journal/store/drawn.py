"""Curves already drawn, kept in the local cache beside the index: an export of a week draws
hundreds of runs' curves, and reading and thinning 1,000 points a series costs more than the
rest of the note. A drawing is kept per run and per medium (`text`, `svg`), under the identity
of the side file it was drawn from (size, modification time, inode), taken before the file was
read: a side file that grew meanwhile (a run still logging) or was replaced is drawn again.

What is read back goes into notes and pages as it is, so only a drawing journal could have
written is read: in a folder and a file of this user's own, that no one else may write (a
cache under a shared /tmp could be another user's), a regular file, not a link, of bounded
size. Derived data only: losing it costs time, never a record, and a cache that cannot be
written, or cannot be trusted, is passed over.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

VERSION = "2"          # of the drawings: a change in how curves are drawn bumps it
MAX_BYTES = 32 << 20   # a drawing is tens of KB; a larger file is not one journal wrote


def identity(side: Path) -> str | None:
    """The side file as it is now (None when it cannot be read): take it before reading it."""
    try:
        status = side.stat()
    except OSError:
        return None
    return f"{VERSION} {status.st_size} {status.st_mtime_ns} {status.st_ino}\n"


def recall(journal_dir: Path, run_id: str, drawn_from: str, kind: str) -> str | None:
    """The drawing kept for the side file whose identity is `drawn_from`, or None."""
    place = _place(journal_dir, run_id, kind)
    if place is None:
        return None
    try:
        descriptor = os.open(place, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(descriptor)
        if not _own(status) or not stat.S_ISREG(status.st_mode) or status.st_size > MAX_BYTES:
            return None
        try:
            text = handle.read(MAX_BYTES + 1).decode("utf-8")
        except (OSError, ValueError):
            return None
    return text[len(drawn_from):] if text.startswith(drawn_from) else None


def keep(journal_dir: Path, run_id: str, drawn_from: str, kind: str, drawing: str) -> None:
    """Keep a drawing (atomically: a reader sees the old one or the new one)."""
    place = _place(journal_dir, run_id, kind)
    if place is None:
        return
    from journal.store.files import write_atomic

    try:
        write_atomic(place, (drawn_from + drawing).encode("utf-8"))
    except OSError:
        pass


def _place(journal_dir: Path, run_id: str, kind: str) -> Path | None:
    if "/" in run_id or run_id.startswith("."):
        return None
    folder = _folder(journal_dir, os.environ.get("XDG_CACHE_HOME"))
    return folder / f"{run_id}.{kind}" if folder is not None else None


@functools.cache
def _folder(journal_dir: Path, cache_home: str | None) -> Path | None:
    """The cache's folder of drawings, when it is this user's own (store/cache.py says why);
    found once a process: it reads the mount table."""
    from journal.store.cache import cache_path, private_folder

    folder = cache_path(journal_dir, os.environ).with_suffix(".curves")
    return folder if private_folder(folder) else None


def _own(status: os.stat_result) -> bool:
    """This user's, and writable by no one else (but the group, as private_folder allows)."""
    return status.st_uid == os.getuid() and not status.st_mode & stat.S_IWOTH

"""Curves already drawn, kept in the local cache beside the index: an export of a week draws
hundreds of runs' curves, and reading and thinning 1,000 points a series costs more than the
rest of the note. A drawing is kept per run and per medium (`text`, `svg`), under the identity
of the side file it was drawn from (size, modification time, inode): a side file that grew (a
run still logging) or was replaced is drawn again. Derived data only: losing it costs time,
never a record, and a cache that cannot be written is passed over.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

VERSION = "1"          # of the drawings: a change in how curves are drawn bumps it


def _place(journal_dir: Path, run_id: str, kind: str) -> Path:
    return _folder(journal_dir, os.environ.get("XDG_CACHE_HOME")) / f"{run_id}.{kind}"


@functools.cache
def _folder(journal_dir: Path, cache_home: str | None) -> Path:
    """The cache's folder of drawings (found once a process: it reads the mount table)."""
    from journal.store.cache import cache_path

    return cache_path(journal_dir, os.environ).with_suffix(".curves")


def _identity(side: Path) -> str | None:
    try:
        status = side.stat()
    except OSError:
        return None
    return f"{VERSION} {status.st_size} {status.st_mtime_ns} {status.st_ino}\n"


def recall(journal_dir: Path, run_id: str, side: Path, kind: str) -> str | None:
    """The drawing kept for this side file as it is now, or None."""
    identity = _identity(side)
    if identity is None:
        return None
    try:
        text = _place(journal_dir, run_id, kind).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return text[len(identity):] if text.startswith(identity) else None


def keep(journal_dir: Path, run_id: str, side: Path, kind: str, drawing: str) -> None:
    """Keep a drawing (atomically: a reader sees the old one or the new one)."""
    identity = _identity(side)
    if identity is None or "/" in run_id or run_id.startswith("."):
        return
    from journal.store.files import write_atomic

    place = _place(journal_dir, run_id, kind)
    try:
        place.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(place, (identity + drawing).encode("utf-8"))
    except OSError:
        pass

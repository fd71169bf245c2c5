"""Which files of the journal folder travel: records, logs, patches and per-step metrics, each
up to the size cap (`[sync] max_file_bytes`).

A file over the cap that the remote does not have stays here, and a small `<file>.behind` (which
machine has it, how big it is) travels instead, so another machine's reader says where the log
is instead of "missing". A file over the cap that the remote already has (it travelled while it
was smaller, or under another machine's cap) travels as the remote has it: the shared tree never
loses a file, and a log that outgrew the cap mid-run is shared up to where it was, with a
`.behind` saying how big it is here (readers call that copy partial).

Paths are relative to the journal folder, as they are in the tree `journal sync` exchanges.
Only plain names travel (`[A-Za-z0-9._-]`, no dot first), only regular files (never a link or a
FIFO), and a path from a remote is taken only when it has one of these shapes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from journal.record import THIS_HOST
from journal.store.files import write_atomic
from journal.store.records import reserved_record
from journal.store.runfiles import BEHIND_SUFFIX, behind_text

# folder -> the suffix of its files (after the run id)
SIDE_FILES = {"logs": ".log", "patches": ".patch", "metrics": ".jsonl"}


# The shapes a travelling path may have, in one pattern (a path is matched once: a journal of
# 10,000 runs has 20,000 of them). An id is a plain name that does not start with a dot.
_SHAPES = re.compile(
    r"runs/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*(?P<record>[A-Za-z0-9_-][A-Za-z0-9._-]*)\.toml"
    r"|(?:logs/(?P<log>[A-Za-z0-9_-][A-Za-z0-9._-]*)\.log"
    r"|patches/(?P<patch>[A-Za-z0-9_-][A-Za-z0-9._-]*)\.patch"
    r"|metrics/(?P<series>[A-Za-z0-9_-][A-Za-z0-9._-]*)\.jsonl)(?P<behind>\.behind)?")


def kind_of(path: str) -> tuple[str, str] | None:
    """(kind, run id) of a path that may travel: `record`, `file` (a log, patch or series) or
    `behind` (a marker); None for anything else."""
    match = _SHAPES.fullmatch(path)
    if match is None:
        return None
    if match["record"] is not None:
        return "record", match["record"]
    run_id = match["log"] or match["patch"] or match["series"]
    return ("behind" if match["behind"] else "file"), run_id


@dataclass
class Folder:
    """The journal folder's files that may travel: those within the cap, and those over it."""

    paths: list[str] = field(default_factory=list)
    over: dict[str, int] = field(default_factory=dict)      # path -> size
    # Records whose run still holds the disk kept for its final write: running, or crashed.
    unfinished: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)        # top folders that are links


def journal_files(journal_dir: Path, cap: int, warn: Callable[[str], None]) -> Folder:
    """The files that may travel: records, and the files of runs that have a record here."""
    found = Folder()
    records: set[str] = set()
    side: list[tuple[str, int, str, str]] = []
    for folder in ("runs", *SIDE_FILES):
        if (journal_dir / folder).is_symlink():
            # git will not read through a link in a work tree: the folder's files stay here,
            # and what the remote has there stays as it is (never written through the link)
            warn(f"warning: {journal_dir / folder} is a link: its files do not travel")
            found.linked.append(folder)
            continue
        for relative, size in _regular_files(journal_dir, folder, found.unfinished):
            kind = kind_of(relative)
            if kind is None:
                continue            # not a journal file
            if kind[0] == "record":
                records.add(kind[1])
                found.paths.append(relative)
            else:
                side.append((relative, size, *kind))
    for relative, size, what, run_id in side:
        if run_id not in records:
            continue                # a run's files travel with its record
        if what == "file" and size > cap:
            found.over[relative] = size
        else:
            found.paths.append(relative)
    return found


def mark_behind(journal_dir: Path, relative: str, size: int, cap: int) -> str:
    """Write (or bring up to date) the marker of a file that stays here; its path."""
    marker = relative + BEHIND_SUFFIX
    text = behind_text(THIS_HOST, size, cap).encode()
    try:
        if (journal_dir / marker).read_bytes() == text:
            return marker
    except OSError:
        pass
    write_atomic(journal_dir / marker, text)
    return marker


def _regular_files(journal_dir: Path, folder: str, unfinished: list[str]
                   ) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    stack = [folder]
    while stack:
        relative = stack.pop()
        try:
            entries = list(os.scandir(journal_dir / relative))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                record = reserved_record(entry.name) if folder == "runs" else None
                if record is not None:
                    unfinished.append(f"{relative}/{record}")
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if folder == "runs":
                        stack.append(f"{relative}/{entry.name}")
                elif entry.is_file(follow_symlinks=False):
                    # Records are small (a reader skips one over MAX_RECORD_BYTES, and so does
                    # a receiving sync): only a run's other files are measured against the cap.
                    size = 0 if folder == "runs" else entry.stat(follow_symlinks=False).st_size
                    found.append((f"{relative}/{entry.name}", size))
            except OSError:
                continue
    return found

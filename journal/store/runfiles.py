"""A run's files beside its record: its log and its patch, found from what the record names (and
only inside the journal folder), and a log read from its end, so a 10 GB log costs only its tail."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from journal.record import table
from journal.store.files import open_regular
from journal.store.paths import inside_journal

BLOCK = 1 << 16             # bytes read backwards at a time when looking for the last lines
LOG_TAIL_MAX_BYTES = 4 << 20   # `show --log` reads at most this much from the end of a log


def log_file(record: Mapping[str, object], journal_dir: Path) -> Path | None:
    """The run's log file as the record names it, if it is inside the journal folder."""
    return inside_journal(journal_dir, table(record, "log").get("path"))


def patch_file(record: Mapping[str, object], journal_dir: Path) -> Path | None:
    """The run's patch file as the record names it, if it is inside the journal folder."""
    return inside_journal(journal_dir, table(record, "git").get("patch"))


def read_log_tail(path: Path, lines: int) -> bytes:
    """The last `lines` lines of a log, read from the end (logs can be gigabytes), at most
    LOG_TAIL_MAX_BYTES of them. Lines end at \\n only: a progress bar's \\r redraws a line, it
    does not make a new one. Raises OSError."""
    with open_regular(path) as handle:
        handle.seek(start_of_last_lines(handle, lines, LOG_TAIL_MAX_BYTES))
        return handle.read()


def start_of_last_lines(handle: IO[bytes], count: int, max_bytes: int | None = None) -> int:
    """Where the last `count` lines of the file start, found by reading backwards from its end,
    so a 10 GB log costs only its tail; never more than `max_bytes` before the end, if given.
    A final newline ends the last line; it does not start one."""
    end = handle.seek(0, os.SEEK_END)
    if count <= 0:
        return end
    floor = 0 if max_bytes is None else max(0, end - max_bytes)
    position = end
    remaining = count      # newlines still to pass going backwards: the last one passed
    while position > floor:    # is the one just before the first line shown
        size = min(BLOCK, position - floor)
        position -= size
        handle.seek(position)
        block = handle.read(size)
        if position + size == end and block.endswith(b"\n"):
            block = block[:-1]
        index = len(block)
        while (index := block.rfind(b"\n", 0, index)) >= 0:
            remaining -= 1
            if remaining == 0:
                return position + index + 1
    return floor

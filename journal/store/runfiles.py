"""A run's files beside its record: its log and its patch, found from what the record names (and
only inside the journal folder), and a log read from its end, so a 10 GB log costs only its tail."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from journal.record import table
from journal.store.files import open_regular, read_regular
from journal.store.paths import inside_journal
from journal.text import printable

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


# -- files that stayed behind on another machine ---------------------------------------------------
# `journal sync` carries a run's log, patch and per-step metrics up to a size cap; a bigger one
# stays on the machine that has it, and `<file>.behind` travels in its place, saying where.

BEHIND_SUFFIX = ".behind"


def behind_text(host: str, size: int, cap: int) -> str:
    return f"host = {_quoted(host)}\nbytes = {size}\ncap = {cap}\n"


def stayed_behind(path: Path) -> str | None:
    """Why the file at `path` is not here, when `journal sync` left it on the machine that has
    it: `stayed behind on gpu01 (2.1 GB; sync carries files up to 25.0 MB)`; else None."""
    marker = _marker(path)
    if marker is None:
        return None
    host, size, cap = marker
    sizes = [byte_size(size)] if size is not None else []
    if cap is not None:
        sizes.append(f"sync carries files up to {byte_size(cap)}")
    return f"stayed behind{_on(host)}" + (f" ({'; '.join(sizes)})" if sizes else "")


def partial_copy(path: Path, size: int) -> str | None:
    """When the file at `path` (`size` bytes here) is the start of a bigger one that stayed on
    another machine: `a partial copy (9.1 KB of 45.8 KB; the whole file is on gpu01)`."""
    marker = _marker(path)
    if marker is None or marker[1] is None or marker[1] <= size:
        return None
    return (f"a partial copy ({byte_size(size)} of {byte_size(marker[1])}; the whole file is"
            f"{_on(marker[0]) or ' elsewhere'})")


def _marker(path: Path) -> tuple[str | None, int | None, int | None] | None:
    import tomllib

    try:
        marker = tomllib.loads(read_regular(path.with_name(path.name + BEHIND_SUFFIX),
                                            4096).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    host, size, cap = marker.get("host"), marker.get("bytes"), marker.get("cap")
    return (host if isinstance(host, str) and host else None,
            size if isinstance(size, int) and not isinstance(size, bool) else None,
            cap if isinstance(cap, int) and not isinstance(cap, bool) else None)


def _on(host: str | None) -> str:
    return f" on {printable(host)}" if host else ""


def byte_size(size: int) -> str:
    """`812 bytes`, `25.0 MB`, `2.1 GB` (decimal units, as `ls -h --si` and disk makers count)."""
    if size < 1000:
        return f"{size} bytes"
    value = size / 1000
    for unit in ("KB", "MB", "GB"):
        if value < 1000:
            break
        value /= 1000
    else:
        unit = "TB"
    return f"{value:.1f} {unit}"


def _quoted(text: str) -> str:
    import json

    return json.dumps(text)     # a TOML basic string: JSON's escapes are TOML's

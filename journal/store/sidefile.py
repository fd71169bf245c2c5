"""A run's side file, `.journal/metrics/<id>.jsonl`: what a script gives through the Python API.

One JSON object a line, appended by the script and never rewritten:

    {"t": 1764315727.123, "step": 10, "metrics": {"loss": 0.31, "acc": 0.82}}
    {"t": 1764315727.001, "params": {"lr": 0.0003, "batch_size": 32}}
    {"t": 1764315790.456, "status": "failed", "error": "ValueError: bad shape"}

Under `journal new` this is the whole hand-over from the script to the wrapper: the script only
appends here (one `write` per line on an O_APPEND descriptor, so lines from several processes
never interleave and a SIGKILL loses at most the line being written), and the wrapper folds the
file into the record in its final write. Every point is kept, so per-step curves exist for later;
the file is committed with the record, like the log.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False     # dataclasses, typing and pathlib cost a script ~15 ms to import
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any

from journal.record import INT64

FOLDER = "metrics"


def path(journal_dir: Path, run_id: str) -> Path:
    return journal_dir / FOLDER / f"{run_id}.jsonl"


def open_for_append(file: Path) -> int:
    file.parent.mkdir(parents=True, exist_ok=True)
    return os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)


class Folded:
    """What a side file contributes to the record."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}     # the last value of each, in order of first log
        self.points = 0                       # metric lines: one per log() call
        self.status: str | None = None        # how the script said it ended, if it said
        self.error: str | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Folded) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Folded({vars(self)})"


_FAST_BYTES = 64 << 20      # a side file up to this size is parsed in one call (see _entries)


def _entries(file: Path) -> Iterator[dict[str, Any]]:
    """The side file's objects, one a line. A torn last line (its writer was killed mid-write)
    and any line that is not a JSON object are skipped. Missing or unreadable file: none."""
    from journal.store.files import open_regular

    try:
        handle = open_regular(file)
    except OSError:
        return
    with handle:
        if os.fstat(handle.fileno()).st_size <= _FAST_BYTES:
            lines = handle.read().split(b"\n")
            del lines[-1]       # after the last newline: empty, or a line cut short
            # One parse of the lines as a JSON array is several times faster than one a line
            # (an export draws the curves of hundreds of runs); a bad line sends it line by line.
            try:
                entries = json.loads(b"[" + b",".join(lines) + b"]") if lines else []
            except ValueError:
                entries = [entry for entry in map(_loaded, lines) if entry is not None]
            yield from (entry for entry in entries if isinstance(entry, dict))
            return
        for line in handle:
            if not line.endswith(b"\n"):
                break       # the last line, cut short
            entry = _loaded(line)
            if isinstance(entry, dict):
                yield entry


def _loaded(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def fold(file: Path) -> Folded:
    """Read a side file; values a record cannot hold are dropped. Missing file: empty."""
    folded = Folded()
    for entry in _entries(file):
        metrics = entry.get("metrics")
        if isinstance(metrics, dict):
            folded.points += 1
            for name, value in metrics.items():
                if _holdable_number(value):
                    folded.metrics[name] = value
        params = entry.get("params")
        if isinstance(params, dict):
            folded.params.update(storable(params, keep_none=True))
        status = entry.get("status")
        if isinstance(status, str):
            folded.status = status
            error = entry.get("error")
            folded.error = error if isinstance(error, str) else None
    return folded


MAX_SERIES_POINTS = 100_000     # points read of one series (the first ones; a curve needs fewer)


def series(file: Path) -> dict[str, tuple[list[float], list[float]]]:
    """Each metric's curve: its steps and the finite numbers it took, in the order the script
    logged them (a point without a step counts as the next after the metric's last). A missing
    or unreadable file: none."""
    import math

    found: dict[str, tuple[list[float], list[float]]] = {}
    for entry in _entries(file):
        metrics = entry.get("metrics")
        if not isinstance(metrics, dict):
            continue
        step = entry.get("step")
        if isinstance(step, bool) or not isinstance(step, int | float) or not math.isfinite(step):
            step = None
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and math.isfinite(value):
                steps, values = found.setdefault(str(name), ([], []))
                if len(values) < MAX_SERIES_POINTS:
                    following = steps[-1] + 1 if steps else 0.0
                    steps.append(float(step) if step is not None else following)
                    values.append(float(value))
    return found


def _holdable_number(value: Any) -> bool:
    """A metric value a record can hold: a bool, a float, or an int that fits TOML's 64 bits."""
    if isinstance(value, bool) or isinstance(value, float):
        return True
    return isinstance(value, int) and value in INT64


def storable(value: Any, *, keep_none: bool = False) -> Any:
    """`value` with what a record cannot hold (huge ints; null, unless `keep_none`: a param's
    None is kept in a table, record.py says how) left out, tables and arrays included."""
    if isinstance(value, dict):
        kept = {str(k): storable(v, keep_none=keep_none) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None or keep_none}
    if isinstance(value, list):
        return [item for item in (storable(v, keep_none=keep_none) for v in value)
                if item is not None]
    if isinstance(value, str) or _holdable_number(value):
        return value
    return None

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
import math
import os

TYPE_CHECKING = False     # dataclasses, typing and pathlib cost a script ~15 ms to import
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any, BinaryIO

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


MAX_LINE = 1 << 20          # bytes: a longer line is no entry a script wrote, and is skipped
_BLOCK = 1 << 20            # bytes read at a time
_BATCH = 4096               # lines parsed in one call


def _entries(file: Path) -> Iterator[dict[str, Any]]:
    """The side file's objects, one a line. A torn last line (its writer was killed mid-write),
    a line longer than MAX_LINE and any line that is not one JSON object are skipped. Missing or
    unreadable file: none. Memory stays bounded whatever the file holds."""
    from journal.store.files import open_regular

    try:
        handle = open_regular(file)
    except OSError:
        return
    with handle:
        batch: list[bytes] = []
        for line in _lines(handle):
            batch.append(line)
            if len(batch) == _BATCH:
                yield from _parsed(batch)
                batch = []
        yield from _parsed(batch)


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    """The complete lines of `handle`, without their newlines, never holding more than a block
    and one line: an over-long line is dropped as it is read, and the bytes after the last
    newline (a line being written, or cut short) are no line."""
    rest, dropping = b"", False
    while block := handle.read(_BLOCK):
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if dropping:
                dropping = False        # the end of an over-long line
            elif len(line) <= MAX_LINE:
                yield line
        if len(rest) > MAX_LINE:
            rest, dropping = b"", True


def _parsed(lines: list[bytes]) -> list[dict[str, Any]]:
    """The lines' objects. One parse of the lines as a JSON array is several times faster than
    one a line (an export reads hundreds of runs' series); a bad line, or a line holding more
    than one value, sends the batch line by line, so each line is judged alone either way."""
    if not lines:
        return []
    try:
        entries = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        entries = None
    if not isinstance(entries, list) or len(entries) != len(lines):
        entries = [_loaded(line) for line in lines]
    return [entry for entry in entries if isinstance(entry, dict)]


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


MAX_SERIES_POINTS = 100_000     # points kept of one series; a longer one keeps every 2nd, 4th...


class Curve:
    """One metric's points as the script logged them: the steps and the finite values (past
    MAX_SERIES_POINTS, every second, fourth... point, and always the last), how many points were
    logged, and how many of them were no finite number (NaN, inf: a run that diverged), and
    whether the last one was."""

    __slots__ = ("steps", "values", "points", "not_finite", "ends_not_finite", "_stride",
                 "_finite", "_last", "_last_step")

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.values: list[float] = []
        self.points = 0
        self.not_finite = 0
        self.ends_not_finite = False
        self._stride = 1
        self._finite = 0
        self._last: tuple[float, float] | None = None
        self._last_step: float | None = None

    def add(self, step: float | None, value: int | float) -> None:
        """A point: at `step`, else the step after the metric's previous point."""
        self.points += 1
        if step is None:
            step = self._last_step + 1 if self._last_step is not None else 0.0
        self._last_step = step
        try:
            number = float(value)
        except OverflowError:           # an int beyond any float
            number = math.inf
        if not math.isfinite(number):
            self.not_finite += 1
            self.ends_not_finite = True
            return
        self.ends_not_finite = False
        self._last = (step, number)
        self._finite += 1
        if (self._finite - 1) % self._stride:
            return
        self.steps.append(step)
        self.values.append(number)
        if len(self.values) >= MAX_SERIES_POINTS:
            del self.steps[1::2]
            del self.values[1::2]
            self._stride *= 2

    def close(self) -> None:
        """After the last point: the last finite one is kept, whatever the thinning left."""
        if self._last is not None and (not self.steps or self.steps[-1] != self._last[0]
                                       or self.values[-1] != self._last[1]):
            self.steps.append(self._last[0])
            self.values.append(self._last[1])

    def __repr__(self) -> str:
        return (f"Curve({self.points} points, {self.not_finite} not finite, "
                f"steps={self.steps[:5]}..., values={self.values[:5]}...)")


def series(file: Path) -> dict[str, Curve]:
    """Each metric's curve (a missing or unreadable file: none). Values that are no number
    (text, booleans) are no points; NaN and infinities are points, counted apart."""
    found: dict[str, Curve] = {}
    for entry in _entries(file):
        metrics = entry.get("metrics")
        if not isinstance(metrics, dict):
            continue
        step = _step(entry.get("step"))
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                curve = found.get(name)
                if curve is None:
                    curve = found[str(name)] = Curve()
                curve.add(step, value)
    for curve in found.values():
        curve.close()
    return found


def _step(value: Any) -> float | None:
    """A point's step as a float; None for none, or one that is no finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        step = float(value)
    except OverflowError:
        return None
    return step if math.isfinite(step) else None


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

"""Metrics from a run's output: the configured regular expressions, applied as the output streams.

Fed the raw chunks the runner copies (one call per read), it scans only complete lines, so a line
split across two reads is matched once it is whole; a carriage return ends a line too, so each
update of a progress bar is seen. Colour escapes are removed before matching. The last match of
each metric wins. The patterns were checked when the config was loaded
(config.metric_pattern_problem).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# CSI (colours, cursor moves), OSC (titles, links) and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INT = re.compile(r"[-+]?\d+")
MAX_LINE = 65536      # a longer "line" is binary or a progress bar gone wild: only its end is kept
MAX_NAME = 200


def parse_number(text: str) -> int | float | None:
    """'82.476%' -> 82.476, '12' -> 12, ' 3e-4 ' -> 0.0003; None when it is not a number."""
    text = text.strip().removesuffix("%").rstrip()
    if not _NUMBER.fullmatch(text):
        return None
    return int(text) if _INT.fullmatch(text) else float(text)


class MetricScanner:
    """Collects `metrics` (name -> last value) from the output streams fed to it."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = []
        for text in patterns:
            pattern = re.compile(text, re.MULTILINE)
            groups = tuple(name for name in pattern.groupindex if name not in ("name", "value"))
            self._patterns.append((pattern, "name" in pattern.groupindex, groups))
        self._partial: dict[int, bytes] = {}   # per stream: the line not yet ended
        self.metrics: dict[str, int | float] = {}

    def feed(self, stream: int, data: bytes) -> None:
        """Scan the lines `data` completes on `stream`; keep the rest for the next call."""
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        partial = self._partial.get(stream, b"")
        if cut < 0:
            partial += data
        else:
            self._scan(partial + data[:cut])
            partial = data[cut + 1:]
        self._partial[stream] = partial[-MAX_LINE:]

    def close(self) -> None:
        """The output ended: a last line without a newline counts too."""
        for partial in self._partial.values():
            if partial:
                self._scan(partial)
        self._partial.clear()

    def _scan(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r", "\n")
        if "\x1b" in text:
            text = _ANSI.sub("", text)
        found = self.metrics
        for pattern, by_name, groups in self._patterns:
            for match in pattern.finditer(text):
                if by_name:
                    name = " ".join((match["name"] or "").split())
                    value = parse_number(match["value"] or "")
                    if name and value is not None and len(name) <= MAX_NAME:
                        found[name] = value     # the last match wins
                for group in groups:
                    text_value = match[group]
                    value = parse_number(text_value) if text_value is not None else None
                    if value is not None:
                        found[group] = value

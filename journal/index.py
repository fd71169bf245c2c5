"""Placeholder until the SQLite index lands: readers fall back to the record files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def open_index(journal_dir: Path, warn: Callable[[str], None]) -> Any:
    return None

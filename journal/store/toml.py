"""The record writer: records as TOML (stdlib only). Records are read with the stdlib `tomllib`
(store.records.read_record).

tomlkit costs ~40 ms to import and `journal new` writes a record twice per run, so the hot path
writes with this instead (tomlkit only edits a record a user amends, to keep its layout). It writes the subset
records need: tables, arrays of tables, strings, ints, floats, bools, offset datetimes and arrays
of those. Every string is escaped so the file always parses, whatever the text holds.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

from journal.record import INT64

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# TOML needs control characters, `"` and `\` escaped; C1 controls (U+0080-U+009F, e.g. the 8-bit
# CSI), bidi overrides and line separators are escaped too, so `cat` or `grep` on a record never
# sends them to a terminal or reorders what a reader sees.
_NEEDS_ESCAPE = re.compile(
    r'[\x00-\x1f\x7f-\x9f"\\\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]'
)
_SURROGATES = re.compile(r"[\ud800-\udfff]+")
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def storable_text(text: str) -> str:
    """`text` as valid Unicode: bytes that were not UTF-8 (surrogate escapes from argv or file
    names) become the visible text `\\xNN`, so the record holds them escaped instead of failing."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATES.sub(_show_surrogates, text)


def _show_surrogates(match: re.Match[str]) -> str:
    """Escaped bytes (U+DC80-U+DCFF) as `\\xNN`, any other lone surrogate as `\\udNNN`."""
    out: list[str] = []
    raw = bytearray()
    for char in match.group():
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            raw.append(code - 0xDC00)
            continue
        if raw:
            out.append(raw.decode("utf-8", "backslashreplace"))
            raw.clear()
        out.append(f"\\u{code:04x}")
    if raw:
        out.append(raw.decode("utf-8", "backslashreplace"))
    return "".join(out)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def format_string(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, storable_text(text)) + '"'


def format_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else format_string(key)


def toml_value(value: Any) -> str:
    if value is None:
        # TOML has no null: a None in an array (`nargs=2` with `[None, 224]`, a Hydra list) is
        # an empty table, as a None param is (record.py); a record must always be writable.
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, numbers.Integral):     # int, IntEnum, numpy integers
        number = int(value)
        if number not in INT64:
            raise ValueError(f"integer out of TOML range: {number}")
        return str(number)
    if isinstance(value, numbers.Real):         # float, numpy floats (repr `np.float64(..)`)
        real = float(value)
        if math.isnan(real):
            return "nan"
        if math.isinf(real):
            return "inf" if real > 0 else "-inf"
        return float.__repr__(real)
    if isinstance(value, (bytes, bytearray)):
        return format_string(bytes(value).decode("utf-8", "surrogateescape"))
    if isinstance(value, dt.datetime):
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("naive datetimes are not written: records use offset datetimes")
        if offset % dt.timedelta(minutes=1):   # TOML offsets have no seconds: say it in UTC
            value = value.astimezone(dt.timezone.utc)
        return str(value.isoformat(timespec="milliseconds"))
    if isinstance(value, Mapping):
        inner = ", ".join(f"{format_key(str(k))} = {toml_value(v)}"
                          for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def is_table_array(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
    )


def dumps(document: Mapping[str, Any]) -> str:
    """Serialise a nested mapping: plain keys first, then sub-tables, then arrays of tables."""
    lines: list[str] = []
    _write_table(document, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _write_table(table: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    arrays = [(k, v) for k, v in table.items() if is_table_array(v)]
    for key, value in table.items():
        if value is None and path[:1] == ("params",):
            # TOML has no null: a param the program had as None is an empty table (record.py).
            lines.append(f"{format_key(str(key))} = {{}}")
            continue
        if value is None or isinstance(value, Mapping) or is_table_array(value):
            continue
        lines.append(f"{format_key(str(key))} = {toml_value(value)}")
    for key, value in tables:
        sub_path = (*path, key)
        lines.append("")
        lines.append("[" + ".".join(format_key(str(k)) for k in sub_path) + "]")
        _write_table(value, sub_path, lines)
    for key, items in arrays:
        sub_path = (*path, key)
        for item in items:
            lines.append("")
            lines.append("[[" + ".".join(format_key(str(k)) for k in sub_path) + "]]")
            _write_table(item, sub_path, lines)

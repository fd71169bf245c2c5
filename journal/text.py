"""Text for people and scripts: terminal-safe text, inert JSON, and durations as people write them.

Nothing in a note, a param, a branch or file name can drive the terminal or a pipe reader:
escape sequences (OSC 52 writes the clipboard, OSC 8 fakes links, CSI moves the cursor and
rewrites the screen), C0/C1 control characters, bidi overrides (Trojan Source) and zero-width
characters are shown as visible escapes (`\\x1b`, `\\u202e`) instead of being obeyed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

# C0 except tab and newline, DEL, C1; bidi embeddings, overrides and isolates; zero-width and
# invisible formatting characters; line and paragraph separators.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_UNSAFE_ONE_LINE = re.compile(_UNSAFE.pattern[:-1] + "\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _unsurrogate(text: str) -> str:
    """Bytes that were not UTF-8 (kept as surrogates) shown as `\\xNN`."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:      # a lone surrogate no undecodable byte made: shown as \udXXX
        data = text.encode("utf-8", "backslashreplace")
    return data.decode("utf-8", "backslashreplace")


def printable(text: str) -> str:
    """One line safe for a terminal: every control character escaped, newlines and tabs too."""
    if text.isprintable():      # every character _UNSAFE names, and a surrogate, is not
        return text
    return _UNSAFE_ONE_LINE.sub(_escape, _unsurrogate(text))


def printable_block(text: str) -> str:
    """Multi-line text safe for a terminal: newlines and tabs kept, the rest escaped."""
    return _UNSAFE.sub(_escape, _unsurrogate(text))


# What json.dumps(ensure_ascii=False) leaves raw but a terminal would obey or hide: DEL, C1,
# bidi controls, zero-width and invisible characters, line and paragraph separators.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def json_text(value: object, *, indent: int | None = None) -> str:
    """JSON for scripts that is also inert on a screen: readable text kept (Japanese stays
    Japanese), every character a terminal could obey written as a JSON escape, datetimes in ISO
    form, and nan/inf (valid TOML, invalid JSON) written as the strings "nan", "inf", "-inf"."""
    import json

    try:
        text = json.dumps(value, indent=indent, ensure_ascii=False, default=_json_default,
                          allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(value), indent=indent, ensure_ascii=False, default=_json_default)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _json_default(value: object) -> object:
    isoformat = getattr(value, "isoformat", None)     # datetime, date, time
    return isoformat() if callable(isoformat) else str(value)


def _finite(value: object) -> object:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


# -- durations --------------------------------------------------------------------------------

def display_width(text: str) -> int:
    """Terminal columns `text` takes: two for a wide (CJK) character, none for a combining one."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(0 if unicodedata.combining(char) else
               2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal columns (as str.ljust, in columns)."""
    return text + " " * max(0, width - display_width(text))


def short_number(value: float, digits: int = 4) -> str:
    """A number in a few characters, for an axis or a curve's ends: `digits` significant
    digits, without an exponent for everyday magnitudes (0.001 to 999,999)."""
    import math

    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else repr(value)
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e6:
        text = f"{value:.{max(0, digits - 1 - math.floor(math.log10(magnitude)))}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:.{digits - 1}e}"


def human_duration(seconds: float, *, compact: bool = False) -> str:
    """12.5s, 3m 05s, 3h 30m 12s (25h 01m 01s past a day). `compact` keeps two units past an hour
    (3h 30m, 1d 1h) so a `journal list` column stays narrow."""
    seconds = abs(float(seconds))
    if seconds != seconds or seconds == float("inf"):     # a hand-made or synced nan / inf
        return "?"
    if seconds < 59.95:        # what would not print as "60.0s"
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if not compact:
        return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


# -- values ---------------------------------------------------------------------------------------

def format_value(value: object) -> str:
    """A param or metric value as text: TOML's true/false, floats as Python's shortest repr,
    datetimes in ISO form, lists and tables as JSON. Not escaped for any medium."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)             # shortest round-trip form; nan, inf, -inf as such
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, Mapping)):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def time_text(value: object) -> str:
    """A time as `2026-11-28 16:42:07+09:00` (to the second, in its own zone); anything else as
    text."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)

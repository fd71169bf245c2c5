"""Text from records and logs, made safe to show: nothing in a note, a param, a branch or file
name can drive the terminal or a pipe reader.

Escape sequences (OSC 52 writes the clipboard, OSC 8 fakes links, CSI moves the cursor and
rewrites the screen), C0/C1 control characters, bidi overrides (Trojan Source) and zero-width
characters are shown as visible escapes (`\\x1b`, `\\u202e`) instead of being obeyed.
"""

from __future__ import annotations

import re

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
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def printable(text: str) -> str:
    """One line safe for a terminal: every control character escaped, newlines and tabs too."""
    return _UNSAFE_ONE_LINE.sub(_escape, _unsurrogate(text))


def printable_block(text: str) -> str:
    """Multi-line text safe for a terminal: newlines and tabs kept, the rest escaped."""
    return _UNSAFE.sub(_escape, _unsurrogate(text))

"""A run's log made safe to show: what a program printed, without what it could make a terminal do.

A log holds whatever the child wrote, including escape sequences that would act on the reader's
terminal: OSC 52 writes the clipboard, OSC 8 dresses a link as other text, CSI clears the screen
or moves the cursor, DCS/APC strings talk to the terminal itself. `clean_log` drops them all and
keeps the text:

- SGR colour sequences (`ESC [ 1;31 m`, digits `;` `:` only) are kept when `keep_colour` (the
  reader is a terminal), dropped otherwise. Nothing else that starts with ESC is ever kept, so
  what reaches the terminal is text, `\\t`, `\\n`, `\\r` and colours.
- Dropped: every other CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC strings, other ESC
  sequences (`ESC c` resets the terminal), a lone ESC, C0 controls other than tab, newline and
  carriage return, DEL, C1 controls both as raw bytes and UTF-8 encoded (U+0080-U+009F), bidi
  overrides and isolates, and zero-width characters (the same set `text.printable` escapes).
- Carriage returns: progress bars (tqdm) redraw one line with `\\r`. On a terminal they are kept,
  so the bar redraws as it did. Elsewhere (a pipe, a file, a note) each line keeps only its last
  non-empty `\\r` segment, which is what the screen finally showed; a complete line is written
  once its `\\n` arrives (or at the end), so a pipe reader never sees half of a redraw.
- Bytes that are not UTF-8 pass through unchanged (a Latin-1 log stays Latin-1), except stray
  bytes 0x80-0x9F, which some terminals obey as C1 controls.

The log is decoded with `surrogateescape`, so invalid bytes become lone surrogates that the
patterns see as the C1 byte they are, and encoding back restores every other byte exactly. All
the work is done in C (a few regex substitutions, which plain ASCII chunks skip): 100 MB of log
take ~0.1 s when plain and 2-3 s when every line is coloured.

`LogCleaner` does the same incrementally for `tail -f`: an escape sequence or a UTF-8 character
split across two reads is held back until it is complete, so half of one never leaks, and the
output does not depend on how the log was cut into chunks.
"""

from __future__ import annotations

import codecs
import re

# Sequences are bounded so a stray ESC cannot hold back (or swallow) the rest of a log: past these
# lengths an unfinished sequence is not one, and only its introducer is dropped.
_MAX_PARAMS = 256          # CSI parameter bytes (SGR included)
_MAX_INTERMEDIATES = 16
_MAX_STRING = 1 << 22      # OSC/DCS/APC payload: OSC 52 clipboard writes and images can be MBs
_LINE_CAP = 1 << 20        # a line being assembled (non-terminal) is written out past this size

# C0 except \t \n \r; DEL; C1 (U+0080-U+009F) and stray bytes 0x80-0x9F (as surrogateescape
# decodes them); ALM; zero-width and bidi marks, line/paragraph separators, embeddings and
# overrides; word joiner and invisible operators; isolates and deprecated format controls; BOM.
_UNSAFE_CHARS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\udc80-\udc9f"
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
)
# Kept SGR sequences are marked with this while the rest is cleaned (a lone high surrogate never
# comes out of the decoder: invalid bytes map to U+DC80-U+DCFF only).
_KEEP = "\ud800"
# What cuts a sequence short without being part of it: another ESC or any C1 control (as in
# the DEC/ECMA-48 parser, where they act "from anywhere"), a kept SGR, or the end of the log.
# The end matters twice: a log cut mid-sequence shows nothing of it, and `LogCleaner` cleans up
# to the next ESC, where `\Z` must decide exactly what the ESC itself would.
_BREAK = "\x1b\x80-\x9f\udc80-\udc9f" + _KEEP
_CUT_SHORT = rf"(?=[{_BREAK}])|\Z"

_SEQUENCE = (
    # CSI: parameters, intermediates, a final byte.
    rf"\[[0-?]{{0,{_MAX_PARAMS}}}[ -/]{{0,{_MAX_INTERMEDIATES}}}(?:[@-~]|{_CUT_SHORT})"
    # OSC, DCS, SOS, PM, APC: a payload ended by BEL, ST (ESC \ or 0x9C), CAN or SUB.
    rf"|[\]P^_X][^\x07\x18\x1a{_BREAK}]{{0,{_MAX_STRING}}}"
    rf"(?:\x07|\x1b\\|[\x18\x1a\x9c\udc9c]|{_CUT_SHORT})"
    # Any other escape (`ESC c`, `ESC ( B`, `ESC 7`), or a malformed CSI/OSC's `ESC [`, `ESC ]`.
    rf"|[ -/]{{0,{_MAX_INTERMEDIATES}}}(?:[0-~]|{_CUT_SHORT})"
)
# One pattern that starts with a character class, so the regex engine skips clean text in C.
_UNSAFE = re.compile(rf"[{_UNSAFE_CHARS}\x1b](?:(?<=\x1b)(?:{_SEQUENCE}))?")
_SGR = re.compile(rf"\x1b(?=\[[0-9;:]{{0,{_MAX_PARAMS}}}m)")
# What a sequence still being written looks like; held back until more of the log arrives.
_UNFINISHED = re.compile(
    rf"\x1b(?:\[[0-?]{{0,{_MAX_PARAMS}}}[ -/]{{0,{_MAX_INTERMEDIATES}}}"
    rf"|[\]P^_X][^\x07\x18\x1a{_BREAK}]{{0,{_MAX_STRING}}}"
    rf"|[ -/]{{0,{_MAX_INTERMEDIATES}}})"
)
_LOOKBACK = _MAX_STRING + 2

# Up to the last `\r` of a line that is followed by text: what the screen showed before that.
_OVERDRAWN = re.compile(rb"(?m)^[^\n]*\r(?=[^\r\n])")
_TRAILING_CR = re.compile(rb"\r+(?=\n|\Z)")
_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n\r"   # bytes that never need cleaning


def clean_log(data: bytes, *, keep_colour: bool, keep_cr: bool | None = None) -> bytes:
    """`data` (a whole log, or its last lines) safe to print. `keep_colour`: the reader is a
    terminal, so SGR colours stay. `keep_cr` (default: as `keep_colour`) keeps `\\r` for the
    terminal to redraw progress bars; without it each line shows its last `\\r` segment."""
    cleaner = LogCleaner(keep_colour=keep_colour, keep_cr=keep_cr)
    return cleaner.feed(data) + cleaner.flush()


class LogCleaner:
    """`clean_log` for a log that arrives in pieces: `feed(chunk)` returns what can be shown so
    far, `flush()` the rest at the end. Together they give exactly what `clean_log` gives for the
    whole (except for a single line over 1 MB being assembled without a terminal)."""

    def __init__(self, *, keep_colour: bool, keep_cr: bool | None = None) -> None:
        self.keep_colour = keep_colour
        self.keep_cr = keep_colour if keep_cr is None else keep_cr
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._held = ""   # an escape sequence not yet complete
        self._line = b""  # without keep_cr: the line being assembled, reduced to what it shows

    def feed(self, chunk: bytes) -> bytes:
        if not (self._held or chunk.translate(None, _PLAIN) or self._decoder.getstate()[0]):
            return self._emit(chunk, final=False)   # printable ASCII: nothing to decode or drop
        text = self._held + self._decoder.decode(chunk)
        cut = _unfinished_from(text)
        self._held = text[cut:]
        return self._emit(_clean(text[:cut], self.keep_colour), final=False)

    def flush(self) -> bytes:
        """The end of the log: whatever is held is decided as it stands (an unfinished sequence
        is dropped, a line without its newline is shown)."""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return self._emit(_clean(text, self.keep_colour), final=True)

    def _emit(self, data: bytes, *, final: bool) -> bytes:
        if self.keep_cr:
            return data
        data = self._line + data
        end = len(data) if final else data.rfind(b"\n") + 1
        done, line = data[:end], data[end:]
        if b"\r" in done:
            done = _TRAILING_CR.sub(b"", _OVERDRAWN.sub(b"", done))
        if b"\r" in line:
            # A progress bar redraws one line for hours: keep only its latest state (and a
            # trailing \r that says the next text replaces it).
            line = _OVERDRAWN.sub(b"", line)
            if line.endswith(b"\r\r"):
                line = line.rstrip(b"\r") + b"\r"
        if len(line) > _LINE_CAP:
            done, line = done + line, b""
        self._line = line
        return done


def _unfinished_from(text: str) -> int:
    """Where an escape sequence still being written starts (len(text) when there is none).
    Only the last ESC can start one: no sequence holds an ESC except as its terminator."""
    start = text.rfind("\x1b", max(0, len(text) - _LOOKBACK))
    if start >= 0 and _UNFINISHED.fullmatch(text, start):
        return start
    return len(text)


def _clean(text: str, keep_colour: bool) -> bytes:
    if keep_colour and "\x1b" in text:
        text = _UNSAFE.sub("", _SGR.sub(_KEEP, text)).replace(_KEEP, "\x1b")
    else:
        text = _UNSAFE.sub("", text)
    return text.encode("utf-8", "surrogateescape")

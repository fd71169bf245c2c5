"""Secrets masked in what a run prints, on its way to the log (the terminal still gets it as is).

Scripts print their arguments (`print(args)` is the first habit of careful logging), so a token
masked in the record's `command` would still reach `.journal/logs/` through the output. The log
gets the same masks as the record, by shape (token formats, private keys, URL passwords, bearer
headers) and by value: every secret that was masked in the command line, and the values of the
credential-named environment variables the child was given. Masking by name (`password=...`) is
left to the record: on megabytes of output it costs ~15x the shape scan.

Output is masked a whole line at a time, so a token split across two reads is still found; a
line without its end is written once it is FLUSH_AFTER old or MAX_PENDING long, so the log still
trails the output by well under a second, except for the word it ends with: a secret may be
coming in pieces (a pause between two writes, a cut at MAX_PENDING), so the run of token
characters at its end waits for the rest of the line (or up to HOLD_BACK of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from journal.redact import (
    KEY_BEGIN_RE,
    KEY_END_RE,
    MASK,
    MIN_SECRET,
    Redactor,
    is_path,
    masked_pieces,
)

FLUSH_AFTER = 0.5         # seconds a partial line may wait for its end
MAX_PENDING = 1 << 16     # bytes a partial line may grow to before it is written anyway
HOLD_BACK = 1 << 14       # bytes of a trailing word kept back when a partial line is written
# What a secret may be made of: anything but white space (a password is `Sup3r!Pass99`, a URL
# password `p@ss#1`): a partial line's trailing run of these may be the first half of one.
# (Found with rstrip, from the end: a regex anchored at the end tries every start and is
# quadratic on a long run.)
_WORD_BYTES = bytes(byte for byte in range(256) if byte not in b" \t\n\r\x0b\x0c")


def known_secrets(argv: Sequence[str], masked_argv: Sequence[str], environ: Mapping[str, str],
                  redactor: Redactor) -> list[str]:
    """The secret values the child was given: what masking `argv` into `masked_argv` (the
    record's `command`) took out, and the values of credential-named (or secret-shaped)
    environment variables. Longest first."""
    found: set[str] = set()
    for arg, masked in zip(argv, masked_argv):
        found.update(masked_pieces(arg, masked))
    for name, value in environ.items():
        if redactor.is_secret_name(name) and len(value) >= MIN_SECRET and not is_path(value):
            found.add(value)       # (PWD is named like a password: its folder is no secret)
        else:
            found.update(masked_pieces(value, redactor.shapes(value)))
    return sorted(found, key=len, reverse=True)


class LogMasker:
    def __init__(self, redactor: Redactor, secrets: Iterable[str] = ()) -> None:
        self.redactor = redactor
        values = [value for value in secrets if len(value) >= MIN_SECRET]
        self._values = re.compile("|".join(map(re.escape, values))) if values else None
        self._value_bytes = [value.encode("utf-8", "surrogateescape") for value in values]
        self._pending = b""
        self._pending_since = 0.0
        self._in_key = False        # inside a private key block that began in an earlier line

    def fresh(self) -> LogMasker:
        """A masker with the same masks and nothing pending (for another stream)."""
        other = LogMasker(self.redactor)
        other._values, other._value_bytes = self._values, self._value_bytes
        return other

    def feed(self, data: bytes, now: float) -> bytes:
        """What of `data` (and of what came before it) can go to the log now, masked."""
        if not self._pending:
            self._pending_since = now
        self._pending += data
        end = max(self._pending.rfind(b"\n"), self._pending.rfind(b"\r")) + 1
        if end == 0:
            return self.due(now)
        ready, self._pending = self._pending[:end], self._pending[end:]
        self._pending_since = now
        return self._mask(ready)

    def due(self, now: float) -> bytes:
        """A partial line that waited long enough (or grew too long), masked, but for the word
        it ends with (which may be half a secret); else nothing."""
        if self._pending and (now - self._pending_since >= FLUSH_AFTER
                              or len(self._pending) >= MAX_PENDING):
            word = len(self._pending) - len(self._pending.rstrip(_WORD_BYTES))
            # A private key's header has spaces in it (`-----BEGIN RSA PRIVATE KEY-----`): a
            # block begun and not ended waits whole, or neither piece would be seen as one.
            begin = self._pending.rfind(b"-----BEGIN", max(0, len(self._pending) - HOLD_BACK))
            if begin >= 0 and b"-----END" not in self._pending[begin:]:
                word = max(word, len(self._pending) - begin)
            word = max(word, self._awaited_tail())
            keep = min(word, HOLD_BACK)
            if keep == len(self._pending):
                return b""                    # all one word so far: wait for its end
            ready, self._pending = self._pending[:len(self._pending) - keep], \
                self._pending[len(self._pending) - keep:]
            self._pending_since = now
            return self._mask(ready)
        return b""

    def _awaited_tail(self) -> int:
        """Bytes at the end of the partial line that may be the start of a secret with spaces
        in it: of a known value (`correct horse battery staple`), or a header whose token has
        not come yet (`Authorization: Bearer `)."""
        pending = self._pending
        window = pending[-HOLD_BACK:]
        keep = 0
        for value in self._value_bytes:
            for size in range(min(len(value) - 1, len(window)), keep, -1):
                if window.endswith(value[:size]):
                    keep = size
                    break
        for marker in (b"uthorization", b"UTHORIZATION", b"Bearer"):
            at = window.rfind(marker)
            if at >= 0:
                keep = max(keep, len(window) - at + 1)
        return min(keep, len(pending))

    def flush(self) -> bytes:
        ready, self._pending = self._pending, b""
        return self._mask(ready)

    def _mask(self, data: bytes) -> bytes:
        if not data:
            return data
        if not self._in_key and not self.redactor.may_hold_secret(data) \
                and not any(value in data for value in self._value_bytes):
            return data       # the usual chunk: a few scans in C, no decoding, no patterns
        text = data.decode("utf-8", "surrogateescape")
        masked = text
        if self._in_key:      # the rest of a key whose first line was masked before
            end = KEY_END_RE.search(masked)
            masked = MASK if end is None else MASK + masked[end.end():]
            self._in_key = end is None
        masked = self.redactor.shapes(masked, command_lines=False)
        if self._values is not None:
            masked = self._values.sub(MASK, masked)
        begins = list(KEY_BEGIN_RE.finditer(text))
        if begins and not KEY_END_RE.search(text, begins[-1].end()):
            self._in_key = True   # shapes() masked the block to the end of this piece
        return data if masked == text else masked.encode("utf-8", "surrogateescape")

"""What the command line says to the user: diagnostics on stderr (stdout stays data), errors as
one line and a hint, never a traceback."""

from __future__ import annotations

import os
import sys

from journal.errors import JournalError
from journal.text import printable


def say(message: str) -> None:
    """A diagnostic line: always stderr, so stdout stays data."""
    sys.stderr.write(f"journal: {printable(message)}\n")
    sys.stderr.flush()


def report_error(exc: JournalError) -> int:
    """`journal: error: what happened` and `hint: what to do` on stderr; the exit code."""
    say(f"error: {exc.message}")
    if exc.hint:
        sys.stderr.write(f"hint: {printable(exc.hint)}\n")
    return exc.exit_code


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail a second time
    (the reader of a pipe went away, or the disk is full)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass

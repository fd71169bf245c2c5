"""What a terminal gets, decided as git decides it: colour (`--color auto|always|never`,
NO_COLOR, a dumb terminal) and a pager for long output (`$JOURNAL_PAGER`, `$PAGER`, `less`
with `LESS=FRX`, `--no-pager`)."""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Iterator
from typing import IO

from journal.cli.output import say
from journal.errors import UsageError

COLOUR_CHOICES = ("auto", "always", "never")
DEFAULT_PAGER = "less"
# As git sets them when they are unset: quit if the text fits one screen, pass colours, leave
# the text on the screen when done; `lv` told to pass colours too.
PAGER_ENVIRONMENT = {"LESS": "FRX", "LV": "-c"}


def colour_wanted(choice: str, stream: IO[str]) -> bool:
    """`always`, `never`, or `auto`: on a terminal, unless NO_COLOR (no-color.org: any
    non-empty value) or TERM=dumb says no."""
    choice = choice.lower()
    if choice not in COLOUR_CHOICES:
        raise UsageError(f"--color takes auto, always or never, not {choice!r}")
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return _is_terminal(stream)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def pager_command() -> str | None:
    """The pager to run, or None: `$JOURNAL_PAGER`, else `$PAGER`, else `less`; empty or `cat`
    means none, as GIT_PAGER does."""
    command = os.environ.get("JOURNAL_PAGER", os.environ.get("PAGER", DEFAULT_PAGER)).strip()
    if command in ("", "cat"):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return command         # quoting the shell reads otherwise: the shell decides
    program = words[0] if words else ""
    if "=" in program or any(char in command for char in "|&;<>()$`"):
        return command         # `LESS=R less`, a pipeline: the shell decides
    if shutil.which(program) is None:
        if command != DEFAULT_PAGER:
            say(f"warning: the pager {program!r} is not found; printing without one")
        return None
    return command


class _ToPager(io.TextIOWrapper):
    """Standard output while a pager shows it: the user's terminal is at the other end, so
    what is printed is made for a terminal (colours, rendered Markdown)."""

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def paged(wanted: bool) -> Iterator[bool]:
    """Standard output through a pager while the block runs, when it is a terminal and
    `wanted`. The pager gets the descriptor itself, so every writer (text, bytes, rich) goes
    through it. Quitting the pager early ends the output quietly; journal waits for the pager
    before it exits, as git does, and leaves Ctrl-C to it meanwhile. Yields whether a pager
    runs."""
    # A dumb terminal cannot run less (it stops to say so and waits for RETURN).
    dumb = os.environ.get("TERM") == "dumb"
    command = pager_command() if wanted and not dumb and _is_terminal(sys.stdout) else None
    if command is None:
        yield False
        return
    import subprocess

    environment = {**PAGER_ENVIRONMENT, **os.environ}
    sys.stdout.flush()
    try:
        pager = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=environment)
    except OSError:
        yield False
        return
    assert pager.stdin is not None
    saved = os.dup(1)
    os.dup2(pager.stdin.fileno(), 1)
    pager.stdin.close()
    original = sys.stdout
    sys.stdout = _ToPager(open(1, "wb", closefd=False), encoding=original.encoding,
                          errors=original.errors)
    interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)   # the pager's key, not ours
    # A SIGTERM to journal alone: the pager is waited for (it has the terminal), as git does.
    terminate = signal.signal(signal.SIGTERM, _exit_after_the_pager)
    try:
        yield True
        sys.stdout.flush()
    except BrokenPipeError:
        pass                 # the pager was quit before the end: what was wanted was seen
    finally:
        with contextlib.suppress(OSError):
            sys.stdout.close()
        sys.stdout = original
        os.dup2(saved, 1)
        os.close(saved)
        told: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: told.append(signum))
        pager.wait()                # the reader's time: a SIGTERM now waits for the pager too
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, terminate)
        if told:
            raise SystemExit(128 + told[0])


def _exit_after_the_pager(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)

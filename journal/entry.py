"""The `journal` executable's entry point, and the body of `journal new`.

`journal new` is a prefix on every experiment, so its start-up is paid on every run. Importing
typer costs ~45 ms, half of what `journal new -- true` costs in all; a plain `journal new`
command line (the options below, then `--` or the command) is therefore read here by hand and
typer is not imported. Anything else (help, an unknown or malformed option, other commands)
goes to the typer app in journal/cli.py, so help and error messages come from one place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journal.errors import JournalError
from journal.safetext import printable

_VALUED = {"-n": "note", "--note": "note", "-t": "tags", "--tag": "tags", "-m": "metrics",
           "--metric": "metrics", "-p": "params", "--param": "params"}
_FLAGS = {"-q": "quiet", "--quiet": "quiet"}
_SHORT_LIVED = {"list", "grep", "show", "export", "diff"}


def say(message: str) -> None:
    """A diagnostic line: always stderr, so stdout stays data."""
    sys.stderr.write(f"journal: {printable(message)}\n")
    sys.stderr.flush()


def report_error(exc: JournalError) -> int:
    say(f"error: {exc.message}")
    if exc.hint:
        sys.stderr.write(f"hint: {printable(exc.hint)}\n")
    return exc.exit_code


@dataclass
class NewArgs:
    command: list[str] = field(default_factory=list)
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    quiet: bool = False


def parse_new(argv: Sequence[str]) -> NewArgs | None:
    """`journal new`'s arguments as typer would read them, or None when typer should read them
    (help, unknown options, a missing value: its messages are the ones users see elsewhere)."""
    args = NewArgs()
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            args.command = list(argv[index:])
            return args
        if not arg.startswith("-") or arg == "-":
            args.command = list(argv[index - 1:])    # no interspersed options: the rest is the command
            return args
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS and not equals:
            args.quiet = True
            continue
        target = _VALUED.get(name)
        if target is None:
            if len(arg) > 2 and arg[:2] in _VALUED and not arg.startswith("--"):
                target, value, equals = _VALUED[arg[:2]], arg[2:], "="     # -nNOTE
            else:
                return None
        if not equals:
            if index >= len(argv):
                return None
            value = argv[index]
            index += 1
        if target == "note":
            args.note = value
        else:
            getattr(args, target).append(value)
    return args


def run_new(args: NewArgs) -> int:
    """Record (and run) what `journal new` was given; the exit code to leave with."""
    from journal.params import parse_assignment
    from journal.recording import NewRun, Place, record_new

    request = NewRun(
        command=args.command,
        note=args.note,
        tags=args.tags,
        params=dict(parse_assignment(text, "--param") for text in args.params),
        metrics=dict(parse_assignment(text, "--metric") for text in args.metrics),
    )
    place = Place.find(Path.cwd(), os.environ)
    outcome = record_new(request, place, environ=os.environ, warn=say)
    if not request.command:
        say(f"recorded {outcome.run_id}")
    elif outcome.started and not args.quiet:
        from journal.report import final_report

        try:
            sys.stderr.write(final_report(outcome.record, place.journal_dir))
            sys.stderr.flush()
        except (OSError, ValueError):
            pass   # stderr is gone: the record has it all
    return outcome.exit_code


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: JournalError becomes one line on stderr and its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    fast = parse_new(argv[1:]) if argv[:1] == ["new"] else None
    if fast is None:
        if argv[:1] and argv[0] in _SHORT_LIVED:
            # They build thousands of records and exit: the cyclic GC would rescan them all again
            # and again (a quarter of `list -n 0` at 50,000 runs) and find nothing, as records
            # hold no cycles. `new` and `tail -f` may live for days: they keep it.
            import gc

            gc.disable()
        from journal.cli import main as typer_main

        return typer_main(argv)
    try:
        code = run_new(fast)
    except JournalError as exc:
        code = report_error(exc)
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.exit(code)

"""`journal new`: its options read by hand (typer is not imported on the hot path), and the run.

`journal new` is a prefix on every experiment, so its start-up is paid on every run. Importing
typer costs ~45 ms, half of what `journal new -- true` costs in all; a plain `journal new`
command line (the options below, then `--` or the command) is therefore read here. Anything else
(help, an unknown or malformed option) goes to the typer app, so help and error messages come
from one place (cli/app.py, whose `new` command calls `run_new` too).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from journal.cli.output import say
from journal.record import Record

_VALUED = {"-n": "note", "--note": "note", "-t": "tags", "--tag": "tags", "-m": "metrics",
           "--metric": "metrics", "-p": "params", "--param": "params"}
_FLAGS = {"-q": "quiet", "--quiet": "quiet"}


@dataclass
class NewArgs:
    command: list[str] = field(default_factory=list)
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    quiet: bool = False
    cwd: Path | None = None              # where to run (`journal rerun`: in the run's worktree)
    rerun_of: str | None = None          # the run this one repeats


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
        elif target == "tags":
            args.tags.append(value)
        elif target == "metrics":
            args.metrics.append(value)
        else:
            args.params.append(value)
    return args


def run_new(args: NewArgs) -> int:
    """Record (and run) what `journal new` was given; the exit code to leave with."""
    from journal.capture.params import parse_assignment, parse_metric
    from journal.capture.recording import NewRun, record_new
    from journal.errors import UsageError
    from journal.record import TAG_RULE, is_valid_tag
    from journal.store.context import Context
    from journal.text import printable

    for tag in args.tags:
        if not is_valid_tag(tag):
            raise UsageError(f"bad tag {printable(tag)!r}: {TAG_RULE}", hint='e.g. -t adam')
    request = NewRun(
        command=args.command,
        note=args.note,
        tags=args.tags,
        params=dict(parse_assignment(text, "--param") for text in args.params),
        metrics=dict(parse_metric(text) for text in args.metrics),
        rerun_of=args.rerun_of,
    )
    if args.cwd is not None:
        os.chdir(args.cwd)          # the command runs there, as it would have been typed there
    context = Context.find(Path.cwd(), os.environ)

    def report(record: Record) -> None:
        from journal.render.report import final_report

        try:
            sys.stderr.write(final_report(record, context.journal_dir))
            sys.stderr.flush()
        except (OSError, ValueError):
            pass   # stderr is gone: the record has it all

    outcome = record_new(request, context, warn=say, report=None if args.quiet else report)
    if request.command:
        # The record is final and journal exits with the command's code: from here to the exit
        # (Python puts its default handlers back while it shuts down) a signal must not kill
        # journal instead, as if the command had died of it.
        from journal.capture.runner import FORWARDED_SIGNALS

        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if outcome.interrupted_from_keyboard:
            _die_of_sigint()
    else:
        say(f"recorded {outcome.run_id}")
    return outcome.exit_code


def _die_of_sigint() -> None:
    """End as the command did, killed by Ctrl-C, so that the shell running a loop of runs
    stops it, as it would without journal (its status still reads 130)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)

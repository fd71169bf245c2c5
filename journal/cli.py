"""The `journal` command line: parse options, call one function, print, map errors to exit codes.

The only module that uses typer. Library code raises JournalError; `main` turns it into
`journal: error: ...` on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from journal import __version__
from journal.errors import JournalError
from journal.safetext import printable

app = typer.Typer(
    name="journal",
    help="A git-integrated experiment journal: prefix a run with `journal new --` and it is on record.",
    add_completion=False,
    rich_markup_mode=None,   # keeps rich (~60 ms) out of every command and of --help
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def say(message: str) -> None:
    """A diagnostic line: always stderr, so stdout stays data."""
    sys.stderr.write(f"journal: {printable(message)}\n")
    sys.stderr.flush()


def _version(value: bool) -> None:
    if value:
        print(f"journal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Record every experiment run with its note, code state, command, parameters and results."""


@app.command()
def init() -> None:
    """Create .journal/ and .journal-template.md here (existing files are kept).

    Example: journal init
    """
    from journal.setup import initialise

    for path, created in initialise(Path.cwd(), os.environ):
        say(f"{'created' if created else 'kept existing'} {path}")


@app.command(
    context_settings={"allow_interspersed_args": False},
)
def new(
    command: Annotated[
        Optional[list[str]], typer.Argument(help="The command to run, after `--`.", show_default=False)
    ] = None,
    note: Annotated[Optional[str], typer.Option("--note", "-n", help="Why this run exists.")] = None,
    tag: Annotated[list[str], typer.Option("--tag", "-t", help="A tag (repeatable).")] = [],
    metric: Annotated[
        list[str], typer.Option("--metric", "-m", help="A result, NAME=VALUE (repeatable).")
    ] = [],
    param: Annotated[
        list[str], typer.Option("--param", "-p", help="A parameter, NAME=VALUE (repeatable).")
    ] = [],
) -> None:
    """Record a run: run COMMAND (after --) and keep its note, code state, output and exit status.

    Without a command, records a note at the current code state.

    Example: journal new --note "Adam instead of SGD" -- python train.py --lr 3e-4
    """
    from journal.params import parse_assignment
    from journal.recording import NewRun, Place, record_new

    request = NewRun(
        command=list(command or ()),
        note=note,
        tags=tag,
        params=dict(parse_assignment(text, "--param") for text in param),
        metrics=dict(parse_assignment(text, "--metric") for text in metric),
    )
    outcome = record_new(request, Place.find(Path.cwd(), os.environ), environ=os.environ, warn=say)
    if not request.command:
        say(f"recorded {outcome.run_id}")
    raise typer.Exit(outcome.exit_code)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: JournalError becomes one line on stderr and its exit code."""
    try:
        return app(args=argv, prog_name="journal", standalone_mode=True)
    except JournalError as exc:
        say(f"error: {exc.message}")
        if exc.hint:
            sys.stderr.write(f"hint: {printable(exc.hint)}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)

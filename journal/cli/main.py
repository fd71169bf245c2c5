"""The `journal` executable: `main` is the console script and `python -m journal`.

A plain `journal new` command line runs here without typer (cli/new.py says why); every other
command goes to the typer app (cli/app.py). A JournalError from below becomes one line on stderr
and its exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False      # typing costs 5 ms, a tenth of `journal --version`
if TYPE_CHECKING:
    from typing import NoReturn


# Commands that build thousands of records and exit (see `main`).
_SHORT_LIVED = {"list", "grep", "show", "export", "diff"}


def main(argv: list[str] | None = None) -> NoReturn:
    """Run `journal ARGV` (default: the process's arguments) and exit with its code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:
        # Answered before anything else loads: a script or a bug report asks it often.
        from journal import __version__

        sys.stdout.write(f"journal {__version__}\n")
        sys.stdout.flush()
        sys.exit(0)
    _open_closed_standard_streams()
    fast = None
    if argv[:1] == ["new"]:          # only `new` reads its own options (cli/new.py)
        from journal.cli.new import parse_new

        fast = parse_new(argv[1:])
    if fast is None:
        if argv[:1] and argv[0] in _SHORT_LIVED:
            # They build thousands of records and exit: the cyclic GC would rescan them all again
            # and again (a quarter of `list -n 0` at 50,000 runs) and find nothing, as records
            # hold no cycles. `new` and `tail -f` may live for days: they keep it.
            import gc

            gc.disable()
        from journal.cli.app import run_app

        run_app(argv)
    from journal.cli.new import run_new
    from journal.cli.output import report_error
    from journal.errors import JournalError

    try:
        code = run_new(fast)
    except JournalError as exc:
        code = report_error(exc)
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.exit(code)


def _open_closed_standard_streams() -> None:
    """A closed stdin, stdout or stderr (`journal new -- CMD >&-`, a daemon's launcher) becomes
    /dev/null: else the next file journal opens (the log, a record) would take its number, and
    what the command prints would go into it."""
    for fd, mode, name in ((0, os.O_RDONLY, "stdin"), (1, os.O_WRONLY, "stdout"),
                           (2, os.O_WRONLY, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, mode)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))

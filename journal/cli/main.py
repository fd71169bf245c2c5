"""The `journal` executable: `main` is the console script and `python -m journal`.

A plain `journal new` command line runs here without typer (cli/new.py says why); every other
command goes to the typer app (cli/app.py). A JournalError from below becomes one line on stderr
and its exit code, never a traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from journal.cli.new import parse_new, run_new
from journal.cli.output import report_error
from journal.errors import JournalError

# Commands that build thousands of records and exit (see `main`).
_SHORT_LIVED = {"list", "grep", "show", "export", "diff"}


def main(argv: list[str] | None = None) -> NoReturn:
    """Run `journal ARGV` (default: the process's arguments) and exit with its code."""
    argv = sys.argv[1:] if argv is None else argv
    fast = parse_new(argv[1:]) if argv[:1] == ["new"] else None
    if fast is None:
        if argv[:1] and argv[0] in _SHORT_LIVED:
            # They build thousands of records and exit: the cyclic GC would rescan them all again
            # and again (a quarter of `list -n 0` at 50,000 runs) and find nothing, as records
            # hold no cycles. `new` and `tail -f` may live for days: they keep it.
            import gc

            gc.disable()
        from journal.cli.app import run_app

        run_app(argv)
    try:
        code = run_new(fast)
    except JournalError as exc:
        code = report_error(exc)
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.exit(code)

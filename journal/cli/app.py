"""The `journal` commands: parse options, call one function, print, map errors to exit codes.

The only module that uses typer. Each command finds its context (the journal folder, the work tree,
the environment and the clock) once, and calls one function of the library. Library code raises
JournalError; `run_app` turns it into `journal: error: ...` on stderr and its exit code, never a
traceback. The executable starts in cli/main.py, which runs plain `journal new` command lines
without importing typer.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

from journal import __version__
from journal.cli.output import report_error, say, silence_stdout
from journal.errors import JournalError, UsageError

if TYPE_CHECKING:
    from journal.store.context import Context
    from journal.store.filters import Filters
    from journal.store.source import RunSource

app = typer.Typer(
    name="journal",
    help="A git-integrated experiment journal: prefix a run with `journal new --` and it is on record.",
    add_completion=True,     # --install-completion, --show-completion (typer imports it anyway)
    rich_markup_mode=None,   # keeps rich (~60 ms) out of every command and of --help
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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

    \b
    Example: journal init
    """
    from journal.store.starter import initialise

    for path, created in initialise(_context()):
        say(f"{'created' if created else 'kept existing'} {path}")


@app.command(
    context_settings={"allow_interspersed_args": False},
)
def new(
    command: Annotated[
        Optional[list[str]], typer.Argument(metavar="COMMAND [ARG]...", help="The command to run, after `--`.", show_default=False)
    ] = None,
    note: Annotated[Optional[str], typer.Option("--note", "-n", metavar="TEXT", help="Why this run exists.")] = None,
    tag: Annotated[list[str], typer.Option("--tag", "-t", metavar="TAG", help="A tag (repeatable).")] = [],
    metric: Annotated[
        list[str], typer.Option("--metric", "-m", metavar="NAME=VALUE", help="A result, NAME=VALUE (repeatable).")
    ] = [],
    param: Annotated[
        list[str], typer.Option("--param", "-p", metavar="NAME=VALUE", help="A parameter, NAME=VALUE (repeatable).")
    ] = [],
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No final report on stderr when the run ends.")
    ] = False,
) -> None:
    """Record a run: run COMMAND (after --) and keep its note, code state, output and exit status.

    Without a command, records a note at the current code state. When the command ends, a short
    report (id, note, command, commit, duration, status, metrics, log) is printed on stderr.

    \b
    Example: journal new --note "Adam instead of SGD" -- python train.py --lr 3e-4
    """
    from journal.cli.new import NewArgs, run_new

    # The usual command lines never get here: cli/new.py reads them without typer.
    raise typer.Exit(run_new(NewArgs(list(command or ()), note, tag, metric, param, quiet)))


# --- reading the journal back ---------------------------------------------------------------

def _complete_refs(ctx: typer.Context, incomplete: str) -> list[str]:
    """REFs for shell completion: ids that start with what is typed (the newest 50), else the
    newest runs and @ (with `rm --restore`: the trash's ids). Quiet and cheap: the index
    answers; any trouble completes nothing."""
    try:
        context = _context()
        if ctx.params.get("restore"):
            from journal.store.trash import trashed_ids

            return sorted((run_id for run_id in trashed_ids(context.journal_dir)
                           if run_id.startswith(incomplete)), reverse=True)
        from journal.store.source import RunSource

        source = RunSource(context.journal_dir, lambda _: None, environ=context.environ,
                           now=context.now)
        ids = source.ids_with_prefix(incomplete) if incomplete[:1].isdigit() \
            else source.newest_ids(20)
    except (JournalError, OSError, ValueError):
        return []
    return [ref for ref in [*ids[::-1][:50], "@", "@~1", "latest", "-"]
            if ref.startswith(incomplete)]


def _complete_statuses(incomplete: str) -> list[str]:
    from journal.store.filters import FILTER_STATUSES

    return _choices(FILTER_STATUSES)(incomplete)


def _complete_colours(incomplete: str) -> list[str]:
    from journal.cli.terminal import COLOUR_CHOICES

    return _choices(COLOUR_CHOICES)(incomplete)


def _complete_topics(incomplete: str) -> list[str]:
    from journal.cli.topics import TOPICS

    commands = sorted(_command_name(info) for info in app.registered_commands)
    return [name for name in [*TOPICS, *commands] if name.startswith(incomplete)]


def _choices(names: Sequence[str]) -> Callable[[str], list[str]]:
    """Completion of one of `names`: those that start with what is typed."""
    return lambda incomplete: [name for name in names if name.startswith(incomplete)]


Since = Annotated[Optional[str], typer.Option("--since", metavar="WHEN", help="Runs started at or after: 2026-11-23, 3d, 2w, yesterday, monday, 2 days ago, last monday (journal help filters).")]
Until = Annotated[Optional[str], typer.Option("--until", metavar="WHEN", help="Runs started before the end of: 2026-11-23, 3d, yesterday, 30 Nov 2026.")]
Tags = Annotated[list[str], typer.Option("--tag", "-t", metavar="TAG", help="Only runs with this tag (repeatable: all of them).")]
Statuses = Annotated[list[str], typer.Option("--status", "-s", metavar="STATUS", autocompletion=_complete_statuses, help="Only runs with this status (repeatable: any of them).")]
Where = Annotated[list[str], typer.Option("--where", "-w", metavar="NAME OP VALUE", help="A condition on params or metrics: acc>0.8, opt=adam (repeatable).")]
Hosts = Annotated[list[str], typer.Option("--host", metavar="HOST", help="Only runs on this machine (repeatable: any of them).")]
Users = Annotated[list[str], typer.Option("--user", metavar="USER", help="Only runs by this user (repeatable: any of them).")]
Colour = Annotated[str, typer.Option("--color", metavar="WHEN", autocompletion=_complete_colours, help="Colours: auto (on a terminal, unless NO_COLOR is set), always or never.")]
NoPager = Annotated[bool, typer.Option("--no-pager", help="Print directly, not through $JOURNAL_PAGER, $PAGER or less.")]


def _context() -> Context:
    """Where this command runs: found once per command, and handed to what it calls."""
    from journal.store.context import Context

    return Context.find(Path.cwd(), os.environ)


def _filters(context: Context, since: str | None, until: str | None, tags: list[str],
             statuses: list[str], where: list[str], hosts: list[str], users: list[str]
             ) -> Filters:
    from journal.store.filters import build_filters

    return build_filters(since=since, until=until, tags=tags, statuses=statuses, where=where,
                         hosts=hosts, users=users, now=context.now())


def _source(context: Context) -> RunSource:
    from journal.store.source import RunSource

    return RunSource(context.journal_dir, say, environ=context.environ, now=context.now)


def _refs(refs: list[str] | None) -> list[str]:
    """REFs as given, each `-` replaced by the REFs on standard input: `journal list | fzf |
    journal show -`."""
    expanded: list[str] = []
    for ref in refs or []:
        expanded += _stdin_refs() if ref == "-" else [ref]
    return expanded


def _ref(ref: str) -> str:
    """A command's one REF; `-`: the one REF on standard input."""
    if ref != "-":
        return ref
    refs = _stdin_refs()
    if len(refs) != 1:
        raise UsageError(f"standard input gave {len(refs)} REFs; this command takes one")
    return refs[0]


_READ_REFS: list[str] = []


def _stdin_refs() -> list[str]:
    """The first field of each line of standard input (the id that `journal list`, peco and
    fzf print first; grep's id before its first `:`), read once; colours a `--color=always`
    list left are taken off."""
    import re

    if not _READ_REFS:
        if sys.stdin.isatty():
            raise UsageError("`-` reads the runs from standard input, which is a terminal here",
                             hint="pipe them in: journal list | fzf | journal show -")
        for line in sys.stdin:
            fields = re.sub(r"\x1b\[[0-9;]*m", "", line).split()
            if fields:          # grep's `<id>:<where>:<line>` and `-c`'s `<id>:<count>` too
                _READ_REFS.append(fields[0].split(":", 1)[0])
        _READ_REFS[:] = dict.fromkeys(_READ_REFS)      # grep names a run once a line
        if not _READ_REFS:
            raise UsageError("no REF on standard input (`-` reads the runs from there)",
                             hint="e.g. journal list | fzf | journal show -")
    return _READ_REFS


def _say_unknown_names(source: RunSource, filters: Filters, sort: str | None = None) -> None:
    """The --where (or --sort) names no run has, and the close ones: after a command that
    found nothing, or sorted by a name."""
    for line in source.unknown_names(filters, sort):
        say(line)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("-n", "--limit", metavar="N", min=0, help="How many runs (0: all).")] = 20,
    absolute: Annotated[bool, typer.Option("--absolute", help="Absolute start times.")] = False,
    sort: Annotated[Optional[str], typer.Option("--sort", metavar="[-]NAME", help="Sort by this metric or param, best (highest) first; -NAME for lowest first.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one run each.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header row.")] = False,
    since: Since = None, until: Until = None, tag: Tags = [], status: Statuses = [], where: Where = [],
    host: Hosts = [], user: Users = [], color: Colour = "auto",
) -> None:
    """List runs, newest first: id, start, status, commit, duration, note and headline metrics.

    \b
    Example: journal list -n 50 --where 'acc>0.8' --since 1w
    """
    from journal.cli.terminal import colour_wanted
    from journal.read.listing import list_runs

    fmt = "json" if as_json else "csv" if as_csv else "text"
    colour = colour_wanted(color, sys.stdout)
    context = _context()
    source, filters = _source(context), _filters(context, since, until, tag, status, where, host, user)
    shown = list_runs(source, filters, limit=limit or None, sort=sort, fmt=fmt,
                      absolute=absolute, out=sys.stdout, now=context.now(), colour=colour)
    if not shown or sort:
        from journal.store.filters import Filters

        _say_unknown_names(source, Filters() if shown else filters, sort)


@app.command()
def compare(
    refs: Annotated[Optional[list[str]], typer.Argument(metavar="[REF]...", autocompletion=_complete_refs, help="Runs to compare (default: those the filters keep, newest first).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("-n", "--limit", metavar="N", min=0, help="How many runs without REFs (0: all).")] = 20,
    sort: Annotated[Optional[str], typer.Option("--sort", metavar="[-]NAME", help="Sort by this metric or param, best (highest) first; -NAME for lowest first.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="md|csv|json", autocompletion=_choices(['md', 'csv', 'json']), help="md (a table, the default), csv or json.")] = "md",
    since: Since = None, until: Until = None, tag: Tags = [], status: Statuses = [], where: Where = [],
    host: Hosts = [], user: Users = [], no_pager: NoPager = False,
) -> None:
    """Compare runs side by side: one row a run, the params that differ and every metric.

    \b
    Example: journal compare --tag sweep --sort -loss
    """
    from journal.cli.terminal import paged
    from journal.read.compare import compare_runs

    context = _context()
    source, filters = _source(context), _filters(context, since, until, tag, status, where, host, user)
    chosen = _refs(refs)        # read before a pager takes the terminal
    shown = -1                  # a pager quit early leaves it so: nothing to say then
    with paged(not no_pager):
        shown = compare_runs(source, chosen, filters, limit=limit or None, sort=sort,
                             fmt=fmt, out=sys.stdout)
    if shown == 0:
        _say_unknown_names(source, filters, sort)


@app.command()
def plot(
    metric: Annotated[str, typer.Argument(metavar="METRIC", help="The series to draw: a name the script logged with run.log().", show_default=False)],
    refs: Annotated[Optional[list[str]], typer.Argument(metavar="[REF]...", autocompletion=_complete_refs, help="Runs to draw (default: the newest the filters keep that logged METRIC).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("-n", "--limit", metavar="N", min=0, help="How many runs without REFs (0: all).")] = 8,
    svg: Annotated[Optional[str], typer.Option("--svg", metavar="FILE", help="Write the chart to this SVG file (- for stdout) instead of drawing it here.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --svg file.")] = False,
    since: Since = None, until: Until = None, tag: Tags = [], status: Statuses = [], where: Where = [],
    host: Hosts = [], user: Users = [], color: Colour = "auto",
) -> None:
    """Draw the per-step curve of one metric for several runs: in the terminal, or to an SVG file.

    \b
    Example: journal plot loss --tag sweep -n 5
    """
    from journal.cli.terminal import colour_wanted
    from journal.read.plot import PlotRequest, plot_runs

    colour = colour_wanted(color, sys.stdout)
    context = _context()
    plot_runs(_source(context), PlotRequest(metric, _refs(refs), limit or None, svg, force),
              _filters(context, since, until, tag, status, where, host, user),
              out=sys.stdout, warn=say, colour=colour)


@app.command()
def show(
    refs: Annotated[Optional[list[str]], typer.Argument(metavar="[REF]...", autocompletion=_complete_refs, help="Runs: id, id prefix, @, @~N (default @).", show_default=False)] = None,
    diff: Annotated[bool, typer.Option("--diff", help="Add the patch of the uncommitted changes.")] = False,
    log: Annotated[bool, typer.Option("--log", help="Add the last lines of the log.")] = False,
    lines: Annotated[int, typer.Option("--lines", metavar="N", min=1, help="How many log lines with --log.")] = 20,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", metavar="md|toml|json|report", autocompletion=_choices(['md', 'toml', 'json', 'report']), help="md (default), toml, json or report.")] = None,
    no_front_matter: Annotated[bool, typer.Option("--no-front-matter", help="With -f md: the note without its YAML front matter (properties).")] = False,
    color: Colour = "auto", no_pager: NoPager = False,
) -> None:
    """Show runs as Markdown notes (rendered on a terminal, plain when piped).

    \b
    Example: journal show @ --log
    """
    from journal.cli.terminal import colour_wanted, paged
    from journal.read.show import show_runs

    colour = colour_wanted(color, sys.stdout)
    terminal = sys.stdout.isatty() or color.lower() == "always"     # rendered, as for a terminal
    source = _source(_context())
    chosen = _refs(refs) or ["@"]       # read before a pager takes the terminal
    with paged(not no_pager):
        show_runs(source, chosen, diff=diff, log=log, log_lines=lines, fmt=fmt,
                  front_matter=not no_front_matter, out=sys.stdout, colour=colour,
                  terminal=terminal)


@app.command(context_settings={"help_option_names": ["--help"]})     # -h is grep's
def grep(
    pattern: Annotated[Optional[str], typer.Argument(metavar="PATTERN", help="A Python regular expression (or give each with -e).", show_default=False)] = None,
    regexp: Annotated[list[str], typer.Option("-e", "--regexp", metavar="PATTERN", help="A pattern; repeatable: lines matching any of them.")] = [],
    fixed: Annotated[bool, typer.Option("-F", "--fixed-strings", help="The patterns are literal strings.")] = False,
    ignore_case: Annotated[bool, typer.Option("-i", "--ignore-case", help="Ignore case.")] = False,
    word: Annotated[bool, typer.Option("-w", "--word-regexp", help="Match whole words only.")] = False,
    invert: Annotated[bool, typer.Option("-v", "--invert-match", help="Select the lines that do not match.")] = False,
    count: Annotated[bool, typer.Option("-c", "--count", help="Print each run's number of selected lines.")] = False,
    ids_only: Annotated[bool, typer.Option("-l", "--files-with-matches", help="Print the ids of runs with a selected line.")] = False,
    without_match: Annotated[bool, typer.Option("-L", "--files-without-match", help="Print the ids of runs without one.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing; exit 0 at the first selected line.")] = False,
    no_id: Annotated[bool, typer.Option("-h", "--no-filename", help="Print lines without the run's id in front.")] = False,
    extended: Annotated[bool, typer.Option("-E", "--extended-regexp", help="Accepted for grep's sake: patterns are Python's regular expressions already.")] = False,
    no_logs: Annotated[bool, typer.Option("--no-logs", help="Do not search the run logs.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one match each.")] = False,
    since: Since = None, until: Until = None, tag: Tags = [], status: Statuses = [],
    where: Annotated[list[str], typer.Option("--where", metavar="NAME OP VALUE", help="A condition on params or metrics: acc>0.8, opt=adam (repeatable).")] = [],
    host: Hosts = [], user: Users = [], color: Colour = "auto",
) -> None:
    """Search notes, tags, params, metrics, commands, git fields and logs, with grep's letters; exit 1 when nothing matches.

    \b
    Example: journal grep -F 82.476
    """
    from journal.cli.terminal import colour_wanted
    from journal.read.grep import GrepOptions, grep_runs

    if pattern is not None and regexp:
        raise UsageError("give the patterns either as PATTERN or with -e, not both",
                         hint="one -e for each pattern: journal grep -e adam -e sgd")
    patterns = [pattern] if pattern is not None else regexp
    if not patterns:
        raise UsageError("missing the PATTERN to search for", hint="e.g. journal grep -F 82.476")
    options = GrepOptions(patterns=patterns, fixed=fixed, ignore_case=ignore_case, word=word,
                          invert=invert, count=count, ids_only=ids_only,
                          without_match=without_match, quiet=quiet, no_id=no_id,
                          logs=not no_logs, as_json=as_json)
    colour = colour_wanted(color, sys.stdout) and not as_json
    context = _context()
    source, filters = _source(context), _filters(context, since, until, tag, status, where, host, user)
    found = grep_runs(source, filters, options, out=sys.stdout, colour=colour)
    if not found:
        _say_unknown_names(source, filters)
    raise typer.Exit(0 if found else 1)


@app.command()
def note(
    ref: Annotated[str, typer.Argument(metavar="REF", autocompletion=_complete_refs, help="The run: id, id prefix, @, @~N.", show_default=False)],
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The amendment.", show_default=False)],
) -> None:
    """Amend a run's note after the fact; the earlier text and the time of each amendment are kept.

    \b
    Example: journal note @ "this run had a data leak"
    """
    from journal.amend import add_note

    context = _context()
    say(f"amended {add_note(_source(context), _ref(ref), text, context=context)}")


# `-TAG` must reach the command as an argument: unknown options pass through, and `-h` is not
# help here (`journal tag @ -hyper` would print help and change nothing); `--help` still is.
@app.command(context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]})
def tag(
    ref: Annotated[str, typer.Argument(metavar="REF", autocompletion=_complete_refs, help="The run: id, id prefix, @, @~N.", show_default=False)],
    changes: Annotated[list[str], typer.Argument(metavar="+TAG|-TAG...", help="+TAG adds, -TAG removes.", show_default=False)],
) -> None:
    """Add (+TAG) or remove (-TAG) tags of a run.

    \b
    Example: journal tag @ +baseline -draft
    """
    from journal.amend import change_tags

    context = _context()
    run_id, tags = change_tags(_source(context), _ref(ref), changes, context=context)
    say(f"{run_id}: tags {', '.join(tags) if tags else '(none)'}")


@app.command()
def rm(
    refs: Annotated[Optional[list[str]], typer.Argument(metavar="[REF]...", autocompletion=_complete_refs, help="Runs: id, id prefix, @, @~N (with --restore: ids in the trash).", show_default=False)] = None,
    restore: Annotated[bool, typer.Option("--restore", help="Bring the REFs back from the trash.")] = False,
    list_trash: Annotated[bool, typer.Option("--list", help="List the runs in the trash, the last removed first.")] = False,
    dry_run: Annotated[bool, typer.Option("-n", "--dry-run", help="Say what would move; move nothing.")] = False,
) -> None:
    """Move runs (record, log, patch, side files) to .journal/trash/, or back with --restore; nothing is deleted.

    \b
    Example: journal rm @
    """
    from journal.store import trash
    from journal.text import printable

    context = _context()
    journal_dir = context.journal_dir
    if list_trash:
        if refs or restore or dry_run:
            raise UsageError("--list takes no REF and no other option")
        listed = 0
        for run in trash.trashed(journal_dir):
            print(f"{run.run_id}  {len(run.files)} file(s)  {printable(run.note)}".rstrip())
            listed += 1
        if not listed:
            say(f"the trash is empty ({journal_dir / trash.TRASH})")
        return
    refs = _refs(refs)
    if not refs:
        raise UsageError("missing the REF of a run",
                         hint="journal rm --list shows the trash; journal rm --restore ID"
                         if restore else "e.g. journal rm @, or journal rm --list")
    if restore:
        ids = [trash.find_trashed(journal_dir, ref) for ref in refs]
        for run_id in dict.fromkeys(ids):
            if dry_run:
                say(f"would restore {run_id}")
                continue
            back = trash.restore(journal_dir, run_id)
            say(f"restored {back.run_id} ({trash.kinds_said(back.files)})")
        return
    for run in trash.remove(_source(context), refs, dry_run=dry_run):
        say(f"{'would move' if dry_run else 'moved'} {run.run_id} ({trash.kinds_said(run.files)}) "
            f"to {journal_dir / trash.TRASH}" + (f": {printable(run.note)}" if run.note else ""))
    if not dry_run:
        say("bring a run back with: journal rm --restore ID")


@app.command()
def cache(
    prune: Annotated[bool, typer.Option("--prune", help="Remove the indexes of journal folders that are gone.")] = False,
) -> None:
    """List this machine's index caches, each with its journal folder; --prune removes those of folders that are gone.

    \b
    Example: journal cache --prune
    """
    from journal.store.index import cached_indexes, remove_index
    from journal.text import printable

    indexes = cached_indexes(os.environ)
    gone = [cached for cached in indexes if cached.orphaned]
    if not prune:
        for cached in indexes:
            folder = printable(cached.journal_dir or "(not an index)")
            print(f"{cached.size / 1e6:9.1f} MB  {folder}{'  (gone)' if cached.orphaned else ''}")
        if gone:
            say(f"{len(gone)} of them index a folder that is gone: journal cache --prune removes them")
        return
    removed = []
    for cached in gone:
        if remove_index(cached):
            removed.append(cached)
        else:
            say(f"warning: cannot remove {cached.path}")
    freed = sum(cached.size for cached in removed)
    say(f"removed {len(removed)} index(es) of journal folders that are gone ({freed / 1e6:.1f} MB)")


@app.command()
def tail(
    ref: Annotated[Optional[str], typer.Argument(metavar="[REF]", autocompletion=_complete_refs, help="The run (default: the latest).", show_default=False)] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow while the run is running.")] = False,
    lines: Annotated[Optional[int], typer.Option("-n", "--lines", metavar="N", min=0, help="Only the last N lines.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the log's bytes unchanged, escapes included.")] = False,
    color: Colour = "auto", no_pager: NoPager = False,
) -> None:
    """Print a run's log; -f follows it until the run ends.

    \b
    Example: journal tail -f
    """
    from journal.cli.terminal import colour_wanted, paged
    from journal.read.tail import EXIT_BROKEN_PIPE, tail_log

    colour = colour_wanted(color, sys.stdout)     # the log's own colours
    source = _source(_context())
    chosen = _ref(ref or "@")       # read before a pager takes the terminal
    with paged(not (no_pager or follow)) as paging:     # a followed log is printed as it comes
        code = tail_log(source, chosen, follow=follow, lines=lines, raw=raw,
                        out=sys.stdout.buffer, colour=colour)
    raise typer.Exit(0 if paging and code == EXIT_BROKEN_PIPE else code)   # the pager quit


@app.command()
def diff(
    ref1: Annotated[str, typer.Argument(metavar="REF1", autocompletion=_complete_refs, help="The earlier run.", show_default=False)],
    ref2: Annotated[str, typer.Argument(metavar="REF2", autocompletion=_complete_refs, help="The later run.", show_default=False)],
    no_pager: NoPager = False,
) -> None:
    """Compare two runs: params, metrics, note, status, duration, and the code between them.

    \b
    Example: journal diff @~1 @
    """
    from journal.cli.terminal import paged
    from journal.read.diff import diff_runs

    context = _context()
    if ref1 == ref2 == "-":             # `journal list | fzf -m | journal diff - -`
        pair = _stdin_refs()
        if len(pair) != 2:
            raise UsageError(f"standard input gave {len(pair)} REFs; diff - - takes two")
        ref1, ref2 = pair
    first, second = _ref(ref1), _ref(ref2)      # read before a pager takes the terminal
    with paged(not no_pager):
        diff_runs(_source(context), first, second, out=sys.stdout, context=context)


@app.command()
def checkout(
    ref: Annotated[str, typer.Argument(metavar="REF", autocompletion=_complete_refs, help="The run.", show_default=False)],
    folder: Annotated[Optional[str], typer.Argument(metavar="[DIR]", help="Where (default: beside the repository, named after it and the run's short id).", show_default=False)] = None,
) -> None:
    """Rebuild a run's exact code in a new linked worktree and print its path.

    \b
    Example: journal checkout @~1 ../exp-before   (or: cd "$(journal checkout @)")
    """
    from journal.read.checkout import checkout_run

    context = _context()
    checkout_run(_source(context), _ref(ref), folder, context=context, out=sys.stdout, say=say)


@app.command(context_settings={"allow_interspersed_args": False})
def rerun(
    ref: Annotated[str, typer.Argument(metavar="REF", autocompletion=_complete_refs, help="The run to repeat.", show_default=False)],
    extra: Annotated[Optional[list[str]], typer.Argument(metavar="[-- ARG...]", help="Arguments added to its command, after --.", show_default=False)] = None,
    note: Annotated[Optional[str], typer.Option("--note", "-n", metavar="TEXT", help="Why (default: rerun of REF).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No final report on stderr when the run ends.")] = False,
) -> None:
    """Run a run's command again on its exact code (a new linked worktree), as a new run.

    \b
    Example: journal rerun @~1 -- --seed 2
    """
    from journal.cli.new import NewArgs, run_new
    from journal.read.checkout import rerun_setup

    added = list(extra or ())
    added = added[1:] if added[:1] == ["--"] else added      # typer keeps the `--` itself
    context = _context()
    command, folder, run_id = rerun_setup(_source(context), _ref(ref), added, context=context, say=say)
    raise typer.Exit(run_new(NewArgs(command, note or f"rerun of {run_id}", quiet=quiet,
                                     cwd=folder, rerun_of=run_id)))


@app.command()
def sync(
    remote: Annotated[Optional[str], typer.Argument(metavar="[REMOTE]", help="A remote's name, a URL or a path (default: [sync] remote in the config, else the current branch's remote, else origin).", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Say nothing unless something goes wrong.")] = False,
) -> None:
    """Exchange runs with other machines through a git remote (refs/journal/*: no branch, no commit of yours).

    \b
    Example: journal sync origin
    """
    from journal.sync.exchange import sync as sync_journal

    report = sync_journal(_context(), remote, warn=say)
    if not quiet:
        for line in report.lines():
            print(line)


# `--week -1` must reach the command: unknown options pass through as the optional N.
@app.command(context_settings={"ignore_unknown_options": True})
def export(
    weeks: Annotated[Optional[list[str]], typer.Argument(metavar="[N]", help="With --week: 0 for this week (the default), -1 for the previous one.", show_default=False)] = None,
    week: Annotated[bool, typer.Option("--week", help="The current ISO week, Monday to Sunday (--week -1: the previous one).")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="md|html|json|csv|enex", autocompletion=_choices(['md', 'html', 'json', 'csv', 'enex']), help="md (default), html (one self-contained page), json or csv (one row a run), enex (Evernote).")] = "md",
    template: Annotated[Optional[Path], typer.Option("--template", metavar="FILE", help="The note's template (default: .journal-template.md at the work-tree root, else the built-in one).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With -o: replace FILE if it exists.")] = False,
    single: Annotated[bool, typer.Option("--single", help="With -f enex: the weekly note as one Evernote note (default: a note a run).")] = False,
    vault: Annotated[Optional[str], typer.Option("--vault", metavar="DIR", help="Write a folder of notes for Obsidian or Logseq: one a run, one a week (only notes journal wrote and nobody edited are rewritten).")] = None,
    since: Since = None, until: Until = None, tag: Tags = [], status: Statuses = [], where: Where = [],
    host: Hosts = [], user: Users = [],
) -> None:
    """Write the runs of a time range (default: the last 7 days) as one note: Markdown, HTML, JSON or CSV.

    \b
    Example: journal export --week -1 -o last-week.md
    """
    from journal.read.export import ExportRequest, week_argument
    from journal.read.export import export as export_runs
    from journal.read.output import write_output

    request = ExportRequest(since=since, until=until, week=week_argument(week, weeks),
                            tags=tag, statuses=status, where=where, hosts=host, users=user,
                            fmt=fmt, template=template, single=single, version=__version__)
    context = _context()
    if vault is not None:
        from journal.read.vault import export_vault

        if output is not None or template is not None or fmt != "md" or force or single:
            raise UsageError("--vault writes its own notes: it takes no -o, --force, --template, "
                             "-f or --single (a note you edited is never replaced)",
                             hint="journal export --vault DIR [--since WHEN] [FILTERS]")
        if not vault.strip():
            raise UsageError("--vault needs a folder", hint="journal export --vault ~/Notes/experiments")
        done_vault = export_vault(request, _source(context), context, Path(vault), warn=say)
        say(f"vault {vault}: {len(done_vault.written)} note(s) written, "
            f"{done_vault.unchanged} unchanged, "
            f"{len(done_vault.edited) + len(done_vault.foreign)} skipped")
        return
    if force and output is None:
        raise UsageError("--force goes with -o FILE (it lets the file be replaced)")
    source = _source(context)
    done = export_runs(request, source, context)
    write_output(done.text, output, force=force, out=sys.stdout)
    if not done.runs and where:
        _say_unknown_names(source, _filters(context, None, None, [], [], where, [], []))
    if output is not None:
        say(f"wrote {output}: {done.runs} run(s) from {done.first_day} to {done.last_day}")


@app.command("help")
def help_(
    topic: Annotated[Optional[str], typer.Argument(metavar="[TOPIC]", autocompletion=_complete_topics, help="refs, filters, templates, config or environment (or a command).", show_default=False)] = None,
) -> None:
    """Explain what several commands share: REFs, filters and dates, templates, config, environment.

    \b
    Example: journal help filters
    """
    from journal.cli.topics import TOPICS, topic_list

    if topic is None:
        sys.stdout.write(topic_list())
        return
    text = TOPICS.get(topic.lower()) or TOPICS.get(topic.lower() + "s")     # ref, filter
    if text is None:
        raise UsageError(f"no help topic {topic!r}",
                         hint=f"topics: {', '.join(TOPICS)}; or journal COMMAND --help")
    sys.stdout.write(text)


def _full_summaries() -> None:
    """`journal --help` lists each command with its whole first line: click would cut it at
    the terminal's width with "..."; given as the short help, it is wrapped instead."""
    for info in app.registered_commands:
        doc = (info.callback.__doc__ or "") if info.callback else ""
        info.short_help = doc.strip().split("\n", 1)[0]


_full_summaries()


def run_app(argv: list[str]) -> NoReturn:
    """Run `journal ARGV` through the typer app and exit with its code (cli/main.py is the
    executable's entry point)."""
    _READ_REFS.clear()      # standard input's REFs are this command's (tests run many in one process)
    if argv[:1] == ["export"]:
        # `--week=-1` as `--week -1`: --week is a flag whose N comes as an argument (so that
        # `-1` is not taken for an option); the `=` form is what people type too.
        argv = [part for arg in argv for part in
                (["--week", arg.split("=", 1)[1]] if arg.startswith("--week=") else [arg])]
    if len(argv) == 2 and argv[0] == "help" \
            and argv[1] in {_command_name(info) for info in app.registered_commands}:
        argv = [argv[1], "--help"]          # `journal help list`, as `git help log`
    try:
        with _only_the_command(argv):
            code = app(args=argv, prog_name="journal", standalone_mode=False)
    except JournalError as exc:
        sys.exit(report_error(exc))
    except typer.TyperException as exc:      # the option parser's errors (typer vendors click)
        sys.exit(_usage_error(exc))
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except BrokenPipeError:
        silence_stdout()          # the reader (`| head`) has what it wanted
        sys.exit(141)
    except SystemExit as exc:
        # typer answers a closed pipe with exit 1 (to grep, "nothing found") and wraps the
        # streams to say so: 141, as every other closed pipe here.
        if exc.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            sys.stdout = sys.__stdout__
            silence_stdout()
            sys.exit(141)
        raise
    except OSError as exc:        # stdout on a full disk, a closed terminal
        silence_stdout()
        sys.exit(report_error(JournalError(f"cannot write the output: {exc.strerror or exc}")))
    sys.exit(code if isinstance(code, int) else 0)


@contextlib.contextmanager
def _only_the_command(argv: list[str]) -> Iterator[None]:
    """The app with only the command ARGV names, while it runs: typer reads every registered
    command's signature and options when the app is called (~80 ms for all of them), and one
    command needs its own. `journal`, `journal --help` and an unknown name keep them all (the
    list of commands, and the error naming the known ones)."""
    name = argv[0] if argv and not argv[0].startswith("-") else None
    everything = app.registered_commands
    chosen = [info for info in everything if _command_name(info) == name]
    if chosen:
        app.registered_commands = chosen
    try:
        yield
    finally:
        app.registered_commands = everything


def _command_name(info: typer.models.CommandInfo) -> str:
    if info.name:
        return info.name
    callback = getattr(info.callback, "__name__", "")
    return callback.lower().replace("_", "-")


def _usage_error(exc: typer.TyperException) -> int:
    """An unknown option, a missing argument, a value of the wrong kind: one `journal: error:`
    line and a hint, as for every other error. A bare `journal` shows the help."""
    format_message = getattr(exc, "format_message", None)
    message = str(format_message() if callable(format_message) else exc).strip()
    context = getattr(exc, "ctx", None)
    command = getattr(context, "command_path", None) or "journal"
    if "\n" in message:                      # no command given: the help is the answer
        sys.stderr.write(message + "\n")
        return 2
    message = message[:1].lower() + message[1:].rstrip(".") if message[1:2].islower() else message
    hint = f"see `{command} --help`"
    if command.endswith(" grep") and "unexpected extra argument" in message:
        # `journal grep adam -w 'opt=adam'`: list's habit, where -w is --where.
        hint = "grep's -w matches whole words; a condition on params or metrics goes with --where"
    return report_error(JournalError(message, hint=hint))

"""`journal show`: runs as Markdown notes (rendered with rich on a terminal, plain when piped), or
their records as TOML, JSON or the final report.

Several runs are shown one after the other: Markdown notes separated by a rule, TOML files each
under a `# ==> path <==` comment, JSON as one indented object per run (a stream, as jq reads it).
Every REF is resolved before anything is printed, so a typo costs no output. A run whose record
does not parse is skipped (its file is named in a warning by the reader) and the others are
shown; the command then fails, so a script notices. Everything written is terminal-safe: the
Markdown is escaped by render/run.py, TOML and reports pass through journal.text, JSON escapes the
characters a terminal would obey, and a log keeps its colours only on a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

from journal.errors import UsageError
from journal.record import Record, Status, StoredRun, table, text_list
from journal.store import sidefile
from journal.store.files import read_regular
from journal.store.records import MAX_RECORD_BYTES
from journal.store.source import RunSource
from journal.text import json_text, printable, printable_block

FORMATS = ("md", "toml", "json", "report")


def show_runs(source: RunSource, refs: Sequence[str], *, diff: bool = False, log: bool = False,
              log_lines: int = 20, fmt: str | None = None, front_matter: bool = True,
              out: IO[str], colour: bool = False, terminal: bool | None = None) -> None:
    """`terminal`: the notes rendered for a terminal (default: when `out` is one), `colour`:
    in colour there. `front_matter`: with an explicit `--format md`, each note begins with its properties (YAML
    front matter, as Obsidian and Joplin read it); `journal show` alone prints the note only."""
    with_front_matter = front_matter and (fmt or "").lower() == "md"
    fmt = (fmt or "md").lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {printable(fmt)!r}",
                         hint="use one of: " + ", ".join(FORMATS))
    if fmt != "md" and (diff or log):
        raise UsageError(f"--diff and --log add to the Markdown note, not to --format {fmt}",
                         hint="drop --format, or see the patch and log files the record names")
    ids = list(dict.fromkeys(source.resolve_id(ref) for ref in refs or ["@"]))
    runs: list[StoredRun] = []
    unreadable: list[str] = []
    for run_id in ids:
        run = source.get(run_id)      # None: the reader has warned, naming the file
        if run is None:
            unreadable.append(run_id)
        else:
            runs.append(with_what_the_script_left(run, source.journal_dir) if fmt != "toml"
                        else run)
    if fmt == "md":
        _markdown(runs, source.journal_dir, diff=diff, log_lines=log_lines if log else None,
                  front_matter=with_front_matter, out=out, colour=colour,
                  terminal=out.isatty() if terminal is None else terminal)
    elif fmt == "toml":
        _toml(runs, out)
    elif fmt == "json":
        for run in runs:
            out.write(record_json(run.record) + "\n")
    else:
        from journal.render.report import final_report

        for index, run in enumerate(runs):
            report = final_report(run.record, source.journal_dir, status=run.status)
            out.write(("\n" if index else "") + printable_block(report))
    out.flush()
    if unreadable:
        raise UsageError(f"{len(unreadable)} of {len(ids)} runs could not be read: "
                         + ", ".join(unreadable), hint="see the warning above about the file")


def _markdown(runs: Sequence[StoredRun], journal_dir: Path, *, diff: bool, log_lines: int | None,
              front_matter: bool, out: IO[str], colour: bool, terminal: bool) -> None:
    from journal.render.run import run_markdown

    if not terminal:
        # Front matter opens a file: one run's note has it; several runs, one after another
        # between rules, have none (a second `---` block mid-file would be a rule and text).
        if front_matter and len(runs) == 1:
            from journal.render.frontmatter import run_front_matter

            out.write(run_front_matter(runs[0]) + "\n"
                      + run_markdown(runs[0], journal_dir, diff=diff, log_lines=log_lines))
            return
        notes = [run_markdown(run, journal_dir, diff=diff, log_lines=log_lines) for run in runs]
        out.write("\n---\n\n".join(notes))
        return
    # On a terminal: rich renders the Markdown; the log is written after it, outside rich, so its
    # colours (and only its colours) survive.
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.rule import Rule

    from journal.render.run import log_excerpt, log_text

    # Without colour no styling at all (NO_COLOR, --color never); a pipe told `--color always`
    # gets the terminal's rendering; a reader quitting early (a pager) ends the output as any
    # closed pipe does, not with rich's own exit 1.
    class QuietConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    console = QuietConsole(file=out, highlight=False, emoji=False, markup=False,
                           force_terminal=True, color_system="auto" if colour else None)
    for index, run in enumerate(runs):
        if index:
            console.print(Rule())
        # hyperlinks=False: a link shows its target, so `[safe](https://evil)` cannot hide it.
        console.print(Markdown(run_markdown(run, journal_dir, diff=diff, curves=None),
                               hyperlinks=False))
        _print_curves(run, journal_dir, console.file)
        if log_lines is not None:
            heading, data = log_excerpt(run, journal_dir, log_lines)
            console.print(Markdown(heading, hyperlinks=False))
            if data is not None:
                ending = "\x1b[0m\n" if colour else "\n"
                console.file.write(log_text(data, keep_colour=colour).rstrip("\n") + ending)
                console.file.flush()


def _print_curves(run: StoredRun, journal_dir: Path, out: IO[str]) -> None:
    """A sparkline for each series the script logged (`run.log(step=...)`), on a terminal."""
    import shutil

    from journal.render.curves import WIDTH, curve_lines, run_curves

    # the name, the bars and ~30 columns of numbers on one line of the terminal
    width = max(8, min(WIDTH, shutil.get_terminal_size((100, 30)).columns - 60))
    lines = curve_lines(run_curves(run, journal_dir), width)
    if lines:
        out.write("\nCurves\n" + "".join(f"  {line}\n" for line in lines))
        out.flush()


def _toml(runs: Sequence[StoredRun], out: IO[str]) -> None:
    for index, run in enumerate(runs):
        try:
            text = read_regular(run.path, MAX_RECORD_BYTES).decode("utf-8", "surrogateescape")
        except OSError as exc:
            raise UsageError(f"cannot read {printable(str(run.path))}: {exc.strerror}") from None
        if len(runs) > 1:
            # A TOML comment between records: the output of one run stays its file, byte for byte.
            out.write(("\n" if index else "") + f"# ==> {printable(str(run.path))} <==\n")
        out.write(printable_block(text))


def record_json(record: Record) -> str:
    """A record as indented JSON, inert on a screen (see text.json_text)."""
    return json_text(record, indent=2)


def with_what_the_script_left(run: StoredRun, journal_dir: Path) -> StoredRun:
    """A crashed run (its wrapper died before its final write) as far as its script's side file
    tells: the params and metrics it logged through the API, which the wrapper would have folded
    into the record. The record file is not changed; what is shown says where it came from."""
    if run.status != Status.CRASHED or "series" in run.record:
        return run
    side_file = sidefile.path(journal_dir, run.id)
    side = sidefile.fold(side_file)
    if not (side.params or side.metrics):
        return run
    record: Record = dict(run.record)  # type: ignore[assignment]
    record["params"] = {**side.params, **table(run.record, "params")}
    record["metrics"] = {**side.metrics, **table(run.record, "metrics")}
    record["problems"] = [*text_list(run.record.get("problems")),
                          f"its wrapper ended before the final write: params and metrics shown "
                          f"from the script's side file {side_file.name}"]
    return StoredRun(run.id, run.path, record)

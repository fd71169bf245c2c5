"""`journal export --vault DIR`: a folder of notes for Obsidian or Logseq.

    DIR/runs/<id>.md          one note a run (or note-only entry): front matter with its
                              properties (render/frontmatter.py), then the note `journal show`
                              prints, amendments included
    DIR/weeks/2026-W48.md     one note an ISO week, linking its runs with wikilinks
    DIR/.journal-vault.json   what journal wrote: each file's path and the SHA-256 it wrote

The range and filters are those of every export (default: the last 7 days), so `--since` far
back fills a vault. Writing again rewrites only notes whose content changed, and never touches
a file journal did not write (not in the manifest) or one the user edited since journal wrote it
(its hash is no longer the one written): those are named on stderr as skipped. Files are
replaced atomically; nothing is deleted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from journal.errors import StoreError, UsageError
from journal.read.export import ExportRequest, selected_runs
from journal.record import StoredRun, is_note_only, started_at
from journal.store.context import Context
from journal.store.files import read_regular, reason, write_atomic
from journal.store.source import RunSource
from journal.text import printable

MANIFEST = ".journal-vault.json"
MAX_MANIFEST_BYTES = 256 << 20


@dataclass
class VaultReport:
    written: list[str] = field(default_factory=list)     # new or changed
    unchanged: int = 0
    edited: list[str] = field(default_factory=list)      # changed by the user since: kept
    foreign: list[str] = field(default_factory=list)     # not journal's: never touched


def export_vault(request: ExportRequest, source: RunSource, context: Context, folder: Path,
                 warn: Callable[[str], None]) -> VaultReport:
    from journal.render.curves import CurveStyle
    from journal.render.frontmatter import run_front_matter
    from journal.render.run import run_markdown

    if not str(folder).strip():
        raise UsageError("--vault needs a folder", hint="journal export --vault ~/Notes/experiments")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{printable(str(folder))} is not a folder", hint="--vault DIR")
    now = context.now()
    runs, _span = selected_runs(request, source, now)
    notes: dict[str, str] = {}
    for run in runs:
        notes[f"runs/{run.id}.md"] = (run_front_matter(run) + "\n"
                                      + run_markdown(run, source.journal_dir, heading_level=1,
                                                     curves=CurveStyle(svg=True)))
    # A week's note lists the whole ISO week (with the same filters), whatever part of it the
    # range covers: a daily export never shrinks it.
    for week, members in itertools.groupby(runs, key=_iso_week):
        whole = _whole_week(request, source, now, week)
        notes[f"weeks/{week}.md"] = _week_note(week, whole)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return _write(folder, notes, warn)
    except OSError as exc:
        raise StoreError(f"cannot write the vault {printable(str(folder))}: {reason(exc)}") from exc


def _whole_week(request: ExportRequest, source: RunSource, now: dt.datetime, week: str
                ) -> list[StoredRun]:
    year, number = (int(part) for part in week.split("-W"))
    monday = dt.date.fromisocalendar(year, number, 1)
    whole = dataclasses.replace(request, since=monday.isoformat(), week=None,
                                until=(monday + dt.timedelta(days=6)).isoformat())
    return [run for run in selected_runs(whole, source, now)[0] if _iso_week(run) == week]


def _write(folder: Path, notes: dict[str, str], warn: Callable[[str], None]) -> VaultReport:
    manifest_path = folder / MANIFEST
    try:
        loaded = json.loads(read_regular(manifest_path, MAX_MANIFEST_BYTES).decode("utf-8"))
        manifest: dict[str, str] = loaded.get("written", {})
    except FileNotFoundError:
        manifest = {}
    except (OSError, ValueError, AttributeError):
        raise StoreError(f"{printable(str(manifest_path))} is not journal's manifest; nothing "
                         "was written", hint="move it aside, or give another --vault DIR") from None
    report = VaultReport()
    try:
        _write_notes(folder, notes, manifest, report)
    finally:      # what was written is journal's, even when a later note could not be
        write_atomic(manifest_path, (json.dumps({"written": dict(sorted(manifest.items()))},
                                                indent=1) + "\n").encode())
    for relative in report.edited:
        warn(f"skipped {relative}: edited since journal wrote it (kept as it is; move it "
             "aside and export again to have journal write it anew)")
    for relative in report.foreign:
        warn(f"skipped {relative}: journal did not write it (never touched)")
    return report


def _write_notes(folder: Path, notes: dict[str, str], manifest: dict[str, str],
                 report: VaultReport) -> None:
    for relative, text in notes.items():
        target = folder / relative
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        if target.exists() or target.is_symlink():
            if relative not in manifest:
                report.foreign.append(relative)
                continue
            current = _digest(target)
            if current != manifest[relative]:
                report.edited.append(relative)
                continue
            if current == digest:
                report.unchanged += 1
                continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data)
        except OSError as exc:
            raise StoreError(f"cannot write {printable(str(target))}: {reason(exc)}") from exc
        manifest[relative] = digest
        report.written.append(relative)


def _digest(path: Path) -> str | None:
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _iso_week(run: StoredRun) -> str:
    started = started_at(run.record)
    day = started.astimezone().date() if started else dt.date.min
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _week_note(week: str, runs: Sequence[StoredRun]) -> str:
    from journal.render.frontmatter import yaml_scalar
    from journal.render.markdown import title_line
    from journal.render.run import status_mark

    real = [run for run in runs if not is_note_only(run.record)]
    lines = ["---", f"week: {yaml_scalar(week)}", f"runs: {len(real)}",
             f"notes: {len(runs) - len(real)}", "tags: [journal]", "---", "", f"# Week {week}", ""]
    for day, members in itertools.groupby(runs, key=lambda run: _day(run)):
        lines += [f"## {day}", ""]
        for run in members:
            title = title_line(run.record.get("note"), run.id)
            # a wikilink's alias is not Markdown: the link's own brackets and bar are out, and
            # Obsidian's comment (%%) and math ($$) marks, and a backslash before the end
            label = printable(title).replace("|", "/").replace("]", ")").replace("[", "(")
            label = label.replace("%%", "% %").replace("$$", "$ $").rstrip("\\") or run.id
            lines.append(f"- {status_mark(run)} [[runs/{run.id}|{label}]]")
        lines.append("")
    return "\n".join(lines)


def _day(run: StoredRun) -> str:
    started = started_at(run.record)
    return started.astimezone().date().isoformat() if started else "unknown day"

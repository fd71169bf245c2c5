"""`journal rm`: a run's files moved to `.journal/trash/<id>/`, and back with `--restore`.

Nothing is deleted: a run in the trash keeps every file under the path it had in the journal
folder (`trash/<id>/runs/2026-11/<id>.toml`, `trash/<id>/logs/<id>.log`, ...), so restoring it
is moving each back. Moves never replace a file (a run of that id recorded or restored since
is refused, not overwritten). The record moves first and comes back last: a half-done move,
stopped by a full disk or a kill, leaves the run either listed with all its files or in the
trash with its record, and running the command again finishes it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from journal.errors import StoreError, UsageError
from journal.record import Status, StoredRun, effective_status, first_note_line, is_valid_id
from journal.store import sidefile
from journal.store.files import reason
from journal.store.lock import record_lock
from journal.store.paths import log_path, patch_path
from journal.store.records import read_record
from journal.store.runfiles import BEHIND_SUFFIX, log_file, patch_file
from journal.store.source import RunSource
from journal.text import printable

TRASH = "trash"


@dataclass
class Trashed:
    run_id: str
    files: list[str]            # relative to the journal folder, the record first
    note: str = ""


def trash_dir(journal_dir: Path) -> Path:
    return journal_dir / TRASH


def files_of(journal_dir: Path, run: StoredRun) -> list[Path]:
    """The run's files that exist: its record, then its log, patch and side file, and the
    markers sync leaves for those that stayed on another machine."""
    record = run.record
    found: list[Path] = [Path(run.path)]
    for path in (log_file(record, journal_dir), log_path(journal_dir, run.id),
                 patch_file(record, journal_dir), patch_path(journal_dir, run.id),
                 sidefile.path(journal_dir, run.id)):
        if path is None:
            continue
        for candidate in (path, path.with_name(path.name + BEHIND_SUFFIX)):
            if candidate not in found and os.path.lexists(candidate):
                found.append(candidate)
    return found


def check_removable(run: StoredRun) -> None:
    """A run whose wrapper still runs would write its record again when it ends."""
    if effective_status(run.record) == Status.RUNNING:
        raise UsageError(f"run {run.id} is still running; its wrapper would write it back",
                         hint="stop it first (Ctrl-C, or kill its journal process)")


def move_to_trash(journal_dir: Path, run: StoredRun) -> Trashed:
    """Move the run's files into the trash, the record first; under the record's lock, so a
    `journal note` waits and then finds the run gone, rather than writing it back."""
    with record_lock(Path(run.path)):
        run_files = files_of(journal_dir, run)
        target = trash_dir(journal_dir) / run.id
        moved = []
        for path in run_files:
            relative = path.relative_to(journal_dir)
            _move(path, target / relative)
            moved.append(relative.as_posix())
    return Trashed(run.id, moved, first_note_line(run.record.get("note")))


def trashed_ids(journal_dir: Path) -> set[str]:
    try:
        return {name for name in os.listdir(trash_dir(journal_dir)) if is_valid_id(name)}
    except OSError:
        return set()


def trashed(journal_dir: Path) -> Iterator[Trashed]:
    """The runs in the trash, the most recently removed first."""
    folder = trash_dir(journal_dir)
    try:
        entries = [entry for entry in os.scandir(folder)
                   if is_valid_id(entry.name) and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return
    entries.sort(key=lambda entry: (entry.stat(follow_symlinks=False).st_mtime_ns, entry.name),
                 reverse=True)
    for entry in entries:
        files = _contents(Path(entry.path))
        record = next((Path(entry.path, path) for path in files if _is_record(path)), None)
        loaded = None if record is None else read_record(record, None)
        yield Trashed(entry.name, [path.as_posix() for path in files],
                      first_note_line((loaded or {}).get("note")))


def find_trashed(journal_dir: Path, ref: str) -> str:
    """The id in the trash that `ref` names: the id, or a unique prefix of one."""
    ids = [run.run_id for run in trashed(journal_dir)]
    if ref in ids:
        return ref
    matches = sorted(run_id for run_id in ids if run_id.startswith(ref.strip()))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no run in the trash matches {printable(ref)!r}",
                         hint="see what is there with: journal rm --list")
    raise UsageError(f"{printable(ref)!r} matches {len(matches)} runs in the trash: "
                     f"{', '.join(matches[:5])}{', ...' if len(matches) > 5 else ''}",
                     hint="give more of the id")


def restore(journal_dir: Path, run_id: str) -> Trashed:
    """Move a trashed run's files back where they were, the record last; refused, with nothing
    moved, if any of them would replace a file (a run of that id is in the journal again)."""
    source = trash_dir(journal_dir) / run_id
    files = _contents(source)[::-1]         # the record last
    taken = [path for path in files if os.path.lexists(journal_dir / path)]
    if taken:
        raise StoreError(f"cannot restore {run_id}: {journal_dir / taken[0]} exists",
                         hint="a run of that id is in the journal; journal rm it first")
    for path in files:
        _move(source / path, journal_dir / path)
    _remove_empty_folders(source)
    record = next((journal_dir / path for path in files if _is_record(path)), None)
    loaded = None if record is None else read_record(record, None)
    return Trashed(run_id, [path.as_posix() for path in files[::-1]],
                   first_note_line((loaded or {}).get("note")))


def _move(source: Path, target: Path) -> None:
    """Rename `source` to `target`, never replacing a file there."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target, follow_symlinks=False)   # fails if `target` exists
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            # A file system without hard links (some network ones): a check, then a rename.
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
            os.rename(source, target)
        else:
            os.unlink(source)
    except OSError as exc:
        raise StoreError(f"cannot move {source} to {target}: {reason(exc)}",
                         hint="nothing was deleted; fix that and run the command again") from None


def _contents(folder: Path) -> list[Path]:
    """The files under a trashed run's folder, relative to it, its record first."""
    found = [Path(root, name).relative_to(folder)
             for root, _folders, names in os.walk(folder) for name in names]
    return sorted(found, key=lambda path: (not _is_record(path), path.as_posix()))


def _is_record(relative: Path) -> bool:
    return relative.parts[:1] == ("runs",) and relative.suffix == ".toml"


def _remove_empty_folders(folder: Path) -> None:
    """The trash's empty folders of a restored run (folders journal made, holding nothing)."""
    for root, _folders, _names in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(root)
        except OSError:
            pass


def remove(source: RunSource, refs: list[str], *, dry_run: bool = False) -> list[Trashed]:
    """Move the runs `refs` name to the trash (each once), after every REF was found and none
    is running: a typo in the third REF moves nothing."""
    runs: dict[str, StoredRun] = {}
    for ref in refs:
        run = source.resolve(ref)
        check_removable(run)
        runs.setdefault(run.id, run)
    journal_dir = source.journal_dir
    if dry_run:
        return [Trashed(run.id, [path.relative_to(journal_dir).as_posix()
                                 for path in files_of(journal_dir, run)],
                        first_note_line(run.record.get("note"))) for run in runs.values()]
    return [move_to_trash(journal_dir, run) for run in runs.values()]

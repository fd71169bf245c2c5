"""`journal rm`: a run's files moved to `.journal/trash/<id>/`, and back with `--restore`.

Nothing is deleted: a run in the trash keeps every file under the path it had in the journal
folder (`trash/<id>/runs/2026-11/<id>.toml`, `trash/<id>/logs/<id>.log`, ...), so restoring it
is moving each back. Moves never replace a file (a run of that id recorded or restored since
is refused, not overwritten). The record moves last and comes back last: a half-done move,
stopped by a full disk or a kill, leaves the run listed (its record in place) with some files
in the trash, and running the same command again finishes it. Only the run's own files move,
found by its id (`logs/<id>.log`, never a path its record names), and only into the journal's
own `trash/` (a link there is refused).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
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
from journal.store.runfiles import BEHIND_SUFFIX
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
    """The run's files that exist, relative to the journal folder: its log, patch and side
    file, the markers sync leaves for those that stayed on another machine, then its record.
    Found by the run's id only, never by a path a record names (a record from elsewhere could
    name another run's file, or a whole folder), and only files and links, never a folder."""
    here = Path()         # the same names the writers give, relative to the journal folder
    found = [with_marker
             for path in (log_path(here, run.id), patch_path(here, run.id),
                          sidefile.path(here, run.id))
             for with_marker in (path, path.with_name(path.name + BEHIND_SUFFIX))]
    return [path for path in found if _file_or_link(journal_dir / path)] \
        + [_record_place(journal_dir, Path(run.path))]


_KINDS = {"runs": "record", "logs": "log", "patches": "patch", sidefile.FOLDER: "series"}


def kinds_said(files: list[str]) -> str:
    """`log, patch, record` for a run's files as `files_of` names them."""
    return ", ".join(_KINDS.get(name.split("/", 1)[0], name)
                     + (" marker" if name.endswith(BEHIND_SUFFIX) else "") for name in files)


def _file_or_link(path: Path) -> bool:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _record_place(journal_dir: Path, path: Path) -> Path:
    """The record's path inside the journal folder (the folder may be reached through a link)."""
    for base in (journal_dir, journal_dir.resolve()):
        try:
            relative = path.relative_to(base)
        except ValueError:
            continue
        if relative.parts[:1] == ("runs",) and ".." not in relative.parts:
            return relative
    raise StoreError(f"the record {path} is not inside {journal_dir / 'runs'}",
                     hint="move it there by hand, or remove it yourself")


def check_removable(run: StoredRun) -> None:
    """A run whose wrapper still runs would write its record again when it ends."""
    if effective_status(run.record) == Status.RUNNING:
        raise UsageError(f"run {run.id} is still running; its wrapper would write it back",
                         hint="stop it first (Ctrl-C, or kill its journal process)")


def move_to_trash(journal_dir: Path, run: StoredRun) -> Trashed:
    """Move the run's files into the trash, the record last; under the record's lock, so a
    `journal note` waits and then finds the run gone, rather than writing it back."""
    with record_lock(Path(run.path)):
        target = trash_dir(journal_dir) / run.id
        moving = files_of(journal_dir, run)
        taken = [relative for relative in moving if os.path.lexists(target / relative)]
        if taken:       # before anything moves: two runs' files must never mix there
            raise StoreError(f"cannot move {run.id}: {target / taken[0]} exists",
                             hint="an earlier copy of this run is in the trash; restore or "
                                  "remove that one first")
        moved = []
        for relative in moving:
            _move(journal_dir / relative, _inside_trash(journal_dir, target / relative))
            moved.append(relative.as_posix())
    return Trashed(run.id, moved, first_note_line(run.record.get("note")))


def _inside_trash(journal_dir: Path, target: Path) -> Path:
    """`target`, once every folder from the trash down to it is a real folder: a link there
    (`trash/`, `trash/<id>`) would carry the run out of the journal folder."""
    places = [trash_dir(journal_dir)]
    for part in target.parent.relative_to(places[0]).parts:
        places.append(places[-1] / part)
    for place in places:
        if os.path.islink(place):
            raise StoreError(f"{place} is a link; journal rm moves runs only into "
                             f"{trash_dir(journal_dir)}/ itself", hint="remove the link")
        try:
            place.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot make {place}: {reason(exc)}") from None
    return target


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
    ids = trashed_ids(journal_dir)
    if ref in ids:
        return ref
    if not ref.strip():
        raise UsageError("an empty REF names no run", hint="see the trash with: journal rm --list")
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
    if os.path.islink(source) or os.path.islink(trash_dir(journal_dir)):
        raise StoreError(f"{source} is reached through a link; not restored from there",
                         hint="move the run's files back by hand")
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
    """Move `source` to `target`, never replacing a file there."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target, follow_symlinks=False)   # fails if `target` exists
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
            if exc.errno == errno.EXDEV:
                # `logs/` linked to another disk: a copy made whole on this one, then the
                # original let go (nothing is lost if this stops half way).
                _copy_across(source, target)
            else:
                # A file system without hard links (some network ones): a rename.
                os.rename(source, target)
        else:
            os.unlink(source)
    except OSError as exc:
        raise StoreError(f"cannot move {source} to {target}: {reason(exc)}",
                         hint="nothing was deleted; fix that and run the command again") from None


def _copy_across(source: Path, target: Path) -> None:
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    else:
        partial = target.with_name(target.name + ".partial")
        shutil.copy2(source, partial)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.link(partial, target)            # fails if `target` came meanwhile
        os.unlink(partial)
    os.unlink(source)


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
        return [Trashed(run.id, [path.as_posix() for path in files_of(journal_dir, run)],
                        first_note_line(run.record.get("note"))) for run in runs.values()]
    return [move_to_trash(journal_dir, run) for run in runs.values()]

"""Record files: the one reader, the one way to create a record, and the one locked edit.

- `read_record`: a record file as a `Record`, or None with a warning naming the file. Every
  reader goes through it (the index, RunSource, `tail -f`, the API attaching to its wrapper).
- `create_record`: a new record under a fresh id, created exclusively (never overwriting one).
- every later change, under the record's lock (store.lock): `rewrite_record`, journal's own final
  write of a record it owns (written whole by the record writer, store.toml); `amend_record`, a
  user's change (`journal note`, `journal tag`, a script's note joining its wrapper's), which keeps
  the file's comments and layout (tomlkit, ~40 ms, loaded only for it).
- Every record written passes `mask` (the caller's Redactor.record): no writer can forget it.
- `record_files`: every record file under `runs/`.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from journal.errors import StoreError
from journal.record import is_valid_id, read_none_params, upgrade, warn_of_wrong_fields
from journal.store.files import create_exclusive, read_regular, reason, write_atomic
from journal.store.lock import record_lock
from journal.store.paths import run_path
from journal.store.toml import dumps, is_table_array, toml_value

if TYPE_CHECKING:
    from tomlkit import TOMLDocument
    from tomlkit.items import AoT, Array

    from journal.record import Record

# The one redaction step every record passes on its way to disk (journal.redact.Redactor.record,
# handed in by the writer's caller: storage knows no secrets).
Mask = Callable[["Record"], "Record"]

MAX_RECORD_BYTES = 8 << 20     # a record is a few KB; larger than this, it is not one
GITIGNORE = "# journal: scratch files that must never be committed\n*.tmp\n*.lock\n*.reserve\n"
# Disk kept free for a run's final write (a full disk mid-run still ends in a true record).
RESERVE_BYTES = 256 * 1024
# Fields a user changes after the fact (`journal note`, `journal tag`, a script's note): the
# wrapper's final write keeps what is on disk for these, so an amendment made while the run was
# going is not lost.
USER_FIELDS = ("note", "tags", "amendments")

Warn = Callable[[str], None]


# -- reading --------------------------------------------------------------------------------------

def read_record(path: Path, warn: Warn | None) -> Record | None:
    """The record in `path`, upgraded to the schema this journal reads; None when it is gone or
    cannot be a record (with a warning naming the file, unless `warn` is None): it does not
    parse, or it is not a regular file, or it is too large. Nothing in it can hang or exhaust a
    reader."""
    try:
        _text, record = _load(path)
    except FileNotFoundError:
        return None          # deleted since it was listed
    except OSError as exc:
        if warn is not None:
            warn(f"warning: skipped {path}: {exc.strerror}")
        return None
    except NotARecord as exc:
        if warn is not None:
            warn(f"warning: skipped {path}: not a valid record ({exc})")
        return None
    where = str(path)
    upgraded = upgrade(record, where, warn or _quiet, in_place=True)
    return warn_of_wrong_fields(upgraded, where, warn or _quiet)


MAX_DEPTH = 100     # tables and arrays in one another: every reader walks them by recursion


def _deeper_than(value: object, limit: int) -> bool:
    """Whether tables and arrays nest more than `limit` deep (walked without recursion)."""
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            pending += [(inner, depth + 1) for inner in item.values()]
        elif isinstance(item, list):
            pending += [(inner, depth + 1) for inner in item]
    return False


class NotARecord(ValueError):
    """The file's text is not UTF-8, not TOML, or not a table at its top."""


def _load(path: Path) -> tuple[str, Record]:
    """A record file's text and what it says; raises OSError (NotARegularFile, TooLarge) or
    NotARecord. The one place a record file is read."""
    data = read_regular(path, MAX_RECORD_BYTES)
    return data.decode("utf-8", "replace"), parse_record(data)


def parse_record(data: bytes) -> Record:
    """What a record's bytes say (from a file, or from another machine through `journal
    sync`); NotARecord when they are not UTF-8 TOML. The one place a record is parsed."""
    import tomllib

    try:
        text = data.decode("utf-8")
        record: Record = tomllib.loads(text)  # type: ignore[assignment]
        # Each level of nesting takes a `.`, `[` or `{`: only a text with many is walked.
        if sum(map(text.count, ".[{")) > MAX_DEPTH and _deeper_than(record, MAX_DEPTH):
            raise NotARecord(f"nested more than {MAX_DEPTH} tables or arrays deep")
        return read_none_params(record)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise NotARecord(str(exc)) from exc
    except RecursionError:          # thousands of nested brackets, or dotted keys
        raise NotARecord("nested too deeply") from None


def _quiet(_message: str) -> None:
    pass


def record_files(journal_dir: Path) -> Iterator[tuple[str, Path]]:
    """(id, path) of every record under `runs/`, at any depth; temp and lock files skipped."""
    stack = [journal_dir / "runs"]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif name.endswith(".toml") and is_valid_id(name[:-5]):
                yield name[:-5], Path(entry.path)


def canonical_file(journal_dir: Path, run_id: str, paths: list[Path]) -> Path:
    """Of several files of one run (a copy left by a move or a merge), the one every reader and
    writer uses: the one in its month folder, else the first by path."""
    home = run_path(journal_dir, run_id)
    return home if home in paths else sorted(paths)[0]


def second_copy_warning(path: Path, run_id: str, chosen: Path) -> str:
    return f"warning: skipped {path}: a second record file of run {run_id} ({chosen} is read)"


# -- creating -------------------------------------------------------------------------------------

def create_record(journal_dir: Path, record: Record, make_id: Callable[[], str], *,
                  mask: Mask) -> Record:
    """Write a new record, masked by `mask`, under a fresh id from `make_id()` (retried if the id
    is taken); returns the record as written."""
    ensure_gitignore(journal_dir)
    for _attempt in range(20):
        run_id = make_id()
        record["id"] = run_id
        masked = mask(record)
        try:
            if create_exclusive(run_path(journal_dir, run_id), _text_of(masked).encode("utf-8")):
                return masked
        except OSError as exc:
            raise StoreError(f"cannot write the run record in {journal_dir}: {reason(exc)}") from exc
    raise StoreError(f"could not find a free run id in {journal_dir}")


# What journal wrote there before: a file that still says exactly this is journal's, not the
# user's, and is brought up to date.
_OLDER_GITIGNORES = ("# journal: scratch files that must never be committed\n*.tmp\n*.lock\n",)


def ensure_gitignore(journal_dir: Path) -> None:
    """`.journal/.gitignore` keeps lock, temp and reserve files out of a commit of `.journal/`,
    also in a journal that `journal init` never made. A file the user wrote is never touched.
    Best effort: a record matters more than this file."""
    ignore = journal_dir / ".gitignore"
    try:
        if not ignore.exists():
            create_exclusive(ignore, GITIGNORE.encode("utf-8"))
        elif read_regular(ignore, 4096).decode() in _OLDER_GITIGNORES:
            write_atomic(ignore, GITIGNORE.encode("utf-8"))
    except (OSError, UnicodeDecodeError):
        pass


def reserve_path(path: Path) -> Path:
    """Where the disk space kept for the final write of the record at `path` is held."""
    return path.with_name(f".{path.name}{_RESERVE}")


def reserved_record(name: str) -> str | None:
    """The record file name whose reserve `name` is (`.<id>.toml.reserve`), else None."""
    if name.startswith(".") and name.endswith(_RESERVE):
        return name[1:-len(_RESERVE)]
    return None


_RESERVE = ".reserve"


def reserve_space(path: Path) -> None:
    """Hold RESERVE_BYTES of disk for the final write of the record at `path` (a hidden file
    beside it, which readers skip and `.journal/.gitignore` keeps out of commits). Best effort:
    on a disk already too full there is none to hold."""
    reserve = reserve_path(path)
    try:
        descriptor = os.open(reserve, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError:
        return
    try:
        os.posix_fallocate(descriptor, 0, RESERVE_BYTES)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(reserve)
    finally:
        os.close(descriptor)


def release_space(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(reserve_path(path))


# -- changing -------------------------------------------------------------------------------------
# Both run `change` on the record as it is on disk now, under the record's lock, and write what it
# returns (None: nothing to change) through `mask`, atomically.

def rewrite_record(path: Path, change: Callable[[Record | None], Record | None], *, mask: Mask
                   ) -> Record | None:
    """journal's own write of a record it owns (the wrapper's final write, the API joining a
    script's note to its wrapper's): `change` gets the record on disk, or None when it is missing
    or unreadable, and the record it returns is written whole by the record writer. Returns what
    was written (None: nothing was)."""
    try:
        with record_lock(path):
            try:
                current: Record | None = _load(path)[1]
            except (OSError, NotARecord):      # missing, unreadable, not UTF-8, not TOML
                current = None
            changed = change(current)
            if changed is None:
                return None
            new = mask(changed)
            data = _text_of(new).encode("utf-8")
            try:
                write_atomic(path, data)
            except OSError as exc:
                if exc.errno != errno.ENOSPC or not reserve_path(path).exists():
                    raise
                release_space(path)       # the disk is full: this is what it was kept for
                write_atomic(path, data)
            return new
    except OSError as exc:
        raise StoreError(f"cannot update the run record {path.stem}: {reason(exc)}") from exc


def amend_record(path: Path, change: Callable[[Record], Record | None], *, mask: Mask
                 ) -> Record:
    """A change a user makes to a record (`journal note`, `journal tag`, a script's note joining
    its wrapper's): the record must exist and parse (else StoreError, and nothing is written);
    the fields that differ are changed in place with tomlkit, so the comments and layout a user
    added survive; the new text must read back as exactly the old record with those fields
    changed, or nothing is written. Returns the record as the file now says it."""
    import tomlkit  # noqa: F401  (~40 ms: before the lock, which is held for the edit alone)

    try:
        with record_lock(path):
            text, current = load_record_strictly(path)
            new = change(current)
            if new is None:
                return current
            data, written = _edited_text(path, text, current, mask(new))
            write_atomic(path, data.encode("utf-8"))
            return written
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {reason(exc)}") from exc


def replace_record(path: Path, decide: Callable[[str, Record], bytes | None]) -> bool:
    """`journal sync`'s write of a record that came from another machine too: under the
    record's lock, `decide` gets the file's text and record as they are now and returns the new
    file (already masked), or None to leave it. False when the file is missing or not a record
    (left as it is: the caller says so)."""
    try:
        with record_lock(path):
            try:
                text, current = _load(path)
            except (OSError, NotARecord):
                return False
            data = decide(text, current)
            if data is not None:
                write_atomic(path, data)
            return True
    except OSError as exc:
        raise StoreError(f"cannot update the run record {path.stem}: {reason(exc)}") from exc


def record_text(record: Record) -> str:
    """A record as the record writer writes it."""
    return _text_of(record)


def edited_text(path: Path, text: str, old: Record, new: Record) -> str | None:
    """The file's text with the fields that differ between `old` and `new` changed in place
    (comments and layout kept), or None when that cannot be done safely."""
    try:
        return _edited_text(path, text, old, new)[0]
    except StoreError:
        return None


def load_record_strictly(path: Path) -> tuple[str, Record]:
    """A record file's text and what it says, or StoreError saying what is wrong with it."""
    try:
        return _load(path)
    except FileNotFoundError:
        raise StoreError(f"the record {path} is gone") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {reason(exc)}") from exc
    except NotARecord as exc:
        raise StoreError(f"{path} is not a valid record ({exc}); it was not changed",
                         hint="fix the file by hand, then amend again") from exc


def _text_of(record: Record) -> str:
    try:
        return dumps(record)
    except (TypeError, ValueError) as exc:    # a hand-edited value the writer cannot write
        raise StoreError(f"run {record.get('id', '?')}: cannot write the record: {exc}") from exc


def _edited_text(path: Path, text: str, old: Record, new: Record) -> tuple[str, Record]:
    """The file's text with the fields that differ between `old` and `new` changed in place, and
    the record it then says."""
    import tomlkit

    try:
        document = tomlkit.parse(text)
    except Exception as exc:   # tomlkit raises its own family, and worse on odd input
        raise StoreError(f"{path} cannot be edited safely ({exc}); it was not changed",
                         hint="fix the file by hand, then amend again") from exc
    old_fields: Mapping[str, object] = old
    expected: dict[str, object] = dict(old_fields)
    for name in [name for name in old_fields if name not in new]:
        del document[name]
        del expected[name]
    for name, value in new.items():
        if name not in old_fields or not _same(old_fields[name], value):
            _set_field(document, path, name, old_fields.get(name), value)
            # What the record writer makes of the new value: times to the millisecond.
            alone = _text_of({name: value})  # type: ignore[misc]
            expected[name] = dict(parse_record(alone.encode()))[name]
    new_text = tomlkit.dumps(document)
    try:
        # Read as every reader reads it: a None param (written `{}`) is None again.
        written = parse_record(new_text.encode())
    except NotARecord as exc:
        raise StoreError(f"editing {path} would break it ({exc}); it was not changed") from exc
    if _canonical(written) != _canonical(expected):
        raise StoreError(f"editing {path} would change other fields; it was not changed",
                         hint="the file's layout is unusual: amend it by hand")
    return new_text, written


def _set_field(document: TOMLDocument, path: Path, name: str, old: object, value: object) -> None:
    """One top-level field of a tomlkit document set to `value`, keeping the layout around it.
    An array of tables that only grew (amendments) gets the new tables appended."""
    import tomlkit
    from tomlkit.items import AoT, Array

    if is_table_array(value):
        assert isinstance(value, list)
        item = document.get(name)
        if old is not None and not isinstance(old, list) or \
                item is not None and not isinstance(item, (AoT, Array)):
            raise StoreError(f"{path}: `{name}` is not a list; the record was not changed",
                             hint="fix the file by hand")
        if isinstance(old, list) and isinstance(item, (AoT, Array)) and value[:len(old)] == old:
            for table in value[len(old):]:
                _append_table(item, name, table)
            return
        if item is not None:
            del document[name]
        document.append(name, tomlkit.parse("\n" + _text_of({name: value}))[name])  # type: ignore[misc]
        return
    fresh = tomlkit.parse(_text_of({name: value}))[name]  # type: ignore[misc]
    if name in document:
        document[name] = fresh
    else:
        document.append(name, fresh)


def _append_table(item: AoT | Array, name: str, table: Mapping[str, object]) -> None:
    import tomlkit
    from tomlkit.items import AoT

    if isinstance(item, AoT):
        added = tomlkit.parse(_text_of({name: [table]}))[name][0]  # type: ignore[misc]
        if item and item[-1].as_string().endswith("\n\n"):
            added.add(tomlkit.nl())      # the blank line before what follows stays after us
        else:
            added.trivia.indent = "\n"   # a blank line between the tables
        item.append(added)
    else:                                # an inline array of inline tables
        item.append(tomlkit.parse("x = " + toml_value(table))["x"])


def _same(old: object, new: object) -> bool:
    return _canonical(old) == _canonical(new)


def _canonical(value: object) -> str:
    import json

    # JSON so that nan equals nan; sorted because tomlkit may put a new key elsewhere.
    return json.dumps(value, sort_keys=True, default=repr)

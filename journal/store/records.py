"""Record files: the one reader, the one way to create a record, and the one locked edit.

- `read_record`: a record file as a `Record`, or None with a warning naming the file. Every
  reader goes through it (the index, RunSource, `tail -f`, the API attaching to its wrapper).
- `create_record`: a new record under a fresh id, created exclusively (never overwriting one).
- `edit_record`: every later change, under the record's lock (store.lock): the wrapper's final
  write, the script's note and tags joining its wrapper's, `journal note` and `journal tag`.
  Amendments a user makes keep the file's comments and layout (tomlkit); journal's own writes to
  a record it owns are written whole by the record writer (store.toml), ~40 ms cheaper.
- `record_files`: every record file under `runs/`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from journal.errors import StoreError
from journal.record import is_valid_id, upgrade
from journal.store.files import create_exclusive, reason, write_atomic
from journal.store.lock import record_lock
from journal.store.paths import run_path
from journal.store.toml import dumps

if TYPE_CHECKING:
    from journal.record import Record

GITIGNORE = "# journal: scratch files that must never be committed\n*.tmp\n*.lock\n"
# Fields a user changes after the fact (`journal note`, `journal tag`, a script's note): the
# wrapper's final write keeps what is on disk for these, so an amendment made while the run was
# going is not lost.
USER_FIELDS = ("note", "tags", "amendments")

Warn = Callable[[str], None]


# -- reading --------------------------------------------------------------------------------------

def read_record(path: Path, warn: Warn | None) -> Record | None:
    """The record in `path`, upgraded to the schema this journal reads; None when it is gone or
    does not parse (with a warning naming the file, unless `warn` is None)."""
    import tomllib

    try:
        _text, record = _load(path)
    except FileNotFoundError:
        return None          # deleted since it was listed
    except OSError as exc:
        if warn is not None:
            warn(f"warning: skipped {path}: {exc.strerror}")
        return None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        if warn is not None:
            warn(f"warning: skipped {path}: not a valid record ({exc})")
        return None
    return upgrade(record, str(path), warn or _quiet)


def _load(path: Path) -> tuple[str, Record]:
    """A record file's text and what it says; raises OSError, UnicodeDecodeError or
    TOMLDecodeError. The one place a record file is parsed."""
    import tomllib

    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8")
    record: Record = tomllib.loads(text)  # type: ignore[assignment]
    return text, record


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


# -- creating -------------------------------------------------------------------------------------

def create_record(journal_dir: Path, record: Record, make_id: Callable[[], str]) -> str:
    """Write a new record under a fresh id from `make_id()`; retries if the id is taken."""
    _ensure_gitignore(journal_dir)
    for _attempt in range(20):
        run_id = make_id()
        record["id"] = run_id
        try:
            if create_exclusive(run_path(journal_dir, run_id), dumps(record).encode("utf-8")):
                return run_id
        except OSError as exc:
            raise StoreError(f"cannot write the run record in {journal_dir}: {reason(exc)}") from exc
    raise StoreError(f"could not find a free run id in {journal_dir}")


def _ensure_gitignore(journal_dir: Path) -> None:
    """`.journal/.gitignore` keeps lock and temp files out of a commit of `.journal/`, also in a
    journal that `journal init` never made. Best effort: a record matters more than this file."""
    ignore = journal_dir / ".gitignore"
    if not ignore.exists():
        try:
            create_exclusive(ignore, GITIGNORE.encode("utf-8"))
        except OSError:
            pass


# -- editing --------------------------------------------------------------------------------------

def edit_record(path: Path, change: Callable[[Record | None], Record | None], *,
                keep_layout: bool = False) -> Record | None:
    """The one read-modify-write of a record, under its lock.

    `change(record)` gets the record as it is on disk now and returns the record to write, or
    None to leave the file as it is. With `keep_layout` (an amendment by the user) the record must
    exist and parse (else StoreError, and nothing is written); the file is edited with tomlkit so
    its comments and layout survive, and the new text must read back as exactly the changed
    record, or nothing is written. Without it (journal's own writes to a record it owns), an
    unreadable record reaches `change` as None, and the new one is written whole. Returns what
    was written (as the file now says it), or the record as read when nothing was."""
    if keep_layout:
        import tomlkit  # noqa: F401  (~40 ms: before the lock, which is held for the edit alone)
    try:
        with record_lock(path):
            text, current = _read_for_edit(path, strict=keep_layout)
            new = change(current)
            if new is None:
                return current
            if keep_layout:
                assert current is not None and text is not None
                data, new = _edited_text(path, text, current, new)
            else:
                data = dumps(new)
            write_atomic(path, data.encode("utf-8"))
            return new
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {reason(exc)}") from exc


def _read_for_edit(path: Path, *, strict: bool) -> tuple[str | None, Record | None]:
    import tomllib

    try:
        return _load(path)
    except FileNotFoundError:
        if strict:
            raise StoreError(f"the record {path} is gone") from None
    except OSError as exc:
        if strict:
            raise StoreError(f"cannot read {path}: {reason(exc)}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        if strict:
            raise StoreError(f"{path} is not a valid record ({exc}); it was not changed",
                             hint="fix the file by hand, then amend again") from exc
    return None, None


def _edited_text(path: Path, text: str, old: Record, new: Record) -> tuple[str, Record]:
    """The file's text with the fields that differ between `old` and `new` changed in place, and
    the record it says (`new` as the file holds it: times to the millisecond)."""
    import tomllib

    import tomlkit

    try:
        document = tomlkit.parse(text)
    except Exception as exc:   # tomlkit raises its own family, and worse on odd input
        raise StoreError(f"{path} cannot be edited safely ({exc}); it was not changed",
                         hint="fix the file by hand, then amend again") from exc
    old_fields: Mapping[str, Any] = old
    new_fields: Mapping[str, Any] = new
    for name in [name for name in old_fields if name not in new_fields]:
        del document[name]
    for name, value in new_fields.items():
        if name not in old_fields or not _same(old_fields[name], value):
            _set_field(document, path, name, old_fields.get(name), value)
    new_text = tomlkit.dumps(document)
    expected = tomllib.loads(dumps(new))       # what the record writer makes of `new`
    try:
        written = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise StoreError(f"editing {path} would break it ({exc}); it was not changed") from exc
    if _canonical(written) != _canonical(expected):
        raise StoreError(f"editing {path} would change other fields; it was not changed",
                         hint="the file's layout is unusual: amend it by hand")
    return new_text, written  # type: ignore[return-value]


def _set_field(document: Any, path: Path, name: str, old: Any, value: Any) -> None:
    """One top-level field of a tomlkit document set to `value`, keeping the layout around it.
    An array of tables that only grew (amendments) gets the new tables appended."""
    import tomlkit
    from tomlkit.items import AoT, Array

    if _is_table_array(value):
        item = document.get(name)
        if old is not None and not isinstance(old, list) or \
                item is not None and not isinstance(item, (AoT, Array)):
            raise StoreError(f"{path}: `{name}` is not a list; the record was not changed",
                             hint="fix the file by hand")
        if isinstance(old, list) and item is not None and value[:len(old)] == old:
            for table in value[len(old):]:
                _append_table(item, name, table)
            return
        if item is not None:
            del document[name]
        document.append(name, tomlkit.parse("\n" + dumps({name: value}))[name])
        return
    fresh = tomlkit.parse(dumps({name: value}))[name]
    if name in document:
        document[name] = fresh
    else:
        document.append(name, fresh)


def _append_table(item: Any, name: str, table: Mapping[str, Any]) -> None:
    import tomlkit
    from tomlkit.items import AoT

    if isinstance(item, AoT):
        added = tomlkit.parse(dumps({name: [table]}))[name][0]
        if item and item[-1].as_string().endswith("\n\n"):
            added.add(tomlkit.nl())      # the blank line before what follows stays after us
        else:
            added.trivia.indent = "\n"   # a blank line between the tables
        item.append(added)
    else:                                # an inline array of inline tables
        from journal.store.toml import format_value

        item.append(tomlkit.parse("x = " + format_value(table))["x"])


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _same(old: Any, new: Any) -> bool:
    return _canonical(old) == _canonical(new)


def _canonical(value: Any) -> str:
    import json

    # JSON so that nan equals nan; sorted because tomlkit may put a new key elsewhere.
    return json.dumps(value, sort_keys=True, default=repr)

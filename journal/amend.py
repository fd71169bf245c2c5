"""`journal note` and `journal tag`: change a run's record after the fact, keeping what it said.

A note is never rewritten: `note` keeps the text the run was started with, and each amendment is
appended as

    [[amendments]]
    at = 2026-11-28T18:03:11.402+09:00
    text = "this run had a data leak"

(the form `tomlwrite` gives an array of tables, so the wrapper's final write of a running record
keeps it as it is). Tags are edited in place.

Every change is a read-modify-write under the record's lock (`store.record_lock`), the lock the
wrapper's final write takes too, so concurrent amendments and a finishing run never lose each
other's changes. The file is edited with tomlkit, so comments and layout a user added survive;
the new text is checked to parse (with tomllib) into exactly the old record plus the change
before it replaces the file, atomically. tomlkit (~40 ms) is imported only here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from journal import store, tomlwrite
from journal.config import load_config
from journal.errors import StoreError, UsageError
from journal.redact import Redactor
from journal.runs import VALID_ID, RunSource, record_files
from journal.safetext import printable

# A tag is one word of visible characters; `+`/`-` in front would read as an add/remove.
_TAG = re.compile(r"[^\s+\-][^\s]*")
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
MAX_TAG_LENGTH = 200


def local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def add_note(source: RunSource, ref: str, text: str, *,
             now: Callable[[], dt.datetime] = local_now) -> str:
    """Append an amendment to a run's note; returns the run's id."""
    if not text.strip():
        raise UsageError("the note text is empty", hint='journal note REF "what to add"')
    redactor = _redactor(source.journal_dir)
    amendment = {"at": now(), "text": redactor.text(text)}
    run_id, path = _locate(source, ref)

    def change(document: Any, record: dict[str, Any]) -> bool:
        _append_amendment(document, record, amendment, path)
        return True

    _edit(path, change)
    return run_id


def parse_tag_changes(changes: Sequence[str]) -> list[tuple[bool, str]]:
    """`+t` (or a bare `t`) adds, `-t` removes: (add?, tag) pairs, or one UsageError."""
    parsed: list[tuple[bool, str]] = []
    if not changes:
        raise UsageError("no tag changes given", hint="journal tag REF +TAG -TAG")
    for change in changes:
        add = not change.startswith("-")
        name = change[1:] if change[:1] in ("+", "-") else change
        if not name:
            raise UsageError(f"empty tag in {printable(change)!r}",
                             hint="journal tag REF +TAG -TAG")
        if (not _TAG.fullmatch(name) or _INVISIBLE.search(name)
                or len(name) > MAX_TAG_LENGTH):
            raise UsageError(
                f"bad tag {printable(change)!r}: a tag is one word of visible characters, "
                f"not starting with + or - (at most {MAX_TAG_LENGTH})",
                hint="journal tag REF +TAG -TAG",
            )
        parsed.append((add, name))
    return parsed


def change_tags(source: RunSource, ref: str, changes: Sequence[str]) -> tuple[str, list[str]]:
    """Add (`+t`, `t`) and remove (`-t`) tags of a run, in the order given; returns the run's id
    and its tags afterwards. Tags are redacted as `journal new` redacts them."""
    parsed = parse_tag_changes(changes)
    redactor = _redactor(source.journal_dir)
    parsed = [(add, redactor.text(name)) for add, name in parsed]
    run_id, path = _locate(source, ref)
    result: list[str] = []

    def change(document: Any, record: dict[str, Any]) -> bool:
        tags = record.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise StoreError(f"{path}: `tags` is not a list of strings; the record was not changed",
                             hint="fix the file by hand")
        new = list(tags)
        for add, name in parsed:
            if add and name not in new:
                new.append(name)
            elif not add:
                if name in new:
                    new.remove(name)
                else:
                    source.warn(f"warning: run {run_id} has no tag {printable(name)!r}")
        result[:] = new
        if new == tags and "tags" in record:
            return False
        record["tags"] = new
        import tomlkit

        document["tags"] = tomlkit.parse("tags = " + tomlwrite.format_value(new))["tags"]
        return True

    _edit(path, change)
    return run_id, result


# -- finding the record -------------------------------------------------------------------------

def _redactor(journal_dir: Path) -> Redactor:
    config = load_config(journal_dir)
    return Redactor(config.redact_names, config.redact_values)


def _locate(source: RunSource, ref: str) -> tuple[str, Path]:
    """The id and file of the run `ref` names. A record that does not parse is not a run to the
    readers, so a ref that names one exactly is answered with what is wrong with the file."""
    try:
        run = source.resolve(ref)
    except UsageError:
        found = _record_file(source.journal_dir, ref.strip())
        if found is None:
            raise
        _read(found)    # the error that names the file, when it does not parse
        return found.name[:-5], found
    return run.id, run.path


def _record_file(journal_dir: Path, ref: str) -> Path | None:
    """The record file whose id is `ref`, or the only one whose id starts with it."""
    if not VALID_ID.fullmatch(ref) or ref == "latest":
        return None
    exact = store.run_path(journal_dir, ref)
    if exact.is_file():
        return exact
    found = [path for run_id, path in record_files(journal_dir) if run_id.startswith(ref)]
    return found[0] if len(found) == 1 else None


# -- editing it ---------------------------------------------------------------------------------

def _read(path: Path) -> tuple[str, dict[str, Any]]:
    import tomllib

    try:
        text = path.read_bytes().decode("utf-8")
        return text, tomllib.loads(text)
    except FileNotFoundError:
        raise StoreError(f"the record {path} is gone") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StoreError(f"{path} is not a valid record ({exc}); it was not changed",
                         hint="fix the file by hand, then amend again") from exc


def _edit(path: Path, change: Callable[[Any, dict[str, Any]], bool]) -> None:
    """Read-modify-write of one record under its lock. `change` edits the tomlkit document and
    the parsed record the same way; the new text must parse back to that record exactly."""
    import tomlkit    # before the lock: the lock is held for the edit alone

    try:
        with store.record_lock(path):
            text, record = _read(path)
            try:
                document = tomlkit.parse(text)
            except Exception as exc:   # tomlkit raises its own family, and worse on odd input
                raise StoreError(f"{path} cannot be edited safely ({exc}); it was not changed",
                                 hint="fix the file by hand, then amend again") from exc
            if not change(document, record):
                return
            new_text = tomlkit.dumps(document)
            _check(path, new_text, record)
            store.write_atomic(path, new_text.encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from exc


def _check(path: Path, new_text: str, expected: dict[str, Any]) -> None:
    """Refuse to write unless the new file says exactly what it should: nothing recorded may be
    lost or changed by the edit."""
    import tomllib

    try:
        written = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise StoreError(f"editing {path} would break it ({exc}); it was not changed") from exc
    if _canonical(written) != _canonical(expected):
        raise StoreError(f"editing {path} would change other fields; it was not changed",
                         hint="the file's layout is unusual: amend it by hand")


def _canonical(record: dict[str, Any]) -> str:
    # JSON so that nan equals nan; sorted because tomlkit may put a new key elsewhere.
    return json.dumps(record, sort_keys=True, default=repr)


def _append_amendment(document: Any, record: dict[str, Any], amendment: dict[str, Any],
                      path: Path) -> None:
    import tomllib

    import tomlkit
    from tomlkit.items import AoT, Array

    snippet = tomlwrite.dumps({"amendments": [amendment]})
    # What the file will say: the time as written (milliseconds, an offset of whole minutes).
    parsed = tomllib.loads(snippet)["amendments"][0]
    existing = record.get("amendments")
    if existing is None:
        record["amendments"] = [parsed]
        document.append("amendments", tomlkit.parse("\n" + snippet)["amendments"])
        return
    item = document.get("amendments")
    if not isinstance(existing, list) or not isinstance(item, (AoT, Array)):
        raise StoreError(f"{path}: `amendments` is not a list; the record was not changed",
                         hint="fix the file by hand")
    existing.append(parsed)
    if isinstance(item, AoT):
        table = tomlkit.parse(snippet)["amendments"][0]
        if item and item[-1].as_string().endswith("\n\n"):
            table.add(tomlkit.nl())      # the blank line before what follows stays after us
        else:
            table.trivia.indent = "\n"   # a blank line between amendments
        item.append(table)
    else:
        item.append(tomlkit.parse("x = " + tomlwrite.format_value(amendment))["x"])

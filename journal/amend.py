"""`journal note` and `journal tag`: change a run's record after the fact, keeping what it said.

A note is never rewritten: `note` keeps the text the run was started with, and each amendment is
appended as

    [[amendments]]
    at = 2026-11-28T18:03:11.402+09:00
    text = "this run had a data leak"

(the form the record writer gives an array of tables, so the wrapper's final write of a running
record keeps it as it is). Tags are edited in place, and each change is kept as an amendment too
(`tags = ["+best", "-draft"]`), so that `journal sync` can apply the changes made to one run on
several machines in time order.

Every change goes through `store.records.amend_record`: under the record's lock (the lock the
wrapper's final write takes too, so concurrent amendments and a finishing run never lose each
other's changes), with the comments and layout a user added kept, checked to read back as exactly
the old record plus the change before it replaces the file, atomically, and masked on the way
(`Redactor.record`, as every record written). A flow of its own: it changes what the capture
wrote, with what the reading commands use to find it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from journal.errors import StoreError, UsageError
from journal.record import TAG_RULE, Record, is_valid_id, is_valid_tag
from journal.redact import Redactor
from journal.store.config import load_config
from journal.store.context import Context
from journal.store.paths import run_path
from journal.store.records import amend_record, load_record_strictly, record_files
from journal.store.source import RunSource
from journal.text import printable

if TYPE_CHECKING:
    from journal.record import Amendment

def add_note(source: RunSource, ref: str, text: str, *, context: Context) -> str:
    """Append an amendment to a run's note (at `context`'s time); returns the run's id."""
    if not text.strip():
        raise UsageError("the note text is empty", hint='journal note REF "what to add"')
    redactor = _redactor(context)
    amendment: Amendment = {"at": context.now(), "text": text}
    run_id, path = _locate(source, ref)

    def append(record: Record) -> Record:
        amendments = record.get("amendments", [])
        if not isinstance(amendments, list):
            raise StoreError(f"{path}: `amendments` is not a list; the record was not changed",
                             hint="fix the file by hand")
        return {**record, "amendments": [*amendments, amendment]}

    amend_record(path, append, mask=redactor.record)
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
        if not is_valid_tag(name):
            raise UsageError(f"bad tag {printable(change)!r}: {TAG_RULE}",
                             hint="journal tag REF +TAG -TAG")
        parsed.append((add, name))
    return parsed


def change_tags(source: RunSource, ref: str, changes: Sequence[str], *, context: Context
                ) -> tuple[str, list[str]]:
    """Add (`+t`, `t`) and remove (`-t`) tags of a run, in the order given; returns the run's id
    and its tags afterwards. Tags are redacted as `journal new` redacts them."""
    parsed = parse_tag_changes(changes)
    redactor = _redactor(context)
    parsed = [(add, redactor.text(name)) for add, name in parsed]
    run_id, path = _locate(source, ref)
    result: list[str] = []

    def change(record: Record) -> Record:
        tags = record.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise StoreError(f"{path}: `tags` is not a list of strings; the record was not changed",
                             hint="fix the file by hand")
        new = list(tags)
        for add, name in parsed:
            if add and name not in new:
                new.append(name)
            elif not add and name in new:
                new.remove(name)
            elif not add:
                source.warn(f"warning: run {run_id} has no tag {printable(name)!r} here")
        result[:] = new
        amendments = record.get("amendments", [])
        if not isinstance(amendments, list):
            raise StoreError(f"{path}: `amendments` is not a list; the record was not changed",
                             hint="fix the file by hand")
        # Each change asked for, with its time, also one that changed nothing here: `journal
        # sync` applies the changes made to one run on several machines in time order (of an
        # add and a remove of one tag, the later wins), and another machine's copy may differ.
        entry: Amendment = {"at": context.now(),
                            "tags": [("+" if add else "-") + name for add, name in parsed]}
        return {**record, "tags": new, "amendments": [*amendments, entry]}

    amend_record(path, change, mask=redactor.record)
    return run_id, result


# -- finding the record -------------------------------------------------------------------------

def _redactor(context: Context) -> Redactor:
    config = load_config(context.journal_dir, context.environ)
    return Redactor(config.redact_names, config.redact_values, context.environ)


def _locate(source: RunSource, ref: str) -> tuple[str, Path]:
    """The id and file of the run `ref` names. A record that does not parse is not a run to the
    readers, so a ref that names one exactly is answered with what is wrong with the file (the
    edit reads it, and says so)."""
    try:
        run = source.resolve(ref)
    except UsageError:
        found = _record_file(source.journal_dir, ref.strip())
        if found is None:
            raise
        load_record_strictly(found)     # raises, naming the file and what is wrong with it
        return found.name[:-5], found
    return run.id, run.path


def _record_file(journal_dir: Path, ref: str) -> Path | None:
    """The record file whose id is `ref`, or the only one whose id starts with it."""
    if not is_valid_id(ref) or ref == "latest":
        return None
    exact = run_path(journal_dir, ref)
    if exact.is_file():
        return exact
    found = [path for run_id, path in record_files(journal_dir) if run_id.startswith(ref)]
    return found[0] if len(found) == 1 else None

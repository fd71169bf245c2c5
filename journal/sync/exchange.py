"""`journal sync [REMOTE]`: fetch the other machines' journal, merge it into this folder,
commit the result, push it; when another machine pushed in between, do it again.

    1. fetch the remote's `refs/journal/runs`
    2. put this journal folder in a tree (the private index: only changed files are hashed)
    3. take in what the remote has and this folder does not, or has otherwise: new runs are
       written as they came; a run both have is merged (merge.py) under its record's lock, so
       a `journal note` or a run finishing meanwhile is not lost; a log, patch or series both
       have: the copy that changed since the last sync, else the longer
    4. the folder's tree again; if it is the remote's, there is nothing to send
    5. commit it on top of the remote's commit, push (fast-forward only); rejected because
       another machine pushed first: back to 1

Every step leaves both sides readable: files are replaced atomically, refs are moved by git,
and the remote's ref moves only by a fast-forward to a commit that holds everything it held. A
sync killed at any point is finished by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from journal.git import GitFailed
from journal.record import THIS_HOST, Record
from journal.store.cache import cache_path
from journal.store.config import Config, load_config
from journal.store.context import Context
from journal.store.files import create_exclusive, reason, write_atomic
from journal.store.records import (
    NotARecord,
    edited_text,
    ensure_gitignore,
    parse_record,
    record_text,
    replace_record,
)
from journal.sync.merge import merge_records, same
from journal.sync.repo import Entry, Remote, Repository, SyncError
from journal.sync.travel import kind_of, travelling_files
from journal.text import printable

ATTEMPTS = 5                        # pushes lost to other machines before giving up
READ_CHUNK_BYTES = 64 << 20         # blobs read from git at a time
LOCK_WAIT = 0.05


@dataclass
class Report:
    remote: str
    received_new: set[str] = field(default_factory=set)
    received_changed: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    behind: int = 0
    skipped: list[str] = field(default_factory=list)
    cap: int = 0

    def lines(self) -> list[str]:
        from journal.store.runfiles import byte_size

        parts = []
        if self.received_new or self.received_changed:
            got = []
            if self.received_new:
                got.append(_runs(len(self.received_new), "new"))
            if self.received_changed:
                got.append(_runs(len(self.received_changed), "changed"))
            parts.append("received " + " and ".join(got))
        if self.sent:
            parts.append(f"sent {_runs(len(self.sent))}")
        summary = "; ".join(parts) if parts else "nothing to send or receive"
        lines = [f"sync with {printable(self.remote)}: {summary}"]
        if self.behind:
            lines.append(f"{self.behind} file{'s' if self.behind != 1 else ''} over "
                         f"{byte_size(self.cap)} stayed here ([sync] max_file_bytes)")
        return lines


def _runs(count: int, what: str = "") -> str:
    return f"{count} {what + ' ' if what else ''}run{'s' if count != 1 else ''}"


def sync(context: Context, given: str | None, warn: Callable[[str], None]) -> Report:
    """Exchange the journal with the remote `given` (else the configured or usual one)."""
    root = context.worktree_root
    if root is None:
        raise SyncError("journal sync needs a git repository: runs travel through its remote",
                        hint="run it inside the repository whose runs you want to exchange")
    journal_dir = context.journal_dir
    config = load_config(journal_dir)
    index_file = cache_path(journal_dir, context.environ).with_suffix(".sync-index")
    repo = Repository(root, journal_dir, index_file, context.environ)
    try:
        remote = repo.remote(given, config.sync_remote)
    except GitFailed as exc:
        raise SyncError(f"cannot find the remote: {exc}") from None
    redactor = _Masker(config, context.environ)
    try:
        journal_dir.mkdir(parents=True, exist_ok=True)
        with _sync_lock(index_file):
            return _exchange(repo, remote, config.sync_max_bytes, redactor, warn)
    except GitFailed as exc:
        raise SyncError(f"cannot sync with {remote.name}: {exc}") from None
    except OSError as exc:
        raise SyncError(f"cannot sync with {remote.name}: {reason(exc)}") from None


def _exchange(repo: Repository, remote: Remote, cap: int, redactor: _Masker,
              warn: Callable[[str], None]) -> Report:
    journal_dir = repo.journal_dir
    report = Report(remote.name, cap=cap)
    for attempt in range(ATTEMPTS):
        repo.fetch(remote)
        refs = repo.refs(remote)
        fetched, base = refs.get("runs"), refs.get("base")
        paths, report.behind = travelling_files(journal_dir, cap)
        local_tree = repo.tree_of_folder(paths)
        if fetched is not None and fetched[1] != local_tree and _take_in(
                repo, remote, local_tree, fetched[1], base[1] if base else None, redactor,
                report, warn):
            paths, report.behind = travelling_files(journal_dir, cap)
            local_tree = repo.tree_of_folder(paths)
        if fetched is not None and fetched[1] == local_tree:
            if base is None or base[0] != fetched[0]:
                repo.set_ref(remote, "base", fetched[0])
            return report
        report.sent = _runs_in(_changed(repo, fetched[1] if fetched else None, local_tree,
                                        paths))
        commit = repo.commit(local_tree, [fetched[0]] if fetched else [],
                             f"journal sync from {THIS_HOST}")
        if repo.push(remote, commit):
            repo.set_ref(remote, "runs", commit)
            repo.set_ref(remote, "base", commit)
            return report
        time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))   # let the other push finish
    raise SyncError(f"other machines kept pushing to {remote.name}; nothing was lost",
                    hint="run journal sync again")


class _Masker:
    """This machine's redaction of records received, made when the first one arrives (a sync
    that receives nothing does not load the redactor)."""

    def __init__(self, config: Config, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = environ

    def record(self, record: Record) -> Record:
        if not hasattr(self, "_redactor"):
            from journal.redact import Redactor

            self._redactor = Redactor(self.config.redact_names, self.config.redact_values,
                                      self.environ)
        return self._redactor.record(record)


@contextlib.contextmanager
def _sync_lock(index_file: Path) -> Iterator[None]:
    """One sync of a journal at a time on this machine (a second one waits). An advisory lock
    dies with its holder, so a killed sync never blocks the next; git's own `index.lock`, left
    by a git that outlived a killed sync, is waited for and then broken (the index is ours)."""
    index_file.parent.mkdir(parents=True, exist_ok=True)
    with open(index_file.with_suffix(".sync-lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        stale = index_file.with_name(index_file.name + ".lock")
        for _ in range(200):
            if not stale.exists():
                break
            time.sleep(LOCK_WAIT)
        else:
            stale.unlink(missing_ok=True)
        yield


def _changed(repo: Repository, remote_tree: str | None, local_tree: str, paths: list[str]
             ) -> list[str]:
    if remote_tree is None:
        return paths
    out = repo.git.run("diff-tree", "-r", "--name-only", "-z", "--no-renames", remote_tree,
                       local_tree)
    return [path for path in out.decode("utf-8", "surrogateescape").split("\0") if path]


def _runs_in(paths: list[str]) -> set[str]:
    return {kind[1] for kind in map(kind_of, paths) if kind is not None}


# -- taking in what the remote has -----------------------------------------------------------------

def _take_in(repo: Repository, remote: Remote, local_tree: str, remote_tree: str,
             base_tree: str | None, redactor: _Masker, report: Report,
             warn: Callable[[str], None]) -> bool:
    """Write into the journal folder what the remote has and it has not (or has otherwise);
    True when anything was written."""
    local, theirs, base = repo.files(local_tree), repo.files(remote_tree), repo.files(base_tree)
    wanted: list[tuple[str, str, str, Entry]] = []       # (path, kind, run id, remote's entry)
    odd = []
    for path, entry in sorted(theirs.items()):
        mine = local.get(path)
        if mine == entry:
            continue
        shape = kind_of(path)
        if shape is None:
            odd.append(path)
        elif shape[0] == "record" or mine is None or _theirs_wins(mine, entry, base.get(path)):
            wanted.append((path, shape[0], shape[1], entry))
    if odd:
        warn(f"warning: {remote.name} has {len(odd)} file{'s' if len(odd) != 1 else ''} in its "
             f"journal that are not a journal's (e.g. {printable(odd[0])!r}); not taken")
    needed = {entry.blob: entry.size for _path, _kind, _id, entry in wanted}
    for path, kind, _id, _entry in wanted:
        past = base.get(path)
        if kind == "record" and past is not None:
            needed[past.blob] = past.size
    contents = dict(repo.blobs(list(needed), READ_CHUNK_BYTES, needed))
    wrote = False
    for path, kind, run_id, entry in wanted:
        target = repo.journal_dir / path
        data = contents[entry.blob]
        written: str | None
        if kind == "record":
            past = base.get(path)
            written = _take_record(target, run_id, data,
                                   contents.get(past.blob) if past else None, redactor, warn,
                                   remote)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            written = "changed" if target.exists() else "new"
            write_atomic(target, data)
        if written:
            wrote = True
            (report.received_new if written == "new" and kind == "record"
             else report.received_changed).add(run_id)
    report.received_changed -= report.received_new
    if wrote:
        ensure_gitignore(repo.journal_dir)
    return wrote


def _theirs_wins(mine: Entry, theirs: Entry, past: Entry | None) -> bool:
    """For a log, patch or series both sides have: the copy that changed since the last sync,
    else the longer (logs only grow), else the remote's (so both sides end alike)."""
    if past is not None and past.blob == theirs.blob:
        return False
    if past is not None and past.blob == mine.blob:
        return True
    return theirs.size >= mine.size


def _take_record(target: Path, run_id: str, data: bytes, base_data: bytes | None,
                 redactor: _Masker, warn: Callable[[str], None], remote: Remote) -> str | None:
    """Write (or merge into) the record at `target` what the remote says of run `run_id`:
    `new`, `changed`, or None when nothing was written."""
    try:
        theirs = parse_record(data)
    except NotARecord as exc:
        warn(f"warning: {remote.name} has a record of run {run_id} that does not parse ({exc}); "
             "not taken")
        return None
    if theirs.get("id") != run_id:
        warn(f"warning: {remote.name} has a record named {run_id} that says it is run "
             f"{printable(str(theirs.get('id')))}; not taken")
        return None
    masked = redactor.record(theirs)
    if not same(masked, theirs):        # this machine masks more (its [redact] settings)
        theirs, data = masked, record_text(masked).encode("utf-8")
    base: Record | None = None
    if base_data is not None:
        with contextlib.suppress(NotARecord):
            base = parse_record(base_data)
    target.parent.mkdir(parents=True, exist_ok=True)
    if create_exclusive(target, data):
        return "new"

    def decide(text: str, current: Record) -> bytes | None:
        merged = merge_records(current, theirs, base)
        if same(merged, theirs):
            return None if text.encode("utf-8") == data else data
        if same(merged, current):
            return None
        masked_merge = redactor.record(merged)
        new = edited_text(target, text, current, masked_merge)
        return (new if new is not None else record_text(masked_merge)).encode("utf-8")

    changed: list[bool] = []

    def decide_and_note(text: str, current: Record) -> bytes | None:
        result = decide(text, current)
        changed.append(result is not None)
        return result

    if not replace_record(target, decide_and_note):
        warn(f"warning: {target} is not a record this journal can read; "
             f"the copy from {remote.name} was not merged into it")
        return None
    return "changed" if changed and changed[0] else None



"""`journal sync [REMOTE]`: fetch the other machines' journal, merge it into this folder,
commit the result, push it; when another machine pushed in between, do it again.

    1. fetch the remote's `refs/journal/runs`
    2. this machine's runs whose wrapper died are said to be `crashed` (only this machine can
       tell; the others would show them `running` for ever)
    3. put this journal folder in a tree (the private index: only changed files are hashed;
       files over the cap as travel.py says)
    4. take in what the remote has and this folder does not, or has otherwise: new runs are
       written as they came; a run both have is merged (merge.py) under its record's lock, so
       a `journal note` or a run finishing meanwhile is not lost; a log, patch or series both
       have: on the machine that ran the run its own, elsewhere the longer (the remote's when
       equal)
    5. the folder's tree again; if it is the remote's, there is nothing to send
    6. commit it on top of the remote's commit, push (fast-forward only); rejected because
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from journal.errors import JournalError
from journal.git import GitFailed
from journal.record import THIS_HOST, Record, Status, effective_status
from journal.store.cache import cache_path, private_folder
from journal.store.config import load_config
from journal.store.context import Context
from journal.store.files import create_exclusive, reason, write_atomic
from journal.store.records import (
    MAX_RECORD_BYTES,
    NotARecord,
    edited_text,
    ensure_gitignore,
    parse_record,
    read_record,
    replace_record,
)
from journal.store.trash import trashed_ids
from journal.sync.merge import canonical, merge_records, same
from journal.sync.repo import Entry, Remote, Repository, SyncError
from journal.sync.travel import journal_files, kind_of, mark_behind
from journal.text import printable

ATTEMPTS = 5                        # pushes lost to other machines before giving up
READ_CHUNK_BYTES = 64 << 20         # blobs read from git at a time
LOCK_WAIT = 0.05
Warn = Callable[[str], None]


@dataclass
class Report:
    remote: str
    received_new: set[str] = field(default_factory=set)
    received_changed: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    behind: list[str] = field(default_factory=list)      # runs whose files stayed here
    crashed: list[str] = field(default_factory=list)
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
        if self.crashed:
            lines.append(f"said crashed (their wrapper died on this machine): "
                         f"{_some(self.crashed)}")
        if self.behind:
            lines.append(f"files over {byte_size(self.cap)} stayed here ([sync] max_file_bytes; "
                         f"a marker says where they are): {_some(self.behind)}")
        return lines


def _runs(count: int, what: str = "") -> str:
    return f"{count} {what + ' ' if what else ''}run{'s' if count != 1 else ''}"


def _some(ids: list[str]) -> str:
    shown = ", ".join(sorted(set(ids))[:3])
    return shown + (f" and {len(set(ids)) - 3} more" if len(set(ids)) > 3 else "")


def sync(context: Context, given: str | None, warn: Warn) -> Report:
    """Exchange the journal with the remote `given` (else the configured or usual one)."""
    root = context.worktree_root
    if root is None:
        raise SyncError("journal sync needs a git repository: runs travel through its remote",
                        hint="run it inside the repository whose runs you want to exchange")
    journal_dir = context.journal_dir
    config = load_config(journal_dir, context.environ)
    index_file = cache_path(journal_dir, context.environ).with_suffix(".sync-index")
    if not private_folder(index_file.parent):
        raise SyncError(f"the cache folder {printable(str(index_file.parent))} is not yours "
                        "alone: not using it",
                        hint="set XDG_CACHE_HOME to a folder of your own")
    repo = Repository(root, journal_dir, index_file, context.environ)
    try:
        remote = repo.remote(given, config.sync_remote)
    except GitFailed as exc:
        raise SyncError(f"cannot find the remote: {exc}") from None
    try:
        journal_dir.mkdir(parents=True, exist_ok=True)
        with _sync_lock(index_file):
            return _exchange(repo, remote, config.sync_max_bytes, context, warn)
    except GitFailed as exc:
        raise SyncError(f"cannot sync with {remote.name}: {exc}") from None
    except OSError as exc:
        raise SyncError(f"cannot sync with {remote.name}: {reason(exc)}") from None


def _exchange(repo: Repository, remote: Remote, cap: int, context: Context,
              warn: Warn) -> Report:
    report = Report(remote.name, cap=cap)
    for attempt in range(ATTEMPTS):
        repo.fetch(remote)
        fetched = repo.refs(remote).get("runs")
        theirs = _Lazy(repo, fetched[1] if fetched else None)
        local_tree = _tree_of_folder(repo, cap, theirs, report, context, warn)
        if fetched is not None and fetched[1] != local_tree and _take_in(
                repo, remote, local_tree, theirs, cap, report, warn):
            local_tree = _tree_of_folder(repo, cap, theirs, report, context, warn)
        if fetched is not None and fetched[1] == local_tree:
            return report
        report.sent = _runs_in(_changed(repo, fetched[1] if fetched else None, local_tree))
        commit = repo.commit(local_tree, [fetched[0]] if fetched else [],
                             f"journal sync from {THIS_HOST}")
        if repo.push(remote, commit):
            repo.set_ref(remote, "runs", commit)
            return report
        time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))   # let the other push finish
    raise SyncError(f"other machines kept pushing to {remote.name}; nothing was lost",
                    hint="run journal sync again")


class _Lazy:
    """The files of the remote's tree, listed when first needed (a sync where nothing is over
    the cap and nothing changed never lists them)."""

    def __init__(self, repo: Repository, tree: str | None) -> None:
        self.repo = repo
        self.tree = tree
        self._files: dict[str, Entry] | None = None
        # Files of the remote's tree that this folder does not take (over this machine's cap, a
        # record here that does not parse, a file that could not be written): they stay in the
        # tree this machine pushes as the remote has them, so that nothing leaves the remote.
        self.held: dict[str, Entry] = {}
        self.linked: list[str] = []         # this folder's top folders that are links

    @property
    def files(self) -> dict[str, Entry]:
        if self._files is None:
            self._files = self.repo.files(self.tree)
        return self._files


def _tree_of_folder(repo: Repository, cap: int, theirs: _Lazy, report: Report,
                    context: Context, warn: Warn) -> str:
    """The folder's tree, as travel.py says: a file over the cap travels as the remote has it
    (if it does), with a marker when this copy is bigger; one the remote does not have stays
    here, and its marker travels. Runs that died here are said crashed first."""
    folder = journal_files(repo.journal_dir, cap, warn)
    report.crashed += _declare_crashed(repo.journal_dir, folder.unfinished, context, warn)
    theirs.linked = folder.linked
    pinned: dict[str, Entry] = dict(theirs.held)
    for path, entry in (theirs.files.items() if folder.linked else ()):
        if path.split("/", 1)[0] in folder.linked:
            pinned[path] = entry            # what the remote has there stays as it is
    behind: list[str] = []
    for path, size in sorted(folder.over.items()):
        shared = theirs.files.get(path)
        if shared is not None and size < shared.size:
            continue                      # the remote's copy is longer: it is taken in
        if shared is not None:
            pinned[path] = shared
        if shared is None or size > shared.size:
            marker = mark_behind(repo.journal_dir, path, size, cap)
            if marker not in folder.paths:
                folder.paths.append(marker)
            behind.append(kind_of(path)[1])    # type: ignore[index]
    report.behind = behind
    paths = [path for path in folder.paths if path not in pinned]
    return repo.tree_of_folder(paths, _placeable(pinned, paths))


def _placeable(pinned: dict[str, Entry], paths: list[str]) -> dict[str, Entry]:
    """The pinned entries that fit in one tree with `paths`: none where a file would need to
    be a folder too (a crafted remote tree may hold `a.toml` and `a.toml/b.toml`)."""
    files = {*paths, *pinned}
    folders = {path[:cut] for path in files for cut in _slashes(path)}
    return {path: entry for path, entry in pinned.items()
            if path not in folders and not any(path[:cut] in files for cut in _slashes(path))}


def _slashes(path: str) -> list[int]:
    return [index for index, char in enumerate(path) if char == "/"]


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


def _declare_crashed(journal_dir: Path, unfinished: list[str], context: Context,
                     warn: Warn) -> list[str]:
    """This machine's `running` runs whose wrapper is gone are written `crashed`: another
    machine cannot tell (it sees `running` for ever), this one can. Only records that still
    hold the disk kept for their final write are looked at (a run that ended released it)."""
    from journal.store.records import amend_record, release_space

    owners = _Owners(journal_dir)
    declared = []
    for relative in unfinished:
        path = journal_dir / relative
        run_id = path.name[:-len(".toml")]
        record = read_record(path, None)
        if record is None or record.get("status") != Status.RUNNING \
                or effective_status(record) != Status.CRASHED or not owners.mine(run_id, record):
            continue

        def crashed(record: Record) -> Record | None:
            if effective_status(record) != Status.CRASHED or record.get("status") != Status.RUNNING:
                return None
            problems = [*record.get("problems", []),
                        f"its wrapper (pid {record.get('pid')}) was gone when journal sync ran "
                        f"at {context.now().isoformat(timespec='seconds')}"]
            return {**record, "status": Status.CRASHED, "problems": problems}

        try:
            amend_record(path, crashed, mask=lambda record: record)
            release_space(path)          # as the run's own final write would have
            declared.append(run_id)
        except JournalError as exc:       # a record that cannot be edited stays as it is
            warn(f"warning: run {run_id} stays `running` on record: {exc.message}")
    return declared


def _changed(repo: Repository, remote_tree: str | None, local_tree: str) -> list[str]:
    if remote_tree is None:
        out = repo.git.run("ls-tree", "-r", "--name-only", "-z", "--full-tree", local_tree)
    else:
        out = repo.git.run("diff-tree", "-r", "--name-only", "-z", "--no-renames", remote_tree,
                           local_tree)
    return [path for path in out.decode("utf-8", "surrogateescape").split("\0") if path]


def _runs_in(paths: list[str]) -> set[str]:
    return {kind[1] for kind in map(kind_of, paths) if kind is not None}


# -- taking in what the remote has -----------------------------------------------------------------

RECEIVED = ".sync-received"     # in the journal folder: ids of runs that came from elsewhere


class _Owners:
    """Whether this journal folder ran a run: its record says this host, and it did not come
    here through a sync (clones on one machine share the host name; the ids of runs received are
    kept in `.journal/.sync-received`, one a line, so that a clone never takes another clone's
    run for its own)."""

    def __init__(self, journal_dir: Path) -> None:
        self.journal_dir = journal_dir
        self.known: dict[str, bool] = {}
        try:
            self.received = set((journal_dir / RECEIVED).read_text("utf-8", "replace").split())
        except OSError:
            self.received = set()

    def mine(self, run_id: str, record: Record | None = None) -> bool:
        if run_id not in self.known:
            if record is None:
                from journal.store.paths import run_path

                record = read_record(run_path(self.journal_dir, run_id), None)
            self.known[run_id] = (record is not None and record.get("host") == THIS_HOST
                                  and run_id not in self.received)
        return self.known[run_id]

    def note_received(self, run_id: str) -> None:
        self.received.add(run_id)
        self.known[run_id] = False
        with open(self.journal_dir / RECEIVED, "a", encoding="utf-8") as handle:
            handle.write(run_id + "\n")


def _take_in(repo: Repository, remote: Remote, local_tree: str, theirs: _Lazy, cap: int,
             report: Report, warn: Warn) -> bool:
    """Write into the journal folder what the remote has and it has not (or has otherwise);
    True when the folder's tree must be made again (anything written or held).

    Nothing leaves the remote through this machine: a file of the remote's that is not taken
    here (not a journal's file, a link, over this machine's cap, a record that cannot be read
    or merged, a file that cannot be written) is named on stderr and held in the tree this
    machine pushes as the remote has it."""
    local = repo.files(local_tree)
    owners = _Owners(repo.journal_dir)
    removed = trashed_ids(repo.journal_dir)     # not brought back by a sync
    remote_runs = {shape[1] for path in theirs.files
                   if (shape := kind_of(path)) is not None and shape[0] == "record"}
    wanted: dict[str, list[tuple[str, str, str, Entry]]] = {}    # blob -> what it becomes
    odd = []
    for path, entry in sorted(theirs.files.items()):
        mine = local.get(path)
        if mine == entry:
            continue
        shape = kind_of(path)
        if shape is None or not entry.regular or path.split("/", 1)[0] in theirs.linked \
                or (shape[0] != "record" and shape[1] not in remote_runs) \
                or (shape[0] == "record" and entry.size > MAX_RECORD_BYTES):
            if path.split("/", 1)[0] not in theirs.linked:
                odd.append(path)
            if mine is None:
                theirs.held[path] = entry
        elif shape[1] in removed:
            if mine is None:
                theirs.held[path] = entry       # `journal rm` here: the remote keeps its copy
        elif shape[0] == "file" and entry.size > cap:
            theirs.held[path] = entry           # bigger than this machine takes: say so
            if not (repo.journal_dir / (path + ".behind")).exists():
                marker = Entry("", -1, _held_marker(theirs, shape[1], entry.size, cap))
                wanted.setdefault("", []).append((path + ".behind", "behind", shape[1], marker))
        elif shape[0] == "record" or mine is None or not owners.mine(shape[1]):
            wanted.setdefault(entry.blob, []).append((path, shape[0], shape[1], entry))
    if odd:
        warn(f"warning: {remote.name} has {len(odd)} file{'s' if len(odd) != 1 else ''} in its "
             f"journal that this journal does not take (not a journal's file, a link, or too "
             f"big to be a record; e.g. {printable(odd[0])!r}); kept there as they are")
    sizes = {blob: items[0][3].size for blob, items in wanted.items() if blob}
    arrived = repo.blobs(list(sizes), READ_CHUNK_BYTES, sizes)
    made = [("", b"")] if "" in wanted else []
    wrote = False
    for blob, data in (*made, *arrived):       # one chunk of blobs in memory at a time
        for path, kind, run_id, entry in wanted[blob]:
            written = _take_safely(repo.journal_dir / path, path, kind, run_id,
                                   entry.text.encode() if entry.text else data, owners, theirs,
                                   entry, warn, remote)
            if written:
                wrote = True
                (report.received_new if written == "new" and kind == "record"
                 else report.received_changed).add(run_id)
    report.received_changed -= report.received_new
    if wrote:
        ensure_gitignore(repo.journal_dir)
    return wrote or bool(theirs.held)


def _take_safely(target: Path, path: str, kind: str, run_id: str, data: bytes, owners: _Owners,
                 theirs: _Lazy, entry: Entry, warn: Warn, remote: Remote) -> str | None:
    """_take_one, with what goes wrong named on stderr and the remote's copy held."""
    try:
        written = _take_one(target, kind, run_id, data, owners, warn, remote)
    except (OSError, JournalError, ValueError, TypeError, RecursionError) as exc:
        why = exc.message if isinstance(exc, JournalError) else (
            reason(exc) if isinstance(exc, OSError) else str(exc))
        warn(f"warning: {printable(path)} from {remote.name} was not taken ({why}); "
             "kept there as it is")
        theirs.held[path] = entry
        return None
    if written is None and kind == "record" and not _merged(target, data):
        theirs.held[path] = entry               # not readable here, or not merged: theirs stays
    return written


def _merged(target: Path, data: bytes) -> bool:
    """Whether the record file here holds what the remote's copy says (taken or merged)."""
    if not target.exists():
        return False
    here = read_record(target, None)
    if here is None:
        return False
    try:
        theirs = parse_record(data)
    except NotARecord:
        return True                 # nothing of theirs to keep
    if theirs.get("id") != here.get("id"):
        return True
    merged_amendments = {canonical(item) for item in here.get("amendments", [])
                         if isinstance(item, dict)}
    return all(canonical(item) in merged_amendments for item in theirs.get("amendments", [])
               if isinstance(item, dict))


def _take_one(target: Path, kind: str, run_id: str, data: bytes, owners: _Owners, warn: Warn,
              remote: Remote) -> str | None:
    if kind == "record":
        return _take_record(target, run_id, data, owners, warn, remote)
    if kind == "behind" and target.exists() and \
            target.with_name(target.name[:-len(".behind")]).exists():
        return None                 # this machine has the file: its own marker stands
    target.parent.mkdir(parents=True, exist_ok=True)
    written = "changed" if target.exists() else "new"
    write_atomic(target, data)
    return written


def _held_marker(theirs: _Lazy, run_id: str, size: int, cap: int) -> str:
    """The marker of a file the remote has and this machine does not take (over its cap):
    where the file is (the machine that ran the run), as the machine that left it would say."""
    from journal.store.runfiles import behind_text

    host = "the remote"
    for path, entry in theirs.files.items():
        shape = kind_of(path)
        if shape == ("record", run_id):
            record = dict(theirs.repo.blobs([entry.blob], entry.size, {entry.blob: entry.size}))
            with contextlib.suppress(NotARecord):
                found = parse_record(record[entry.blob]).get("host")
                host = found if isinstance(found, str) and found else host
            break
    return behind_text(host, size, cap)


def _readable_record(path: Path) -> bool:
    return not path.exists() or read_record(path, None) is not None


def _take_record(target: Path, run_id: str, data: bytes, owners: _Owners, warn: Warn,
                 remote: Remote) -> str | None:
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
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        if not owners.mine(run_id):     # (a second file of one of ours, elsewhere in runs/)
            owners.note_received(run_id)    # before the file: a killed sync never leaves it ours
        if create_exclusive(target, data):
            return "new"
    changed: list[bool] = []

    def decide(text: str, current: Record) -> bytes | None:
        merged = merge_records(current, theirs, mine=owners.mine(run_id, current))
        if same(merged, theirs):
            result = None if text.encode("utf-8") == data else data
        elif same(merged, current):
            result = None
        else:
            from journal.store.records import record_text

            new = edited_text(target, text, current, merged)
            result = (new if new is not None else record_text(merged)).encode("utf-8")
        changed.append(result is not None)
        return result

    if not replace_record(target, decide):
        warn(f"warning: {target} is not a record this journal can read; "
             f"the copy from {remote.name} was not merged into it")
        return None
    return "changed" if changed and changed[0] else None

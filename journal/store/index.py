"""The derived index that keeps reading fast at 100,000 runs (SQLite, standard library).

Parsing TOML costs ~1 ms a record, so reading commands must not parse every record on every
call. This cache holds what list, grep and export need, and is brought up to date from the TOML
files (the only source of truth) before each use:

- It lives in `$XDG_CACHE_HOME/journal/`, keyed by the journal folder, never inside `.journal/`:
  clusters share `.journal/` over NFS, where SQLite corrupts.
- Each record folder's mtime is kept. Adding, deleting or atomically replacing a record (all our
  writers rename into context) changes its folder's mtime, so unchanged folders are not listed at
  all. A folder changed in the last seconds is not trusted yet (the mtime clock is coarse: a file
  could arrive in the same tick after the scan), as git does with racily clean index entries.
- Records handed out are checked against their file's stat (mtime, ctime, size, inode: the
  ctime catches `cp -p` and `rsync -a --inplace`, which put the mtime back), so a record edited
  in place by hand is re-read the next time it is shown. Records that did not parse are checked
  the same way on every refresh, since they are usually fixed in place. (Filters evaluated in
  SQL and grep still read the indexed copy of a good record edited in place until its folder
  changes: checking every file's stat on every call would cost more than the whole list.)
- Safe to delete at any time; a broken file is rebuilt, and when SQLite cannot be used at all
  (locked for too long, unwritable cache) readers fall back to the files.
- Several processes may refresh at once: files are parsed outside any transaction, and rows
  are written a chunk a transaction in WAL mode, so readers never wait for a rebuild.
- Memory does not grow with the runs: the files are listed, parsed (by a pool when there are
  many) and stored as a stream, a bounded number in flight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import itertools
import os
import sqlite3
import time
import weakref
import zlib
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from journal.errors import StoreError
from journal.record import (
    SCHEMA_VERSION,
    Record,
    StoredRun,
    effective_status,
    is_valid_id,
    searchable_text,
)
from journal.store.cache import cache_path, host_part, private_folder
from journal.store.filters import Filters, id_may_match
from journal.store.indexrow import (
    Job,
    compress,
    decompress,
    from_json,
    make_dictionary,
    record_from_json,
    record_of,
    row_for,
    stat_key,
)
from journal.store.indexsql import sql_for
from journal.store.pool import ordered_map
from journal.store.records import read_record

# The index's own layout (2: ctime in stat keys, `$` keys escaped in JSON; 4: a record's warnings
# kept; 6: an index on `started`; 7: the record compressed, params and metrics held once, a
# listing's summary) and the record schema it was read for: either changing rebuilds it.
INDEX_VERSION = 7 * 1000 + SCHEMA_VERSION
RACY_SECONDS = 2.0          # a folder younger than this is rescanned next time too
PARALLEL_FROM = 2000        # records to parse before using more than one process
BUSY_TIMEOUT_MS = 5000
PAGE_BYTES = 16384
WAL_PAGES = 256
CHUNK_ROWS = 2000           # rows stored a transaction while building
IN_FLIGHT = 2048            # records being parsed at once by the workers
PROGRESS_FROM = 10000       # records a build stores before it shows its progress
DATABASE_SUFFIXES = ("", "-wal", "-shm")    # one index's files: SQLite's own and its log's

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS folders (path TEXT PRIMARY KEY, mtime_ns INTEGER);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    stat INTEGER NOT NULL,     -- hash of the mtime, ctime, size and inode it was read at
    started REAL,              -- unix time, for --since/--until
    status TEXT,
    warnings TEXT,             -- what reading the file warned (another schema, odd fields), or NULL
    tags TEXT,                 -- JSON array
    metrics TEXT,              -- JSON object (--where, a listing's headline metrics)
    summary TEXT NOT NULL,     -- JSON: what a one-line listing reads besides the above
    body BLOB NOT NULL         -- compressed: the record's JSON, NUL, the lines grep reads
);
CREATE INDEX IF NOT EXISTS runs_folder ON runs (folder);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE TABLE IF NOT EXISTS bad (path TEXT PRIMARY KEY, folder TEXT NOT NULL, stat INTEGER NOT NULL,
                                reason TEXT NOT NULL);
"""


def open_index(journal_dir: Path, warn: Callable[[str], None], environ: Mapping[str, str]
               ) -> Index | None:
    """The refreshed index, or None when the files must be read directly."""
    if not (journal_dir / "runs").is_dir():
        return None
    path = cache_path(journal_dir, environ)
    if not private_folder(path.parent):
        return None              # another user's folder: the files are read, not their index
    for attempt in range(2):
        try:
            index = Index(path, journal_dir, warn)
            index.refresh()
            return index
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc) or attempt:
                return None      # readers fall back to the files: slower, still right
            _remove_database(path)
        except (sqlite3.DatabaseError, OSError, ValueError, zlib.error):
            if attempt:
                return None
            _remove_database(path)   # derived data: a broken index is rebuilt, nothing is lost
    return None


def _remove_database(path: Path) -> None:
    for suffix in DATABASE_SUFFIXES:
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass


def _parse_all(jobs: Iterator[Job], dictionary: bytes
               ) -> Generator[tuple[Any, ...], None, None]:
    """The rows of `jobs` as they are parsed, in order, holding at most IN_FLIGHT at a time:
    a million records are never all in memory, and a scan still under way feeds the workers."""
    # The dictionary goes with each batch (4 KB for 64 records), not in a global: two threads
    # may build two indexes, each parsing here.
    return ordered_map(functools.partial(row_for, dictionary=dictionary), jobs,
                       in_flight=IN_FLIGHT, parallel_from=PARALLEL_FROM, chunksize=64)


class _Scan:
    """What a refresh found besides the files to parse: filled in as the scan goes."""

    def __init__(self) -> None:
        self.folders: dict[str, int | None] = {}   # to store: mtime, -1 (racy), None (gone)
        self.gone_runs: list[tuple[str, str]] = []  # (id, folder) of rows whose file is gone
        # (path, stat) of rows of unparsable files gone or changed: a changed file parsed
        # again and still bad is stored anew with its new stat, which this must not delete.
        self.gone_bad: list[tuple[str, int]] = []
        self.scanned: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.folders or self.gone_runs or self.gone_bad)


class Index:
    def __init__(self, path: Path, journal_dir: Path, warn: Callable[[str], None]) -> None:
        self.path = path
        self.journal_dir = journal_dir
        self.runs_dir = journal_dir / "runs"
        self.warn = warn
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        # A connection sits in a reference cycle (its statement cache), so only the cyclic GC
        # would close it, keeping its file locks meanwhile: close it when this Index goes.
        self.close = weakref.finalize(self, self.db.close)
        self.dictionary: bytes | None = None
        try:
            self._open(journal_dir)
        except BaseException:
            self.close()
            raise

    def _open(self, journal_dir: Path) -> None:
        # Larger pages (set before the first table, which fixes them): rows of ~1.3 KB waste
        # a fifth of 4 KB pages, a few percent of 16 KB ones.
        self.db.execute(f"PRAGMA page_size={PAGE_BYTES}")
        self.db.execute("PRAGMA journal_mode=WAL")
        # The write-ahead log is folded in every few MB and cut back to that size, not left
        # at a thousand pages.
        self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        self.db.execute(f"PRAGMA journal_size_limit={WAL_PAGES * PAGE_BYTES}")
        self.db.execute("PRAGMA synchronous=NORMAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, INDEX_VERSION):
            raise sqlite3.DatabaseError("index written by another version")
        if version == 0:
            self.db.executescript(_DDL)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('journal_dir', ?)",
                            (os.path.realpath(journal_dir),))
            self.db.execute(f"PRAGMA user_version={INDEX_VERSION}")
        row = self.db.execute("SELECT value FROM meta WHERE key = 'journal_dir'").fetchone()
        if row is None or row[0] != os.path.realpath(journal_dir):
            raise sqlite3.DatabaseError("index of another journal folder")
        self.dictionary = self._stored_dictionary(self.db)

    @staticmethod
    def _stored_dictionary(db: sqlite3.Connection) -> bytes | None:
        row = db.execute("SELECT value FROM meta WHERE key = 'dictionary'").fetchone()
        return None if row is None else bytes(row[0])

    # -- keeping up with the files ------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the index up to date with the record files; warn about records that do not parse.
        The files are listed, parsed and stored as a stream, a chunk of rows a transaction: the
        memory used does not grow with the number of runs, other readers are held up for one
        chunk at most, and a build stopped half way keeps what it stored."""
        scan = _Scan()
        reader = _read_only(self.path)
        try:
            # The scan runs in the pool's feeding thread while this one writes: it reads
            # through a connection of its own.
            jobs = self._jobs(reader, scan)
            first = next(jobs, None)
            if first is None and not scan:
                self._warn_bad()
                return
            jobs = itertools.chain([] if first is None else [first], jobs)
            dictionary = self.dictionary or self._first_dictionary(first)
            rows = _parse_all(jobs, dictionary)
            try:
                self._store(rows, dictionary, scan)
            finally:
                rows.close()     # the pool stopped, its feeding thread done with `reader`
        finally:
            reader.close()
        self._warn_bad()

    def _first_dictionary(self, first: Job | None) -> bytes:
        record = None if first is None else read_record(Path(first[1]), lambda _: None)
        try:
            return make_dictionary(record) if record is not None else b"{}"
        except (TypeError, ValueError, OverflowError):
            return b"{}"

    def _jobs(self, db: sqlite3.Connection, scan: _Scan) -> Iterator[Job]:
        """The record files that need parsing, folder by folder, as the folders are listed."""
        scan_started = time.time()
        known = dict(db.execute("SELECT path, mtime_ns FROM folders"))
        pending = [""]            # folders relative to runs/, "" is runs/ itself
        seen: set[str] = set()
        for folder in list(known):
            if folder not in pending:
                pending.append(folder)
        while pending:
            folder = pending.pop()
            if folder in seen:
                continue
            seen.add(folder)
            full = self.runs_dir / folder if folder else self.runs_dir
            try:
                mtime = full.stat().st_mtime_ns
            except OSError:
                scan.folders[folder] = None     # gone: forget its rows
                continue
            if known.get(folder) == mtime:
                continue
            trusted = mtime if scan_started - mtime / 1e9 > RACY_SECONDS else -1
            if known.get(folder) != trusted:   # a racy folder stays -1: nothing to write for it
                scan.folders[folder] = trusted
            scan.scanned.add(folder)
            subfolders = yield from self._scan_folder(db, folder, full, scan)
            pending += [sub for sub in subfolders if sub not in seen]
        # A record that did not parse is usually fixed in place, which leaves its folder's mtime
        # alone: look at those few files themselves.
        # A second copy of a run whose home copy went is the run's record now: look again.
        gone_ids = {run_id for run_id, _ in scan.gone_runs}
        for path, folder, stat in list(db.execute("SELECT path, folder, stat FROM bad")):
            run_id = Path(path).name[:-5]
            scanned = folder in scan.scanned or folder in scan.folders
            if (scanned and run_id not in gone_ids) or scan.folders.get(folder, 0) is None:
                continue                           # scanned above, or gone
            try:
                current = stat_key(os.stat(path))
            except OSError:
                if not scanned:
                    scan.gone_bad.append((path, stat))
                continue
            if current != stat and scanned:
                continue                           # changed: parsed by its folder's scan
            if current != stat or run_id in gone_ids:
                scan.gone_bad.append((path, stat))  # parsed again: stored as ok or bad anew
                yield (run_id, path, folder, current)

    def _scan_folder(self, db: sqlite3.Connection, folder: str, full: Path, scan: _Scan
                     ) -> Generator[Job, None, list[str]]:
        """The files of one folder that need parsing; returns its subfolders. Rows of files no
        longer there go in `scan`."""
        stored = dict(db.execute("SELECT id, stat FROM runs WHERE folder = ?", (folder,)))
        stored_bad = dict(db.execute("SELECT path, stat FROM bad WHERE folder = ?", (folder,)))
        subfolders: list[str] = []
        present: set[str] = set()
        present_bad: set[str] = set()
        for entry in _entries(full):
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(f"{folder}/{name}" if folder else name)
                continue
            if not name.endswith(".toml") or not is_valid_id(name[:-5]):
                continue
            run_id = name[:-5]
            try:
                stat = stat_key(entry.stat())
            except OSError:
                continue
            if stored_bad.get(entry.path) == stat:
                present_bad.add(entry.path)
                continue
            present.add(run_id)
            if stored.get(run_id) != stat:
                yield (run_id, entry.path, folder, stat)
        scan.gone_runs += [(run_id, folder) for run_id in stored if run_id not in present]
        scan.gone_bad += [(path, stat) for path, stat in stored_bad.items()
                          if path not in present_bad]
        return subfolders

    def _store(self, rows: Iterator[tuple[Any, ...]], dictionary: bytes, scan: _Scan) -> None:
        """Rows compressed with `dictionary`, a chunk a transaction, then what the scan found."""
        stored = 0
        for chunk in _chunks(rows, CHUNK_ROWS):
            self._write(lambda db: self._store_rows(db, chunk, dictionary))
            stored += len(chunk)
            _progress(stored)
        if stored >= PROGRESS_FROM:
            _progress(0)
        # Last, once every row is in: a folder marked up to date is never listed again.
        self._write(lambda db: self._store_scan(db, scan))

    def _store_rows(self, db: sqlite3.Connection, rows: list[tuple[Any, ...]], used: bytes
                    ) -> None:
        stored = self._stored_dictionary(db)
        if stored is None:
            db.execute("INSERT INTO meta VALUES ('dictionary', ?)", (used,))
            stored = used
        self.dictionary = stored
        ok = [row[1:] for row in rows if row[0] == "ok"]
        if used != stored:       # another process chose first, for a new index: seldom
            ok = [(*row[:-1], compress(decompress(row[-1], used).encode(), stored))
                  for row in ok]
        bad = [row[1:] for row in rows if row[0] == "bad"]
        db.executemany("DELETE FROM runs WHERE id = ? AND folder = ?",
                       ((Path(path).name[:-5], folder) for path, folder, *_ in bad))
        db.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)", ok)
        db.executemany("INSERT OR REPLACE INTO bad VALUES (?,?,?,?)", bad)

    @staticmethod
    def _store_scan(db: sqlite3.Connection, scan: _Scan) -> None:
        db.executemany("DELETE FROM runs WHERE id = ? AND folder = ?", scan.gone_runs)
        db.executemany("DELETE FROM bad WHERE path = ? AND stat = ?", scan.gone_bad)
        for folder, mtime in scan.folders.items():
            if mtime is None:
                db.execute("DELETE FROM folders WHERE path = ?", (folder,))
                db.execute("DELETE FROM runs WHERE folder = ?", (folder,))
                db.execute("DELETE FROM bad WHERE folder = ?", (folder,))
            else:       # -1: changed too recently to trust; scanned again next time
                db.execute("INSERT OR REPLACE INTO folders VALUES (?, ?)", (folder, mtime))

    def _write(self, change: Callable[[sqlite3.Connection], None]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            change(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _warn_bad(self) -> None:
        for path, reason in self.db.execute("SELECT path, reason FROM bad ORDER BY path"):
            self.warn(reason if reason.startswith("warning:") else f"warning: skipped {path}: {reason}")

    # -- answering ----------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Every id, records that do not parse included: `@` must not silently skip a broken
        newest run and act on the one before it."""
        ids = [row[0] for row in self.db.execute("SELECT id FROM runs ORDER BY id")]
        bad = self._bad_ids()
        return sorted(set(ids).union(bad)) if bad else ids

    def newest_ids(self, count: int) -> list[str]:
        ids = [row[0] for row in self.db.execute(
            "SELECT id FROM runs ORDER BY id DESC LIMIT ?", (count,))][::-1]
        bad = self._bad_ids()
        return sorted(set(ids).union(bad))[-count:] if bad else ids

    def ids_with_prefix(self, prefix: str) -> list[str]:
        # A range, not LIKE: ids may hold `_`, which LIKE reads as a wildcard.
        ids = [row[0] for row in self.db.execute(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id", (prefix, prefix + "\U0010ffff"))]
        bad = [run_id for run_id in self._bad_ids() if run_id.startswith(prefix)]
        return sorted(set(ids).union(bad)) if bad else ids

    def _bad_ids(self) -> list[str]:
        return [Path(row[0]).name[:-5] for row in self.db.execute("SELECT path FROM bad")]

    def get(self, run_id: str) -> StoredRun | None:
        row = self.db.execute(f"SELECT {_FULL} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else self._run(*row)

    @contextlib.contextmanager
    def guarded(self) -> Iterator[None]:
        """Around a query: SQLite finding the file damaged (it reads pages as it needs them, so
        a refresh may not notice) removes it, with one line to say so, not a traceback."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            self.close()
            _remove_database(self.path)
            raise StoreError(f"the index cache {self.path} is damaged ({exc}); it was removed",
                             hint="run the command again: the next one builds it anew") from None

    def _fresh(self, run_id: str, folder: str, stat: int) -> tuple[str, bool | None]:
        """The run's file, and whether the indexed row still says what it says (None: gone)."""
        # One string, not Path joins: they cost more than the stat, for a million rows.
        path = f"{self.runs_dir}{os.sep}{folder}{os.sep}{run_id}.toml"
        try:
            return path, stat_key(os.stat(path)) == stat
        except (OSError, ValueError):     # ValueError: a damaged row's NUL in the path
            return path, None

    def _run(self, run_id: str, folder: str, stat: int, warnings: str | None, metrics: str,
             body: bytes) -> StoredRun | None:
        """The run, re-read from its file when the file changed since it was indexed."""
        path, fresh = self._fresh(run_id, folder, stat)
        if fresh is None:
            return None
        if fresh:
            try:
                record = record_of(self._body(body), metrics)
            except (zlib.error, ValueError, TypeError):
                pass        # a damaged row: the file says the same (and warns as it does)
            else:
                self._say(warnings)
                return StoredRun(run_id, path, record)
        from_file = read_record(Path(path), self.warn)
        return None if from_file is None else StoredRun(run_id, path, from_file)

    def iter_select(self, filters: Filters, newest_first: bool, *, summaries: bool = False
                    ) -> Iterator[StoredRun]:
        """The runs `filters` keep, one at a time as SQLite steps through its rows: a reader
        that prints them as they come holds one record, whatever the number of runs. With
        `summaries` (and no --where, which may read any field), each record is only what a
        one-line listing reads (`summary_of`, with its status, start, tags and metrics): the
        whole record is neither decompressed nor decoded."""
        where, args = sql_for(filters)
        order = "DESC" if newest_first else "ASC"
        if summaries and not filters.where:
            query = f"SELECT {_SUMMARY} FROM runs {where} ORDER BY id {order}"
            for row in self.db.execute(query, args):
                if id_may_match(row[0], filters):
                    run = self._summary_run(bool(filters.tags), *row)
                    if run is not None and filters.matches(run.record, run.status):
                        yield run
            return
        for row in self.db.execute(f"SELECT {_FULL} FROM runs {where} ORDER BY id {order}", args):
            if not id_may_match(row[0], filters):
                continue
            run = self._run(*row)
            if run is not None and filters.matches(run.record, effective_status(run.record)):
                yield run

    def _summary_run(self, with_tags: bool, run_id: str, folder: str, stat: int,
                     warnings: str | None, status: str, started: float | None, tags: str,
                     metrics: str, summary: str) -> StoredRun | None:
        path, fresh = self._fresh(run_id, folder, stat)
        if fresh is None:
            return None
        if not fresh:
            record = read_record(Path(path), self.warn)
            return None if record is None else StoredRun(run_id, Path(path), record)
        try:
            record = record_from_json(summary)
            if status is not None:
                record["status"] = status
            if started is not None:
                record["started"] = dt.datetime.fromtimestamp(started, dt.timezone.utc)
            if with_tags:
                record["tags"] = from_json(tags)
            record["metrics"] = from_json(metrics)
        except (ValueError, OverflowError, OSError, TypeError):
            # A damaged row, or a start a timestamp cannot give back (year 1 at +01:00).
            whole = read_record(Path(path), self.warn)
            return None if whole is None else StoredRun(run_id, path, whole)
        self._say(warnings)
        return StoredRun(run_id, path, record)

    def id_ranges(self, filters: Filters, size: int) -> list[tuple[str, str]]:
        """(newest, oldest) id of each `size` runs in a row that pass a cheap superset of
        `filters`, newest first: pieces of work for workers, each a range SQLite finds at once
        (a million runs make a thousand ranges)."""
        where, args = sql_for(filters)
        rows = self.db.execute(f"SELECT id FROM runs {where} ORDER BY id DESC", args)
        ranges = []
        while chunk := rows.fetchmany(size):
            ranges.append((chunk[0][0], chunk[-1][0]))
        return ranges

    def reconnect_in_worker(self) -> None:
        """In a forked worker: a read-only connection of its own. A SQLite connection must not
        be used on both sides of a fork; the parent's is left alone (never closed here)."""
        self.db = _read_only(self.path)

    def search_rows(self, filters: Filters, containing: Sequence[str], fold_case: bool,
                    between: tuple[str, str] | None = None
                    ) -> Iterator[tuple[str, str, Callable[[], Record]]]:
        """(id, grep's text, the record when asked) of runs passing a cheap superset of
        `filters`, newest first, within `between` (newest, oldest id) if given; with
        `containing`, only rows whose text holds one of those strings (with `fold_case`, the
        first compared in lower case). A record of another schema, or with fields of the wrong
        kind, is warned about here, as `get` does."""
        where, args = sql_for(filters)
        if between is not None:
            where = f"{where} AND id BETWEEN ? AND ?" if where else "WHERE id BETWEEN ? AND ?"
            args += [between[1], between[0]]
        first, *others = containing or [""]
        if fold_case:
            first = first.lower()
        query = (f"SELECT id, folder, status, warnings, metrics, body FROM runs {where} "
                 "ORDER BY id DESC")
        for run_id, folder, status, warnings, metrics, body in self.db.execute(query, args):
            try:
                payload = self._body(body)
                text = payload[payload.index("\0") + 1:]
            except (zlib.error, ValueError, TypeError):     # a damaged row: read the file
                record = read_record(self._path(run_id, folder), self.warn)
                if record is None:
                    continue
                text, whole = searchable_text(record), functools.partial(_same, record)
                warnings = None                   # read_record said them
            else:
                whole = functools.partial(self._whole, payload, metrics, run_id, folder)
            # A `running` run may be shown `crashed` (its wrapper gone), which its text does
            # not say: a candidate whatever it holds.
            if containing and status != "running" \
                    and first not in (text.lower() if fold_case else text) \
                    and not any(other in text for other in others):
                continue
            self._say(warnings)
            yield run_id, text, whole

    def _body(self, body: bytes) -> str:
        if self.dictionary is None:     # stored by another process since this one opened it
            self.dictionary = self._stored_dictionary(self.db)
        return decompress(body, self.dictionary or b"")

    def _whole(self, payload: str, metrics: str, run_id: str, folder: str) -> Record:
        try:
            return record_of(payload, metrics)
        except ValueError:
            return read_record(self._path(run_id, folder), self.warn) or {}

    def _path(self, run_id: str, folder: str) -> Path:
        # Made only when needed: a Path costs more than decompressing the row (grep, 1M rows).
        return Path(self.runs_dir, folder, f"{run_id}.toml")

    def _say(self, warnings: str | None) -> None:
        for line in (warnings or "").split("\n"):
            if line:
                self.warn(line)


_FULL = "id, folder, stat, warnings, metrics, body"
_SUMMARY = "id, folder, stat, warnings, status, started, tags, metrics, summary"


@dataclasses.dataclass
class CachedIndex:
    path: Path
    journal_dir: str | None         # None: the file cannot be read as an index
    size: int                       # bytes, with its write-ahead log

    @property
    def orphaned(self) -> bool:
        """It is this machine's index of a journal folder that is gone: nothing will read it
        again. A file that is no index is never taken for one (it is only listed)."""
        return self.journal_dir is not None and not os.path.isdir(self.journal_dir)


def cached_indexes(environ: Mapping[str, str]) -> list[CachedIndex]:
    """This machine's index files in the cache folder, each with the journal folder it
    indexes (other machines that share the home keep theirs, named after their host)."""
    folder = cache_path(Path("/"), environ).parent
    found = []
    for path in sorted(folder.glob(f"*-{host_part()}-*.sqlite3")):
        if path.is_symlink():
            continue
        try:
            db = _read_only(path)
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'journal_dir'").fetchone()
            finally:
                db.close()
            journal_dir = None if row is None else str(row[0])
        except sqlite3.Error:
            journal_dir = None
        # Ours only if this machine would have named it so for that folder: another host's
        # name may end the same (`vm` and `vm-2`), and a name proves nothing by itself.
        if journal_dir is not None and cache_path(Path(journal_dir), environ) != path:
            continue
        found.append(CachedIndex(path, journal_dir, _database_size(path)))
    return found


def _database_size(path: Path) -> int:
    """The file's bytes with its write-ahead log; a part removed meanwhile counts nothing."""
    size = 0
    for suffix in DATABASE_SUFFIXES:
        try:
            size += os.stat(f"{path}{suffix}").st_size
        except OSError:
            pass
    return size


def remove_index(cached: CachedIndex) -> bool:
    """An index file of a journal folder that is gone (derived data: nothing is lost); whether
    it is gone now."""
    _remove_database(cached.path)
    return not os.path.lexists(cached.path)


def _read_only(path: Path) -> sqlite3.Connection:
    # Read-only, and by the file's URI: it can neither create an index nor write one.
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                           timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)


def _progress(stored: int) -> None:
    """A line on a terminal while a large build goes (a million runs take minutes): without
    it the first `journal list` looks hung. 0 clears it."""
    import sys

    if (stored and stored < PROGRESS_FROM) or not sys.stderr.isatty():
        return
    line = f"journal: indexing the records, {stored:,} so far ..." if stored else ""
    sys.stderr.write(f"\r\x1b[K{line}")
    sys.stderr.flush()


def _same(record: Record) -> Record:
    return record


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            yield from entries
    except OSError:
        return


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk

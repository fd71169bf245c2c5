"""The derived index: same answers as the files, kept right when records are added, amended,
deleted, copied in from elsewhere or edited by hand; rebuilt when deleted or broken; bypassed
when unusable; outside `.journal/`.

The index trusts a folder's mtime only once it is RACY_SECONDS old, so tests never sleep: they
age folders with os.utime, which is also what rsync -a and cp -p do to them."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from conftest import git, journal, records
from readkit import Result, both, cli, drain, ids_listed, now, record_path, write_run

import journal.store.index as journal_index
from journal.record import SCHEMA_VERSION
from journal.store import indexrow
from journal.store.cache import cache_path
from journal.store.files import write_atomic
from journal.store.source import RunSource
from journal.store.toml import dumps

YEAR = 365 * 86400


def age(path: Path, seconds: float = 3600) -> None:
    """Make `path` look untouched for `seconds`, as time passing would."""
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def age_folders(journal_dir: Path, seconds: float = 3600) -> None:
    for folder in [journal_dir / "runs", *(p for p in (journal_dir / "runs").rglob("*") if p.is_dir())]:
        age(folder, seconds)


def notes(result_out: str) -> list[str]:
    return [json.loads(line)["note"] for line in result_out.splitlines()]


def cache_file(journal_dir: Path) -> Path:
    path = cache_path(journal_dir, os.environ)
    assert path.parent == Path(os.environ["XDG_CACHE_HOME"]) / "journal"
    return path


def rewrite(path: Path, **changes: object) -> None:
    """A record rewritten atomically (a new file renamed over it), as journal's writers do."""
    record = tomllib.loads(path.read_text())
    record.update(changes)
    write_atomic(path, dumps(record).encode())


def mixed_journal(jd: Path, count: int = 60) -> list[str]:
    """Runs over three months with params, metrics, tags, statuses and notes that vary."""
    start = now() - dt.timedelta(days=70)
    ids = []
    for n in range(count):
        ids.append(write_run(
            jd, start + dt.timedelta(days=n * 70 / count, minutes=n),
            note=f"run {n}: {'adam' if n % 3 else 'sgd'} sweep\nline two {n}",
            tags=["sweep"] + (["best"] if n % 7 == 0 else []),
            status=("finished", "failed", "killed")[n % 3 if n % 5 == 0 else 0],
            params={"lr": 10.0 ** -(n % 4), "opt": "adam" if n % 3 else "sgd", "depth": n % 5},
            metrics={"acc": round(0.5 + (n % 10) / 20, 3), "loss": 1.0 / (n + 1)}
            if n % 11 else {"acc": float("nan")},
        ))
    return ids


# -- same answers ------------------------------------------------------------------------------

def test_results_identical_with_and_without_index(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd)
    assert len({path.parent for path in (jd / "runs").rglob("*.toml")}) >= 3
    assert ids_listed(both("list", "-n", "0", cwd=tmp_path)) == ids[::-1]
    for args in (["list"], ["list", "--json", "-n", "0"], ["list", "--csv", "-n", "0"],
                 ["list", "--where", "acc>0.8"], ["list", "--where", "opt=sgd", "-n", "5"],
                 ["list", "--where", "params.lr<=0.01", "--where", "depth!=2"],
                 ["list", "--sort", "-loss", "-n", "7"], ["list", "--tag", "best"],
                 ["list", "--status", "failed"], ["list", "--since", "30d", "--until", "10d"],
                 ["list", "--where", "note~^run 1"],
                 ["grep", "sweep"], ["grep", "-l", "-F", "line two 4"], ["grep", "-i", "SGD"],
                 ["grep", "--json", "acc = nan"], ["grep", "-F", "acc = 0.9", "--where", "depth=1"]):
        result = both(*args, cwd=tmp_path)
        assert result.err == "" and (result.out or args[0] == "grep"), args
    assert cache_file(jd).is_file()


def test_records_round_trip_through_the_index_unchanged(tmp_path: Path) -> None:
    """Datetimes, dates, times, nan, inf and keys that look like the index's own tags."""
    jd = tmp_path / ".journal"
    run_id = write_run(jd, params={
        "$float": "1.5", "$datetime": "not a date", "$$x": 1,
        "nested": {"$date": "2026-13-45"}, "list": [float("inf"), {"$time": "x"}],
    }, metrics={"nan": float("nan"), "inf": float("-inf")})
    path = record_path(jd, run_id)
    path.write_text(path.read_text().replace("[params]\n", (
        "[params]\nwhen = 2026-01-02\nat = 03:04:05.5\nlocal = 2026-01-02T03:04:05\n"
        'tagged = { "$float" = "inf" }\n')))
    from_file = tomllib.loads(path.read_text())
    assert from_file["params"]["at"] == dt.time(3, 4, 5, 500000)
    from_file["schema"] = SCHEMA_VERSION            # an older schema is upgraded as it is read
    source = RunSource(jd, print, environ=os.environ)
    assert source.index is not None
    from_index = source.get(run_id).record
    assert repr(from_index) == repr(from_file)
    assert repr(source.select()[0].record) == repr(from_file)
    assert both("list", "--json", cwd=tmp_path).out


def test_first_build_in_parallel(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    start = now() - dt.timedelta(days=300)
    ids = [write_run(jd, start + dt.timedelta(days=n), metrics={"acc": n % 100},
                     note=f"number {n}") for n in range(300)]
    record_path(jd, ids[150]).write_text("this is = not [toml")
    # The pool path, at a test's size, in a process of its own: as a command runs it, with one
    # thread (a fork in the test runner, whose other tests leave threads and locks, may hang).
    done = subprocess.run(
        [sys.executable, "-c", "import journal.store.index as index; index.PARALLEL_FROM = 100\n"
         "from journal.cli.main import main; main(['list', '-n', '0', '--where', 'acc>=97'])"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    wanted = [run_id for n, run_id in enumerate(ids) if n % 100 >= 97 and n != 150]
    assert ids_listed(Result(done.returncode, done.stdout, done.stderr)) == wanted[::-1]
    assert done.stderr.count("warning: skipped") == 1 and ids[150] in done.stderr
    assert cli("grep", "-l", "^number 29$", cwd=tmp_path).lines == [ids[29]]
    assert ids_listed(cli("list", "-n", "0", cwd=tmp_path)) == [i for i in ids[::-1] if i != ids[150]]


# -- keeping up with the files ---------------------------------------------------------------------

@pytest.mark.parametrize("aged", [False, True], ids=["recent-folders", "old-folders"])
def test_added_amended_deleted(tmp_path: Path, aged: bool) -> None:
    jd = tmp_path / ".journal"
    first = write_run(jd, now() - dt.timedelta(hours=3), note="first", metrics={"acc": 0.1})
    second = write_run(jd, now() - dt.timedelta(hours=2), note="second")

    def settle() -> None:
        if aged:
            age_folders(jd)

    settle()
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["second", "first"]
    third = write_run(jd, now() - dt.timedelta(hours=1), note="third")
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["third", "second", "first"]
    settle()
    rewrite(record_path(jd, first), note="first, amended", metrics={"acc": 0.9})
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["third", "second", "first, amended"]
    assert ids_listed(cli("list", "--where", "acc>0.5", cwd=tmp_path)) == [first]
    assert cli("grep", "-l", "amended", cwd=tmp_path).lines == [first]
    assert cli("grep", "-l", "-F", "first", "--no-logs", "--where", "acc<0.5",
               cwd=tmp_path).code == 1
    settle()
    record_path(jd, second).unlink()
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["third", "first, amended"]
    assert cli("grep", "second", cwd=tmp_path).code == 1
    assert cli("show", second, cwd=tmp_path).code == 2
    settle()
    record_path(jd, third).unlink()
    assert ids_listed(both("list", cwd=tmp_path)) == [first]


def test_files_copied_in_with_old_mtimes(tmp_path: Path) -> None:
    """As `git pull`, `rsync -a` or `cp -p` from another machine bring them: new files with old
    mtimes, into a month folder the index knows and into a new one, folders' mtimes set back."""
    jd = tmp_path / "here" / ".journal"
    there = tmp_path / "there" / ".journal"
    this_month = now() - dt.timedelta(hours=5)
    local_run = write_run(jd, this_month, note="made here")
    age_folders(jd, 2 * YEAR)
    assert ids_listed(cli("list", cwd=jd.parent)) == [local_run]

    same_folder = write_run(there, this_month + dt.timedelta(minutes=1), note="from there")
    other_folder = write_run(there, now() - dt.timedelta(days=400), note="last year, from there")
    for run_id in (same_folder, other_folder):
        source = record_path(there, run_id)
        age(source, YEAR)
        target = jd / source.relative_to(there)
        target.parent.mkdir(exist_ok=True)
        shutil.copy2(source, target)                       # keeps the old mtime
        age(target.parent, YEAR)                           # rsync -a sets folders' mtimes too
    age(jd / "runs", YEAR)
    assert ids_listed(both("list", cwd=jd.parent)) == [same_folder, local_run, other_folder]
    assert cli("grep", "-l", "there", cwd=jd.parent).lines == [same_folder, other_folder]


def test_a_record_replaced_in_place_keeping_size_and_mtime(tmp_path: Path) -> None:
    """cp -p / rsync --inplace over an existing record: same inode, same size, same mtime; only
    the ctime (which nobody can set) tells."""
    jd = tmp_path / ".journal"
    run_id = write_run(jd, note="status is good", metrics={"acc": 0.1})
    path = record_path(jd, run_id)
    age(path, YEAR)
    age_folders(jd, YEAR)
    before = path.stat()
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["status is good"]
    text = path.read_text()
    with open(path, "r+") as handle:                     # the same inode, rewritten
        handle.write(text.replace("status is good", "status is BAD!").replace("acc = 0.1", "acc = 0.9"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size,
                                                                before.st_mtime_ns)
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["status is BAD!"]
    source = RunSource(jd, print, environ=os.environ)
    assert source.index is not None
    assert source.resolve("@").record["note"] == "status is BAD!"
    assert source.get(run_id).record["metrics"] == {"acc": 0.9}


def test_a_record_edited_in_place_is_shown_right(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    run_id = write_run(jd, note="original")
    age_folders(jd)
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["original"]
    path = record_path(jd, run_id)
    inode = path.stat().st_ino
    with open(path, "a") as handle:                      # appended in place, by hand
        handle.write('\n[extra]\nreviewed = "yes"\n')
    path.write_text(path.read_text().replace('note = "original"', 'note = "edited by hand"'))
    assert path.stat().st_ino == inode
    source = RunSource(jd, print, environ=os.environ)
    assert source.index is not None
    run = source.resolve(run_id[:20])
    assert run.record["note"] == "edited by hand" and run.record["extra"] == {"reviewed": "yes"}
    assert notes(cli("list", "--json", cwd=tmp_path).out) == ["edited by hand"]


def test_a_record_that_does_not_parse_is_skipped_then_comes_back(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    good = write_run(jd, now() - dt.timedelta(hours=2), note="good")
    bad = write_run(jd, now() - dt.timedelta(hours=1), note="bad soon")
    path = record_path(jd, bad)
    text = path.read_text()
    path.write_text(text.replace('note = "bad soon"', 'note = "unterminated'))
    for env in ({}, {"JOURNAL_NO_INDEX": "1"}):
        result = cli("list", cwd=tmp_path, env=env)
        assert result.code == 0 and ids_listed(result) == [good]
        assert result.err.startswith(f"journal: warning: skipped {path}: not a valid record ("), env
        assert len(result.err.splitlines()) == 1
        grep = cli("grep", "-l", "good", cwd=tmp_path, env=env)
        assert grep.lines == [good] and str(path) in grep.err
    # Fixed by hand, in place: the folder's mtime does not move.
    age_folders(jd)
    assert ids_listed(cli("list", cwd=tmp_path)) == [good]        # the index trusts the folder now
    folder_mtime = path.parent.stat().st_mtime_ns
    with open(path, "r+") as handle:
        handle.write(text.replace("bad soon", "fixed   "))
        handle.truncate()
    assert path.parent.stat().st_mtime_ns == folder_mtime
    result = both("list", cwd=tmp_path)
    assert ids_listed(result) == [bad, good] and result.err == ""
    assert cli("grep", "-l", "fixed", cwd=tmp_path).lines == [bad]


def test_a_record_with_wrong_types_does_not_break_reading(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    odd = write_run(jd, tags=7, problems=1, amendments=[1, "x"], note=3, git="main",
                    params=[1, 2], metrics="acc=1", status=["x"], duration="long")
    path = record_path(jd, odd)
    lines = [line if not line.startswith("started =") else 'started = "yesterday"'
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    fine = write_run(jd, now() - dt.timedelta(days=1), note="fine")
    result = both("list", cwd=tmp_path)
    assert ids_listed(result) == [odd, fine]
    # One warning naming the file and each field of a kind no reader expects.
    assert result.err == (f"journal: warning: {path}: fields of the wrong kind: "
                          "git (not a table), params (not a table), metrics (not a table), "
                          "tags (not a list), problems (not a list), note (not text), "
                          "status (not text), started (not a time), "
                          "duration (not a number of seconds)\n")
    for args in (["list", "--json"], ["list", "--csv"], ["list", "--tag", "7"],
                 ["list", "--sort", "acc"], ["list", "--where", "acc>1"], ["grep", "."],
                 ["list", "--since", "1w"]):
        assert "Traceback" not in both(*args, cwd=tmp_path).err


def test_racy_folders_are_scanned_again(tmp_path: Path) -> None:
    """A file that lands in a folder within the mtime's resolution of the index's scan leaves
    the folder's mtime as the scan saw it: a folder changed in the last RACY_SECONDS is not
    trusted, so the next call looks again."""
    jd = tmp_path / ".journal"
    first = write_run(jd, note="first")
    folder = record_path(jd, first).parent
    assert ids_listed(cli("list", cwd=tmp_path)) == [first]      # the folder was just changed
    seen = folder.stat()
    second = write_run(jd, now() + dt.timedelta(seconds=1), note="second")
    os.utime(folder, ns=(seen.st_atime_ns, seen.st_mtime_ns))   # as if in the same tick
    assert ids_listed(cli("list", cwd=tmp_path)) == [second, first]
    # A folder whose mtime is in the future (another machine's clock) is never trusted either.
    future = time.time() + 3600
    os.utime(folder, (future, future))
    assert ids_listed(cli("list", cwd=tmp_path)) == [second, first]
    third = write_run(jd, now() + dt.timedelta(seconds=2), note="third")
    os.utime(folder, (future, future))
    assert ids_listed(cli("list", cwd=tmp_path)) == [third, second, first]


def test_odd_files_and_folders(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    top = write_run(jd, now() - dt.timedelta(hours=3), folder=jd / "runs", note="not sharded")
    deep = write_run(jd, now() - dt.timedelta(hours=2), folder=jd / "runs" / "a" / "b" / "c")
    normal = write_run(jd, now() - dt.timedelta(hours=1))
    folder = record_path(jd, normal).parent
    (folder / f".{normal}.toml.1234.abcdef.tmp").write_text("half written")
    (folder / f"{normal}.toml.lock").write_text("1 host\n")
    (folder / "notes.txt").write_text("not a record")
    (folder / "bad name!.toml").write_text("x = 1")
    (jd / "runs" / ".hidden").mkdir()
    write_run(jd, folder=jd / "runs" / ".hidden")
    assert ids_listed(both("list", cwd=tmp_path)) == [normal, deep, top]
    shutil.rmtree(jd / "runs" / "a")
    assert ids_listed(both("list", cwd=tmp_path)) == [normal, top]


# -- the cache file itself ---------------------------------------------------------------------

def test_deleted_cache_is_rebuilt(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 10)
    assert ids_listed(cli("list", cwd=tmp_path)) == ids[::-1]
    cache = cache_file(jd)
    cache.unlink()                                       # -wal and -shm may stay behind
    write_run(jd, now() - dt.timedelta(days=400), note="older")
    result = cli("list", "-n", "0", cwd=tmp_path)
    assert result.err == "" and len(result.lines) == 11 and cache.is_file()
    shutil.rmtree(cache.parent)
    assert cli("list", "-n", "0", cwd=tmp_path).lines == result.lines


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 100, os.urandom(8192),
                                     b"SQLite format 3\x00" + os.urandom(4000)])
def test_a_corrupt_cache_is_rebuilt(tmp_path: Path, garbage: bytes) -> None:
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 5)
    cli("list", cwd=tmp_path)
    cache = cache_file(jd)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    cache.write_bytes(garbage)
    result = cli("list", cwd=tmp_path)
    assert (result.code, result.err) == (0, "") and ids_listed(result) == ids[::-1]
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (5,)


def test_an_index_from_another_version_or_folder_is_replaced(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    run_id = write_run(jd)
    cache = cache_file(jd)
    cache.parent.mkdir(parents=True)
    with sqlite3.connect(cache) as db:
        db.execute("PRAGMA user_version=99")
    assert ids_listed(cli("list", cwd=tmp_path)) == [run_id]
    with sqlite3.connect(cache) as db:                   # claims to index another folder
        db.execute("UPDATE meta SET value = '/elsewhere/.journal' WHERE key = 'journal_dir'")
    assert ids_listed(cli("list", cwd=tmp_path)) == [run_id]


def test_unusable_cache_dir_falls_back_to_the_files(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 8)
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    for env in ({"XDG_CACHE_HOME": str(blocker)}, {"XDG_CACHE_HOME": str(blocker / "sub")}):
        result = cli("list", "-n", "0", cwd=tmp_path, env=env)
        assert (result.code, result.err) == (0, "") and ids_listed(result) == ids[::-1]
        assert cli("grep", "-l", "-F", "line two 3", cwd=tmp_path, env=env).lines == [ids[3]]
    assert blocker.read_text() == ""


def test_locked_index_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 6)
    assert ids_listed(cli("list", cwd=tmp_path)) == ids[::-1]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys\n"
         "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()",
         str(cache_file(jd))], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        assert ids_listed(cli("list", cwd=tmp_path)) == ids[::-1]      # nothing to write
        monkeypatch.setattr(journal_index, "BUSY_TIMEOUT_MS", 100)     # a user would wait 5 s
        newer = write_run(jd, note="while locked")
        started = time.monotonic()
        result = cli("list", "-n", "3", cwd=tmp_path)
        assert ids_listed(result) == [newer, ids[-1], ids[-2]] and result.err == ""
        assert cli("grep", "-l", "while locked", cwd=tmp_path).lines == [newer]
        assert time.monotonic() - started < 3
    finally:
        holder.communicate(b"")
    assert ids_listed(cli("list", "-n", "1", cwd=tmp_path)) == [newer]


def test_many_processes_at_once_while_runs_arrive(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 20)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, datetime as dt\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from pathlib import Path\n"
        "from readkit import write_run, now\n"
        "for n in range(30):\n"
        "    write_run(Path(sys.argv[1]), now() + dt.timedelta(seconds=n), note=f'arrived {n}')\n"
    ), str(jd), str(Path(__file__).parent)])
    readers = [subprocess.Popen([sys.executable, "-m", "journal", *args], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for args in (["list", "-n", "0"], ["grep", "-l", "arrived"], ["list", "-n", "0"],
                            ["list", "--json", "-n", "0"], ["grep", "-l", "sweep"], ["list"])]
    assert writer.wait(timeout=60) == 0
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode in (0, 1) and err == b"", err
        listed = [line.split()[0] for line in out.decode().splitlines()]
        if listed and listed[0].startswith("{"):
            listed = [json.loads(line)["id"] for line in out.decode().splitlines()]
        assert listed == sorted(listed, reverse=True)
    final = ids_listed(both("list", "-n", "0", "--absolute", cwd=tmp_path))   # no "just now" race
    assert len(final) == 50 and final[30:] == ids[::-1]
    assert len(cli("grep", "-l", "arrived", cwd=tmp_path).lines) == 30


# -- the index and git ---------------------------------------------------------------------------

def test_the_index_is_not_in_the_journal_and_git_stays_clean(repo: Path) -> None:
    (repo / ".gitignore").write_text("")
    assert journal("new", "-n", "first", "--", "python", "-c", "pass", cwd=repo).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "records are committed, as a team would")
    before = sorted(p.relative_to(repo) for p in (repo / ".journal").rglob("*"))
    for args in (("list",), ("grep", "first"), ("list", "--json")):
        assert journal(*args, cwd=repo).returncode == 0
    after = sorted(p.relative_to(repo) for p in (repo / ".journal").rglob("*"))
    assert after == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "journal"
    assert [p.suffix for p in cache.glob("*.sqlite3")] == [".sqlite3"]
    assert journal("new", "-n", "second", cwd=repo).returncode == 0
    assert records(repo / ".journal")[-1]["git"]["dirty"] is False


def test_a_copied_journal_has_its_own_index(tmp_path: Path) -> None:
    jd = tmp_path / "a" / ".journal"
    run_id = write_run(jd, note="in a")
    assert ids_listed(cli("list", cwd=jd.parent)) == [run_id]
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    other = write_run(tmp_path / "b" / ".journal", now() + dt.timedelta(seconds=1), note="in b")
    assert ids_listed(cli("list", cwd=tmp_path / "b")) == [other, run_id]
    assert ids_listed(cli("list", cwd=jd.parent)) == [run_id]
    assert cache_path(jd, os.environ) != cache_path(tmp_path / "b" / ".journal", os.environ)


def test_without_the_index_list_reads_only_what_it_shows(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    old = write_run(jd, now() - dt.timedelta(days=3))
    record_path(jd, old).write_text("broken = ")
    newest = write_run(jd, note="newest")
    short = cli("list", "-n", "1", cwd=tmp_path, env={"JOURNAL_NO_INDEX": "1"})
    assert ids_listed(short) == [newest] and short.err == ""       # the old file was not read
    full = cli("list", "-n", "0", cwd=tmp_path, env={"JOURNAL_NO_INDEX": "1"})
    assert ids_listed(full) == [newest] and "skipped" in full.err


def test_real_runs_listed_from_the_index_in_a_real_process(repo: Path) -> None:
    for note in ("one", "two"):
        assert journal("new", "-n", note, "--", "python", "-c", "print(42)", cwd=repo).returncode == 0
    done = journal("list", "--json", cwd=repo)
    assert done.returncode == 0 and done.stderr == b""
    assert notes(done.stdout.decode()) == ["two", "one"]
    assert cache_file(repo / ".journal").is_file()
    assert journal("grep", "-l", "^42$", cwd=repo).stdout.decode().split() == [
        r["id"] for r in reversed(records(repo / ".journal"))]


def test_the_cache_is_per_host_and_never_on_a_network_file_system(tmp_path: Path) -> None:
    """Hosts sharing one home (a cluster's NFS) never write one index file, and a cache folder
    on NFS, where SQLite's locks cannot be trusted, moves to a local folder."""
    from journal.record import THIS_HOST
    from journal.store.cache import filesystem_type

    jd = tmp_path / "project" / ".journal"
    home = tmp_path / "home"
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/export/home {home} nfs4 rw 0 0\n"
                      f"tmpfs {tmp_path / 'run'} tmpfs rw 0 0\n")
    assert filesystem_type(home / ".cache" / "journal", str(mounts)) == "nfs4"
    assert filesystem_type(tmp_path / "elsewhere", str(mounts)) == "ext4"
    local = cache_path(jd, {"XDG_CACHE_HOME": str(tmp_path / "cache")}, mounts=str(mounts))
    assert local.parent == tmp_path / "cache" / "journal" and f"-{THIS_HOST}-" in local.name
    on_nfs = cache_path(jd, {"XDG_CACHE_HOME": str(home / ".cache"),
                             "XDG_RUNTIME_DIR": str(tmp_path / "run")}, mounts=str(mounts))
    assert on_nfs.parent == tmp_path / "run" / "journal"
    no_runtime = cache_path(jd, {"XDG_CACHE_HOME": str(home / ".cache")}, mounts=str(mounts))
    assert no_runtime.parent == Path(f"/tmp/journal-cache-{os.getuid()}")


def test_a_cache_folder_others_can_write_is_not_used(tmp_path: Path) -> None:
    """A cache in a shared place (/tmp, with the home on NFS) may be a folder another user made
    first, with an index of their making in it: journal reads the record files instead."""
    jd = tmp_path / ".journal"
    first = write_run(jd, now() - dt.timedelta(hours=1), note="mine")
    index = cache_path(jd, os.environ)
    index.parent.mkdir(parents=True, exist_ok=True)
    index.parent.chmod(0o777)
    try:
        assert ids_listed(cli("list", cwd=tmp_path)) == [first]
        assert not index.exists()                       # no index written there, none read
        index.parent.chmod(0o755)
        assert ids_listed(cli("list", cwd=tmp_path)) == [first]
        assert index.exists()
    finally:
        index.parent.chmod(0o755)


# -- a million runs: the record once, compressed; built as a stream ----------------------------

def sweep_journal(jd: Path, count: int) -> list[str]:
    """Runs of a hyperparameter sweep as bench/read makes them: 30 params, 10 metrics, a note,
    a command that repeats part of the params."""
    start = now() - dt.timedelta(days=200)
    ids = []
    for n in range(count):
        params = {f"param_{i}": (n * 7919 + i * 104729) % 4096 / (1 + i % 3) for i in range(30)}
        command = ["python", "train.py"]
        for name, value in list(params.items())[:14]:
            command += [f"--{name}", str(value)]
        ids.append(write_run(
            jd, start + dt.timedelta(minutes=17 * n), note=f"sweep {n}: warmup {n % 9}, seed {n}",
            tags=["sweep"], command=command, params=params,
            metrics={f"metric_{i}": round((n * 31 + i * 17) % 1000 / 10, 3) for i in range(10)}))
    return ids


def test_the_index_is_smaller_than_the_records_it_indexes(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = sweep_journal(jd, 600)
    assert ids_listed(both("list", "-n", "0", cwd=tmp_path)) == ids[::-1]
    index = sum(path.stat().st_size for path in cache_file(jd).parent.glob("*.sqlite3*"))
    records = sum(path.stat().st_size for path in (jd / "runs").rglob("*.toml"))
    assert index <= records
    with sqlite3.connect(cache_file(jd)) as db:        # metrics once, as a column of its own
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        assert "params" not in columns and "record" not in columns and "metrics" in columns
    assert both("show", ids[300], cwd=tmp_path).out.count("param_") >= 30
    assert both("list", "--where", "param_3>1000", "--where", "metric_2<50", "-n", "0",
                cwd=tmp_path).lines


def test_a_listing_reads_only_what_its_lines_show(tmp_path: Path) -> None:
    """With every row's compressed record damaged, `list` prints the same (it reads each
    run's summary); `show` and `grep` read the files instead."""
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 30)
    before = both("list", "-n", "0", "--absolute", cwd=tmp_path).out
    with sqlite3.connect(cache_file(jd)) as db:
        db.execute("UPDATE runs SET body = x'789c00'")
    assert both("list", "-n", "0", "--absolute", cwd=tmp_path).out == before
    assert both("list", "--tag", "best", "--status", "finished", cwd=tmp_path).out
    assert ids_listed(both("list", "--where", "acc>0.8", "-n", "0", cwd=tmp_path))
    assert "line two 7" in both("show", ids[7], cwd=tmp_path).out
    assert both("grep", "-l", "-F", "line two 7", cwd=tmp_path).lines == [ids[7]]


def test_a_build_stopped_half_way_keeps_what_it_stored(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 45)
    age_folders(jd)
    # A build storing ten rows a transaction that dies after its third, as a kill -9 would.
    died = subprocess.run([sys.executable, "-c", (
        "import os, journal.store.index as index\n"
        "index.CHUNK_ROWS = 10\n"
        "write, done = index.Index._write, []\n"
        "def dying(self, change):\n"
        "    write(self, change); done.append(1)\n"
        "    if len(done) == 3: os._exit(9)\n"
        "index.Index._write = dying\n"
        "from journal.cli.main import main; main(['list'])\n")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr
    with sqlite3.connect(cache_file(jd)) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (30,)
        assert db.execute("SELECT count(*) FROM folders").fetchone() == (0,)
    assert ids_listed(both("list", "-n", "0", cwd=tmp_path)) == ids[::-1]
    with sqlite3.connect(cache_file(jd)) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (45,)


def test_a_dictionary_chosen_by_another_process_first_is_the_one_kept(tmp_path: Path) -> None:
    """Two processes building a new index at once each pick a dictionary from the record they
    read first; rows compressed with the one that lost are compressed again with the winner."""
    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 12)
    index = journal_index.Index(cache_file(jd), jd, print)
    assert index.dictionary is None
    with sqlite3.connect(cache_file(jd)) as db:          # the other process, a moment sooner
        db.execute("INSERT INTO meta VALUES ('dictionary', ?)", (b'{"note": "sweep"}',))
    index.refresh()
    assert index.dictionary == b'{"note": "sweep"}'
    index.close()
    with sqlite3.connect(cache_file(jd)) as db:
        bodies = [row[0] for row in db.execute("SELECT body FROM runs")]
    assert all("\0note\t" in indexrow.decompress(body, b'{"note": "sweep"}')
               for body in bodies) and len(bodies) == 12
    assert ids_listed(both("list", "-n", "0", cwd=tmp_path)) == ids[::-1]
    assert both("grep", "-l", "-F", "line two 4", cwd=tmp_path).lines == [ids[4]]
    assert "line two 4" in both("show", ids[4], cwd=tmp_path).out


def test_reading_and_indexing_leave_no_reference_cycles(tmp_path: Path) -> None:
    """Reading commands run without the cyclic GC (they exit soon): a cycle made for each
    record would pile up over a million runs."""
    import gc

    jd = tmp_path / ".journal"
    mixed_journal(jd, 40)
    files = sorted((jd / "runs").rglob("*.toml"))
    gc.collect()
    gc.disable()
    try:
        rows = [indexrow.row_for((path.stem, str(path), path.parent.name, 1), b"{}")
                for path in files]
        source = RunSource(jd, print, environ=os.environ)
        runs = source.select() + list(source.iter_select(summaries=True))
        left = gc.collect()
    finally:
        gc.enable()
    assert len(rows) == 40 and all(row[0] == "ok" for row in rows) and len(runs) == 80
    assert left == 0


def test_a_broken_record_edited_and_still_broken_stays_warned_about(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    good = write_run(jd, now() - dt.timedelta(hours=2), note="good")
    broken = write_run(jd, now() - dt.timedelta(hours=1), note="to break")
    path = record_path(jd, broken)
    path.write_text("this is = not [toml")
    age_folders(jd)
    first = cli("list", cwd=tmp_path)
    assert f"warning: skipped {path}" in first.err and ids_listed(first) == [good]
    path.write_text("still = not [toml, longer")       # in place: its folder's mtime stays
    age(path)
    age_folders(jd)
    for _ in range(2):
        result = cli("list", cwd=tmp_path)
        assert f"warning: skipped {path}" in result.err and ids_listed(result) == [good]
        # `@` must not skip a broken newest run and act on the one before it.
        assert cli("show", "@", cwd=tmp_path).code != 0


def test_a_start_no_timestamp_can_give_back_is_listed_from_its_file(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    run_id = write_run(jd, note="from year one")
    path = record_path(jd, run_id)
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^started = .*$", "started = 0001-01-01T00:30:00+01:00", text))
    result = both("list", "-n", "0", cwd=tmp_path)
    assert result.code == 0 and "from year one" in result.out


def test_a_long_build_shows_its_progress_on_a_terminal_only(tmp_path: Path) -> None:
    import pty

    jd = tmp_path / ".journal"
    ids = mixed_journal(jd, 45)
    code = ("import journal.store.index as index\n"
            "index.CHUNK_ROWS = index.PROGRESS_FROM = 10\n"
            "from journal.cli.main import main; main(['list', '-n', '1'])\n")
    leader, follower = pty.openpty()
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=follower, timeout=120)
    os.close(follower)
    shown = drain(leader)
    assert done.returncode == 0 and ids_listed(Result(0, done.stdout.decode(), "")) == [ids[-1]]
    assert b"indexing the records, 40 so far" in shown and shown.endswith(b"\r\x1b[K")
    shutil.rmtree(cache_file(jd).parent)
    piped = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                           timeout=120)
    assert piped.returncode == 0 and piped.stderr == b""


def test_a_damaged_cache_file_is_one_line_then_rebuilt(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = sweep_journal(jd, 300)
    assert ids_listed(cli("list", "-n", "0", cwd=tmp_path)) == ids[::-1]
    cache = cache_file(jd)
    with sqlite3.connect(cache) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(cache.read_bytes())
    data[len(data) // 2:len(data) // 2 + 8192] = os.urandom(8192)   # pages a refresh never reads
    cache.write_bytes(bytes(data))
    failed = [cli(*args, cwd=tmp_path) for args in (["list", "-n", "0"], ["grep", "-F", "sweep 7"])]
    for result in failed:
        assert "Traceback" not in result.err
        if result.code not in (0, 1):
            assert "the index cache" in result.err and "run the command again" in result.err
    assert ids_listed(both("list", "-n", "0", cwd=tmp_path)) == ids[::-1]


def test_grep_finds_a_crashed_run_by_the_status_it_is_shown_with(tmp_path: Path) -> None:
    from readkit import dead_pid

    jd = tmp_path / ".journal"
    write_run(jd, now() - dt.timedelta(hours=2), note="finished one")
    crashed = write_run(jd, now() - dt.timedelta(hours=1), note="killed wrapper",
                        status="running", pid=dead_pid(), ended=None, duration=None,
                        exit_code=None)
    for args in (["grep", "--no-logs", "-l", "crashed"], ["grep", "--no-logs", "-l", "-i", "CRASHED"]):
        assert both(*args, cwd=tmp_path).lines == [crashed]


def test_a_record_nested_a_thousand_deep_is_skipped_with_a_warning(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    good = write_run(jd, now() - dt.timedelta(hours=2), note="good")
    deep = write_run(jd, now() - dt.timedelta(hours=1), note="deep")
    path = record_path(jd, deep)
    for table in ("extra", "params"):
        path.write_text(path.read_text() + f"\n{table}." + ".".join(["a"] * 1000) + " = 1\n")
        result = both("list", "-n", "0", cwd=tmp_path)
        assert ids_listed(result) == [good] and f"warning: skipped {path}" in result.err
        assert "Traceback" not in result.err
        path.write_text(path.read_text().split(f"\n{table}.")[0])


def test_a_second_copy_stands_in_when_the_home_copy_goes(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    run_id = write_run(jd, now() - dt.timedelta(days=40), note="the run")
    home = record_path(jd, run_id)
    other = jd / "runs" / "2000-01" / home.name
    other.parent.mkdir(parents=True)
    shutil.copy2(home, other)
    age_folders(jd)
    assert "a second record file" in cli("list", cwd=tmp_path).err
    home.unlink()
    age_folders(jd)
    result = both("list", "-n", "0", cwd=tmp_path)
    assert ids_listed(result) == [run_id]
    assert "the run" in both("show", run_id, cwd=tmp_path).out


def test_cache_lists_the_indexes_and_prunes_those_of_folders_that_are_gone(tmp_path: Path
                                                                          ) -> None:
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    for folder in (kept, gone):
        write_run(folder / ".journal")
        assert cli("list", cwd=folder).code == 0
    cache_dir = cache_file(kept / ".journal").parent
    # Another machine sharing this home: its index names its host, and is never ours to prune.
    theirs = cache_dir / "gone_.journal-othermachine-0123456789abcdef.sqlite3"
    shutil.copy(cache_file(gone / ".journal"), theirs)
    # One whose host name ends like ours (`vm-2` for `vm`): a name proves nothing.
    host = cache_file(kept / ".journal").name.split("-")[-2]
    alike = cache_dir / f"gone_.journal-{host}-2-0123456789abcdef.sqlite3"
    shutil.copy(cache_file(gone / ".journal"), alike)
    junk = cache_dir / f"junk-{host}-x.sqlite3"
    junk.write_bytes(b"not an index at all")
    shutil.rmtree(gone)
    listed = cli("cache", cwd=tmp_path)
    assert listed.code == 0 and sorted(line.split(None, 2)[2] for line in listed.lines) == [
        "(not an index)", f"{gone / '.journal'}  (gone)", str(kept / ".journal")]
    assert "1 of them index a folder that is gone" in listed.err
    pruned = cli("cache", "--prune", cwd=tmp_path)
    assert pruned.code == 0 and "removed 1 index(es)" in pruned.err
    assert not cache_file(gone / ".journal").exists() and cache_file(kept / ".journal").exists()
    assert theirs.exists() and alike.exists() and junk.exists()   # no index is left alone
    assert [line.split()[-1] for line in cli("cache", cwd=tmp_path).lines
            if "not an index" not in line] == [str(kept / ".journal")]
    assert ids_listed(cli("list", cwd=kept)) and cli("cache", "--prune", cwd=tmp_path).err == (
        "journal: removed 0 index(es) of journal folders that are gone (0.0 MB)\n")

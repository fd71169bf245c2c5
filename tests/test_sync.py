"""`journal sync`: runs and amendments of several machines exchanged through a real bare remote,
so that every machine lists the same journal; nothing of the user's git state touched; offline,
killed or raced, nothing lost and the next sync completes."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, journal, make_repo, records

from journal.record import new_run_id
from journal.store.paths import run_path
from journal.store.toml import dumps


def clone(remote: Path, path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True,
                   capture_output=True)
    return path


@pytest.fixture
def machines(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A bare remote and three clones of it: a laptop, a workstation, a cluster."""
    first = make_repo(tmp_path / "seed", {"train.py": "print('hi')\n"})
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(first), str(remote))
    return remote, *(clone(remote, tmp_path / name) for name in ("a", "b", "c"))  # type: ignore[return-value]


def sync(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = journal("sync", *args, cwd=repo, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    return done.stdout.decode()


def listing(repo: Path) -> list[dict[str, Any]]:
    """`journal list --json` without each record file's path (which names the machine's folder)."""
    done = journal("list", "--json", "-n", "0", cwd=repo)
    assert done.returncode == 0, done.stderr.decode()
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    for row in rows:
        row.pop("path")
    return rows


def at(moment: str) -> dict[str, str]:
    return {**os.environ, "JOURNAL_NOW": moment}


def user_state(repo: Path) -> tuple[str, ...]:
    """Everything of the user's that sync must leave alone."""
    return (git(repo, "rev-parse", "HEAD"), git(repo, "symbolic-ref", "HEAD"),
            git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads",
                "refs/tags", "refs/remotes"),
            git(repo, "ls-files", "--stage"), git(repo, "status", "--porcelain",
                                                  "--untracked-files=all", "--", ":!.journal"),
            (repo / ".git" / "config").read_text(), str((repo / ".git" / "FETCH_HEAD").exists()))


def test_three_machines_syncing_in_turn_list_the_same_journal(machines: tuple[Path, ...]) -> None:
    remote, a, b, c = machines
    assert journal("new", "-n", "laptop run", "-t", "draft", "--", sys.executable, "-c",
                   "print('acc 0.8')", cwd=a).returncode == 0
    assert journal("new", "-n", "workstation idea", cwd=b).returncode == 0
    assert journal("new", "-n", "cluster run", "--", "echo", "on the cluster", cwd=c).returncode == 0
    before = {repo: user_state(repo) for repo in (a, b, c)}
    remote_branches = git(remote, "for-each-ref", "refs/heads", "refs/tags")

    assert sync(a) == "sync with origin: sent 1 run\n"
    assert sync(b) == "sync with origin: received 1 new run; sent 1 run\n"
    assert sync(c) == "sync with origin: received 2 new runs; sent 1 run\n"
    laptop_run = listing(a)[0]["id"]
    # The laptop's run is amended on all three machines, at times that interleave.
    assert journal("note", laptop_run, "from b", cwd=b, env=at("2026-11-30T10:00:00+00:00")).returncode == 0
    assert journal("tag", laptop_run, "-draft", "+best", cwd=b,
                   env=at("2026-11-30T10:01:00+00:00")).returncode == 0
    assert journal("note", laptop_run, "from c", cwd=c, env=at("2026-11-30T09:00:00+00:00")).returncode == 0
    assert journal("note", laptop_run, "from a", cwd=a, env=at("2026-11-30T11:00:00+00:00")).returncode == 0
    assert journal("tag", laptop_run, "+seen", cwd=a, env=at("2026-11-30T11:01:00+00:00")).returncode == 0
    for repo in (b, c, a, b, c):
        sync(repo)
    for repo in (a, b, c):
        assert sync(repo) == "sync with origin: nothing to send or receive\n"
    assert listing(a) == listing(b) == listing(c)
    rows = listing(a)
    assert len(rows) == 3 and {row["note"] for row in rows} == {
        "laptop run", "workstation idea", "cluster run"}
    run = next(row for row in rows if row["id"] == laptop_run)
    texts = [item.get("text") or item["tags"] for item in run["amendments"]]
    assert texts == ["from c", "from b", ["-draft", "+best"], "from a", ["+seen"]]  # time order
    assert sorted(run["tags"]) == ["best", "seen"]
    # The runs' logs travelled with them.
    shown = journal("tail", laptop_run, cwd=c)
    assert shown.returncode == 0 and b"acc 0.8" in shown.stdout
    for repo in (a, b, c):
        assert user_state(repo) == before[repo]
    assert git(remote, "for-each-ref", "refs/heads", "refs/tags") == remote_branches
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/journal").split() == [
        "refs/journal/runs"]


def test_a_tag_added_and_removed_on_two_machines_ends_as_the_later_change(
        machines: tuple[Path, ...]) -> None:
    _remote, a, b, _c = machines
    assert journal("new", "-n", "x", "-t", "keep", cwd=a).returncode == 0
    sync(a), sync(b)
    # (times after the run started: a REF never names a run from the future)
    assert journal("tag", "@", "-keep", cwd=a, env=at("2030-01-01T12:00:00+00:00")).returncode == 0
    assert journal("tag", "@", "+other", "-keep", cwd=b,
                   env=at("2030-01-01T11:00:00+00:00")).returncode == 0
    assert journal("tag", "@", "+keep", cwd=b, env=at("2030-01-01T13:00:00+00:00")).returncode == 0
    sync(a), sync(b), sync(a)
    assert listing(a) == listing(b)
    assert sorted(listing(a)[0]["tags"]) == ["keep", "other"]


def test_a_running_run_finishes_on_the_other_machine_too_with_its_note_kept(
        machines: tuple[Path, ...]) -> None:
    _remote, a, b, _c = machines
    gate = a / "gate"
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "journal", "new", "-n", "long", "--", sys.executable, "-c",
         f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.02)\nprint('done')"],
        cwd=a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not records(a / ".journal"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sync(a), sync(b)
        assert listing(b)[0]["status"] == "running"
        assert journal("note", "@", "watching from b", cwd=b).returncode == 0
        sync(b)
        sync(a)                       # the note reaches the running record on a
    finally:
        gate.write_text("go")
        assert wrapper.wait(timeout=30) == 0
    sync(a), sync(b)
    row = listing(b)[0]
    assert row["status"] == "finished" and row["exit_code"] == 0
    assert [item["text"] for item in row["amendments"]] == ["watching from b"]
    assert listing(a) == listing(b)
    assert b"done" in journal("tail", "@", cwd=b).stdout


def test_a_log_over_the_cap_stays_behind_and_says_where(machines: tuple[Path, ...]) -> None:
    _remote, a, b, _c = machines
    (a / ".journal").mkdir()
    (a / ".journal" / "config.toml").write_text("[sync]\nmax_file_bytes = 1000\n")
    assert journal("new", "-n", "chatty", "--", sys.executable, "-c",
                   "print('x' * 5000)", cwd=a).returncode == 0
    out = sync(a)
    run_id = records(a / ".journal")[0]["id"]
    assert out == ("sync with origin: sent 1 run\nfiles over 1.0 KB stayed here ([sync] "
                   f"max_file_bytes; a marker says where they are): {run_id}\n")
    sync(b)
    tail = journal("tail", "@", cwd=b)
    assert tail.returncode != 0
    assert b"stayed behind on" in tail.stderr and b"5.0 KB" in tail.stderr
    shown = journal("show", "--log", "@", cwd=b)
    assert shown.returncode == 0 and b"stayed behind on" in shown.stdout
    assert journal("tail", "@", cwd=a).stdout == b"x" * 5000 + b"\n"   # the log stays whole here
    assert "nothing to send or receive" in sync(a)
    assert "nothing to send or receive" in sync(b)


def test_offline_or_no_remote_is_one_line_and_nothing_is_lost(machines: tuple[Path, ...],
                                                              tmp_path: Path) -> None:
    remote, a, _b, _c = machines
    assert journal("new", "-n", "precious", cwd=a).returncode == 0
    before = records(a / ".journal")
    moved = tmp_path / "elsewhere.git"
    remote.rename(moved)                           # the remote cannot be reached
    done = journal("sync", cwd=a)
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert lines[0].startswith("journal: error: cannot fetch from origin: ") and len(lines) == 2
    assert lines[1].startswith("hint: nothing was lost")
    assert records(a / ".journal") == before
    moved.rename(remote)
    assert sync(a) == "sync with origin: sent 1 run\n"

    lonely = make_repo(tmp_path / "lonely")
    done = journal("sync", cwd=lonely)
    assert done.returncode == 1 and b"no remote to sync with" in done.stderr
    done = journal("sync", "nosuchremote", cwd=lonely)
    assert done.returncode == 1 and b"no remote named 'nosuchremote'" in done.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    done = journal("sync", cwd=outside)
    assert done.returncode == 1 and b"needs a git repository" in done.stderr
    # A path or URL works without a configured remote.
    assert sync(lonely, str(remote)) .startswith(f"sync with {remote}: received 1 new run")


def test_a_remote_journal_with_foreign_files_is_taken_only_where_it_is_a_journal(
        machines: tuple[Path, ...], tmp_path: Path) -> None:
    remote, a, b, _c = machines
    assert journal("new", "-n", "real", cwd=a).returncode == 0
    sync(a)
    # Someone pushes a tree with a stray file, a record whose name lies, and a link.
    work = clone(remote, tmp_path / "hostile")
    git(work, "fetch", "-q", "origin", "refs/journal/runs:refs/journal/runs")
    git(work, "checkout", "-q", "refs/journal/runs")
    real = records(a / ".journal")[0]
    liar = new_run_id(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), "abcdef0")
    (work / "runs" / "2026-11" / f"{liar}.toml").write_text(
        dumps({**real, "id": "something-else"}))
    (work / "README.md").write_text("not a journal file\n")
    os.symlink("/etc/passwd", work / "logs" / f"{liar}.log") if (work / "logs").exists() else \
        (work / "logs").mkdir() or os.symlink("/etc/passwd", work / "logs" / f"{liar}.log")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "hostile")
    git(work, "push", "-q", "origin", "HEAD:refs/journal/runs")
    done = journal("sync", cwd=b)
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "not a journal's" in err and "says it is run" in err
    assert [row["note"] for row in listing(b)] == ["real"]
    assert not (b / ".journal" / "README.md").exists()
    assert not (b / ".journal" / "logs" / f"{liar}.log").exists()


def generate(journal_dir: Path, count: int, seed: int) -> None:
    """`count` finished runs with logs, written as journal writes them."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(hours=seed)
    for number in range(count):
        started = start + dt.timedelta(seconds=number * 7 + rng.random())
        run_id = new_run_id(started, "%07x" % rng.getrandbits(28))
        record = {"schema": 2, "id": run_id, "note": f"generated {seed}/{number}", "tags": [],
                  "status": "finished", "started": started, "exit_code": 0,
                  "command": ["python", "train.py"], "host": f"gen{seed}",
                  "log": {"path": f"logs/{run_id}.log"}}
        path = run_path(journal_dir, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(record))
        (journal_dir / "logs").mkdir(exist_ok=True)
        (journal_dir / "logs" / f"{run_id}.log").write_bytes(rng.randbytes(2000))


def test_a_sync_killed_at_any_moment_leaves_both_sides_readable_and_the_next_completes(
        machines: tuple[Path, ...]) -> None:
    remote, a, b, _c = machines
    generate(a / ".journal", 300, 1)
    generate(b / ".journal", 300, 2)
    sync(b)
    for delay in (0.05, 0.15, 0.3, 0.5, 0.8):
        killed = subprocess.Popen([sys.executable, "-m", "journal", "sync"], cwd=a,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert journal("list", "-n", "0", cwd=a).returncode == 0
        git(remote, "fsck", "--no-progress")
    sync(a)
    sync(b)
    assert "nothing to send or receive" in sync(a)
    assert len(listing(a)) == 600 and listing(a) == listing(b)


def test_two_machines_pushing_at_once_both_land(machines: tuple[Path, ...]) -> None:
    _remote, a, b, c = machines
    generate(a / ".journal", 150, 3)
    generate(b / ".journal", 150, 4)
    procs = [subprocess.Popen([sys.executable, "-m", "journal", "sync"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for repo in (a, b)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    sync(c)
    assert len(listing(c)) == 300
    sync(a), sync(b)
    assert listing(a) == listing(b) == listing(c)


def test_a_big_log_shared_once_is_not_sent_back_and_forth(machines: tuple[Path, ...]) -> None:
    """The cap raised on one machine lets a log travel; a machine with a lower cap neither
    sends nor takes it (it says where it is), and syncs settle whatever the caps say."""
    _remote, a, b, c = machines
    for repo in (a, b, c):
        (repo / ".journal").mkdir()
        (repo / ".journal" / "config.toml").write_text("[sync]\nmax_file_bytes = 1000\n")
    assert journal("new", "-n", "chatty", "--", sys.executable, "-c", "print('y' * 3000)",
                   cwd=a).returncode == 0
    sync(a), sync(b)
    (a / ".journal" / "config.toml").write_text("[sync]\nmax_file_bytes = 100000\n")
    (b / ".journal" / "config.toml").write_text("[sync]\nmax_file_bytes = 100000\n")
    sync(a), sync(b), sync(c)
    (a / ".journal" / "config.toml").write_text("[sync]\nmax_file_bytes = 1000\n")
    for repo in (a, b, c, a, b, c):
        sync(repo)
    for repo in (a, b, c):
        assert sync(repo) == "sync with origin: nothing to send or receive\n"
    for repo in (a, b):
        assert journal("tail", "@", cwd=repo).stdout == b"y" * 3000 + b"\n"
    tail = journal("tail", "@", cwd=c)                # c's cap is 1000: the log stays away
    assert tail.returncode == 2 and b"stayed behind on " in tail.stderr
    assert b"3.0 KB; sync carries files up to 1.0 KB" in tail.stderr


def test_a_log_that_outgrows_the_cap_mid_run_is_shared_as_a_partial_copy(
        machines: tuple[Path, ...]) -> None:
    _remote, a, b, _c = machines
    (a / ".journal").mkdir()
    (a / ".journal" / "config.toml").write_text("[sync]\nmax_file_bytes = 2000\n")
    gate = a / "gate"
    script = (f"import os, time\nprint('a' * 1000, flush=True)\n"
              f"while not os.path.exists({str(gate)!r}): time.sleep(0.02)\nprint('b' * 5000)")
    wrapper = subprocess.Popen([sys.executable, "-m", "journal", "new", "--", sys.executable,
                                "-c", script], cwd=a, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not list((a / ".journal" / "logs").glob("*.log")) or \
                list((a / ".journal" / "logs").glob("*.log"))[0].stat().st_size < 1001:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sync(a), sync(b)
    finally:
        gate.write_text("go")
        assert wrapper.wait(timeout=30) == 0
    sync(a), sync(b)
    tail = journal("tail", "@", cwd=b)
    assert tail.returncode == 0 and tail.stdout == b"a" * 1000 + b"\n"
    assert b"a partial copy (1.0 KB of 6.0 KB; the whole file is on " in tail.stderr
    shown = journal("show", "--log", "@", cwd=b).stdout
    assert b"a partial copy" in shown
    assert journal("tail", "@", cwd=a).stdout == b"a" * 1000 + b"\n" + b"b" * 5000 + b"\n"
    assert "nothing to send or receive" in sync(a) and "nothing to send or receive" in sync(b)


def test_another_machines_edit_of_a_runs_files_never_beats_the_machine_that_ran_it(
        machines: tuple[Path, ...]) -> None:
    _remote, a, b, _c = machines
    (a / "train.py").write_text("print('changed')\n")
    assert journal("new", "-n", "x", "--", sys.executable, "-c", "print('precious')",
                   cwd=a).returncode == 0
    sync(a), sync(b)
    run = records(b / ".journal")[0]
    log = b / ".journal" / run["log"]["path"]
    patch = b / ".journal" / run["git"]["patch"]
    # b is another clone on this same host: only the record of what it received tells it the
    # run is not its own.
    log.write_text("")
    patch.write_text(patch.read_text() + "\n")
    record = next((b / ".journal" / "runs").rglob("*.toml"))
    record.write_text(record.read_text().replace('note = "x"', 'note = "edited on b"'))
    for repo in (b, a, b, a):
        sync(repo)
    assert journal("tail", "@", cwd=a).stdout == b"precious\n"
    assert journal("tail", "@", cwd=b).stdout == b"precious\n"
    assert listing(a) == listing(b) and listing(a)[0]["note"] == "x"
    assert journal("checkout", "@", cwd=b).returncode == 0


def test_a_run_whose_wrapper_died_is_said_crashed_for_every_machine(
        machines: tuple[Path, ...]) -> None:
    _remote, a, b, _c = machines
    wrapper = subprocess.Popen([sys.executable, "-m", "journal", "new", "--", "sleep", "60"],
                               cwd=a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while not records(a / ".journal"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sync(a), sync(b)
    assert listing(b)[0]["status"] == "running"       # alive: b's own check cannot say more
    os.killpg(wrapper.pid, signal.SIGKILL)
    wrapper.wait()
    sync(b)                      # b is a clone on this host: it still never takes a's run for its own
    assert records(b / ".journal")[0]["status"] == "running"
    out = sync(a)
    run_id = listing(a)[0]["id"]
    assert f"said crashed (their wrapper died on this machine): {run_id}" in out
    sync(b)
    assert listing(a)[0]["status"] == listing(b)[0]["status"] == "crashed"
    assert "was gone when journal sync ran" in listing(b)[0]["problems"][0]


def test_the_only_remote_is_used_whatever_its_name(tmp_path: Path,
                                                   machines: tuple[Path, ...]) -> None:
    remote = machines[0]
    lab = tmp_path / "lab"
    subprocess.run(["git", "clone", "-q", "-o", "lab", str(remote), str(lab)], check=True,
                   capture_output=True)
    assert journal("new", "-n", "x", cwd=lab).returncode == 0
    assert sync(lab) == "sync with lab: sent 1 run\n"
    git(lab, "remote", "add", "other", str(remote))
    git(lab, "checkout", "-q", "-b", "no-upstream")
    done = journal("sync", cwd=lab)
    assert done.returncode == 1 and b"which remote? this repository has lab, other" in done.stderr
    assert sync(lab, str(remote)) == "sync with lab: nothing to send or receive\n"


def craft_remote(remote: Path, files: dict[str, bytes], parent: str | None = None) -> None:
    """Point the remote's refs/journal/runs at a commit holding exactly `files` (as a hostile or
    broken machine could push), built with git's plumbing in the bare remote."""
    env = {**os.environ, "GIT_INDEX_FILE": str(remote / "crafted-index")}
    Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    for path, data in files.items():
        blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=remote, input=data,
                              capture_output=True, check=True).stdout.decode().strip()
        subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
                       cwd=remote, env=env, check=True, capture_output=True)
    tree = subprocess.run(["git", "write-tree"], cwd=remote, env=env, capture_output=True,
                          check=True).stdout.decode().strip()
    commit = git(remote, "commit-tree", tree, "-m", "crafted", *(["-p", parent] if parent else [])).strip()
    git(remote, "update-ref", "refs/journal/runs", commit)


def test_a_remote_that_lost_its_journal_gets_everything_again(machines: tuple[Path, ...],
                                                              tmp_path: Path) -> None:
    remote, a, _b, _c = machines
    assert journal("new", "-n", "kept", cwd=a).returncode == 0
    sync(a)
    git(remote, "update-ref", "-d", "refs/journal/runs")           # deleted, or a new remote
    assert sync(a) == "sync with origin: sent 1 run\n"
    fresh = tmp_path / "fresh.git"
    git(tmp_path, "init", "-q", "--bare", str(fresh))
    git(a, "remote", "set-url", "origin", str(fresh))
    assert sync(a) == "sync with origin: sent 1 run\n"
    assert git(fresh, "for-each-ref", "--format=%(refname)") == "refs/journal/runs\n"


def test_bad_records_from_a_remote_never_stop_the_sync(machines: tuple[Path, ...]) -> None:
    """Tags that are not text, times without an offset, a file where a folder is: each is one
    warning naming it; everything else is taken, and nothing is lost from the remote."""
    remote, a, b, _c = machines
    assert journal("new", "-n", "good", cwd=a).returncode == 0
    sync(a)
    good = next((a / ".journal" / "runs").rglob("*.toml"))
    good_path = good.relative_to(a / ".journal").as_posix()
    assert journal("new", "-n", "also good", cwd=b).returncode == 0
    odd_id = new_run_id(dt.datetime(2026, 11, 2, tzinfo=dt.UTC), "abcdef0")
    naive_id = new_run_id(dt.datetime(2026, 11, 3, tzinfo=dt.UTC), "abcdef0")
    odd = good.read_text().replace(records(a / ".journal")[0]["id"], odd_id).replace(
        "tags = []", "tags = [{a = 1}, [\"x\"]]")
    naive = good.read_text().replace(records(a / ".journal")[0]["id"], naive_id) + \
        "\n[[amendments]]\nat = 2026-11-30T12:00:00\ntext = \"naive\"\n"
    tip = git(remote, "rev-parse", "refs/journal/runs").strip()
    craft_remote(remote, {
        good_path: good.read_bytes(),
        f"runs/2026-11/{odd_id}.toml": odd.encode(),
        f"runs/2026-11/{naive_id}.toml": naive.encode(),
        f"runs/2026-11/{naive_id}.toml.x/{odd_id}.toml": b"not a folder here\n",
    }, parent=tip)
    # b has its own copy of the naive run with an amendment, so the two must be merged
    (b / ".journal" / "runs" / "2026-11").mkdir(parents=True, exist_ok=True)
    (b / ".journal" / "runs" / "2026-11" / f"{naive_id}.toml").write_text(
        good.read_text().replace(records(a / ".journal")[0]["id"], naive_id)
        + '\n[[amendments]]\nat = 2026-11-30T13:00:00+00:00\ntext = "from b"\n')
    done = journal("sync", cwd=b)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    notes = sorted(row["note"] for row in listing(b))
    assert notes == ["also good", "good", "good", "good"]
    sync(b)                                   # and again: nothing stops it
    # Nothing left the remote through b: what b could not take or merge is there as it was.
    after = dict(line.split("\t")[::-1] for line in git(
        remote, "ls-tree", "-r", "refs/journal/runs").splitlines())
    assert f"runs/2026-11/{odd_id}.toml" in after and f"runs/2026-11/{naive_id}.toml" in after
    naive_blob = after[f"runs/2026-11/{naive_id}.toml"].split()[2]
    assert git(remote, "cat-file", "blob", naive_blob) == naive      # the remote's copy stands


def test_a_record_here_that_does_not_parse_is_not_pushed_over_the_good_one(
        machines: tuple[Path, ...]) -> None:
    _remote, a, b, c = machines
    assert journal("new", "-n", "a", cwd=a).returncode == 0
    sync(a), sync(b)
    broken = next((b / ".journal" / "runs").rglob("*.toml"))
    broken.write_text(broken.read_text().replace('note = "a"', 'note = "a'))
    for repo in (b, a, b, c):
        done = journal("sync", cwd=repo)
        assert done.returncode == 0 and b"Traceback" not in done.stderr
    assert [row["note"] for row in listing(c)] == ["a"]
    assert broken.read_text().count('note = "a\n') == 1          # b's file left as it was


def test_the_users_git_settings_never_change_what_travels(machines: tuple[Path, ...]) -> None:
    """A clean filter in .git/info/attributes (git-annex writes one), autocrlf, hooks: the
    remote gets the bytes of the journal's files, and no hook of the user's runs."""
    remote, a, b, _c = machines
    (a / ".git" / "info").mkdir(exist_ok=True)
    (a / ".git" / "info" / "attributes").write_text("* filter=evil text eol=crlf\n")
    git(a, "config", "filter.evil.clean", "tr a Z")
    git(a, "config", "core.autocrlf", "true")
    template = a.parent / "template"
    (template / "hooks").mkdir(parents=True)
    (template / "hooks" / "post-index-change").write_text(f"#!/bin/sh\necho template >> {a / 'hooks-ran'}\n")
    (template / "hooks" / "post-index-change").chmod(0o755)
    git(a, "config", "--global", "init.templateDir", str(template))
    hooks = a / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in ("reference-transaction", "post-index-change", "pre-push"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {a / 'hooks-ran'}\n")
        (hooks / name).chmod(0o755)
    assert journal("new", "-n", "alpha banana", "--", "echo", "a\r\nb", cwd=a).returncode == 0
    sync(a), sync(b)
    assert [row["note"] for row in listing(b)] == ["alpha banana"]
    assert journal("tail", "@", cwd=b).stdout == journal("tail", "@", cwd=a).stdout
    assert not (a / "hooks-ran").exists(), (a / "hooks-ran").read_text()


def test_objects_pruned_by_gc_after_a_failed_push_do_not_stop_the_next_sync(
        machines: tuple[Path, ...]) -> None:
    remote, a, b, _c = machines
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    assert journal("new", "-n", "x", "--", "echo", "unique output 4711", cwd=a).returncode == 0
    done = journal("sync", cwd=a)
    assert done.returncode == 1 and b"refused the push" in done.stderr
    hook.unlink()
    git(a, "gc", "-q", "--prune=now")
    assert sync(a) == "sync with origin: sent 1 run\n"
    sync(b)
    assert journal("tail", "@", cwd=b).stdout == b"unique output 4711\n"


def test_a_linked_logs_folder_is_said_and_the_rest_travels(machines: tuple[Path, ...],
                                                           tmp_path: Path) -> None:
    _remote, a, b, _c = machines
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (a / ".journal").mkdir()
    (a / ".journal" / "logs").symlink_to(scratch)
    assert journal("new", "-n", "x", "--", "echo", "hi", cwd=a).returncode == 0
    done = journal("sync", cwd=a)
    assert done.returncode == 0 and b"is a link: its files do not travel" in done.stderr
    assert journal("new", "-n", "from b", "--", "echo", "b's output", cwd=b).returncode == 0
    sync(b)
    assert sorted(row["note"] for row in listing(b)) == ["from b", "x"]
    for _ in range(2):
        sync(a), sync(b)
    # b's log stays on the remote (a holds it there) and a writes nothing through its link
    assert journal("tail", "@", cwd=b).stdout == b"b's output\n"
    a_run = next(row["id"] for row in listing(a) if row["note"] == "x")
    assert sorted(path.name for path in scratch.iterdir()) == [f"{a_run}.log"]
    assert "nothing to send or receive" in sync(a) and "nothing to send or receive" in sync(b)


def test_another_machines_longer_copy_of_a_log_never_spreads(machines: tuple[Path, ...]) -> None:
    _remote, a, b, c = machines
    assert journal("new", "-n", "x", "--", "echo", "original", cwd=a).returncode == 0
    sync(a), sync(b), sync(c)
    log = b / ".journal" / records(b / ".journal")[0]["log"]["path"]
    log.write_text("original\nforged by b\n")
    record = next((b / ".journal" / "runs").rglob("*.toml"))
    record.write_text(record.read_text().replace('status = "finished"', 'status = "failed"'))
    for repo in (b, c, a, b, c, a):
        sync(repo)
    for repo in (a, b, c):
        assert journal("tail", "@", cwd=repo).stdout == b"original\n"
        assert listing(repo)[0]["status"] == "finished"
        assert "nothing to send or receive" in sync(repo)


def test_a_second_file_of_a_run_elsewhere_never_takes_the_run_from_its_machine(
        machines: tuple[Path, ...]) -> None:
    _remote, a, b, _c = machines
    assert journal("new", "-n", "x", "--", "echo", "original", cwd=a).returncode == 0
    sync(a), sync(b)
    record = next((b / ".journal" / "runs").rglob("*.toml"))
    (b / ".journal" / "runs" / "archive").mkdir()
    (b / ".journal" / "runs" / "archive" / record.name).write_bytes(record.read_bytes())
    sync(b), sync(a)
    run_id = record.name[:-len(".toml")]
    received = a / ".journal" / ".sync-received"
    assert not received.exists() or run_id not in received.read_text().split()


def test_a_run_removed_here_is_not_brought_back_and_stays_on_the_remote(
        machines: tuple[Path, ...]) -> None:
    remote, a, b, _c = machines
    for note in ("keep me", "a typo run"):
        assert journal("new", "-n", note, "--", "echo", note, cwd=a).returncode == 0
    sync(a)
    sync(b)
    assert [row["note"] for row in listing(b)] == ["a typo run", "keep me"]
    assert journal("rm", "@", cwd=b).returncode == 0
    sync(b)
    assert [row["note"] for row in listing(b)] == ["keep me"]       # not fetched again
    assert sync(b) == sync(b)                                         # and nothing to send
    sync(a)
    assert [row["note"] for row in listing(a)] == ["a typo run", "keep me"]   # the remote kept it
    assert journal("rm", "--restore", listing(a)[0]["id"], cwd=b).returncode == 0
    sync(b)
    assert [row["note"] for row in listing(b)] == ["a typo run", "keep me"]

"""Fault injection: a full disk, SIGKILL at random points, signal storms. Each scenario is run
for real (processes, signals, a small tmpfs) and every record must end in a true state: parsed,
final or `crashed`, never torn, never lost.

The full-disk scenarios mount a tmpfs in a private mount namespace (`unshare -m`, as root or
with user namespaces); where that is not possible here they skip and say why.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, records

PY = sys.executable


def _can_mount_tmpfs(tmp_path: Path) -> str | None:
    """Why a tmpfs cannot be mounted in a private namespace here, or None when it can."""
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    target = tmp_path / "probe"
    target.mkdir()
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    done = subprocess.run(["unshare", *flags, "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {target}"],
                          capture_output=True)
    return None if done.returncode == 0 else f"cannot mount a tmpfs: {done.stderr.decode().strip()}"


def run_on_a_small_disk(repo: Path, journal_dir: Path, size_kb: int, *args: str
                        ) -> subprocess.CompletedProcess[bytes]:
    """`journal ARGS` in `repo` with its journal folder on a fresh tmpfs of `size_kb` KiB that
    exists only for this call (the records are copied out before it goes)."""
    mount = journal_dir.parent / "disk"
    mount.mkdir()
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    quoted = " ".join(shlex.quote(arg) for arg in args)
    script = (f"mount -t tmpfs -o size={size_kb}k tmpfs {mount} && "
              f"JOURNAL_DIR={mount}/.journal {PY} -m journal {quoted}; code=$?; "
              f"cp -a {mount}/.journal {journal_dir}; exit $code")
    return subprocess.run(["unshare", *flags, "sh", "-c", script], cwd=repo, capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_full_disk_mid_run_still_ends_in_a_true_record(repo: Path, tmp_path: Path) -> None:
    """The command fills the disk with output and ends well: the log stops where the disk did,
    and the record says so, finished, with the log's true size."""
    why = _can_mount_tmpfs(tmp_path)
    if why:
        pytest.skip(why)
    journal_dir = tmp_path / "copied" / ".journal"
    journal_dir.parent.mkdir()
    chatty = "import sys\nfor i in range(40000): print('x' * 60, i)\nprint('done', file=sys.stderr)"
    done = run_on_a_small_disk(repo, journal_dir, 1024, "new", "-q", "--", PY, "-c", chatty)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b"\n") == 40000              # the terminal got everything
    [record] = records(journal_dir)
    assert (record["status"], record["exit_code"]) == ("finished", 0)
    log = journal_dir / record["log"]["path"]
    assert 0 < record["log"]["bytes"] == log.stat().st_size < 40000 * 60
    assert any("No space left on device" in problem for problem in record["problems"])
    leftovers = [path.name for path in journal_dir.rglob("*")
                 if path.name.endswith((".reserve", ".lock", ".tmp"))]
    assert leftovers == []


def test_a_disk_too_full_for_the_record_is_one_line_and_nothing_runs(repo: Path,
                                                                     tmp_path: Path) -> None:
    why = _can_mount_tmpfs(tmp_path)
    if why:
        pytest.skip(why)
    journal_dir = tmp_path / "copied" / ".journal"
    journal_dir.parent.mkdir()
    marker = tmp_path / "ran.marker"
    done = run_on_a_small_disk(repo, journal_dir, 4, "new", "-n", "x" * 20000, "--", PY, "-c",
                               f"open({str(marker)!r}, 'w')")
    assert done.returncode != 0
    lines = done.stderr.decode().splitlines()
    assert lines and lines[0].startswith("journal: error: ") and "No space" in lines[0], lines
    assert not marker.exists()
    for path in journal_dir.rglob("*.toml"):
        tomllib.loads(path.read_text())                    # nothing torn


def test_a_sigkilled_wrapper_does_not_take_the_experiment_with_it(repo: Path) -> None:
    """`kill -9` of journal (not of its command): the command runs on to its end, its output
    still reaches the terminal (here a pipe) and the log, and the record ends as it would have,
    its exit status included (the keeper, the command's parent, records it), saying why."""
    import signal
    import time

    marker = repo / "finished.marker"
    script = ("import sys, time\nfor i in range(30):\n    print('line', i, flush=True)\n"
              f"    time.sleep(0.05)\nopen({str(marker)!r}, 'w').close()\nsys.exit(3)\n")
    proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "-c", script], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first == b"line 0\n"
    proc.send_signal(signal.SIGKILL)          # the wrapper only
    rest = proc.stdout.read()                 # the keeper holds the pipe to the end
    proc.wait()
    assert marker.exists()                    # the experiment was not killed
    assert (first + rest).decode().splitlines() == [f"line {i}" for i in range(30)]
    deadline = time.monotonic() + 10
    while records(repo / ".journal")[0]["status"] == "running":
        assert time.monotonic() < deadline, records(repo / ".journal")
        time.sleep(0.05)
    [record] = records(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("failed", 3)
    assert 1.0 < record["duration"] < 10
    log = repo / ".journal" / record["log"]["path"]
    assert log.read_text().splitlines() == [f"line {i}" for i in range(30)]
    assert record["log"]["bytes"] == log.stat().st_size
    assert "was killed while its command ran" in record["problems"][0]


def test_a_sigkill_to_the_whole_job_ends_the_command_too(repo: Path) -> None:
    """`kill -9 -PGID` (timeout -k, a scheduler's last word) reaches journal, its keeper and,
    through the kernel (the keeper was its parent), the command, in its own process group: no
    experiment left running as an orphan, as without journal."""
    import signal
    import time

    marker = repo / "started.marker"
    script = f"import time\nopen({str(marker)!r}, 'w').close()\ntime.sleep(60)\n"
    proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "-c", script], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    [running] = records(repo / ".journal")
    children = subprocess.run(["pgrep", "-f", str(marker)], capture_output=True, text=True)
    command_pids = [int(pid) for pid in children.stdout.split()]
    assert command_pids
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    while any(os.path.exists(f"/proc/{pid}") for pid in command_pids):
        assert time.monotonic() < deadline + 10, "the command outlived a SIGKILL of its job"
        time.sleep(0.05)
    assert records(repo / ".journal")[0]["status"] == "running"    # shown crashed: all was killed


# -- SIGKILL at random points, and signal storms -------------------------------------------------

def _seeded() -> random.Random:
    import random
    import time

    seed = int(os.environ.get("JOURNAL_FAULT_SEED", time.time_ns() % 1_000_000))
    print(f"fault seed: JOURNAL_FAULT_SEED={seed}")          # shown when a trial fails
    return random.Random(seed)


def _all_records_parse(journal_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    found = []
    for path in sorted((journal_dir / "runs").rglob("*.toml")):
        found.append(tomllib.loads(path.read_text()))     # never torn: parses, whole
    return found


def test_sigkill_of_journal_new_at_random_points(repo: Path) -> None:
    """journal new killed at any point (capturing the code, writing the record, running,
    finishing): every record parses, says `running` (shown `crashed`) or its true end, and a
    note can still be added to each (a lock left behind is broken)."""
    import time

    rng = _seeded()
    (repo / "train.py").write_text("print('changed')\n")             # a patch to write too
    trials, outcomes = 24, {"no record": 0, "running": 0, "final": 0}
    for _ in range(trials):
        before = {path.name for path in (repo / ".journal" / "runs").rglob("*.toml")} \
            if (repo / ".journal" / "runs").exists() else set()
        proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "-c",
                                 "print('x' * 1000)"], cwd=repo,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()
        proc.wait()
        after = {path.name: path for path in (repo / ".journal" / "runs").rglob("*.toml")} \
            if (repo / ".journal" / "runs").exists() else {}
        new = [path for name, path in after.items() if name not in before]
        if not new:
            outcomes["no record"] += 1
            continue
        record = tomllib.loads(new[0].read_text())
        outcomes["final" if record["status"] != "running" else "running"] += 1
    time.sleep(0.3)                                   # keepers of killed wrappers finish
    found = _all_records_parse(repo / ".journal")
    assert sum(outcomes.values()) == trials and len(found) == outcomes["running"] + outcomes["final"]
    listed = subprocess.run([PY, "-m", "journal", "list", "-n", "0"], cwd=repo, capture_output=True)
    assert listed.returncode == 0 and b"Traceback" not in listed.stderr
    statuses = {line.split()[3] for line in listed.stdout.decode().splitlines()}
    assert statuses <= {"finished", "crashed", "running"}, statuses
    for record in found:
        done = subprocess.run([PY, "-m", "journal", "note", record["id"], "after"], cwd=repo,
                              capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
    print("outcomes:", outcomes)


def test_sigkill_of_journal_note_at_random_points(repo: Path) -> None:
    """`journal note` killed mid-edit: the record is whole, the amendments made are all there,
    and the next note goes through (the dead writer's lock is broken)."""
    import time

    rng = _seeded()
    done = subprocess.run([PY, "-m", "journal", "new", "-n", "target", "--", "true"], cwd=repo,
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    path = next((repo / ".journal" / "runs").rglob("*.toml"))
    written = 0
    for trial in range(16):
        proc = subprocess.Popen([PY, "-m", "journal", "note", "@", f"note {trial}"], cwd=repo,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.25))
        proc.kill()
        proc.wait()
        record = tomllib.loads(path.read_text())          # whole after every kill
        amendments = [a["text"] for a in record.get("amendments", [])]
        assert amendments == sorted(set(amendments), key=lambda t: int(t.split()[1]))
        written = len(amendments)
    final = subprocess.run([PY, "-m", "journal", "note", "@", "the last"], cwd=repo,
                           capture_output=True, timeout=30)
    assert final.returncode == 0, final.stderr
    record = tomllib.loads(path.read_text())
    assert len(record["amendments"]) == written + 1 and record["amendments"][-1]["text"] == "the last"


def test_signal_storms_end_in_a_true_record(repo: Path) -> None:
    """SIGINT, SIGTERM and SIGHUP at random moments, to the wrapper or to its whole process
    group: each run's record reaches a final state and journal exits with the code it records
    (a signal in the moment before journal has set itself up ends it before any record)."""
    import signal
    import time

    rng = _seeded()
    sleeper = "import time, sys\nprint('up', flush=True)\ntime.sleep(float(sys.argv[1]))"
    runs = repo / ".journal" / "runs"
    outcomes = {"recorded": 0, "before any record": 0}
    for _ in range(16):
        before = {path.name for path in runs.rglob("*.toml")} if runs.exists() else set()
        proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "-c", sleeper,
                                 str(rng.uniform(0.0, 0.3))], cwd=repo, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + rng.uniform(0.05, 0.6)
        while proc.poll() is None and time.monotonic() < deadline + 5:
            if time.monotonic() > deadline:
                signum = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
                try:
                    if rng.random() < 0.5:
                        os.killpg(proc.pid, signum)
                    else:
                        proc.send_signal(signum)
                except ProcessLookupError:
                    pass
                deadline += rng.uniform(0.0, 0.05)
            time.sleep(0.005)
        code = proc.wait(timeout=30)
        new = [path for path in runs.rglob("*.toml") if path.name not in before] \
            if runs.exists() else []
        if not new:
            assert code in (130, -signal.SIGINT, -signal.SIGTERM, -signal.SIGHUP), code
            outcomes["before any record"] += 1
            continue
        record = tomllib.loads(new[0].read_text())
        assert record["status"] != "running", record
        assert record["exit_code"] == code >= 0, (record, code)
        outcomes["recorded"] += 1
    print("outcomes:", outcomes)


def test_a_burst_of_signals_as_the_command_ends_never_hangs_journal(repo: Path) -> None:
    """SIGUSR1 as fast as a loop can send it, across the command's end: journal neither hangs
    (a handler reading the keeper's pipe under the main flow's read) nor dies of nested handlers,
    and the record and the exit code are the command's."""
    import signal
    import time

    up = repo / "up.marker"
    for _ in range(6):
        up.unlink(missing_ok=True)
        proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", "sh", "-c",
                                 f"trap '' USR1; touch {up}; sleep 0.2"], cwd=repo,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not up.exists():                   # the command ignores USR1 from here on
            assert proc.poll() is None
            time.sleep(0.01)
        end = time.monotonic() + 0.5
        while time.monotonic() < end and proc.poll() is None:
            for _ in range(200):
                try:
                    os.kill(proc.pid, signal.SIGUSR1)
                except ProcessLookupError:
                    break
        assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
    statuses = [(record["status"], record["exit_code"]) for record in records(repo / ".journal")]
    assert statuses == [("finished", 0)] * 6


def test_a_sigkilled_wrapper_still_passes_on_a_reader_that_went_away(repo: Path) -> None:
    """`journal new -- yes | head -1` with the wrapper killed first: its keeper copies on, and
    when `head` goes, `yes` must see its pipe closed (SIGPIPE) as without journal, not fill the
    disk with a log no one reads; the record says the output's reader went away."""
    import signal
    import time

    proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", "sh", "-c",
                             "sleep 1; exec yes"], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)             # the wrapper only: the keeper takes over
    time.sleep(1.0)
    assert proc.stdout.readline() == b"y\n"
    proc.stdout.close()                          # `head -1` is done
    proc.wait()
    deadline = time.monotonic() + 15
    while records(repo / ".journal")[0]["status"] == "running":
        assert time.monotonic() < deadline, "yes kept running"
        time.sleep(0.1)
    [record] = records(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("killed", 128 + signal.SIGPIPE)
    assert any("writing to stdout failed" in problem for problem in record["problems"])
    assert record["log"]["bytes"] < 200 << 20


def test_a_wrapper_killed_while_it_records_the_end_leaves_a_true_record(repo: Path) -> None:
    """The command has exited; the wrapper is folding a big side file into the record when it
    is killed: its keeper, still there, records the run's end (not a `crashed` run)."""
    import signal
    import time

    marker = repo / "done.marker"
    script = ("import json, os\n"
              "path = os.path.join(os.environ['JOURNAL_DIR'], 'metrics',"
              " os.environ['JOURNAL_RUN_ID'] + '.jsonl')\n"
              "os.makedirs(os.path.dirname(path), exist_ok=True)\n"
              "line = json.dumps({'t': 1.0, 'step': 1, 'metrics': {'loss': 0.5}}) + '\\n'\n"
              "open(path, 'w').write(line * 400000)\n"
              f"open({str(marker)!r}, 'w').close()\n")
    proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "-c", script], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.3)                              # the command has exited; the fold is going on
    assert proc.poll() is None, "the fold was over before the kill: make the side file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while records(repo / ".journal")[0]["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    [record] = records(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("finished", 0)
    assert record["metrics"] == {"loss": 0.5}
    assert "was killed while it recorded the end of the run" in record["problems"][0]

"""Fault injection: a full disk, SIGKILL at random points, signal storms. Each scenario is run
for real (processes, signals, a small tmpfs) and every record must end in a true state: parsed,
final or `crashed`, never torn, never lost.

The full-disk scenarios mount a tmpfs in a private mount namespace (`unshare -m`, as root or
with user namespaces); where that is not possible here they skip and say why.
"""

from __future__ import annotations

import os
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
    still reaches the terminal (here a pipe) and the log, and the record says what happened;
    `list` shows the run `crashed` once the output has closed."""
    import signal
    import time

    marker = repo / "finished.marker"
    script = ("import sys, time\nfor i in range(30):\n    print('line', i, flush=True)\n"
              f"    time.sleep(0.05)\nopen({str(marker)!r}, 'w').close()\n")
    proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "-c", script], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first == b"line 0\n"
    proc.send_signal(signal.SIGKILL)          # the wrapper only: the command has its own group
    rest = proc.stdout.read()                 # the keeper holds the pipe to the end
    proc.wait()
    assert marker.exists()                    # the experiment was not killed
    assert (first + rest).decode().splitlines() == [f"line {i}" for i in range(30)]
    deadline = time.monotonic() + 10
    while "closed at" not in str(records(repo / ".journal")[0].get("problems")):
        assert time.monotonic() < deadline, records(repo / ".journal")
        time.sleep(0.05)
    [record] = records(repo / ".journal")
    log = repo / ".journal" / record["log"]["path"]
    assert log.read_text().splitlines() == [f"line {i}" for i in range(30)]
    assert record["log"]["bytes"] == log.stat().st_size
    assert record["status"] == "running"
    assert "was killed while its command ran" in record["problems"][0]
    while os.path.exists(f"/proc/{record['pid']}"):       # the keeper's last moment
        assert time.monotonic() < deadline
        time.sleep(0.05)
    listed = subprocess.run([PY, "-m", "journal", "list"], cwd=repo, capture_output=True)
    assert b" crashed " in listed.stdout

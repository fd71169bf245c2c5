"""`journal tail [REF] [-f] [-n N] [--raw]` on real runs recorded through the real CLI.

Following is tested with events, not sleeps: the child touches a file when it has written, and
waits for a file the test creates before it goes on, so every wait is for something that happens.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from conftest import journal, make_repo, records

TIMEOUT = 10.0

# What a hostile or merely colourful program prints, and what a pipe reader must see of it.
EMIT = rb'''import sys
out = sys.stdout.buffer
out.write(b"start\n")
out.write(b"copy \x1b]52;c;cm0gLXJmIH4K\x07me\n")
out.write(b"\x1b]8;;https://evil.example/\x1b\\https://good.example/\x1b]8;;\x1b\\\n")
out.write(b"\x1b[2J\x1b[Hcleared\x1b[?1049h\n")
out.write(b"c1 \x9b6n raw \xc2\x9d0;title\xc2\x9c utf-8\n")
out.write(b"bidi \xe2\x80\xaeevil\xe2\x80\xac zero\xe2\x80\x8bwidth\n")
out.write(b"\x1b[1;31mred\x1b[0m plain\n")
out.write(b"10%\r50%\r100%\n")
out.write(b"caf\xc3\xa9 \xe2\x96\x88 latin-1 \xe9\n")
'''
PIPED = (b"start\ncopy me\nhttps://good.example/\ncleared\nc1 6n raw 0;title utf-8\n"
         b"bidi evil zerowidth\nred plain\n100%\ncaf\xc3\xa9 \xe2\x96\x88 latin-1 \xe9\n")
ON_TERMINAL = (b"start\ncopy me\nhttps://good.example/\ncleared\nc1 6n raw 0;title utf-8\n"
               b"bidi evil zerowidth\n\x1b[1;31mred\x1b[0m plain\n10%\r50%\r100%\n"
               b"caf\xc3\xa9 \xe2\x96\x88 latin-1 \xe9\n\x1b[0m")

# Writes `start`, says so, waits for the test to say `go`, writes `end` and finishes.
WAIT_FOR_GO = "echo start; touch started; while [ ! -e go ]; do sleep 0.02; done; echo end"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"train.py": "print('hello')\n", "emit.py": EMIT.decode()})


def new_run(repo: Path, *command: str) -> str:
    done = journal("new", "--", *command, cwd=repo)
    assert done.returncode == 0, done.stderr
    return str(records(repo / ".journal")[-1]["id"])


def tail(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return journal("tail", *args, cwd=repo, timeout=TIMEOUT)


def start(repo: Path, *args: str) -> subprocess.Popen[bytes]:
    """`journal ARGS` in the background, its stdin away from any terminal."""
    return subprocess.Popen([sys.executable, "-m", "journal", *args], cwd=repo,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@contextlib.contextmanager
def reaped(*processes: subprocess.Popen[bytes]) -> Iterator[None]:
    """Whatever happens in the test, the processes it started do not outlive it."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def read_until(stream: IO[bytes] | None, marker: bytes, seen: bytes = b"") -> bytes:
    """Read `stream` until `marker` has come (or fail after TIMEOUT); everything read."""
    assert stream is not None
    deadline = time.monotonic() + TIMEOUT
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"waited for {marker!r}, got {seen!r}"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"stream ended before {marker!r}; got {seen!r}"
            seen += chunk
    return seen


def finish(process: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


# -- printing -------------------------------------------------------------------------------

def test_tail_prints_the_latest_run_by_default_and_any_run_by_ref(project: Path) -> None:
    first = new_run(project, "sh", "-c", "echo first; echo second")
    second = new_run(project, "sh", "-c", "echo third; printf 'no newline'")
    done = tail(project)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"third\nno newline", b"")
    assert tail(project, "@").stdout == tail(project, second[:24]).stdout == b"third\nno newline"
    assert tail(project, "@~1").stdout == tail(project, first).stdout == b"first\nsecond\n"


def in_process(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> bytes:
    """`journal tail ARGS` through the typer app in this process (no interpreter start-up)."""
    from typer.testing import CliRunner

    from journal.cli.app import app

    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["tail", *args])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_lines_prints_only_the_last_lines(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 200 KB: the last lines are looked for backwards across several blocks.
    new_run(project, sys.executable, "-c", "for i in range(1, 40001): print(i)")
    assert tail(project, "-n", "3").stdout == b"39998\n39999\n40000\n"

    def last(*args: str) -> bytes:
        return in_process(project, monkeypatch, *args)

    assert last("--lines", "1") == b"40000\n"
    assert last("-n", "0") == b""
    assert last("-n", "40000") == last() == b"".join(b"%d\n" % i for i in range(1, 40001))
    assert last("-n", "999999") == last()
    new_run(project, "sh", "-c", "printf 'a\\nb\\n\\nc'")
    assert last("-n", "2") == b"\nc"     # a last line without its newline counts
    assert last("-n", "4") == last("-n", "5") == b"a\nb\n\nc"


def test_hostile_output_is_cleaned_when_piped_and_raw_keeps_every_byte(project: Path) -> None:
    run_id = new_run(project, sys.executable, "emit.py")
    log = (project / ".journal" / "logs" / f"{run_id}.log").read_bytes()
    assert log.startswith(b"start\ncopy \x1b]52;c;")          # the log itself is byte-exact
    done = tail(project)
    assert (done.returncode, done.stdout, done.stderr) == (0, PIPED, b"")
    assert tail(project, "--raw").stdout == log
    assert tail(project, "-n", "2").stdout == PIPED.split(b"\n", 7)[-1]


def test_colours_and_redraws_are_kept_on_a_terminal(project: Path) -> None:
    new_run(project, sys.executable, "emit.py")
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST        # the bytes as written, without \n -> \r\n
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    process = subprocess.Popen([sys.executable, "-m", "journal", "tail"], cwd=project,
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    shown = b""
    with reaped(process):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            try:
                chunk = os.read(master, 65536) if ready else b""
            except OSError:          # EIO: the terminal's last writer has gone
                break
            if not chunk:
                break
            shown += chunk
        os.close(master)
        assert process.wait(TIMEOUT) == 0
    assert shown == ON_TERMINAL


def test_tail_log_called_directly_for_a_terminal(project: Path) -> None:
    """The function under the CLI, with an in-memory binary stream standing for the terminal."""
    from journal.read.tail import tail_log
    from journal.store.source import RunSource

    new_run(project, sys.executable, "emit.py")
    warnings: list[str] = []
    out = io.BytesIO()
    source = RunSource(project / ".journal", warnings.append, environ=os.environ)
    assert tail_log(source, "@", follow=False, lines=None, raw=False, out=out, colour=True) == 0
    assert (out.getvalue(), warnings) == (ON_TERMINAL, [])


# -- following ------------------------------------------------------------------------------

def test_follow_prints_as_the_run_writes_and_stops_when_it_ends(project: Path) -> None:
    run = start(project, "new", "--note", "followed", "--", "sh", "-c", WAIT_FOR_GO)
    with reaped(run):
        wait_for(project / "started")
        follower = start(project, "tail", "-f")
        stopped = start(project, "tail", "--follow")
        with reaped(follower, stopped):
            assert read_until(follower.stdout, b"start\n") == b"start\n"
            read_until(stopped.stdout, b"start\n")
            # Ctrl-C ends a follow quietly: no traceback, no "Aborted!".
            stopped.send_signal(signal.SIGINT)
            assert finish(stopped) == (130, b"", b"")
            assert follower.poll() is None            # still following the running run
            (project / "go").touch()
            assert finish(follower) == (0, b"end\n", b"")
        assert run.wait(TIMEOUT) == 0


def test_follow_of_a_finished_run_prints_it_and_exits(project: Path) -> None:
    new_run(project, "sh", "-c", "echo done")
    done = journal("tail", "-f", "-n", "5", cwd=project, timeout=TIMEOUT)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"done\n", b"")


def test_follow_stops_when_the_wrapper_has_died(project: Path) -> None:
    script = "echo before; echo $$ > child.pid; touch started; sleep 30"
    run = start(project, "new", "--", "sh", "-c", script)
    with reaped(run):
        wait_for(project / "started")
        log = next((project / ".journal" / "logs").iterdir())
        deadline = time.monotonic() + TIMEOUT
        while log.read_bytes() != b"before\n":          # the wrapper has copied it to the log
            assert time.monotonic() < deadline
            time.sleep(0.01)
        run.kill()                                     # the wrapper dies without a word
        run.wait(TIMEOUT)
        os.killpg(int((project / "child.pid").read_text()), signal.SIGKILL)
    assert records(project / ".journal")[-1]["status"] == "running"   # as the record was left
    done = journal("tail", "-f", cwd=project, timeout=TIMEOUT)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"before\n", b"")


def test_follow_reads_a_truncated_log_again_from_its_start(project: Path) -> None:
    run = start(project, "new", "--", "sh", "-c", WAIT_FOR_GO)
    with reaped(run):
        wait_for(project / "started")
        follower = start(project, "tail", "-f")
        with reaped(follower):
            read_until(follower.stdout, b"start\n")
            log = next((project / ".journal" / "logs").iterdir())
            os.truncate(log, 0)                        # as `logrotate copytruncate` does
            assert b"truncated" in read_until(follower.stderr, b"\n")
            (project / "go").touch()
            code, rest, _err = finish(follower)
            assert (code, rest) == (0, b"end\n")
        assert run.wait(TIMEOUT) == 0


def test_follow_waits_for_the_log_of_a_running_run(project: Path) -> None:
    run = start(project, "new", "--", "sh", "-c", WAIT_FOR_GO)
    with reaped(run):
        wait_for(project / "started")
        log = next((project / ".journal" / "logs").iterdir())
        away = log.with_name("elsewhere")
        log.rename(away)                  # as if the run had not created it yet
        assert _error(tail(project)).startswith("journal: error: the log of run")
        follower = start(project, "tail", "-f")
        with reaped(follower):
            assert b"waiting for the log" in read_until(follower.stderr, b"\n")
            away.rename(log)
            read_until(follower.stdout, b"start\n")
            (project / "go").touch()
            assert finish(follower)[:2] == (0, b"end\n")
        assert run.wait(TIMEOUT) == 0


def test_a_closed_pipe_ends_tail_quietly(project: Path) -> None:
    new_run(project, sys.executable, "-c", "for i in range(100000): print(i)")   # 600 KB
    reader = start(project, "tail")
    with reaped(reader):
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.read(10)
        reader.stdout.close()                          # as `journal tail | head -1` does
        assert reader.wait(TIMEOUT) == 141
        assert reader.stderr.read() == b""


# -- errors ---------------------------------------------------------------------------------

def _error(done: subprocess.CompletedProcess[bytes]) -> str:
    assert done.returncode == 2 and done.stdout == b""
    text = done.stderr.decode()
    assert "Traceback" not in text
    return text.splitlines()[0]


def test_a_note_only_run_has_no_log(project: Path) -> None:
    assert journal("new", "--note", "an idea", cwd=project).returncode == 0
    run_id = records(project / ".journal")[-1]["id"]
    line = _error(tail(project))
    assert line == f"journal: error: run {run_id} has no log: it is a note-only entry"
    assert _error(tail(project, "-f")) == line


def test_a_missing_log_is_one_line(project: Path) -> None:
    run_id = new_run(project, "sh", "-c", "echo gone")
    log = project / ".journal" / "logs" / f"{run_id}.log"
    log.unlink()
    assert _error(tail(project)) == f"journal: error: the log of run {run_id} is missing: {log}"
    assert _error(tail(project, "-f", run_id)).startswith("journal: error: the log of run")


def test_a_log_path_outside_the_journal_is_never_opened(project: Path) -> None:
    (project / "secret.txt").write_text("do not print me\n")
    new_run(project, "sh", "-c", "echo mine")
    record = next((project / ".journal" / "runs").rglob("*.toml"))
    text = record.read_text()
    record.write_text(text.replace('path = "logs/', 'path = "../secret.txt" # logs/'))
    line = _error(tail(project))
    assert "is outside the journal folder" in line and "do not print" not in line


def test_a_log_linked_to_a_file_outside_the_journal_is_never_opened(project: Path) -> None:
    (project / "secret.txt").write_text("do not print me\n")
    run_id = new_run(project, "sh", "-c", "echo mine")
    log = project / ".journal" / "logs" / f"{run_id}.log"
    log.unlink()
    log.symlink_to(project / "secret.txt")
    line = _error(tail(project))
    assert "is outside the journal folder" in line and "do not print" not in line
    shown = journal("show", "--log", run_id, cwd=project)
    assert b"do not print" not in shown.stdout + shown.stderr


@pytest.mark.parametrize(("count", "max_bytes", "expected"), [
    (2, None, b"c\nd\n"), (10, None, b"a\nb\nc\nd\n"), (0, None, b""),
    (3, 3, b"\nd\n"), (1, 100, b"d\n")])
def test_the_last_lines_are_found_from_the_end_within_a_byte_limit(
        tmp_path: Path, count: int, max_bytes: int | None, expected: bytes) -> None:
    from journal.store.runfiles import start_of_last_lines

    path = tmp_path / "log"
    path.write_bytes(b"a\nb\nc\nd\n")
    with open(path, "rb") as handle:
        handle.seek(start_of_last_lines(handle, count, max_bytes))
        assert handle.read() == expected


def test_an_unknown_ref_is_one_line(project: Path) -> None:
    new_run(project, "sh", "-c", "echo x")
    assert _error(tail(project, "../../etc/passwd")) == \
        "journal: error: unknown run '../../etc/passwd'"


def test_tail_does_not_load_heavy_modules(project: Path) -> None:
    new_run(project, "sh", "-c", "echo light")
    code = (
        "import sys\n"
        "from journal.cli.main import main\n"
        "try:\n    main(['tail'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'tomlkit', 'markdown_it', 'rich', 'git'} & set(sys.modules)\n"
        "sys.stderr.write(f'heavy={sorted(heavy)}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, check=False,
                          timeout=TIMEOUT)
    assert (done.stdout, done.stderr) == (b"light\n", b"heavy=[]")

"""`journal new -- CMD`: pass-through, the log, exit codes, signals, the record's life cycle."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import journal, only_record, records

PY = sys.executable


def journal_process(*args: str, cwd: Path, **popen: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, "-m", "journal", *args], cwd=cwd, **popen)  # type: ignore[call-overload]


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_binary_output_passes_through_byte_exact_and_is_logged(repo: Path, tmp_path: Path) -> None:
    payload = os.urandom(10 * 1024 * 1024)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(payload)
    script = (
        "import sys, time; data = open(sys.argv[1], 'rb').read();"
        "sys.stderr.buffer.write(data[-4096:]); sys.stderr.flush(); time.sleep(0.3);"
        "sys.stdout.buffer.write(data)"
    )
    done = journal("new", "-q", "--", PY, "-c", script, str(blob), cwd=repo, timeout=120)
    assert done.returncode == 0
    assert done.stdout == payload
    assert done.stderr == payload[-4096:]
    record = only_record(repo / ".journal")
    log = (repo / ".journal" / record["log"]["path"]).read_bytes()
    assert record["log"]["bytes"] == len(payload) + 4096 == len(log)
    # Both streams whole, each in order; they meet at line ends (each stream's partial line
    # waits for its own end, so a secret cut by the other stream's line is still seen whole).
    assert _interleaves(log, payload, payload[-4096:])


def _common(a: memoryview, b: memoryview) -> int:
    """The length of the common start of `a` and `b`."""
    size = 0
    while size < min(len(a), len(b)):
        step = min(65536, len(a) - size, len(b) - size)
        if a[size:size + step] == b[size:size + step]:
            size += step
            continue
        while a[size] == b[size]:
            size += 1
        return size
    return size


def _interleaves(log: bytes, first: bytes, second: bytes) -> bool:
    """`log` is `first` and `second` cut in pieces and interleaved, each in its own order."""
    i = j = k = 0
    log_view, first_view, second_view = memoryview(log), memoryview(first), memoryview(second)
    while k < len(log):
        take_first = _common(log_view[k:], first_view[i:])
        take_second = _common(log_view[k:], second_view[j:])
        if not take_first and not take_second:
            return False
        if take_first >= take_second:
            i, k = i + take_first, k + take_first
        else:
            j, k = j + take_second, k + take_second
    return (i, j) == (len(first), len(second))


def test_exit_code_passes_through_and_marks_failed(repo: Path) -> None:
    done = journal("new", "--", PY, "-c", "import sys; sys.exit(3)", cwd=repo)
    assert done.returncode == 3
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("failed", 3)
    assert record["duration"] >= 0 and record["ended"] >= record["started"]


def test_finished_record_has_all_fields_in_offset_time(repo: Path) -> None:
    done = journal("new", "-n", "why", "-t", "a", "-t", "b", "-t", "a", "--",
                   PY, "-c", "print('x')", "--lr", "0.1", cwd=repo)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["schema"] == 2
    assert record["note"] == "why"
    assert record["tags"] == ["a", "b"]
    assert record["status"] == "finished" and record["exit_code"] == 0
    assert record["command"] == [PY, "-c", "print('x')", "--lr", "0.1"]
    assert record["params"] == {"lr": 0.1}
    assert record["cwd"] == "."
    assert record["host"] == os.uname().nodename
    assert isinstance(record["pid"], int)
    assert record["started"].tzinfo is not None and record["ended"].tzinfo is not None
    assert re.fullmatch(r"\d{8}-\d{6}\.\d{3}-[0-9a-f]{7}-[0-9a-z]{6}", record["id"])
    assert record["id"].split("-")[2] == record["git"]["commit"][:7]
    text = next((repo / ".journal" / "runs").rglob("*.toml")).read_text()
    assert re.search(r"^started = \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", text, re.M)


def test_missing_program_is_one_line_and_a_failed_record(repo: Path) -> None:
    done = journal("new", "--", "no-such-program-xyz", cwd=repo)
    assert done.returncode == 127
    assert done.stderr.decode() == "journal: command not found: no-such-program-xyz\n"
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("failed", 127)
    assert record["error"] == "command not found: no-such-program-xyz"


def test_program_that_cannot_be_executed_exits_126(repo: Path) -> None:
    script = repo / "not-executable.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    done = journal("new", "--", "./not-executable.sh", cwd=repo)
    assert done.returncode == 126
    assert b"Traceback" not in done.stderr and done.stderr.startswith(b"journal: cannot execute")
    assert only_record(repo / ".journal")["status"] == "failed"


def test_child_sees_its_running_record_and_environment(repo: Path) -> None:
    script = (
        "import os, tomllib, glob, json;"
        "rid = os.environ['JOURNAL_RUN_ID']; jdir = os.environ['JOURNAL_DIR'];"
        "[path] = glob.glob(f'{jdir}/runs/**/{rid}.toml', recursive=True);"
        "rec = tomllib.load(open(path, 'rb'));"
        "print(json.dumps([rid == rec['id'], rec['status'], 'ended' in rec]))"
    )
    done = journal("new", "--", PY, "-c", script, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b'[true, "running", false]\n'
    assert only_record(repo / ".journal")["status"] == "finished"


def _start_and_wait_for_child(repo: Path, script: str) -> tuple[subprocess.Popen[bytes], Path]:
    marker = repo / "started.marker"
    proc = journal_process("new", "--", PY, "-c", script, str(marker), cwd=repo,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(marker.exists)
    return proc, marker


SLEEPER = "import sys, time; open(sys.argv[1], 'w').close(); print('up', flush=True); time.sleep(30)"


@pytest.mark.parametrize(
    ("signum", "status", "code"),
    [(signal.SIGINT, "interrupted", 130), (signal.SIGTERM, "killed", 143), (signal.SIGHUP, "killed", 129)],
)
def test_signal_to_journal_reaches_the_child_first(repo: Path, signum: int, status: str, code: int) -> None:
    proc, _ = _start_and_wait_for_child(repo, SLEEPER)
    running = only_record(repo / ".journal")
    assert running["status"] == "running" and "ended" not in running
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    assert out == b"up\n"
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == (status, code)
    assert record["duration"] > 0


def test_child_killed_by_signal_is_killed_with_128_plus_n(repo: Path) -> None:
    done = journal("new", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                   cwd=repo)
    assert done.returncode == 137
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("killed", 137)


def test_child_dying_of_sigint_is_interrupted(repo: Path) -> None:
    done = journal("new", "--", "sh", "-c", "kill -INT $$", cwd=repo)
    assert done.returncode == 130
    assert only_record(repo / ".journal")["status"] == "interrupted"


def test_sigint_reaches_grandchildren_through_the_process_group(repo: Path) -> None:
    script = ("import subprocess, sys; open(sys.argv[1], 'w').close();"
              "subprocess.run(['sleep', '30'])")
    proc, _ = _start_and_wait_for_child(repo, script)
    time.sleep(0.2)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert time.monotonic() - started < 5   # `sleep 30` got the signal too
    assert only_record(repo / ".journal")["status"] == "killed"


def test_output_reaches_the_log_while_running(repo: Path) -> None:
    proc, _ = _start_and_wait_for_child(repo, SLEEPER)
    record = only_record(repo / ".journal")
    log = repo / ".journal" / record["log"]["path"]
    wait_for(lambda: log.exists() and log.read_bytes() == b"up\n", timeout=2)
    proc.kill()   # SIGKILL of the wrapper: the record stays `running`, parseable, and names its pid
    proc.wait()
    record = only_record(repo / ".journal")
    assert record["status"] == "running" and record["pid"] == proc.pid


def test_record_that_cannot_be_written_means_the_child_never_starts(repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    marker = repo / "ran.marker"
    env = {**os.environ, "JOURNAL_DIR": str(blocker)}
    done = journal("new", "--", PY, "-c", f"open({str(marker)!r}, 'w')", cwd=repo, env=env)
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("journal: error: cannot write")
    assert not marker.exists()


def test_log_that_cannot_be_opened_does_not_stop_the_child(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "logs").write_text("a file where the logs folder should be")
    done = journal("new", "--", PY, "-c", "print('still ran'); raise SystemExit(4)", cwd=repo)
    assert done.returncode == 4
    assert done.stdout == b"still ran\n"
    record = only_record(repo / ".journal")
    assert record["status"] == "failed"
    assert len(record["problems"]) == 1 and "cannot open the log" in record["problems"][0]
    assert b"cannot open the log" in done.stderr
    # The final report does not name a log that was never written as if it were there.
    assert b"  log       none (cannot open the log" in done.stderr


def _fate_when_the_reader_goes_away(argv: list[str], cwd: Path) -> tuple[int, bytes]:
    """Start `argv`, read a few bytes of its stdout and close the pipe (`| head -c 10`): its exit
    status, and the stderr it left."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.read(10)
    proc.stdout.close()   # the terminal or pipe goes away
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_reader_going_away_does_not_change_the_childs_fate(repo: Path) -> None:
    """journal passes a closed pipe on: the child's next write fails as it would without journal
    (a Python script gets BrokenPipeError, and exits 1), and the record says so."""
    marker = repo / "finished.marker"
    script = (f"import sys\nfor i in range(200000): print(i)\nopen({str(marker)!r}, 'w').close()")
    plain, _ = _fate_when_the_reader_goes_away([PY, "-c", script], repo)
    assert plain == 1 and not marker.exists()
    code, err = _fate_when_the_reader_goes_away([PY, "-m", "journal", "new", "--", PY, "-c", script],
                                                repo)
    assert code == plain, err
    assert not marker.exists() and b"BrokenPipeError" in err
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("failed", 1)
    assert any("writing to stdout failed" in p and "Broken pipe" in p for p in record["problems"])


def test_yes_piped_to_head_ends_at_once_as_without_journal(repo: Path) -> None:
    """`journal new -- yes | head -1` ends, killed by SIGPIPE (141) like `yes | head -1`, instead
    of filling the log for ever."""
    plain, _ = _fate_when_the_reader_goes_away(["yes"], repo)
    assert plain == -signal.SIGPIPE
    code, err = _fate_when_the_reader_goes_away([PY, "-m", "journal", "new", "--", "yes"], repo)
    assert code == 128 + signal.SIGPIPE, err
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("killed", 141)
    assert record["log"]["bytes"] <= 4 << 20       # a few 1 MiB reads at most, not for ever


def test_fifty_concurrent_runs_give_fifty_records(repo: Path) -> None:
    procs = [journal_process("new", "-n", f"run {i}", "--", "true", cwd=repo,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(50)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 50, errors
    found = records(repo / ".journal")
    assert len(found) == 50
    assert len({r["id"] for r in found}) == 50
    assert sorted(r["note"] for r in found) == sorted(f"run {i}" for i in range(50))
    assert all(r["status"] == "finished" for r in found)
    leftovers = [p for p in (repo / ".journal").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_ids_sort_by_start_time(repo: Path) -> None:
    for _ in range(3):
        assert journal("new", "-n", "x", cwd=repo).returncode == 0
    found = records(repo / ".journal")
    assert [r["id"] for r in found] == sorted(r["id"] for r in found)
    starts = [r["started"] for r in found]
    assert starts == sorted(starts)


def _journal_on_a_terminal(repo: Path, script: str, keys: tuple[tuple[bytes, Any], ...] = ()
                           ) -> tuple[int, bytes]:
    """Run `journal new -- python -c script` as if typed in a terminal, typing each key sequence
    (or calling each function with the terminal) once its prompt has appeared; return (exit
    code, everything the terminal showed)."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:   # pragma: no cover - the child side
        os.chdir(repo)
        os.execv(PY, [PY, "-m", "journal", "new", "--", PY, "-c", script])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 123, 0, 0))
    output = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if keys and keys[0][0] in output:
            action = keys[0][1]
            action(fd) if callable(action) else os.write(fd, action)
            keys = keys[1:]
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def test_terminal_gets_a_pseudo_terminal_and_raw_bytes(repo: Path) -> None:
    """On a terminal the child sees a tty (colours, tqdm) and its bytes arrive unchanged."""
    script = ("import sys, os; print(os.isatty(1), os.isatty(2), os.get_terminal_size().columns);"
              "sys.stdout.write('\\x1b[32mgreen\\x1b[0m 10%\\r20%\\r100%\\n'); sys.stdout.flush()")
    code, output = _journal_on_a_terminal(repo, script)
    assert code == 0
    assert b"True True 123" in output
    # The outer terminal turns \n into \r\n; what the child wrote is otherwise untouched.
    assert b"\x1b[32mgreen\x1b[0m 10%\r20%\r100%\r\n" in output
    record = only_record(repo / ".journal")
    log = (repo / ".journal" / record["log"]["path"]).read_bytes()
    assert log.startswith(b"True True ")
    assert log.endswith(b"\x1b[32mgreen\x1b[0m 10%\r20%\r100%\n")


def test_a_resized_terminal_resizes_the_childs_pseudo_terminal(repo: Path) -> None:
    """tqdm and rich redraw to the width they read on SIGWINCH: it must be the new one."""
    import fcntl
    import struct
    import termios

    script = ("import os, signal, time\n"
              "seen = []\n"
              "signal.signal(signal.SIGWINCH, lambda *a: seen.append(os.get_terminal_size(2).columns))\n"
              "print('size', os.get_terminal_size(1).columns, flush=True)\n"
              "deadline = time.monotonic() + 10\n"
              "while 77 not in seen and time.monotonic() < deadline: time.sleep(0.02)\n"
              "print('now', os.get_terminal_size(1).columns, os.get_terminal_size(2).columns, "
              "77 in seen, flush=True)\n")

    def resize(fd: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 77, 0, 0))

    code, output = _journal_on_a_terminal(repo, script, keys=((b"size 123", resize),))
    assert code == 0, output
    assert b"now 77 77 True" in output


def test_journal_dir_override_and_subdirectory(repo: Path, tmp_path: Path) -> None:
    sub = repo / "experiments" / "deep"
    sub.mkdir(parents=True)
    assert journal("new", "-n", "from sub", "--", "true", cwd=sub).returncode == 0
    assert only_record(repo / ".journal")["cwd"] == "experiments/deep"
    elsewhere = tmp_path / "shared-journal"
    env = {**os.environ, "JOURNAL_DIR": str(elsewhere)}
    assert journal("new", "-n", "override", cwd=sub, env=env).returncode == 0
    assert only_record(elsewhere)["note"] == "override"


def test_bad_config_is_one_line_before_anything_runs(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text("[capture\n")
    marker = repo / "ran.marker"
    done = journal("new", "--", PY, "-c", f"open({str(marker)!r}, 'w')", cwd=repo)
    assert done.returncode == 2
    assert done.stderr.decode().startswith("journal: error: ") and b"Traceback" not in done.stderr
    assert "config.toml is not valid TOML" in done.stderr.decode()
    assert not marker.exists() and records(repo / ".journal") == []


def test_note_only_entry_records_code_state_and_no_exit_code(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    done = journal("new", "-n", "idea: warm-up", "-m", "acc=82.476", "-p", "lr=3e-4", cwd=repo)
    assert done.returncode == 0
    record = only_record(repo / ".journal")
    assert done.stderr.decode() == f"journal: recorded {record['id']}\n"
    assert "exit_code" not in record and "command" not in record and "log" not in record
    assert record["metrics"] == {"acc": 82.476} and record["params"] == {"lr": 0.0003}
    assert record["git"]["dirty"] is True and record["git"]["changed"] == ["train.py"]
    patch = (repo / ".journal" / record["git"]["patch"]).read_text()
    assert "+print('changed')" in patch


def test_keyboard_and_ctrl_c_reach_the_child_on_a_terminal(repo: Path) -> None:
    """The child can read the keyboard (pdb, prompts) and Ctrl-C interrupts it."""
    script = ("import time; line = input('ready> '); print('got', line, flush=True);"
              "print('ready again', flush=True); time.sleep(30)")
    started = time.monotonic()
    code, output = _journal_on_a_terminal(
        repo, script, keys=((b"ready> ", b"hello\n"), (b"ready again", b"\x03")))
    assert time.monotonic() - started < 20
    assert b"got hello" in output
    # Ctrl-C from the keyboard ended the command: journal, the record written, ends the same
    # way (killed by SIGINT, which a shell reports as 130) so that a loop of runs stops.
    assert code == -signal.SIGINT
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("interrupted", 130)


# -- signals: ignored ones stay ignored, late ones change nothing -------------------------------

IGNORE_CHECK = ("import signal, sys, time; open(sys.argv[1], 'w').close();"
                "print('ignored' if signal.getsignal(signal.{sig}) == signal.SIG_IGN else 'default',"
                " flush=True); time.sleep(0.5); print('survived', flush=True)")


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT])
def test_a_signal_ignored_by_journals_parent_stays_ignored(repo: Path, signum: int) -> None:
    """`nohup journal new -- CMD`, or `journal new -- CMD &` in a script: the hang-up (or the
    Ctrl-C) that CMD would survive alone, it survives under journal too."""
    marker = repo / "started.marker"
    name = signal.Signals(signum).name
    proc = journal_process("new", "--", PY, "-c", IGNORE_CHECK.format(sig=name), str(marker),
                           cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           preexec_fn=lambda: signal.signal(signum, signal.SIG_IGN))
    wait_for(marker.exists)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == b"ignored\nsurvived\n"
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("finished", 0)


def test_the_file_journals_output_is_redirected_to_does_not_make_the_run_dirty(repo: Path
                                                                              ) -> None:
    """`nohup journal new -- CMD > out.txt 2> err.txt &` in the repo: the shell creates both
    files for this run; they are no change to the code. Another new file still is."""
    (repo / "logs").mkdir()
    with open(repo / "out.txt", "wb") as out, open(repo / "logs" / "err.txt", "wb") as err:
        proc = journal_process("new", "--", PY, "-c", "print('hi')", cwd=repo, stdout=out,
                               stderr=err)
        assert proc.wait(timeout=60) == 0
    assert (repo / "out.txt").read_bytes() == b"hi\n"
    git = only_record(repo / ".journal")["git"]
    assert (git["dirty"], git["untracked"]) == (False, [])
    (repo / "notes.txt").write_text("new\n")
    with open(repo / "out.txt", "wb") as out:
        assert journal_process("new", "-n", "x", cwd=repo, stdout=out).wait(timeout=60) == 0
    newest = max(records(repo / ".journal"), key=lambda record: record["id"])["git"]
    assert (newest["dirty"], newest["untracked"]) == (True, ["logs/err.txt", "notes.txt"])


def test_signals_while_the_record_is_finalised_change_nothing(repo: Path) -> None:
    """A storm of SIGTERM and SIGINT from the moment the child ends: every record reaches its
    final state and journal exits with the child's code, never dies of the signal."""
    outcomes = []
    for attempt in range(12):
        marker = repo / f"ending-{attempt}.marker"
        proc = journal_process("new", "-q", "--", PY, "-c",
                               f"open({str(marker)!r}, 'w').close()", cwd=repo,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(marker.exists)
        time.sleep(0.02 * (attempt % 4))      # land at different points of the finalising
        while proc.poll() is None:
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)
            time.sleep(0.003)
        outcomes.append(proc.returncode)
    found = records(repo / ".journal")
    assert len(found) == 12
    assert all(record["status"] != "running" for record in found), found
    by_code = {record["exit_code"] for record in found}
    assert set(outcomes) == by_code and by_code <= {0, 130, 143}, (outcomes, by_code)
    assert all(code >= 0 for code in outcomes)           # journal never died of the signal


def test_a_grandchilds_late_output_still_arrives(repo: Path) -> None:
    """As with `cmd | cat`, journal reads the output until every writer has closed it: a
    background child writing after the command ended is not cut off. The run's duration is the
    command's."""
    done = journal("new", "-q", "--", "sh", "-c", "( sleep 1; echo late ) & echo parent", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"parent\nlate\n"
    record = only_record(repo / ".journal")
    assert record["duration"] < 0.9
    log = (repo / ".journal" / record["log"]["path"]).read_bytes()
    assert log == b"parent\nlate\n"


def test_ctrl_c_while_late_output_is_awaited_ends_the_wait_not_the_record(repo: Path) -> None:
    proc = journal_process("new", "-q", "--", "sh", "-c", "( sleep 30; echo late ) & echo parent",
                           cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    def parent_logged() -> bool:
        found = records(repo / ".journal")
        log = repo / ".journal" / found[0]["log"]["path"] if found else None
        return log is not None and log.exists() and log.read_bytes() == b"parent\n"

    wait_for(parent_logged)
    time.sleep(0.3)                              # the command (sh) has ended by now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == b"parent\n"
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("finished", 0)


def test_an_empty_command_is_not_found_as_in_a_shell(repo: Path) -> None:
    done = journal("new", "--", "", cwd=repo)
    assert done.returncode == 127, done.stderr
    assert b"command not found: ''" in done.stderr
    assert only_record(repo / ".journal")["status"] == "failed"


def test_files_follow_the_umask_as_git_does(repo: Path) -> None:
    """A shared journal (umask 002) gets group-writable records, logs, patches and folders."""
    (repo / "train.py").write_text("print('changed')\n")
    previous = os.umask(0o002)
    try:
        done = journal("new", "-q", "--", "echo", "hi", cwd=repo)
    finally:
        os.umask(previous)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    made = [repo / ".journal" / record["log"]["path"], repo / ".journal" / record["git"]["patch"],
            next((repo / ".journal" / "runs").rglob("*.toml"))]
    for path in made:
        assert path.stat().st_mode & 0o777 == 0o664, (path, oct(path.stat().st_mode))
    assert (repo / ".journal" / "runs").stat().st_mode & 0o777 == 0o775


def test_usr1_is_passed_on_and_changes_nothing_in_the_record(repo: Path) -> None:
    """SLURM's `--signal=USR1@60` (a checkpoint before the time limit) reaches the command, which
    handles it and finishes: the run is `finished`, journal did not die of the signal."""
    marker = repo / "started.marker"
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGUSR1, lambda *a: print('checkpoint', flush=True))\n"
              "open(sys.argv[1], 'w').close()\ntime.sleep(0.6)\nprint('done', flush=True)\n")
    proc = journal_process("new", "-q", "--", PY, "-c", script, str(marker), cwd=repo,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(marker.exists)
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == b"checkpoint\ndone\n"
    assert only_record(repo / ".journal")["status"] == "finished"


def _interactive_shell(repo: Path, steps: list[tuple[bytes, bytes]], timeout: float = 30
                       ) -> bytes:
    """An interactive bash on a pseudo-terminal, as a user has one: for each step, wait until
    the screen shows `wait_for` after what the step before waited for, then type `keys`."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:   # pragma: no cover - the child side
        os.chdir(repo)
        os.environ["PS1"] = "PROMPT$ "
        os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
    screen = b""
    cursor = 0                                   # the screen up to here was waited for
    deadline = time.monotonic() + timeout
    try:
        for wait_for, keys in steps:
            while screen.find(wait_for, cursor) < 0:
                assert time.monotonic() < deadline, f"waited for {wait_for!r}; screen: {screen!r}"
                if select.select([fd], [], [], 0.1)[0]:
                    try:
                        screen += os.read(fd, 65536)
                    except OSError:
                        break
            cursor = screen.find(wait_for, cursor) + len(wait_for)
            os.write(fd, keys)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return screen


def test_ctrl_z_stops_the_job_and_fg_continues_it(repo: Path) -> None:
    """Ctrl-Z stops the command (it has the terminal); journal stops too, so the shell shows
    its prompt, as without journal; `fg` continues both and gives the command the keyboard."""
    script = "print('RE' + 'ADY', flush=True); line = input(); print('got', line * 2, flush=True)"
    command = f"{PY} -m journal new -q -- {PY} -c \"{script}\"\r"
    screen = _interactive_shell(repo, [
        (b"PROMPT$ ", command.encode()),
        (b"READY", b"\x1a"),                       # Ctrl-Z
        (b"Stopped", b""),
        (b"PROMPT$ ", b"fg\r"),
        (b"python", b"hello\r"),
        (b"got hellohello", b""),
        (b"PROMPT$ ", b"exit\r"),                 # the run is on record: the prompt is back
    ])
    assert b"got hellohello" in screen
    record = only_record(repo / ".journal")
    assert record["status"] == "finished" and record["exit_code"] == 0


@pytest.mark.parametrize("closed", ["1", "2"])
def test_a_closed_stdout_or_stderr_still_runs_the_command(repo: Path, closed: str) -> None:
    """`journal new -- CMD >&-`: the command runs and is recorded (what it prints to the closed
    stream reaches no one, and the log still); journal's own files never take the closed
    descriptor's number."""
    done = subprocess.run(["sh", "-c", f"{PY} -m journal new -q -- sh -c 'echo ran > ran.txt; "
                                       f"echo out; echo err >&2' {closed}>&-"],
                          cwd=repo, capture_output=True, timeout=60)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    assert (repo / "ran.txt").read_text() == "ran\n"
    record = only_record(repo / ".journal")
    assert record["status"] == "finished"
    log = (repo / ".journal" / record["log"]["path"]).read_text()
    assert sorted(log.splitlines()) == ["err", "out"]
    assert (done.stdout, done.stderr) == ((b"", b"err\n") if closed == "1" else (b"out\n", b""))


def test_a_script_without_a_shebang_runs_with_sh_as_in_a_shell(repo: Path) -> None:
    script = repo / "run.sh"
    script.write_text("echo from sh $1\n")
    script.chmod(0o755)
    done = journal("new", "-q", "--", "./run.sh", "arg", cwd=repo)
    assert (done.returncode, done.stdout) == (0, b"from sh arg\n")
    assert only_record(repo / ".journal")["status"] == "finished"


def test_stdout_and_stderr_on_one_terminal_keep_their_order(repo: Path) -> None:
    """Both streams are the user's one terminal: the command gets one pseudo-terminal for
    both, so lines written alternately to each arrive in the order written, on the screen and
    in the log (two pseudo-terminals would let one overtake the other), and a progress bar
    redrawn around a print leaves no stale copy."""
    script = ("import os, sys\n"
              "for i in range(200):\n"
              "    os.write(1, b'out %d\\n' % i)\n"
              "    os.write(2, b'err %d\\n' % i)\n"
              "os.write(2, b'\\r 50%|#####     |')\n"
              "os.write(1, b'\\nprinted\\n')\n"
              "os.write(2, b'\\r100%|##########|\\n')\n")
    code, output = _journal_on_a_terminal(repo, script)
    assert code == 0
    expected = "".join(f"out {i}\nerr {i}\n" for i in range(200))
    screen = output.replace(b"\r\n", b"\n").decode()
    assert expected + "\r 50%|#####     |\nprinted\n\r100%|##########|\n" in screen
    record = only_record(repo / ".journal")
    log = (repo / ".journal" / record["log"]["path"]).read_bytes().decode()
    assert log == expected + "\r 50%|#####     |\nprinted\n\r100%|##########|\n"


def test_ctrl_c_stops_a_shell_loop_of_runs_as_without_journal(repo: Path) -> None:
    """`for s in 1 2; do journal new -- python train.py; done` and Ctrl-C during the first run:
    the run is recorded `interrupted`, and the loop stops (a shell stops it only when its child
    died of SIGINT, so journal, once the record is final, ends that way too)."""
    script = "import sys, time; print('RU' + 'N', sys.argv[1], flush=True); time.sleep(30)"
    loop = (f"for s in 1 2; do {PY} -m journal new -q -- {PY} -c \"{script}\" $s; done; "
            "echo LOOP-DONE\r")
    screen = _interactive_shell(repo, [
        (b"PROMPT$ ", loop.encode()),
        (b"RUN 1", b"\x03"),                                   # Ctrl-C
        (b"PROMPT$ ", b"exit\r"),
    ])
    after = screen.split(b"RUN 1", 1)[1]
    assert b"KeyboardInterrupt" in after
    assert b"RUN 2" not in after and b"LOOP-DONE" not in after
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("interrupted", 130)


def test_stdout_and_stderr_into_one_file_keep_their_order(repo: Path, tmp_path: Path) -> None:
    """`journal new -- CMD > out.txt 2>&1`: one pipe for both, so the file (and the log) get the
    lines in the order written, as without journal."""
    out = tmp_path / "out.txt"
    script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"
    done = subprocess.run(f"{PY} -m journal new -q -- sh -c '{script}' > {out} 2>&1", shell=True,
                          cwd=repo, timeout=60)
    assert done.returncode == 0
    expected = "".join(f"out{i}\nerr{i}\n" for i in range(1, 6))
    assert out.read_text() == expected
    record = only_record(repo / ".journal")
    assert (repo / ".journal" / record["log"]["path"]).read_text() == expected

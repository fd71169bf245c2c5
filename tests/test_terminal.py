"""Colour and paging as git has them, through real pseudo-terminals and real pagers:
--color auto|always|never, NO_COLOR, $JOURNAL_PAGER / $PAGER / less with LESS=FRX, --no-pager,
and a pager quit early."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from readkit import cli, drain, one_error_line, write_run

COLOUR = b"\x1b["
# A pager that keeps what it is given, and the LESS it was started with.
KEEPER = ("import os, sys\nopen(sys.argv[1], 'wb').write(sys.stdin.buffer.read())\n"
          "open(sys.argv[1] + '.less', 'w').write(os.environ.get('LESS', '-'))\n")


def on_terminal(args: list[str], cwd: Path, **env: str | None) -> tuple[int, bytes, bytes]:
    """`journal ARGS` with stdout on a pseudo-terminal: (exit code, what the terminal showed,
    stderr). `env` adds to the environment (None: removes)."""
    environment = {**os.environ, "TERM": "xterm", **env}
    leader, follower = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "journal", *args], cwd=cwd, stdout=follower,
                             stderr=subprocess.PIPE,
                             env={name: value for name, value in environment.items()
                                  if value is not None})
    os.close(follower)
    shown = drain(leader)
    assert child.stderr is not None
    err = child.stderr.read()
    return child.wait(timeout=60), shown, err


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    write_run(tmp_path / ".journal", note="adam instead of sgd", metrics={"acc": 82.476})
    return tmp_path


def test_colour_on_a_terminal_only_and_never_with_no_color(journal_dir: Path) -> None:
    code, shown, _ = on_terminal(["list"], journal_dir)
    assert code == 0 and COLOUR in shown and b"adam instead of sgd" in shown
    for args, env in ((["list"], {"NO_COLOR": "1"}), (["list", "--color", "never"], {}),
                      (["list"], {"TERM": "dumb"})):
        code, shown, _ = on_terminal(args, journal_dir, **env)
        assert code == 0 and COLOUR not in shown and b"adam instead of sgd" in shown, args
    assert COLOUR not in cli("list", cwd=journal_dir).out.encode()
    forced = cli("list", "--color=always", cwd=journal_dir)
    assert "\x1b[33m" in forced.out                              # piped, but asked for
    grep = cli("grep", "--color", "always", "-F", "82.476", cwd=journal_dir)
    assert "\x1b[1;31m82.476\x1b[m" in grep.out
    assert "--color takes auto, always or never" in one_error_line(
        cli("list", "--color", "sometimes", cwd=journal_dir))


def test_show_goes_through_the_pager_rendered_for_the_terminal(journal_dir: Path) -> None:
    kept = journal_dir / "paged.txt"
    (journal_dir / "pager.py").write_text(KEEPER)
    pager = f"{sys.executable} pager.py {kept}"
    code, shown, err = on_terminal(["show"], journal_dir, JOURNAL_PAGER=pager)
    assert (code, err) == (0, b"") and b"adam instead of sgd" not in shown
    text = kept.read_bytes()
    assert b"adam instead of sgd" in text and COLOUR in text       # rich's rendering, in colour
    assert kept.with_name("paged.txt.less").read_text() == "FRX"  # as git sets it
    kept.unlink()
    code, shown, _ = on_terminal(["show"], journal_dir, PAGER=pager, JOURNAL_PAGER="",
                                 LESS="-R")
    assert code == 0 and not kept.exists() and b"adam instead of sgd" in shown   # empty: none
    for args, env in ((["show", "--no-pager"], {"JOURNAL_PAGER": pager}),
                      (["diff", "@", "@", "--no-pager"], {"JOURNAL_PAGER": pager}),
                      (["show"], {"JOURNAL_PAGER": "cat"})):
        code, shown, _ = on_terminal(args, journal_dir, **env)
        assert code == 0 and not kept.exists() and (b"adam" in shown or b"same run" in shown), args
    code, shown, _ = on_terminal(["compare"], journal_dir, PAGER=pager, LESS="-X",
                                 JOURNAL_PAGER=None)
    assert code == 0 and b"82.476" in kept.read_bytes() and b"82.476" not in shown
    assert kept.with_name("paged.txt.less").read_text() == "-X"   # the user's own LESS kept
    piped = subprocess.run([sys.executable, "-m", "journal", "show"], cwd=journal_dir,
                           capture_output=True, env={**os.environ, "JOURNAL_PAGER": pager})
    assert piped.returncode == 0 and b"adam instead of sgd" in piped.stdout   # a pipe: none


def test_a_pager_quit_early_ends_the_command_quietly(tmp_path: Path) -> None:
    run_id = write_run(tmp_path / ".journal")
    write_run(tmp_path / ".journal", run_id=run_id, log={"path": f"logs/{run_id}.log"})
    log = tmp_path / ".journal" / "logs" / f"{run_id}.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"step {n} loss {1 / (n + 1):.6f}\n" for n in range(200_000)))
    code, shown, err = on_terminal(["tail"], tmp_path, JOURNAL_PAGER="head -c 100")
    assert (code, err) == (0, b""), err
    assert shown.startswith(b"step 0 loss 1.000000") and len(shown) < 200


def test_a_pager_that_is_not_there_is_said_once(journal_dir: Path) -> None:
    code, shown, err = on_terminal(["show"], journal_dir, JOURNAL_PAGER="no-such-pager -x")
    assert code == 0 and b"adam instead of sgd" in shown
    assert err == b"journal: warning: the pager 'no-such-pager' is not found; printing without one\n"


def test_quitting_the_pager_early_ends_every_paged_command_quietly(tmp_path: Path) -> None:
    for n in range(300):
        write_run(tmp_path / ".journal", note=f"run {n}", metrics={"acc": n / 300},
                  params={"lr": n, "seed": n % 7})
    for args in (["compare", "-n", "0"], ["show", "@", "@~1", "@~2"], ["diff", "@~1", "@"]):
        code, shown, err = on_terminal(args, tmp_path, JOURNAL_PAGER="head -c 20")
        assert (code, err) == (0, b""), (args, err)


def test_a_sigterm_while_the_pager_is_read_waits_for_the_pager(journal_dir: Path) -> None:
    """As git: the pager has the terminal; journal must not leave it behind, running."""
    import signal
    import time

    marker, reading = journal_dir / "pager-ended", journal_dir / "pager-reading"
    (journal_dir / "pager.py").write_text(
        "import sys, time\nsys.stdin.buffer.read()\n"
        f"open({str(reading)!r}, 'w').write('all read')\ntime.sleep(2)\n"
        f"open({str(marker)!r}, 'w').write('done')\n")
    leader, follower = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "journal", "show"], cwd=journal_dir,
                             stdout=follower, stderr=subprocess.PIPE,
                             env={**os.environ, "TERM": "xterm",
                                  "JOURNAL_PAGER": f"{sys.executable} pager.py"})
    os.close(follower)
    deadline = time.monotonic() + 30
    while not reading.exists() and time.monotonic() < deadline:
        time.sleep(0.05)                # until journal has written all and waits for the pager
    child.send_signal(signal.SIGTERM)
    code = child.wait(timeout=30)
    ended = marker.exists()             # before the terminal is drained: the pager holds it too
    drain(leader)
    assert code == 128 + signal.SIGTERM and ended       # journal waited for its pager

"""A standalone API run's console, teed to its log: what `python train.py` prints (its
subprocesses' output too) still reaches the terminal as it is, and also goes to
`.journal/logs/<id>.log`, masked as `journal new`'s log is, so `journal grep` finds it.

At the descriptor level: fds 1 and 2 are pointed at a pipe (a pseudo-terminal when they were a
terminal, one for both when they were the same one, so programs still see a terminal and the
order of the two streams is kept), and a copier process, started from the script's own
interpreter in a session of its own, copies on to where the output went and to the log. A
process, not a thread: what the script wrote just before `os._exit` or a crash, and what a
background process it started writes after it ended, are still copied (the copier stays until
every writer has closed the pipe), and the script's exit waits for nothing. `stop()` puts fds 1
and 2 back.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from journal.redact import Redactor

# Seconds `stop()` waits for the copier to have copied what is written so far (the record then
# gives the log's size); a background process's later output is copied all the same.
_WAIT_AT_STOP = 1.0
_READY_WITHIN = 10.0     # seconds the copier may take to start


class ConsoleTee:
    def __init__(self, copier: subprocess.Popen[bytes], copies: list[tuple[list[int], int]],
                 log_file: Path) -> None:
        self.copier = copier
        self.log_file = log_file
        self._copies = copies             # (the fds pointed at a pipe, the saved original)

    @classmethod
    def start(cls, log_file: Path, redactor: Redactor, argv: list[str]) -> ConsoleTee | None:
        """Tee fds 1 and 2 to `log_file`; None (nothing changed) where it cannot be done."""
        from journal.capture.logmask import known_secrets
        from journal.capture.runner import open_pty_like, same_file

        groups = [[1, 2]] if same_file(1, 2) else [[1], [2]]   # one terminal, file or pipe
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        ends: list[tuple[list[int], int, int, int]] = []   # fds, read end, write end, saved
        try:
            for fds in groups:
                read_end, write_end = open_pty_like(fds[0]) if os.isatty(fds[0]) else os.pipe()
                ends.append((fds, read_end, write_end, os.dup(fds[0])))
            config = {
                "log": str(log_file),
                "secrets": known_secrets(argv, redactor.argv(argv), os.environ, redactor),
                "copies": [[read_end, saved] for _fds, read_end, _write, saved in ends],
            }
            copier = _start_copier([fd for _fds, read_end, _w, saved in ends
                                    for fd in (read_end, saved)], config)
        except (OSError, subprocess.SubprocessError):
            for _fds, read_end, write_end, saved in ends:
                for fd in (read_end, write_end, saved):
                    with contextlib.suppress(OSError):
                        os.close(fd)
            return None
        for fds, read_end, write_end, _saved in ends:
            for fd in fds:
                os.dup2(write_end, fd)
            os.close(write_end)
            os.close(read_end)                 # the copier's now
        return cls(copier, [(fds, saved) for fds, _r, _w, saved in ends], log_file)

    def stop(self) -> None:
        """Put fds 1 and 2 back; the copier ends once every writer of the pipe has closed it."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fds, saved in self._copies:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.dup2(saved, fd)
            with contextlib.suppress(OSError):
                os.close(saved)
        self._copies = []
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.copier.wait(_WAIT_AT_STOP)


def _start_copier(pass_fds: list[int], config: Mapping[str, object]) -> subprocess.Popen[bytes]:
    """The copier, from this interpreter, with journal importable as it is here; its settings
    (secrets among them) come through a pipe, never on a command line or in the environment."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
    copier = subprocess.Popen(
        # -P: the script's folder (a `copy.py` of its own) is not on the copier's path.
        [sys.executable, "-P", "-c", "from journal.api.console import copy_on; copy_on()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        pass_fds=pass_fds, env=env, start_new_session=True)   # no Ctrl-C meant for the script
    assert copier.stdin is not None and copier.stdout is not None
    copier.stdin.write(json.dumps(config).encode())
    copier.stdin.close()
    # The script's output goes through the copier only once it is up: a copier that cannot
    # start (a broken environment) must not take the script's stdout with it.
    import select

    ready = select.select([copier.stdout], [], [], _READY_WITHIN)[0] and \
        copier.stdout.read(3) == b"ok\n"
    copier.stdout.close()
    if not ready:
        copier.kill()
        copier.wait()
        raise subprocess.SubprocessError("the console copier did not start")
    return copier


def copy_on() -> None:
    """The copier's life: every chunk to where it went and to the log (masked), until every
    writer has closed the output; a reader that goes away (`| head`) is passed on. The same
    copying as `journal new`'s keeper does once its wrapper is gone."""
    from pathlib import Path

    from journal.capture.keeper import copy_to_the_end
    from journal.capture.logmask import LogMasker
    from journal.capture.sinks import MaskedLog, Sink, open_log
    from journal.redact import Redactor
    from journal.store.config import load_config

    config = json.loads(sys.stdin.buffer.read())
    log_file = Path(config["log"])
    try:
        settings = load_config(log_file.parent.parent)        # .journal/logs/<id>.log
        redactor = Redactor(settings.redact_names, settings.redact_values, os.environ)
    except Exception:                  # a config gone bad since the run started: still mask
        redactor = Redactor(environ=os.environ)
    problems: list[str] = []
    log = MaskedLog(open_log(log_file, problems), LogMasker(redactor, config["secrets"]))
    os.write(1, b"ok\n")                # to the script: the copying can start
    os.close(1)
    copy_to_the_end([(read_end, Sink(destination, "writing to the console", problems))
                     for read_end, destination in config["copies"]], log, None)
    log.close()

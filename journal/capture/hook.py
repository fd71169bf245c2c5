"""The wrapper's side of the Python start-up hook (capture/pyhook): which commands get it, the
socket its reports arrive on, and what the reports add up to.

A Python command gets the hook through its environment: `PYTHONPATH` starts with the pyhook
folder and `JOURNAL_HOOK` names a socket in a private temporary folder, which the wrapper (and
its keeper, if the wrapper is killed) reads while the command runs. Reports come as one JSON
document per connection; nothing the hook saw touches the disk before the wrapper has masked it.

Which process's report counts: the first process that reports parsed arguments (rank 0's under
a launcher: the hook keeps other ranks and launchers quiet) and its later parses; the
environment of that process, else of the command's own process, else of the first to report.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

HOOK_FOLDER = Path(__file__).with_name("pyhook")
SHOW_AFTER = 1.0             # seconds after params arrive before the running record shows them
MAX_REPORT = 4 << 20          # bytes of one report; a bigger one is cut off and dropped
_PYTHON = re.compile(r"(?:python|pypy)[0-9.]*(?:\.exe)?|ipython3?")
_SHELL = re.compile(r"(?:ba|da|z|k|fi|)sh")


def may_run_python(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """A Python interpreter, a script with a Python shebang (torchrun, accelerate, a console
    script), a launcher given one (`uv run train.py`, `srun python ...`, `env X=1 python`), or
    a shell script (`bash train.sh`, `./run.sh`), which usually runs one."""
    if not argv:
        return False
    if any(_PYTHON.fullmatch(os.path.basename(arg)) or arg.endswith((".py", ".sh"))
           for arg in argv):
        return True
    if _SHELL.fullmatch(os.path.basename(argv[0])):
        return True
    program = _which(argv[0], environ.get("PATH", os.defpath)) if os.sep not in argv[0] \
        else argv[0]
    if program is None:
        return False
    try:
        with open(program, "rb") as handle:
            first = handle.read(256).partition(b"\n")[0]
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return False
    interpreter = first[2:].split()
    names = [os.path.basename(word.decode("utf-8", "replace")) for word in interpreter[:2]]
    return any(_PYTHON.fullmatch(name) or _SHELL.fullmatch(name) or name.startswith("pypy")
               for name in names)


def _which(name: str, path: str) -> str | None:
    """shutil.which, without importing shutil on every `journal new` (~2 ms)."""
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or os.curdir, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _private_folder() -> str:
    """A new folder only this user can enter, for the socket (AF_UNIX paths are short: 108
    bytes; TMPDIR may be long)."""
    for parent in (os.environ.get("TMPDIR", "/tmp"), "/tmp"):
        folder = os.path.join(parent, f"journal-hook-{os.urandom(6).hex()}")
        if len(os.path.join(folder, "s").encode()) <= 100:
            os.mkdir(folder, 0o700)
            return folder
    raise OSError("no short private folder for the hook's socket")


def hook_environment(environ: Mapping[str, str], address: str) -> dict[str, str]:
    """The command's environment with the hook in it."""
    path = environ.get("PYTHONPATH", "")
    return {**environ, "JOURNAL_HOOK": address,
            "PYTHONPATH": f"{HOOK_FOLDER}{os.pathsep}{path}" if path else str(HOOK_FOLDER)}


@dataclass
class HookReport:
    """What the hook's reports add up to, as the record takes it."""

    params: dict[str, Any] | None = None       # None: no parser reported
    parser: str | None = None                  # argparse, click, hydra
    defaults: list[str] = field(default_factory=list)   # params the program left at default
    environment: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class HookInbox:
    """The socket the hook reports to, served by the wrapper's output loop (and the keeper's)."""

    def __init__(self, on_params: Callable[[HookReport], None] | None = None) -> None:
        """`on_params` is told of parsed arguments that arrived, once the run has gone on for
        SHOW_AFTER seconds since (the record shows them while a long run goes on; a short run
        does not pay for a write it does not need)."""
        import socket

        self.folder = _private_folder()
        self.address = os.path.join(self.folder, "s")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.address)
        self.listener.listen(64)
        self.listener.setblocking(False)
        os.set_inheritable(self.listener.fileno(), False)
        self.command_pid: int | None = None
        self.on_params = on_params
        self._params_since: float | None = None    # params arrived then, not yet told
        self.report = HookReport()
        self._open: dict[int, tuple[socket.socket, bytearray]] = {}
        self._params_pid: int | None = None
        self._environment_pid: int | None = None

    def started(self, pid: int) -> None:
        self.command_pid = pid

    def fds(self) -> list[int]:
        listening = self.listener.fileno()      # -1 once closed
        return [*([listening] if listening >= 0 else []), *self._open]

    def ready(self, fd: int) -> list[int]:
        """Serve `fd` (one of `fds()`); returns descriptors opened now, to be watched too."""
        if fd == self.listener.fileno():
            accepted: list[int] = []
            while True:
                try:
                    connection, _ = self.listener.accept()
                except (BlockingIOError, InterruptedError):
                    return accepted
                except OSError as exc:
                    # Out of descriptors (a process holding hundreds of connections open): the
                    # listener would stay readable and the loop spin; no more reports then.
                    self.report.problems.append(f"the Python hook stopped listening: {exc.strerror}")
                    self.listener.close()
                    return accepted
                connection.setblocking(False)
                self._open[connection.fileno()] = (connection, bytearray())
                accepted.append(connection.fileno())
        if fd not in self._open:
            return []                           # the listener, closed meanwhile
        connection, buffer = self._open[fd]
        try:
            data = connection.recv(65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if data and len(buffer) + len(data) <= MAX_REPORT:
            buffer += data
            return []
        self._open.pop(fd)
        connection.close()
        if not data:
            self._take(bytes(buffer))
        else:
            self.report.problems.append(f"a report of the Python hook over {MAX_REPORT} bytes "
                                        "was dropped")
        return []

    def tick(self) -> None:
        if self._params_since is None or self.on_params is None:
            return
        if time.monotonic() - self._params_since >= SHOW_AFTER:
            self._params_since = None
            self.on_params(self.report)

    def is_done(self, fd: int) -> bool:
        return fd != self.listener.fileno() and fd not in self._open


    def drain(self, timeout: float = 1.0) -> None:
        """Read what is still on its way (the environment, sent at the command's exit)."""
        import selectors
        import time

        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for fd in self.fds():
                selector.register(fd, selectors.EVENT_READ)
            while True:
                events = selector.select(0 if not self._open else
                                         max(0.0, deadline - time.monotonic()))
                if not events:
                    break
                for key, _ in events:
                    for new in self.ready(key.fd):
                        selector.register(new, selectors.EVENT_READ)
                    if self.is_done(key.fd):
                        selector.unregister(key.fd)
                if time.monotonic() > deadline:
                    break

    def close(self) -> None:
        for connection, _ in self._open.values():
            connection.close()
        self._open.clear()
        self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.address)
        with contextlib.suppress(OSError):
            os.rmdir(self.folder)

    def _take(self, data: bytes) -> None:
        """One report; whatever it holds (it comes from any process that can reach the socket),
        a bad one is dropped with a problem noted, and the run goes on."""
        try:
            self._take_report(data)
        except Exception as exc:      # RecursionError (deep JSON), TypeError, ...
            problem = f"a report of the Python hook was dropped: {type(exc).__name__}"
            if problem not in self.report.problems:
                self.report.problems.append(problem)

    def _take_report(self, data: bytes) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        pid = message.get("pid")
        kind = message.get("kind")
        report = self.report
        if kind == "problem" and isinstance(message.get("text"), str):
            report.problems.append(message["text"])
        elif kind == "params" and isinstance(message.get("params"), dict):
            if self._params_pid is None or (pid == self.command_pid != self._params_pid):
                # The first process to parse, or the command itself over a helper it started
                # that happened to parse first.
                self._params_pid = pid
                report.params, report.defaults = None, []
            elif pid != self._params_pid:
                return                 # another process's: a helper the program started
            self._take_params(message)
            self._environment_from(message, pid, partial=True)
            if self._params_since is None:
                self._params_since = time.monotonic()
        elif kind == "environment":
            self._environment_from(message, pid, partial=False)

    def _take_params(self, message: dict[str, Any]) -> None:
        """Merge one parse into the params: a parse of the command line wins; a parse of a list
        the code gave (`parse_known_args([])` in a library) only adds names; a click
        subcommand's option named as its group's is kept apart (`train.seed`)."""
        report = self.report
        params: dict[str, Any] = message["params"]
        old = report.params or {}
        command = message.get("command")
        defaults = {str(name) for name in message.get("defaults") or [] if isinstance(name, str)}
        if isinstance(command, str) and command:
            params = {f"{command}.{name}" if name in old and old[name] != value else name: value
                      for name, value in params.items()}
            defaults = {f"{command}.{name}" if f"{command}.{name}" in params else name
                        for name in defaults}
        if message.get("from_argv", True) is False and report.params is not None:
            params = {name: value for name, value in params.items() if name not in old}
            defaults &= set(params)
        report.params = {**old, **params}
        report.parser = str(message.get("parser") or "") or report.parser
        report.defaults = [name for name in dict.fromkeys([*report.defaults, *defaults])
                           if name not in params or name in defaults]

    def _environment_from(self, message: dict[str, Any], pid: Any, *, partial: bool) -> None:
        """Keep the environment of the process whose params count, else of the command itself,
        else the first one told."""
        def rank(candidate: Any) -> int:
            if candidate is not None and candidate == self._params_pid:
                return 3
            if candidate is not None and candidate == self.command_pid:
                return 2
            return 1

        if self._environment_pid is not None and pid != self._environment_pid \
                and rank(pid) <= rank(self._environment_pid):
            return
        keep = ("python", "executable") if partial else ("python", "executable", "packages", "gpus")
        environment = {name: message[name] for name in keep if message.get(name) not in (None, "")}
        if pid == self._environment_pid:
            environment = {**self.report.environment, **environment}
        self._environment_pid = pid
        self.report.environment = environment

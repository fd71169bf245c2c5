"""The `.journal/` folder: where it is, run ids, and atomic, collision-free writes of run files."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from journal import tomlwrite
from journal.errors import StoreError

JOURNAL_FOLDER = ".journal"
TEMPLATE_NAME = ".journal-template.md"
GITIGNORE = "# journal: scratch files that must never be committed\n*.tmp\n*.lock\n"
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"   # Crockford base32: no i, l, o, u


def find_worktree_root(start: Path, environ: Mapping[str, str]) -> Path | None:
    """The work tree containing `start`, found the way git finds it, without starting git."""
    if environ.get("GIT_WORK_TREE"):
        return (start / environ["GIT_WORK_TREE"]).resolve()
    if environ.get("GIT_DIR"):
        return start     # git's rule: GIT_DIR without GIT_WORK_TREE makes the cwd the top
    for folder in (start, *start.parents):
        marker = folder / ".git"
        if marker.is_dir() or marker.is_file():
            return folder
    return None


def find_journal_dir(cwd: Path, worktree_root: Path | None, environ: Mapping[str, str]) -> Path:
    """`JOURNAL_DIR`, else `.journal/` at the work-tree root, else the nearest ancestor that has
    one, else `.journal/` in `cwd`."""
    override = environ.get("JOURNAL_DIR")
    if override:
        return (cwd / override).resolve()
    if worktree_root is not None:
        return worktree_root / JOURNAL_FOLDER
    for folder in (cwd, *cwd.parents):
        if (folder / JOURNAL_FOLDER).is_dir():
            return folder / JOURNAL_FOLDER
    return cwd / JOURNAL_FOLDER


def new_run_id(started: dt.datetime, short_commit: str | None) -> str:
    """`20261128-074207.123-9ac7188-k3f9qa`: UTC start (so ids sort by time across time zones and
    machines), the commit, and 30 random bits so runs started in the same millisecond on several
    machines still differ. Uniqueness in one folder is enforced again when the file is created."""
    utc = started.astimezone(dt.timezone.utc)
    stamp = utc.strftime("%Y%m%d-%H%M%S") + f".{utc.microsecond // 1000:03d}"
    random = int.from_bytes(os.urandom(4), "big")
    suffix = "".join(_ID_ALPHABET[(random >> shift) & 31] for shift in range(0, 30, 5))
    return f"{stamp}-{short_commit or 'nocommit'}-{suffix}"


def run_path(journal_dir: Path, run_id: str) -> Path:
    """Records are sharded by month (`runs/2026-11/`) so no folder grows without bound."""
    return journal_dir / "runs" / f"{run_id[:4]}-{run_id[4:6]}" / f"{run_id}.toml"


def log_path(journal_dir: Path, run_id: str) -> Path:
    return journal_dir / "logs" / f"{run_id}.log"


def patch_path(journal_dir: Path, run_id: str) -> Path:
    return journal_dir / "patches" / f"{run_id}.patch"


def relative_to_journal(journal_dir: Path, path: Path) -> str:
    return path.relative_to(journal_dir).as_posix()


def inside_journal(journal_dir: Path, relative: Any) -> Path | None:
    """`journal_dir / relative` if it stays inside the journal folder, links resolved: a record is
    data (it may come from another machine), and a crafted `patch = "../../.ssh/id_rsa"` must not
    make `show --diff` or `tail` print that file."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return None
    base = journal_dir.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path != base else None


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")


def _write_temp(final: Path, data: bytes) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(final)
    with open(temp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` in one step: readers see the old file or the new one, never half of one."""
    temp = _write_temp(path, data)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create `path` with `data` atomically unless it exists (hard link: exclusive, also on NFS).
    Returns False when the name is taken."""
    temp = _write_temp(path, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    return True


def record_bytes(record: Mapping[str, Any]) -> bytes:
    return tomlwrite.dumps(record).encode("utf-8")


def create_record(journal_dir: Path, record: dict[str, Any], make_id: Any) -> str:
    """Write a new record under a fresh id from `make_id()`; retries if the id is taken."""
    _ensure_gitignore(journal_dir)
    for _attempt in range(20):
        run_id = make_id()
        record["id"] = run_id
        try:
            if create_exclusive(run_path(journal_dir, run_id), record_bytes(record)):
                return run_id
        except OSError as exc:
            raise StoreError(f"cannot write the run record in {journal_dir}: {_reason(exc)}") from exc
    raise StoreError(f"could not find a free run id in {journal_dir}")


def _ensure_gitignore(journal_dir: Path) -> None:
    """`.journal/.gitignore` keeps lock and temp files out of a commit of `.journal/`, also in a
    journal that `journal init` never made. Best effort: a record matters more than this file."""
    ignore = journal_dir / ".gitignore"
    if not ignore.exists():
        try:
            create_exclusive(ignore, GITIGNORE.encode("utf-8"))
        except OSError:
            pass


# Fields a user changes after the fact (`journal note`, `journal tag`): the wrapper's final write
# keeps what is on disk for these, so an amendment made while the run was going is not lost.
USER_FIELDS = ("note", "tags", "amendments")
LOCK_TIMEOUT = 10.0


def update_record(journal_dir: Path, record: dict[str, Any]) -> None:
    """Rewrite a run's record under its lock, keeping amendments made since it was read."""
    path = run_path(journal_dir, record["id"])
    try:
        with record_lock(path):
            current = read_record_file(path)
            if current is not None:
                for name in USER_FIELDS:
                    if name in current:
                        record[name] = current[name]
            write_atomic(path, record_bytes(record))
    except OSError as exc:
        raise StoreError(f"cannot update the run record {record['id']}: {_reason(exc)}") from exc


def read_record_file(path: Path) -> dict[str, Any] | None:
    """A record as tomllib reads it; None when it is missing or does not parse."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


@contextlib.contextmanager
def record_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """`<record>.lock`, created exclusively, as git does with `index.lock`: writers of one record
    take turns. A lock left by a dead process on this host is broken; any other is waited for."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if _lock_is_stale(lock):
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() > deadline:
                raise StoreError(
                    f"run {path.stem} is locked by another journal process ({lock})",
                    hint=f"if no journal command is running, remove {lock}",
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    try:
        os.write(descriptor, f"{os.getpid()} {os.uname().nodename}\n".encode())
        os.close(descriptor)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _lock_is_stale(lock: Path) -> bool:
    try:
        pid_text, _, host = lock.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False    # being written right now, or not ours to judge
    return host == os.uname().nodename and not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


def init_journal(journal_dir: Path, template_target: Path, config_text: str, template_text: str
                 ) -> list[tuple[Path, bool]]:
    """Create the journal folder and its starter files, never overwriting one.
    Returns each starter file with whether it was created now."""
    try:
        for sub in ("runs", "logs", "patches"):
            (journal_dir / sub).mkdir(parents=True, exist_ok=True)
        starters = [
            (journal_dir / "config.toml", config_text),
            (journal_dir / ".gitignore", GITIGNORE),
            (template_target, template_text),
        ]
        return [(path, create_exclusive(path, text.encode("utf-8"))) for path, text in starters]
    except OSError as exc:
        raise StoreError(f"cannot initialise {journal_dir}: {_reason(exc)}") from exc

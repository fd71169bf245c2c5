"""Writing files so that nothing is ever half-written or overwritten by accident.

Every file journal writes goes through here: records, patches, exports. A reader sees the old
file or the new one, never a torn one (temp file, fsync, rename), and a name that exists is
never taken twice (an exclusive hard link, which holds on NFS too).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


def _temp_path(final: Path) -> Path:
    # Hidden and `.tmp`: readers skip it, and `.journal/.gitignore` keeps it out of commits.
    return final.with_name(f".{final.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")


def _write_temp(final: Path, data: bytes) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(final)
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)      # a full disk leaves no half-written temp file behind
        raise
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


def reason(exc: OSError) -> str:
    """What went wrong, as the system says it (`No space left on device`)."""
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


# -- reading files that may be anything -----------------------------------------------------------
# Everything under .journal/ may come from elsewhere (git pull, rsync, a hand): a name that says
# `.toml` or `.log` may be a FIFO (opening it would wait for a writer for ever), a link to
# /dev/zero (reading it would never end), or far too large. Readers open such files here.

class NotARegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder (links followed)."""


class TooLarge(OSError):
    """The file is larger than the reader accepts."""


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file; NotARegularFile if not (a FIFO is
    opened without waiting for a writer, and closed again)."""
    descriptor = _open_regular(path)
    try:
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _open_regular(path: Path | str) -> int:
    """A descriptor of `path`, opened without blocking, if it is a regular file."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        kind = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(kind):
            raise NotARegularFile(errno.EINVAL, f"not a regular file ({_kind(kind)})", str(path))
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def read_regular(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` (TooLarge past that, also for a
    file that grows while it is read)."""
    descriptor = _open_regular(path)
    try:
        size = os.fstat(descriptor).st_size
        if size > max_bytes:
            raise TooLarge(errno.EFBIG, f"too large ({size} bytes; the limit is {max_bytes})",
                           str(path))
        # Read with the descriptor, not a file object: a third of the cost of a small file
        # (grep reads 100,000 logs, the index a million records). O_NONBLOCK does not apply
        # to regular files. Until an empty read: a network file system may read short.
        parts, total, wanted = [], 0, size + 1
        while part := os.read(descriptor, wanted):
            parts.append(part)
            total += len(part)
            if total > max_bytes:
                raise TooLarge(errno.EFBIG, f"too large (over {max_bytes} bytes)", str(path))
            wanted = 1 << 16
        return b"".join(parts)
    finally:
        os.close(descriptor)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a file"

"""Writing files so that nothing is ever half-written or overwritten by accident.

Every file journal writes goes through here: records, patches, exports. A reader sees the old
file or the new one, never a torn one (temp file, fsync, rename), and a name that exists is
never taken twice (an exclusive hard link, which holds on NFS too).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


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

"""Where journal keeps what it derives from a journal folder (the index, the sync's private git
index): a local cache folder, one file per journal folder and per machine, never on a network
file system. A module of its own: the sync needs the place without the index's SQLite."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

# File systems SQLite's locking cannot be trusted on (its documentation: WAL needs shared
# memory that a network file system does not give): a cache there moves to a local folder.
NETWORK_FILE_SYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
    "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.beegfs", "9p", "afs", "panfs", "wekafs",
})


def cache_path(journal_dir: Path, environ: Mapping[str, str], *, mounts: str = "/proc/mounts"
               ) -> Path:
    """`<cache>/journal/<readable tail>-<host>-<checksum of the full path>.sqlite3`: one index
    per journal folder and per machine, so hosts that share a home (a cluster's NFS) never
    write one file; and when the cache folder is on a network file system, a local folder
    instead (`$XDG_RUNTIME_DIR/journal`, else `/tmp/journal-cache-<uid>`). (zlib, not hashlib:
    hashlib's OpenSSL costs milliseconds at start-up; the file records its folder to be sure.)"""
    import zlib

    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "journal"
    if filesystem_type(folder, mounts) in NETWORK_FILE_SYSTEMS:
        runtime = environ.get("XDG_RUNTIME_DIR")
        local = Path(runtime) / "journal" if runtime else Path(f"/tmp/journal-cache-{os.getuid()}")
        if filesystem_type(local, mounts) not in NETWORK_FILE_SYSTEMS:
            folder = local
    real = os.fsencode(os.path.realpath(journal_dir))
    tail = re.sub(rb"[^A-Za-z0-9._-]+", b"_", real[-40:]).decode().strip("_.")
    key = f"{zlib.crc32(real):08x}{zlib.adler32(real):08x}"
    return folder / f"{tail}-{host_part()}-{key}.sqlite3"


def host_part() -> str:
    """This machine's part of an index's file name: hosts that share a home never share one."""
    from journal.record import THIS_HOST

    return re.sub(r"[^A-Za-z0-9._-]+", "_", THIS_HOST)[:40] or "host"


def filesystem_type(path: Path, mounts: str = "/proc/mounts") -> str | None:
    """The type of the file system `path` is (or would be) on, from the mount table: the
    longest mount point it is under. None where that cannot be read (not Linux)."""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as table:
            lines = table.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, kind = -1, None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and len(point) > best:
            best, kind = len(point), fields[2]
    return kind


def private_folder(folder: Path) -> bool:
    """Make `folder` (and its parents) if missing, for this user only; True when it is this
    user's and others cannot write it. What journal derives is read back as trusted (records
    from the index, drawings into notes), and a cache may sit in a shared place (/tmp, when the
    home is on NFS) where another user could have made the folder first to plant files in it:
    such a folder is not used. (Group-writable is allowed: a umask of 002 makes it so.)"""
    import stat

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = os.lstat(folder)
    except OSError:
        return False
    return (stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()
            and not status.st_mode & stat.S_IWOTH)

"""The repository's side of `journal sync`, through git's plumbing: which remote, fetch and push
of one ref, a tree built from the journal folder, the files of a tree, blobs read back.

The journal folder is put in a tree with a private index (a file in journal's cache folder, never
the user's index): `git update-index` hashes only the files whose size or time changed since the
last sync, so a sync of a journal that did not change costs a stat of each file. The remote's
`refs/journal/runs` is fetched to `refs/journal/remotes/<remote>/runs`; what both sides held
after the last sync with that remote is `refs/journal/remotes/<remote>/base`.
"""

from __future__ import annotations

import os
import re
import sys
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from journal.errors import JournalError
from journal.git import Git, GitFailed, first_error

SHARED_REF = "refs/journal/runs"
# A fetch or push may move gigabytes; a stalled one is still ended (Ctrl-C ends it sooner).
NETWORK_TIMEOUT = 3600.0
LOCAL_TIMEOUT = 600.0
# The user's git settings that would change the bytes hashed from the journal folder, or start
# something: line endings, filters (attributes files), fsmonitor hooks, a split index.
_PLAIN_CONFIG = (
    "-c", "core.autocrlf=false", "-c", "core.safecrlf=false", "-c", "core.eol=lf",
    "-c", "core.attributesFile=/dev/null", "-c", "core.fsmonitor=false",
    "-c", "core.splitIndex=false", "-c", "core.untrackedCache=false",
    "-c", "core.symlinks=true", "-c", "core.fileMode=false",
)
# No hook of the user's runs for sync's own refs (reference-transaction, pre-push), and no
# transport that hands the remote a file descriptor or a command line.
_NO_HOOKS = ("-c", "core.hooksPath=/dev/null", "-c", "protocol.ext.allow=never",
             "-c", "protocol.fd.allow=never")
# What a user's environment may say that would send our git calls elsewhere.
_REDIRECTING_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_NAMESPACE",
                    "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES")


_PUSHED_MEANWHILE = ("non-fast-forward", "fetch first", "stale info", "failed to update ref",
                     "cannot lock ref", "failed to lock")


class SyncError(JournalError):
    """The remote cannot be reached, refuses the push, or the repository cannot hold the sync."""

    exit_code = 1


@dataclass(frozen=True)
class Remote:
    name: str           # as the user gave it (a remote's name, a URL or a path)
    url: str            # what git is given
    key: str            # the ref component it is kept under here


@dataclass(frozen=True)
class Entry:
    blob: str
    size: int
    text: str = ""      # a file journal makes here rather than takes (a marker): its text
    mode: str = "100644"

    @property
    def regular(self) -> bool:
        return self.mode in ("100644", "100755")


class Repository:
    """git plumbing for the sync of the journal at `journal_dir`, in the repository at `root`."""

    def __init__(self, root: Path, journal_dir: Path, index_file: Path,
                 environ: Mapping[str, str]) -> None:
        plain = {name: value for name, value in environ.items()
                 if name not in _REDIRECTING_ENV}
        self.root = root
        self.journal_dir = journal_dir
        self.index_file = index_file
        self.git = Git(root, LOCAL_TIMEOUT, {
            **plain, "GIT_AUTHOR_NAME": "journal", "GIT_COMMITTER_NAME": "journal",
            "GIT_AUTHOR_EMAIL": "journal@localhost", "GIT_COMMITTER_EMAIL": "journal@localhost"})
        # The remote may ask for a password or passphrase, on a terminal only.
        self.network = Git(root, NETWORK_TIMEOUT, plain, prompts=sys.stdin.isatty())
        self._plain = plain

    @property
    def folder_git(self) -> Git:
        """git over the journal folder as a work tree, with the private index and a private git
        folder beside it (in the cache): no config, attribute or hook of the user's applies
        (a clean filter, `text` or `eol` would change the bytes hashed; git-annex writes
        `* filter=annex` into `.git/info/attributes`), while the objects go to the repository's
        own object folder, where the commit that holds them is made."""
        if not hasattr(self, "_folder_git"):
            private = self.index_file.with_suffix(".git")
            if not (private / "info" / "attributes").is_file():
                fmt = self.git.run("rev-parse", "--show-object-format").decode().strip() or "sha1"
                self.git.run("init", "-q", "--bare", "--template=", f"--object-format={fmt}",
                             str(private))
                (private / "info").mkdir(exist_ok=True)
                (private / "info" / "attributes").write_text(
                    "* -text -eol -filter -ident -working-tree-encoding -diff -merge\n")
            objects = self.git.run("rev-parse", "--git-path", "objects").decode().strip()
            self._folder_git = Git(self.journal_dir, LOCAL_TIMEOUT, {
                **self._plain, "GIT_DIR": str(private), "GIT_WORK_TREE": str(self.journal_dir),
                "GIT_INDEX_FILE": str(self.index_file),
                "GIT_OBJECT_DIRECTORY": str((self.root / objects).resolve()),
                "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath",
                "GIT_CONFIG_VALUE_0": os.devnull})
        return self._folder_git

    # -- where -----------------------------------------------------------------------------------

    def remote(self, given: str | None, configured: str | None) -> Remote:
        """The remote to sync with: the one given (a remote's name, a URL or a path), else
        `[sync] remote` of the config, else the current branch's remote, else `origin`."""
        settings = self._remote_settings()
        urls = {name[len("remote."):-len(".url")]: value for name, value in settings.items()
                if name.startswith("remote.") and name.endswith(".url")}
        name = given or configured
        if name is None:
            branch = self.git.attempt("symbolic-ref", "-q", "--short", "HEAD")[1].decode().strip()
            name = settings.get(f"branch.{branch}.remote") if branch else None
            if name in (None, ".") or name not in urls:
                name = "origin" if "origin" in urls else next(iter(urls)) if len(urls) == 1 \
                    else None
        if name is None:
            if urls:
                raise SyncError(f"which remote? this repository has {', '.join(sorted(urls))}",
                                hint="journal sync REMOTE, or set [sync] remote in "
                                     ".journal/config.toml")
            raise SyncError("no remote to sync with: this repository has none",
                            hint="journal sync URL, or: git remote add origin URL")
        if name in urls:
            key = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else (
                re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
                + f"-{zlib.crc32(name.encode()):08x}")      # `lab.one` and `lab_one` differ
            return Remote(name, name, key)
        if name.startswith("-"):
            raise SyncError(f"{name!r} is not a remote", hint="journal sync [REMOTE]")
        if not _looks_like_url(name):
            known = ", ".join(sorted(urls)) or "none"
            raise SyncError(f"no remote named {name!r} (remotes here: {known})",
                            hint="give a remote's name, a URL, or a path to a repository")
        url = str(Path(name).resolve()) if os.path.exists(name) else name
        for remote_name, remote_url in urls.items():     # a remote's own URL: that remote
            if remote_url in (name, url) or (os.path.exists(remote_url)
                                             and str(Path(remote_url).resolve()) == url):
                return self.remote(remote_name, None)
        key = f"url-{zlib.crc32(url.encode()):08x}"
        return Remote(name, url, key)

    def _remote_settings(self) -> dict[str, str]:
        returncode, out, _ = self.git.attempt(
            "config", "-z", "--get-regexp", r"^(remote\..*\.url|branch\..*\.remote)$")
        settings: dict[str, str] = {}
        if returncode == 0:
            for item in out.decode("utf-8", "replace").split("\0"):
                name, _, value = item.partition("\n")
                if name:
                    settings.setdefault(name, value)
        return settings

    # -- refs --------------------------------------------------------------------------------------

    def refs(self, remote: Remote) -> dict[str, tuple[str, str]]:
        """`runs` and `base` of `remote` as kept here: name -> (commit, tree)."""
        prefix = f"refs/journal/remotes/{remote.key}/"
        out = self.git.run("for-each-ref", "--format=%(refname) %(objectname) %(tree)", prefix)
        found = {}
        for line in out.decode().splitlines():
            name, commit, tree = line.split(" ")
            found[name[len(prefix):]] = (commit, tree)
        return found

    def set_ref(self, remote: Remote, name: str, commit: str) -> None:
        self.git.run(*_NO_HOOKS, "update-ref", "-m", "journal sync",
                     f"refs/journal/remotes/{remote.key}/{name}", commit)

    def fetch(self, remote: Remote) -> None:
        """The remote's journal into `refs/journal/remotes/<key>/runs`; a remote that has none
        (yet, or any more) removes that ref, so the next push sends everything. Nothing else of
        the user's is written (no FETCH_HEAD, no remote-tracking branch, no tags)."""
        mine = f"refs/journal/remotes/{remote.key}/runs"
        returncode, out, err = self._attempt(
            *_NO_HOOKS, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--refmap=",
            "--no-recurse-submodules", "--no-auto-gc", remote.url, f"+{SHARED_REF}:{mine}",
            doing=f"fetch from {remote.name}")
        if returncode == 0:
            return
        if f"couldn't find remote ref {SHARED_REF}" in err.decode("utf-8", "replace"):
            self.git.attempt(*_NO_HOOKS, "update-ref", "-d", mine)
            return
        raise SyncError(f"cannot fetch from {remote.name}: {_reason(out, err, returncode)}",
                        hint="nothing was lost; sync again when the remote can be reached")

    def push(self, remote: Remote, commit: str) -> bool:
        """Push `commit` to the remote's `refs/journal/runs`; False when another machine pushed
        first or is pushing now (fetch, merge and push again)."""
        returncode, out, err = self._attempt(
            *_NO_HOOKS, "push", "--porcelain", "--no-verify", "--no-follow-tags",
            "--recurse-submodules=no",
            "--no-signed", remote.url, f"{commit}:{SHARED_REF}", doing=f"push to {remote.name}")
        if returncode == 0:
            return True
        text = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
        # Another machine pushed first, or is pushing now (the remote's ref is locked).
        if any(sign in text for sign in _PUSHED_MEANWHILE):
            return False
        raise SyncError(f"{remote.name} refused the push: {_reason(out, err, returncode)}",
                        hint="nothing was lost; the runs stay here until a sync goes through")

    def _attempt(self, *args: str, doing: str) -> tuple[int, bytes, bytes]:
        try:
            return self.network.attempt(*args)
        except GitFailed as exc:
            raise SyncError(f"cannot {doing}: {exc}") from None

    # -- trees -------------------------------------------------------------------------------------

    def tree_of_folder(self, paths: list[str], pinned: Mapping[str, Entry]) -> str:
        """The tree of these files of the journal folder, hashed through the private index
        (only files whose stat changed are read again), with the `pinned` paths as the remote
        has them instead of as they are here."""
        try:
            return self._tree(paths, pinned)
        except GitFailed:
            # The private index is derived: one that names objects git has since pruned (a gc
            # after a failed push), or is otherwise unusable, is made again from the files.
            self.index_file.unlink(missing_ok=True)
            return self._tree(paths, pinned)

    def _tree(self, paths: list[str], pinned: Mapping[str, Entry]) -> str:
        listed = {*paths, *pinned}
        if self.index_file.exists():
            known = self.folder_git.run(*_PLAIN_CONFIG, "ls-files", "-z").decode(
                "utf-8", "surrogateescape").split("\0")
            gone = [path for path in known if path and path not in listed]
            if gone:
                self.folder_git.run(*_PLAIN_CONFIG, "update-index", "-z", "--force-remove",
                                    "--stdin", stdin=_zero_joined(gone))
        self.folder_git.run(*_PLAIN_CONFIG, "update-index", "--add", "--remove", "-z", "--stdin",
                            stdin=_zero_joined(paths))
        if pinned:
            lines = b"".join(f"{entry.mode} {entry.blob}\t".encode() + os.fsencode(path) + b"\0"
                             for path, entry in pinned.items())
            self.folder_git.run(*_PLAIN_CONFIG, "update-index", "-z", "--index-info",
                                stdin=lines)
        return self.folder_git.run(*_PLAIN_CONFIG, "write-tree").decode().strip()

    def files(self, tree: str | None) -> dict[str, Entry]:
        """Every file of `tree`: path -> blob and size."""
        if tree is None:
            return {}
        out = self.git.run("ls-tree", "-r", "-l", "-z", "--full-tree", tree)
        found = {}
        for item in out.split(b"\0"):
            if not item:
                continue
            meta, _, path = item.partition(b"\t")
            mode, kind, blob, size = meta.split()
            # Links and submodules too (never written here, but kept in the tree: see _take_in)
            found[path.decode("utf-8", "surrogateescape")] = Entry(
                blob.decode(), int(size) if size.isdigit() else 0, mode=mode.decode())
        return found

    def blobs(self, blobs: list[str], chunk_bytes: int, sizes: Mapping[str, int]
              ) -> Iterator[tuple[str, bytes]]:
        """(blob, content) for each blob, read `chunk_bytes` at a time through `cat-file`."""
        chunk: list[str] = []
        total = 0
        for blob in blobs:
            chunk.append(blob)
            total += sizes.get(blob, 0)
            if total >= chunk_bytes:
                yield from self._read_blobs(chunk)
                chunk, total = [], 0
        if chunk:
            yield from self._read_blobs(chunk)

    def _read_blobs(self, blobs: list[str]) -> Iterator[tuple[str, bytes]]:
        out = self.git.run("cat-file", "--batch", stdin=("\n".join(blobs) + "\n").encode())
        at = 0
        for blob in blobs:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            if len(header) != 3 or header[1] != b"blob":
                raise SyncError(f"the repository cannot give object {blob} ({header!r})")
            size = int(header[2])
            yield blob, out[end + 1:end + 1 + size]
            at = end + 1 + size + 1

    def commit(self, tree: str, parents: list[str], message: str) -> str:
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        return self.git.run(*args).decode().strip()


def _zero_joined(paths: list[str]) -> bytes:
    return b"".join(os.fsencode(path) + b"\0" for path in paths)


def _looks_like_url(text: str) -> bool:
    return "/" in text or ":" in text or os.path.exists(text)


def _reason(out: bytes, err: bytes, returncode: int) -> str:
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("!"):        # push --porcelain: `!<TAB>src:dst<TAB>[rejected] (why)`
            return line.split("\t")[-1].strip()
    reason = first_error(err, returncode)
    # ssh and the other transports say what went wrong before git's own `fatal:` line.
    for line in err.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith(("fatal:", "error:")):
            break
        if line and not line.startswith(("warning:", "hint:")):
            return f"{reason} ({line})"
    return reason

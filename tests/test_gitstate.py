"""The code state `journal new` captures before a command starts: the `[git]` table and its patch.

Every test makes real repositories in tmp dirs and runs the real CLI. The central check is the
rebuild: clone the repo, check out the recorded commit, `git apply` the recorded patch, and the
work tree must equal the original byte for byte (apart from `.journal/` and what `left_out` names).
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, journal, make_repo, only_record, records

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"   # GitHub token shape: ghp_ + 36 alnum
TRUE = "/bin/true" if os.path.exists("/bin/true") else "true"


# --- helpers -----------------------------------------------------------------------------------

def env_with(**changes: str | None) -> dict[str, str]:
    """The (sealed) test environment with some variables set or, given None, removed."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def new(cwd: Path, *command: str, env: dict[str, str] | None = None, expect: int = 0
        ) -> subprocess.CompletedProcess[bytes]:
    """`journal new -n x [-- command]`: it must exit as the command does and never show a traceback."""
    args = ["new", "-n", "x", *(["--", *command] if command else [])]
    done = journal(*args, cwd=cwd, env=env)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert done.returncode == expect, done.stderr.decode(errors="replace")
    return done


def capture(cwd: Path, *command: str, journal_dir: Path | None = None,
            env: dict[str, str] | None = None) -> tuple[dict[str, Any], Path]:
    """Run `journal new` in `cwd` and return the new record's `[git]` table and the journal dir."""
    journal_dir = journal_dir or cwd / ".journal"
    before = len(records(journal_dir)) if journal_dir.exists() else 0
    new(cwd, *command, env=env)
    found = records(journal_dir)
    assert len(found) == before + 1
    return found[-1]["git"], journal_dir


def patch_bytes(journal_dir: Path, table: dict[str, Any]) -> bytes:
    assert table["patch"] == f"patches/{table['patch'].split('/')[-1]}"
    assert table["patch"].endswith(".patch")
    return (journal_dir / table["patch"]).read_bytes()


def write(path: Path | bytes, data: bytes | str, mode: int | None = None) -> None:
    """Write a file given as a Path or as raw bytes (for names that are not UTF-8)."""
    raw = os.fsencode(path)
    os.makedirs(os.path.dirname(raw) or b".", exist_ok=True)
    with open(raw, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(raw, mode)


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[bytes, tuple[str, bytes]]:
    """Every file of a work tree as raw path -> (kind, content): `.git` and `.journal` left out,
    and the paths in `skip`. Kinds: `file` (0644), `exec` (0755) and `link` (content = target)."""
    base = os.fsencode(root)
    skipped = {os.fsencode(path) for path in skip}
    found: dict[bytes, tuple[str, bytes]] = {}
    for folder, dirs, files in os.walk(base):
        dirs[:] = [name for name in dirs if name not in (b".git", b".journal")]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, base)
            if relative in skipped or name == b".git":
                continue
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", os.readlink(full))
            else:
                kind = "exec" if info.st_mode & stat.S_IXUSR else "file"
                with open(full, "rb") as handle:
                    found[relative] = (kind, handle.read())
    return found


def rebuild(origin: Path, journal_dir: Path, table: dict[str, Any], target: Path) -> Path:
    """Clone `origin`, check out the recorded commit and apply the recorded patch."""
    git(target.parent, "clone", "-q", "--no-checkout", str(origin), target.name)
    git(target, "checkout", "-q", "--detach", table["commit"])
    if "patch" in table:
        done = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], cwd=target,
                              input=patch_bytes(journal_dir, table), capture_output=True)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
    return target


def assert_rebuilds(origin: Path, journal_dir: Path, table: dict[str, Any], tmp_path: Path,
                    skip: tuple[str, ...] = ()) -> Path:
    """The rebuild equals the original, apart from the `skip`ped (left-out) paths."""
    rebuilt = rebuild(origin, journal_dir, table, tmp_path / "rebuilt")
    assert snapshot(rebuilt, skip) == snapshot(origin, skip)
    return rebuilt


def journal_files(journal_dir: Path) -> bytes:
    """Everything under `.journal/`, concatenated: for checking what never reaches disk."""
    return b"".join(path.read_bytes() for path in sorted(journal_dir.rglob("*")) if path.is_file())


def tree_state(repo: Path) -> dict[str, Any]:
    """Everything a read-only capture must leave alone: every file under .git with its bytes and
    mtime (index, HEAD, refs, logs, config), and what `git status` says."""
    git_dir = repo / ".git"
    files = {
        path.relative_to(git_dir).as_posix(): (
            path.read_bytes(),
            # `git.tree` is made at the end of a run in a scratch object folder that borrows the
            # repository's objects; git then "freshens" (touches) an object it already has
            # instead of writing it again. Its bytes must stay; its time may move.
            None if path.relative_to(git_dir).parts[0] == "objects" else path.stat().st_mtime_ns)
        for path in git_dir.rglob("*") if path.is_file()
    }
    status = subprocess.run(
        ["git", "status", "--porcelain=v1", "-uall", "--", ".", ":(exclude).journal"], cwd=repo,
        env=env_with(GIT_OPTIONAL_LOCKS="0"), capture_output=True, check=True,
    ).stdout
    return {"files": files, "status": status}


def fake_git(folder: Path, script: str) -> dict[str, str]:
    """An environment whose `git` is a shell script (the real one is still at $REAL_GIT)."""
    folder.mkdir(parents=True, exist_ok=True)
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    write(folder / "git", "#!/bin/sh\n" + script, mode=0o755)
    return env_with(PATH=f"{folder}{os.pathsep}{os.environ['PATH']}", REAL_GIT=real)


def set_config(journal_dir: Path, text: str) -> None:
    journal_dir.mkdir(parents=True, exist_ok=True)
    (journal_dir / "config.toml").write_text(text)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


# --- fields -------------------------------------------------------------------------------------

def test_clean_repo_fields_are_exact(repo: Path) -> None:
    table, _ = capture(repo, TRUE)
    assert table == {
        "commit": head(repo), "branch": "main", "dirty": False, "changed": [], "untracked": [],
        "tree": git(repo, "rev-parse", "HEAD^{tree}").strip(),   # clean: the commit's own tree
    }
    assert len(table["commit"]) == 40 and int(table["commit"], 16) >= 0


def test_dirty_fields_name_modified_staged_deleted_and_untracked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "a\n", "b.py": "b\n", "c.py": "c\n", "d.py": "d\n"})
    write(repo / "a.py", "a changed\n")                       # modified, not staged
    write(repo / "b.py", "b changed\n")
    git(repo, "add", "b.py")                                  # staged
    (repo / "c.py").unlink()                                  # deleted
    git(repo, "rm", "-q", "d.py")                             # deletion staged
    write(repo / "new.py", "staged new file\n")
    git(repo, "add", "new.py")
    write(repo / "notes.txt", "untracked\n")
    write(repo / "sub" / "deep.txt", "untracked in a folder\n")
    table, journal_dir = capture(repo)
    assert table["commit"] == head(repo) and table["branch"] == "main"
    assert table["dirty"] is True
    assert table["changed"] == ["a.py", "b.py", "c.py", "d.py", "new.py"]
    assert table["untracked"] == ["notes.txt", "sub/deep.txt"]
    assert "left_out" not in table and "redacted" not in table and "partial" not in table
    run_id = only_record(journal_dir)["id"]
    assert table["patch"] == f"patches/{run_id}.patch"
    patch = patch_bytes(journal_dir, table)
    assert b"+a changed\n" in patch and b"deleted file mode 100644" in patch
    assert b"+untracked in a folder\n" in patch


def test_renamed_file_counts_as_old_and_new_path(repo: Path, tmp_path: Path) -> None:
    git(repo, "mv", "train.py", "model.py")
    table, journal_dir = capture(repo)
    assert table["changed"] == ["model.py", "train.py"]
    assert_rebuilds(repo, journal_dir, table, tmp_path)


# --- the patch rebuilds the state ---------------------------------------------------------------

def make_messy_repo(tmp_path: Path) -> Path:
    """A repo whose work tree holds every kind of change and awkward name there is."""
    repo = make_repo(tmp_path / "repo", {
        "train.py": "import torch\n\nlr = 0.1\nprint(lr)\n",
        "old.txt": "to be deleted\n",
        "gone.txt": "deletion staged\n",
        "staged.txt": "v1\n",
        "my data.csv": "a,b\n1,2\n",
        "設定.yaml": "lr: 0.1\n",
        "keep.txt": "unchanged\n",
        "cfg.txt": "becomes a symlink\n",
        "data": "becomes a folder\n",
        ".gitignore": "*.log\n",
    })
    os.symlink("train.py", repo / "link.py")
    write(repo / "weights.bin", bytes(range(256)) * 4 + b"\0\0tail")
    write(repo / "tool.sh", "#!/bin/sh\necho tool\n", mode=0o644)
    write(os.fsencode(repo) + b"/tracked-\xff.txt", "latin name\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")

    write(repo / "train.py", "import torch\n\nlr = 0.3\nprint(lr)\n")      # text change
    write(repo / "weights.bin", bytes(range(255, -1, -1)) * 4 + b"\0\0new")   # binary change
    (repo / "old.txt").unlink()                                              # deleted
    git(repo, "rm", "-q", "gone.txt")                                        # staged deletion
    write(repo / "staged.txt", "v2\n")
    git(repo, "add", "staged.txt")                                           # staged only
    write(repo / "my data.csv", "a,b\n1,2\n3,4\n")                          # space in the name
    write(repo / "設定.yaml", "lr: 0.3\n")                                   # Japanese name
    os.chmod(repo / "tool.sh", 0o755)                                        # mode change only
    write(os.fsencode(repo) + b"/tracked-\xff.txt", "latin name, changed\n")  # non-UTF-8 name
    write(repo / "notes.txt", "why lr 0.3\n")                                # untracked text
    write(repo / "run.sh", "#!/bin/sh\npython train.py\n", mode=0o755)       # untracked script
    os.symlink("train.py", repo / "latest.py")                               # untracked symlink
    write(repo / "with space.txt", "spaced\n")
    write(repo / "new\nline.txt", "newline in the name\n")
    write(os.fsencode(repo) + b"/caf\xe9.txt", "not UTF-8 in the name\n")
    write(repo / "実験メモ.md", "# メモ\n学習率を変えた\n")
    write(repo / "dir with space" / "深い" / "x y.txt", "deep\n")
    write(repo / "empty.txt", b"")
    write(repo / "crlf.txt", b"one\r\ntwo\r\nno newline at end")
    write(repo / "latin1.txt", "caf\xe9 na\xefve\n".encode("latin-1"))       # text, not UTF-8
    write(repo / 'quote"and\\back.txt', "odd\n")
    write(repo / "tab\tname.txt", "tab\n")
    write(repo / "trailing ", "trailing space\n")
    write(repo / " leading", "leading space\n")
    (repo / "cfg.txt").unlink()
    os.symlink("keep.txt", repo / "cfg.txt")                                 # file -> symlink
    (repo / "link.py").unlink()
    os.symlink("keep.txt", repo / "link.py")                                 # symlink retargeted
    (repo / "data").unlink()
    write(repo / "data" / "x.txt", "file replaced by a folder\n")
    write(repo / "ita.txt", "intent to add\n")
    git(repo, "add", "-N", "ita.txt")
    write(repo / "ad.txt", "added, then deleted from disk\n")
    git(repo, "add", "ad.txt")
    (repo / "ad.txt").unlink()
    os.symlink("dir with space", repo / "dirlink")                           # symlink to a folder
    write(repo / "run.log", "ignored: neither listed nor captured\n")
    return repo


MESSY_CHANGED = [
    "ad.txt", "cfg.txt", "data", "gone.txt", "ita.txt", "link.py", "my data.csv", "old.txt",
    "staged.txt", "tool.sh", "tracked-\\xff.txt", "train.py", "weights.bin", "設定.yaml",
]
MESSY_UNTRACKED = [
    " leading", "caf\\xe9.txt", "crlf.txt", "data/x.txt", "dir with space/深い/x y.txt", "dirlink",
    "empty.txt", "latest.py", "latin1.txt", "new\nline.txt", "notes.txt", 'quote"and\\back.txt',
    "run.sh", "tab\tname.txt", "trailing ", "with space.txt", "実験メモ.md",
]


def test_patch_rebuilds_every_change_byte_for_byte(tmp_path: Path) -> None:
    repo = make_messy_repo(tmp_path)
    table, journal_dir = capture(repo, TRUE)
    assert table["dirty"] is True and table["branch"] == "main" and table["commit"] == head(repo)
    assert table["changed"] == MESSY_CHANGED
    assert table["untracked"] == MESSY_UNTRACKED
    assert "left_out" not in table
    rebuilt = assert_rebuilds(repo, journal_dir, table, tmp_path, skip=("run.log",))
    assert not (rebuilt / "run.log").exists()
    assert os.readlink(rebuilt / "latest.py") == "train.py"
    assert os.readlink(rebuilt / "cfg.txt") == os.readlink(rebuilt / "link.py") == "keep.txt"
    assert os.stat(rebuilt / "run.sh").st_mode & 0o111 and os.stat(rebuilt / "tool.sh").st_mode & 0o111
    assert not (rebuilt / "old.txt").exists() and not (rebuilt / "gone.txt").exists()


def test_note_only_record_rebuilds_too(tmp_path: Path) -> None:
    repo = make_messy_repo(tmp_path)
    table, journal_dir = capture(repo)
    assert (table["changed"], table["untracked"]) == (MESSY_CHANGED, MESSY_UNTRACKED)
    assert_rebuilds(repo, journal_dir, table, tmp_path, skip=("run.log",))


def test_staged_then_edited_and_untracked_by_rm_cached(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "v1\n", "cached.py": "kept on disk\n"})
    write(repo / "train.py", "staged version\n")
    git(repo, "add", "train.py")
    write(repo / "train.py", "work-tree version\n")   # the work tree, not the index, is captured
    git(repo, "rm", "-q", "--cached", "cached.py")     # deletion staged, file kept: untracked too
    table, journal_dir = capture(repo)
    assert (table["changed"], table["untracked"]) == (["cached.py", "train.py"], ["cached.py"])
    assert_rebuilds(repo, journal_dir, table, tmp_path)


def test_left_out_files_are_named_and_never_read_into_the_patch(repo: Path, tmp_path: Path) -> None:
    set_config(repo / ".journal", "[capture]\nuntracked_max_bytes = 100\nleft_out = [\"*.secret\"]\n")
    write(repo / ".env", "SECRET_A=left-out-marker-1\n")
    write(repo / "config" / "id_rsa", "left-out-marker-2\n")
    write(repo / "x.pem", "left-out-marker-3\n")
    write(repo / "db.secret", "left-out-marker-4\n")
    write(repo / "data.bin", b"left-out-marker-5\0binary")
    write(repo / "big.txt", "left-out-marker-6 " + "x" * 200 + "\n")
    write(repo / "exactly.txt", "y" * 99 + "\n")                  # at the cap: kept
    write(repo / "notes.txt", "kept\n")
    table, journal_dir = capture(repo, TRUE)
    assert table["untracked"] == [
        ".env", "big.txt", "config/id_rsa", "data.bin", "db.secret", "exactly.txt", "notes.txt",
        "x.pem",
    ]
    assert table["left_out"] == [".env", "big.txt", "config/id_rsa", "data.bin", "db.secret", "x.pem"]
    assert b"left-out-marker" not in journal_files(journal_dir)
    rebuilt = assert_rebuilds(repo, journal_dir, table, tmp_path, skip=tuple(table["left_out"]))
    assert [path for path in table["left_out"] if (rebuilt / path).exists()] == []


def test_tracked_credential_file_changes_are_left_out(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x = 1\n", ".env": "A=1\n", "keys/id_rsa": "old\n"})
    write(repo / ".env", "A=1\nB=tracked-marker\n")
    write(repo / "keys" / "id_rsa", "tracked-marker\n")
    write(repo / "train.py", "x = 2\n")
    table, journal_dir = capture(repo)
    assert table["changed"] == [".env", "keys/id_rsa", "train.py"]
    assert table["left_out"] == [".env", "keys/id_rsa"]
    assert b"tracked-marker" not in journal_files(journal_dir)
    rebuilt = assert_rebuilds(repo, journal_dir, table, tmp_path, skip=(".env", "keys/id_rsa"))
    assert (rebuilt / ".env").read_text() == "A=1\n"   # as committed
    assert (rebuilt / "keys" / "id_rsa").read_text() == "old\n"


def test_left_out_reasons_reach_the_user(repo: Path) -> None:
    set_config(repo / ".journal", "[capture]\nuntracked_max_bytes = 10\n")
    write(repo / "big.txt", "z" * 11)
    write(repo / "blob.bin", b"\0\1\2")
    done = new(repo)
    assert b"journal: left out of the patch: big.txt (over 10 bytes), blob.bin (binary)\n" in done.stderr


def test_untracked_nested_repository_is_left_out(repo: Path, tmp_path: Path) -> None:
    make_repo(repo / "vendor", {"lib.py": "nested\n"})
    table, journal_dir = capture(repo)
    assert (table["untracked"], table["left_out"]) == (["vendor/"], ["vendor/"])
    assert_rebuilds(repo, journal_dir, table, tmp_path, skip=("vendor/lib.py",))


def test_warnings_with_hostile_file_names_are_escaped(repo: Path) -> None:
    write(repo / "\x1b[31mred\x07.bin", b"\0")
    done = new(repo)
    assert b"\x1b" not in done.stderr and b"\x07" not in done.stderr
    assert b"\\x1b[31mred\\x07.bin (binary)" in done.stderr


# --- .journal/ never counts as a change ---------------------------------------------------------

def test_second_run_in_a_clean_repo_is_clean(repo: Path) -> None:
    first, journal_dir = capture(repo, TRUE)
    second, _ = capture(repo, TRUE)
    for table in (first, second):
        assert table == {
            "commit": head(repo), "branch": "main", "dirty": False, "changed": [], "untracked": [],
            "tree": git(repo, "rev-parse", "HEAD^{tree}").strip(),
        }
    assert not (journal_dir / "patches").exists() or not any((journal_dir / "patches").iterdir())


def test_journal_dir_elsewhere_inside_the_work_tree_is_not_a_change(repo: Path) -> None:
    env = env_with(JOURNAL_DIR="results/journal")
    journal_dir = repo / "results" / "journal"
    write(repo / ".journal" / "runs" / "old.toml", "schema = 1\n")   # a journal not in use: still .journal/
    for _ in range(2):
        table, _ = capture(repo, TRUE, journal_dir=journal_dir, env=env)
        assert (table["dirty"], table["changed"], table["untracked"]) == (False, [], [])
    assert len(records(journal_dir)) == 2


def test_journal_dir_with_odd_name_inside_a_subfolder(repo: Path) -> None:
    env = env_with(JOURNAL_DIR="out/[a]*journal")
    journal_dir = repo / "out" / "[a]*journal"
    capture(repo, journal_dir=journal_dir, env=env)
    write(repo / "out" / "aXjournal", "a real change the pathspec must not swallow\n")
    table, _ = capture(repo, journal_dir=journal_dir, env=env)
    assert (table["dirty"], table["untracked"]) == (True, ["out/aXjournal"])


def test_journal_dir_outside_the_work_tree(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    table, _ = capture(repo, TRUE, journal_dir=elsewhere, env=env_with(JOURNAL_DIR=str(elsewhere)))
    assert table["commit"] == head(repo) and table["dirty"] is False


def test_committed_journal_records_do_not_make_runs_dirty(repo: Path) -> None:
    capture(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "records")
    capture(repo)
    table, _ = capture(repo)
    assert (table["dirty"], table["changed"], table["untracked"]) == (False, [], [])


# --- every repo state gets a record -------------------------------------------------------------

def test_outside_git_there_is_no_git_table(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    new(folder, TRUE)
    record = only_record(folder / ".journal")
    assert "git" not in record and record["status"] == "finished" and record["cwd"] == "."


def test_repo_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / "staged.py", "print('staged')\n")
    git(repo, "add", "staged.py")
    write(repo / "notes.md", "untracked\n")
    write(repo / "run.sh", "#!/bin/sh\n", mode=0o755)
    table, journal_dir = capture(repo, TRUE)
    assert only_record(journal_dir)["id"].split("-")[2] == "nocommit"
    assert "commit" not in table
    assert table["branch"] == "main" and table["dirty"] is True
    assert (table["changed"], table["untracked"]) == (["staged.py"], ["notes.md", "run.sh"])
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    git(empty, "apply", str(journal_dir / table["patch"]))
    assert snapshot(empty) == snapshot(repo)


def test_empty_repo_without_changes(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    table, _ = capture(repo)
    assert table == {"branch": "main", "dirty": False, "changed": [], "untracked": []}


def test_detached_head_has_no_branch(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    write(repo / "train.py", "detached edit\n")
    table, journal_dir = capture(repo)
    assert "branch" not in table
    assert (table["commit"], table["changed"]) == (head(repo), ["train.py"])
    assert "in_progress" not in table
    assert_rebuilds(repo, journal_dir, table, tmp_path)


def diverge(repo: Path) -> None:
    """Two branches that change the same line of train.py."""
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "train.py", "print('feature')\n")
    write(repo / "feature.txt", "only on feature\n")
    git(repo, "commit", "-q", "-am", "feature")
    git(repo, "add", "feature.txt")
    git(repo, "commit", "-q", "-m", "feature file")
    git(repo, "checkout", "-q", "main")
    write(repo / "train.py", "print('main')\n")
    git(repo, "commit", "-q", "-am", "main")


def test_merge_in_progress_with_a_conflict(repo: Path, tmp_path: Path) -> None:
    diverge(repo)
    assert git(repo, "merge", "feature", check=False) is not None
    assert (repo / ".git" / "MERGE_HEAD").exists()
    table, journal_dir = capture(repo, TRUE)
    assert table["in_progress"] == "merge"
    assert (table["branch"], table["commit"]) == ("main", head(repo))
    assert (table["changed"], table["untracked"]) == (["feature.txt", "train.py"], [])
    rebuilt = assert_rebuilds(repo, journal_dir, table, tmp_path)
    assert b"<<<<<<< HEAD" in (rebuilt / "train.py").read_bytes()


def test_rebase_in_progress(repo: Path, tmp_path: Path) -> None:
    diverge(repo)
    git(repo, "checkout", "-q", "feature")
    assert git(repo, "rebase", "main", check=False) is not None
    assert (repo / ".git" / "rebase-merge").is_dir()
    table, journal_dir = capture(repo)
    assert table["in_progress"] == "rebase"
    assert "branch" not in table and table["commit"] == head(repo)
    assert table["changed"] == ["train.py"]
    assert_rebuilds(repo, journal_dir, table, tmp_path)


def add_submodule(parent: Path, source: Path, path: str) -> None:
    git(parent, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(source), path)


def test_submodules_commit_and_dirty_flag(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "v1\n"})
    data = make_repo(tmp_path / "data", {"data.txt": "d1\n"})
    parent = make_repo(tmp_path / "parent")
    add_submodule(parent, lib, "libs/lib")
    add_submodule(parent, data, "data")
    git(parent, "commit", "-q", "-m", "submodules")
    table, _ = capture(parent)
    assert table["dirty"] is False
    assert table["submodules"] == [
        {"path": "data", "commit": head(data), "dirty": False},
        {"path": "libs/lib", "commit": head(lib), "dirty": False},
    ]
    write(parent / "libs" / "lib" / "lib.py", "v2 edited inside the submodule\n")
    write(parent / "data" / "scratch.txt", "untracked inside the submodule\n")
    write(parent / "train.py", "parent edit\n")
    table, journal_dir = capture(parent, TRUE)
    assert table["dirty"] is True
    assert table["changed"] == ["data", "libs/lib", "train.py"]
    assert table["submodules"] == [
        {"path": "data", "commit": head(data), "dirty": True},
        {"path": "libs/lib", "commit": head(lib), "dirty": True},
    ]
    patch = patch_bytes(journal_dir, table)
    assert b"+parent edit\n" in patch and b"Subproject" not in patch and b"libs/lib" not in patch


def test_nested_submodule_dirtiness_is_its_own(tmp_path: Path) -> None:
    inner = make_repo(tmp_path / "inner", {"inner.txt": "i\n"})
    mid = make_repo(tmp_path / "mid", {"mid.txt": "m\n"})
    add_submodule(mid, inner, "inner")
    git(mid, "commit", "-q", "-m", "inner")
    parent = make_repo(tmp_path / "parent")
    add_submodule(parent, mid, "mid")
    git(parent, "commit", "-q", "-m", "mid")
    git(parent, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init", "--recursive")
    table, _ = capture(parent)
    assert table["dirty"] is False
    assert table["submodules"] == [
        {"path": "mid", "commit": head(mid), "dirty": False},
        {"path": "mid/inner", "commit": head(inner), "dirty": False},
    ]
    write(parent / "mid" / "inner" / "inner.txt", "edited two levels down\n")
    table, _ = capture(parent)
    assert (table["dirty"], table["changed"]) == (True, ["mid"])
    assert table["submodules"] == [
        {"path": "mid", "commit": head(mid), "dirty": True},
        {"path": "mid/inner", "commit": head(inner), "dirty": True},
    ]


def test_submodule_at_another_commit_is_marked_moved(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "v1\n"})
    parent = make_repo(tmp_path / "parent")
    add_submodule(parent, lib, "lib")
    git(parent, "commit", "-q", "-m", "submodule")
    write(parent / "lib" / "lib.py", "v2\n")
    git(parent / "lib", "commit", "-q", "-am", "inside")
    table, _ = capture(parent)
    assert table["changed"] == ["lib"] and table["dirty"] is True
    assert table["submodules"] == [
        {"path": "lib", "commit": head(parent / "lib"), "dirty": False, "moved": True},
    ]


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    """A run in a linked worktree lands in the repository's one journal (in the main work
    tree), named by its worktree; its cwd is relative to that worktree."""
    linked = tmp_path / "exp-wt"
    git(repo, "worktree", "add", "-q", "-b", "experiment", str(linked))
    write(linked / "train.py", "in the linked worktree\n")
    sub = linked / "src"
    sub.mkdir()
    table, journal_dir = capture(sub, TRUE, journal_dir=repo / ".journal")
    assert not (linked / ".journal").exists()
    assert only_record(journal_dir)["cwd"] == "src"
    assert table["worktree"] == "exp-wt"
    listed = journal("list", cwd=linked).stdout.decode()
    assert "@exp-wt" in listed and listed == journal("list", cwd=repo).stdout.decode()
    assert (table["branch"], table["commit"]) == ("experiment", head(repo))
    assert (table["changed"], table["untracked"]) == (["train.py"], [])
    assert_rebuilds(linked, journal_dir, table, tmp_path)
    main_table, _ = capture(repo)
    assert "worktree" not in main_table and main_table["dirty"] is False


def test_merge_in_a_linked_worktree_is_seen(repo: Path, tmp_path: Path) -> None:
    diverge(repo)
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "other", str(linked), "main")
    git(linked, "merge", "feature", check=False)
    table, _ = capture(linked, journal_dir=repo / ".journal")
    assert (table["in_progress"], table["worktree"], table["branch"]) == ("merge", "linked", "other")
    assert "in_progress" not in capture(repo)[0]


def test_shallow_clone(repo: Path, tmp_path: Path) -> None:
    write(repo / "train.py", "second commit\n")
    git(repo, "commit", "-q", "-am", "second")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    table, _ = capture(clone)
    assert table == {
        "commit": head(repo), "branch": "main", "shallow": True, "dirty": False,
        "changed": [], "untracked": [], "tree": git(repo, "rev-parse", "HEAD^{tree}").strip(),
    }


def test_running_from_a_subdirectory(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"src/deep/model.py": "m\n", "train.py": "t\n"})
    write(repo / "src" / "deep" / "model.py", "m2\n")
    write(repo / "src" / "deep" / "local.txt", "new\n")
    cwd = repo / "src" / "deep"
    table, journal_dir = capture(cwd, TRUE, journal_dir=repo / ".journal")
    assert not (cwd / ".journal").exists()
    assert only_record(journal_dir)["cwd"] == "src/deep"
    assert (table["changed"], table["untracked"]) == (["src/deep/model.py"], ["src/deep/local.txt"])
    assert_rebuilds(repo, journal_dir, table, tmp_path)


def test_running_inside_dot_git_still_records_at_the_root(repo: Path) -> None:
    new(repo / ".git" / "refs")
    assert only_record(repo / ".journal")["git"]["commit"] == head(repo)


# --- the user's git config cannot change the capture --------------------------------------------

def test_user_git_config_cannot_change_the_capture(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {
        "train.py": "".join(f"line {n}\n" for n in range(20)), "data.dat": "1 2 3\n", "old.py": "x\n",
    })
    garbage = tmp_path / "garbage.sh"
    write(garbage, "#!/bin/sh\necho GARBAGE-FROM-EXTERNAL-DIFF\n", mode=0o755)
    settings = {
        "color.ui": "always", "color.diff": "always", "color.status": "always",
        "diff.noprefix": "true", "diff.mnemonicPrefix": "true", "diff.external": str(garbage),
        "diff.conv.textconv": str(garbage), "diff.context": "0", "diff.renames": "copies",
        "diff.suppressBlankEmpty": "true", "diff.relative": "true", "diff.ignoreSubmodules": "all",
        "core.pager": "sed s/^/PAGER/", "pager.diff": "sed s/^/PAGER/", "core.quotepath": "false",
        "status.relativePaths": "true", "status.showUntrackedFiles": "no", "status.renames": "true",
        "status.branch": "true", "status.short": "true", "log.showSignature": "true",
    }
    for name, value in settings.items():
        git(repo, "config", name, value)
    write(repo / ".gitattributes", "*.dat diff=conv\n*.py diff=conv\n")
    write(repo / "train.py", "".join(f"line {n}\n" for n in range(20) if n != 10) + "\nend\n")
    write(repo / "data.dat", "4 5 6\n")
    git(repo, "mv", "old.py", "renamed.py")
    write(repo / "日本語 名前.txt", "quotepath\n")
    (repo / "sub").mkdir()
    write(repo / "sub" / "x.txt", "relative paths\n")
    env = env_with(GIT_DIFF_OPTS="--unified=0", GIT_EXTERNAL_DIFF=str(garbage), TERM="xterm-256color")
    table, journal_dir = capture(repo / "sub", TRUE, journal_dir=repo / ".journal", env=env)
    assert table["changed"] == ["data.dat", "old.py", "renamed.py", "train.py"]
    assert table["untracked"] == [".gitattributes", "sub/x.txt", "日本語 名前.txt"]
    patch = patch_bytes(journal_dir, table)
    assert b"GARBAGE" not in patch and b"PAGER" not in patch and b"\x1b[" not in patch
    assert b"--- a/train.py\n+++ b/train.py\n" in patch
    assert_rebuilds(repo, journal_dir, table, tmp_path)


# --- read-only -----------------------------------------------------------------------------------

def test_capture_never_writes_to_the_users_repo(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "v1\n"})
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", "a.txt": "a\n", "b.txt": "b\n"})
    add_submodule(repo, lib, "lib")
    git(repo, "commit", "-q", "-m", "submodule")
    write(repo / "train.py", "changed\n")
    write(repo / "staged.txt", "staged\n")
    git(repo, "add", "staged.txt")
    write(repo / "new.txt", "untracked\n")
    write(repo / "lib" / "lib.py", "dirty submodule\n")
    future = time.time() + 3600   # stat-dirty but unchanged files: a refreshing git would rewrite the index
    for name in ("a.txt", "b.txt", "lib/lib.py"):
        os.utime(repo / name, (future, future))
    before = tree_state(repo)
    table, _ = capture(repo, TRUE)
    capture(repo)
    assert table["changed"] == ["lib", "staged.txt", "train.py"]
    assert tree_state(repo) == before


# --- secrets -------------------------------------------------------------------------------------

def test_tokens_are_masked_in_the_patch_and_never_reach_disk(repo: Path, tmp_path: Path) -> None:
    write(repo / "train.py", f"print('hello')\nTOKEN = '{TOKEN}'\n")
    write(repo / "settings.txt", f"github = {TOKEN}\nother = 1\n")
    table, journal_dir = capture(repo, TRUE)
    assert table["redacted"] == ["train.py", "settings.txt"]
    assert TOKEN.encode() not in journal_files(journal_dir)
    assert TOKEN[:12].encode() not in journal_files(journal_dir)
    rebuilt = rebuild(repo, journal_dir, table, tmp_path / "rebuilt")
    assert (rebuilt / "train.py").read_text() == "print('hello')\nTOKEN = '***'\n"
    assert (rebuilt / "settings.txt").read_text() == "github = ***\nother = 1\n"


def test_committed_token_on_context_or_removed_lines_never_reaches_disk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": f"T = '{TOKEN}'\nx = 1\n", "b.py": f"T = '{TOKEN}'\n",
                                         "c.py": "y = 1\n"})
    write(repo / "a.py", f"T = '{TOKEN}'\nx = 2\n")   # the token is a context line
    write(repo / "b.py", "T = None\n")                # the token is a removed line
    write(repo / "c.py", "y = 2\n")                   # no secret: stays in the patch
    table, journal_dir = capture(repo)
    assert TOKEN.encode() not in journal_files(journal_dir)
    assert table["left_out"] == ["a.py", "b.py"]
    patch = (journal_dir / table["patch"]).read_bytes()
    assert b"+y = 2" in patch and b"a.py" not in patch


def test_token_in_a_file_with_an_unusual_name_is_reported_by_that_name(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"設定 tracked.py": "x = 1\n"})
    write(repo / "設定 tracked.py", f"x = 1\ny = '{TOKEN}'\n")
    write(repo / "設定 file.env.txt", f"{TOKEN}\n")
    table, journal_dir = capture(repo)
    assert table["redacted"] == ["設定 tracked.py", "設定 file.env.txt"]
    assert TOKEN.encode() not in journal_files(journal_dir)


# --- git trouble: the run still happens and is on record -----------------------------------------

def test_git_that_hangs_times_out_and_the_run_still_happens(repo: Path, tmp_path: Path) -> None:
    set_config(repo / ".journal", "[capture]\ngit_timeout = 0.5\n")
    pid_file = tmp_path / "sleeper.pid"
    env = fake_git(tmp_path / "fakebin", f"sleep 5 &\necho $! > '{pid_file}'\nwait\n")
    started = time.monotonic()
    done = new(repo, "sh", "-c", "echo ran; exit 3", env=env, expect=3)
    assert time.monotonic() - started < 3.5
    assert_gone(int(pid_file.read_text()))   # what git started is killed too, not left running
    assert done.stdout == b"ran\n"
    assert b"journal: code state not captured: `git status` took longer than 0.5s\n" in done.stderr
    record = only_record(repo / ".journal")
    assert record["git"] == {"partial": ["status", "patch"]}
    assert (record["status"], record["exit_code"]) == ("failed", 3)


def assert_gone(pid: int, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    raise AssertionError(f"process {pid} outlived the capture")


def test_git_never_reads_the_commands_stdin(repo: Path, tmp_path: Path) -> None:
    env = fake_git(tmp_path / "fakebin", 'read line || true\nexec "$REAL_GIT" "$@"\n')
    done = journal("new", "--", "cat", cwd=repo, env=env, input=b"first\nsecond\n")
    assert (done.returncode, done.stdout) == (0, b"first\nsecond\n")
    assert only_record(repo / ".journal")["git"]["dirty"] is False


def test_git_that_refuses_the_repo_still_gives_a_record(repo: Path, tmp_path: Path) -> None:
    env = fake_git(tmp_path / "fakebin", (
        "echo \"warning: something unrelated\" >&2\n"
        "echo \"fatal: detected dubious ownership in repository at '$PWD'\" >&2\n"
        "echo \"To add an exception for this directory, call:\" >&2\n"
        "exit 128\n"
    ))
    done = new(repo, "sh", "-c", "echo ran; exit 5", env=env, expect=5)
    assert done.stdout == b"ran\n"
    expected = (f"journal: code state not captured: `git status` failed: fatal: detected dubious "
                f"ownership in repository at '{repo}'\n")
    assert expected.encode() in done.stderr
    record = only_record(repo / ".journal")
    assert record["git"] == {"partial": ["status", "patch"]}
    assert (record["status"], record["exit_code"]) == ("failed", 5)


def test_git_missing_from_path(repo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "nogit"
    empty.mkdir()
    done = new(repo, TRUE, env=env_with(PATH=str(empty)))
    assert b"journal: code state not captured: cannot run git: No such file or directory\n" in done.stderr
    assert only_record(repo / ".journal")["git"] == {"partial": ["status", "patch"]}


def test_diff_failure_keeps_status_and_untracked_files(repo: Path, tmp_path: Path) -> None:
    env = fake_git(tmp_path / "fakebin", (
        'case " $* " in *" diff-index "*) echo "fatal: out of memory" >&2; exit 128;; esac\n'
        'exec "$REAL_GIT" "$@"\n'
    ))
    write(repo / "train.py", "changed\n")
    write(repo / "notes.txt", "kept\n")
    done = new(repo, TRUE, env=env)
    assert b"journal: uncommitted changes not captured: `git diff-index` failed: fatal: out of memory\n" \
        in done.stderr
    table = only_record(repo / ".journal")["git"]
    assert table["partial"] == ["patch"]
    assert (table["commit"], table["dirty"]) == (head(repo), True)
    assert (table["changed"], table["untracked"]) == (["train.py"], ["notes.txt"])
    patch = patch_bytes(repo / ".journal", table)
    assert patch == b"diff --git a/notes.txt b/notes.txt\nnew file mode 100644\n--- /dev/null\n" \
        b"+++ b/notes.txt\n@@ -0,0 +1 @@\n+kept\n"


def test_empty_tree_failure_in_a_repo_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / "a.py", "a\n")
    git(repo, "add", "a.py")
    env = fake_git(tmp_path / "fakebin", (
        'case " $* " in *" hash-object "*) echo "fatal: broken" >&2; exit 128;; esac\n'
        'exec "$REAL_GIT" "$@"\n'
    ))
    done = new(repo, TRUE, env=env)
    assert b"journal: uncommitted changes not captured: `git hash-object` failed: fatal: broken\n" \
        in done.stderr
    table = only_record(repo / ".journal")["git"]
    assert (table["partial"], table["changed"], table["dirty"]) == (["patch"], ["a.py"], True)


def test_submodule_failure_and_diff_failure_are_both_listed(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib")
    repo = make_repo(tmp_path / "repo")
    add_submodule(repo, lib, "lib")
    git(repo, "commit", "-q", "-m", "submodule")
    write(repo / "train.py", "changed\n")
    env = fake_git(tmp_path / "fakebin", (
        'case " $* " in *" submodule "*|*" diff-index "*) echo "fatal: nope" >&2; exit 1;; esac\n'
        'exec "$REAL_GIT" "$@"\n'
    ))
    done = new(repo, TRUE, env=env)
    assert b"journal: submodule commits not captured: `git submodule` failed: fatal: nope\n" in done.stderr
    table = only_record(repo / ".journal")["git"]
    assert table["partial"] == ["submodules", "patch"]
    assert (table["changed"], table["dirty"]) == (["train.py"], True)


def test_git_environment_overrides_are_honoured(repo: Path, tmp_path: Path) -> None:
    """GIT_DIR/GIT_WORK_TREE (as set by hooks and some IDEs) name the repo the capture reads."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    write(repo / "train.py", "edit\n")
    env = env_with(GIT_DIR=str(repo / ".git"), GIT_WORK_TREE=str(repo))
    new(elsewhere, env=env)
    table = only_record(repo / ".journal")["git"]
    assert (table["commit"], table["changed"]) == (head(repo), ["train.py"])


# --- pieces ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["plain.txt", "with space.txt", "new\nline", "tab\there", 'q"uote',
                                  "back\\slash", "é日本", "del\x7f", "bell\x07"])
def test_quote_path_matches_git(tmp_path: Path, name: str) -> None:
    from journal.capture.gitstate import quote_path

    repo = tmp_path / "q"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / name, "x\n")
    git(repo, "add", "-A")
    listed = subprocess.run(["git", "-c", "core.quotepath=on", "ls-files"], cwd=repo,
                            capture_output=True, check=True).stdout
    assert quote_path(name) + b"\n" == listed


def test_new_file_section_matches_git_apply_for_edge_contents(tmp_path: Path) -> None:
    from journal.capture.gitstate import new_file_section

    contents = [b"", b"x", b"x\n", b"\n\n", b"a\r\nb\r\n", b"no end\nline", b"+++ b/fake\n--- a/x\n"]
    patch = b"".join(new_file_section(f"f{n}", data, "100644") for n, data in enumerate(contents))
    target = tmp_path / "t"
    target.mkdir()
    git(target, "init", "-q")
    subprocess.run(["git", "apply", "-"], cwd=target, input=patch, check=True, capture_output=True)
    for n, data in enumerate(contents):
        assert (target / f"f{n}").read_bytes() == data


def test_untracked_fifo_is_left_out_not_read(tmp_path: Path) -> None:
    """git does not list fifos, but one can replace a file between the status and the read."""
    from journal.capture.gitstate import _untracked_patch

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    write(tmp_path / "ok.txt", "ok\n")

    def unblock() -> None:   # should the fifo be read after all, fail the test instead of hanging
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(2.0, unblock)
    timer.start()
    try:
        patch, left_out, notes = _untracked_patch(tmp_path, ["pipe", "ok.txt", "vanished.txt"], 100, ())
    finally:
        timer.cancel()
    assert patch == b"diff --git a/ok.txt b/ok.txt\nnew file mode 100644\n--- /dev/null\n" \
        b"+++ b/ok.txt\n@@ -0,0 +1 @@\n+ok\n"
    assert left_out == ["pipe", "vanished.txt"]
    assert notes == ["pipe (not a regular file)", "vanished.txt (No such file or directory)"]


def test_parse_status_reads_every_entry_kind() -> None:
    from journal.capture.gitstate import parse_status

    oid = "a" * 40
    output = b"\0".join([
        b"# branch.oid " + oid.encode(), b"# branch.head feat/x y",
        b"1 .M N... 100644 100644 100644 " + b"1" * 40 + b" " + b"1" * 40 + b" path with space",
        b"1 .M SC.. 160000 160000 160000 " + b"2" * 40 + b" " + b"2" * 40 + b" sub",
        b"2 R. N... 100644 100644 100644 " + b"3" * 40 + b" " + b"3" * 40 + b" R100 new name",
        b"old name",
        b"u UU N... 100644 100644 100644 100644 " + b" ".join([b"4" * 40] * 3) + b" conflict",
        b"? caf\xe9", b"? dir/", b"",
    ])
    status = parse_status(output)
    assert (status.commit, status.branch) == (oid, "feat/x y")
    assert status.changed == ["path with space", "sub", "new name", "conflict"]
    assert status.untracked == ["caf\udce9", "dir/"]
    assert status.submodule_flags == {"sub": "C.."}
    assert parse_status(b"# branch.oid (initial)\0# branch.head (detached)\0").commit is None

"""`journal diff A B`: params, metrics and the other fields side by side, then the code between
the two runs (commits and the uncommitted changes of both), with the user's repo left untouched."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from conftest import git, journal, make_repo, records
from readkit import tag_by_hand


def run_ids(repo: Path) -> list[str]:
    """The runs of the journal `repo` writes to (a linked worktree's is its main work tree's)."""
    from journal.store.paths import main_worktree_root

    return [record["id"] for record in records(main_worktree_root(repo) / ".journal")]


def new(repo: Path, *args: str) -> str:
    before = set(run_ids(repo))
    done = journal("new", *args, cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = set(run_ids(repo)) - before
    return run_id


def diff(repo: Path, *refs: str) -> str:
    done = journal("diff", *refs, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in done.stdout
    return done.stdout.decode()


def section(output: str, title: str) -> list[str]:
    """The lines of one section: from its title line to the next blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def commit_all(repo: Path, message: str, *, with_journal: bool = False) -> str:
    git(repo, "add", "-A", "--", ".", *(() if with_journal else (":(exclude).journal",)))
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_params_metrics_and_facts_side_by_side(repo: Path) -> None:
    a = new(repo, "-n", "SGD baseline", "-t", "draft", "-p", "lr=0.001", "-p", "opt=sgd",
            "-p", "batch_size=32", "-p", "epochs=10", "-p", "warmup=100",
            "-m", "acc=81.2", "-m", "loss=0.5", "-m", "steps=1000")
    b = new(repo, "-n", "Adam instead of SGD\nsecond line", "-p", "lr=3e-4", "-p", "opt=adam",
            "-p", "batch_size=32", "-p", "epochs=10", "-p", "seed=1",
            "-m", "acc=82.476", "-m", "loss=0.5", "-m", "steps=1200")
    output = diff(repo, a, b)
    assert output.splitlines()[:2] == [
        f"A: {a}  started " + output.splitlines()[0].split("started ")[1],
        f"B: {b}  started " + output.splitlines()[1].split("started ")[1],
    ]
    assert section(output, "params") == [
        "params: 4 of 6 differ",
        "  lr      0.001  → 0.0003  (-0.0007)",
        "  opt     sgd    → adam",
        "  warmup  100    → (none)",
        "  seed    (none) → 1",
        "  same: batch_size=32, epochs=10",
    ]
    assert section(output, "metrics") == [
        "metrics: 2 of 3 differ",
        "  acc    81.2 → 82.476  (+1.276)",
        "  steps  1000 → 1200    (+200)",
        "  same: loss=0.5",
    ]
    assert section(output, "note") == [
        "note",
        "  A: SGD baseline",
        "  B: Adam instead of SGD",
        "     second line",
        "status    same: finished",
        "duration  same: (none)",
        "tags      draft → (none)  (-draft)",
    ]


def test_amendments_and_commands_are_compared(repo: Path) -> None:
    a = new(repo, "-n", "same note", "--", "sh", "-c", "exit 0", "--lr", "0.1")
    done = journal("new", "-n", "same note", "--", "sh", "-c", "sleep 1.2; exit 3", "--lr", "0.1",
                   cwd=repo)
    assert done.returncode == 3
    b = run_ids(repo)[-1]
    assert journal("note", b, "exit 3 was a full disk", cwd=repo).returncode == 0
    output = diff(repo, a, "@")
    lines = output.splitlines()
    note_at = lines.index("note")
    assert lines[note_at + 1] == "  A: same note"
    assert lines[note_at + 2] == "  B: same note"
    assert re.fullmatch(r"     amended \d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d: "
                        r"exit 3 was a full disk", lines[note_at + 3])
    assert "status    finished → failed" in lines
    duration = re.compile(r"duration  0\.\d+s → 1\.\d+s  \(\+1\.\d+s\)")
    assert any(duration.fullmatch(line) for line in lines), lines
    assert "command" in lines
    assert "  A: sh -c 'exit 0' --lr 0.1" in lines
    assert "  B: sh -c 'sleep 1.2; exit 3' --lr 0.1" in lines
    assert "params: all 1 the same" in lines


def test_code_between_runs_includes_commits_and_both_patches(repo: Path) -> None:
    (repo / "train.py").write_text("x = 1\n")
    c1 = commit_all(repo, "x is one")
    (repo / "train.py").write_text("x = 2\n")                        # A's uncommitted change
    a = new(repo, "-n", "A")
    (repo / "train.py").write_text("x = 3\n")
    c2 = commit_all(repo, "set x to three")
    (repo / "data.py").write_text("rows = 10\n")
    c3 = commit_all(repo, "add data", with_journal=True)     # records committed: still not code
    (repo / "train.py").write_text("x = 4\n")                        # B's uncommitted change
    (repo / "new_helper.py").write_text("def helper():\n    return 42\n")   # B's untracked file
    b = new(repo, "-n", "B")
    # A hostile user config must change nothing in what is shown.
    git(repo, "config", "color.ui", "always")
    git(repo, "config", "diff.noprefix", "true")
    git(repo, "config", "diff.mnemonicPrefix", "true")
    git(repo, "config", "diff.external", "false")
    git(repo, "config", "core.pager", "false")

    output = diff(repo, a, b)
    code = output[output.index("\ncode\n") + 1:]
    lines = code.splitlines()
    assert lines[:7] == [
        "code",
        f"  A: {c1[:7]} on main, uncommitted changes in train.py",
        f"  B: {c3[:7]} on main, uncommitted changes in train.py, new_helper.py",
        "  commits from A to B (2):",
        f"    {c3[:7]} add data",
        f"    {c2[:7]} set x to three",
        "  difference between their code (commits and uncommitted changes):",
    ]
    patch = code[code.index("diff --git"):]
    assert "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-x = 2\n+x = 4\n" in patch
    assert "+++ b/new_helper.py\n@@ -0,0 +1,2 @@\n+def helper():\n+    return 42\n" in patch
    assert "+++ b/data.py\n@@ -0,0 +1 @@\n+rows = 10\n" in patch
    assert "x = 1" not in patch and "x = 3" not in patch
    assert " 3 files changed, 4 insertions(+), 1 deletion(-)" in code
    assert diff(repo, a, b) == output       # deterministic


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `folder` with its size, mtime and bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            info = path.stat()
            found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns,
                                                    path.read_bytes())
    return found


def test_the_users_repository_is_not_touched(repo: Path) -> None:
    (repo / "train.py").write_text("print('a')\n")
    a = new(repo, "-n", "A")                                          # dirty: a patch
    commit_all(repo, "second")
    (repo / "fresh.py").write_text("brand new content, in no git object yet\n")
    b = new(repo, "-n", "B")                                          # untracked file in the patch
    status_before = git(repo, "status", "--porcelain")
    before = snapshot(repo)
    output = diff(repo, a, b)
    assert "+brand new content, in no git object yet" in output     # the patch was applied...
    assert snapshot(repo) == before                                   # ...without writing anything
    assert git(repo, "status", "--porcelain") == status_before
    objects = git(repo, "count-objects", "-v")
    assert git(repo, "fsck", "--no-dangling").strip() == "" and objects


def test_b_not_a_descendant_of_a(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.py").write_text("f = 1\n")
    feature = commit_all(repo, "feature work")
    a = new(repo, "-n", "on feature")
    git(repo, "checkout", "-q", "main")
    (repo / "main.py").write_text("m = 1\n")
    main = commit_all(repo, "main work")
    b = new(repo, "-n", "on main")
    lines = diff(repo, a, b).splitlines()
    start = lines.index("code")
    assert lines[start + 3:start + 8] == [
        f"  B is not a descendant of A: they branched at {base[:7]}",
        "  commits only in B (1):",
        f"    {main[:7]} main work",
        "  commits only in A (1):",
        f"    {feature[:7]} feature work",
    ]
    git(repo, "checkout", "-q", "feature")
    again = new(repo, "-n", "back on feature")
    assert "  same commit" in diff(repo, a, again).splitlines()
    # B older than A: B's commit is an ancestor of A's.
    git(repo, "checkout", "-q", "--detach", base)
    root_run = new(repo, "-n", "at the base")
    lines = diff(repo, a, root_run).splitlines()
    assert "  B is not a descendant of A: B's commit is an ancestor of A's" in lines
    assert f"    {feature[:7]} feature work" in lines
    assert "  A: " + feature[:7] + " on feature, clean" in lines
    assert "  B: " + base[:7] + ", clean" in lines        # detached: no branch


def test_a_commit_that_is_gone_is_named_and_the_rest_still_shown(repo: Path) -> None:
    a = new(repo, "-n", "A", "-p", "lr=1", "-m", "acc=1")
    (repo / "train.py").write_text("print('lost')\n")
    lost = commit_all(repo, "to be lost")
    b = new(repo, "-n", "B", "-p", "lr=2", "-m", "acc=2")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert git(repo, "cat-file", "-t", lost, check=False) == ""
    output = diff(repo, a, b)
    assert "  lr  1 → 2  (+1)" in output and "  acc  1 → 2  (+1)" in output
    assert (f"  commit {lost[:7]} of run B is not in this repository (garbage-collected, or made "
            "in another clone): the code cannot be compared") in output.splitlines()


def test_a_missing_patch_file_is_said_and_the_other_side_still_compared(repo: Path) -> None:
    (repo / "train.py").write_text("print('A')\n")
    a = new(repo, "-n", "A")
    (repo / "train.py").write_text("print('B')\n")
    b = new(repo, "-n", "B")
    patch_a = repo / ".journal" / "patches" / f"{a}.patch"
    patch_a.unlink()
    output = diff(repo, a, b)
    assert (f"  the patch of run A (patches/{a}.patch) is missing (No such file or directory): "
            "its uncommitted changes are left out") in output.splitlines()
    assert "-print('hello')\n+print('B')\n" in output   # A counts as its commit


def test_runs_outside_git_still_compare_params(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    a = new(folder, "-n", "A", "-p", "lr=0.1")
    b = new(folder, "-n", "B", "-p", "lr=0.2")
    lines = diff(folder, a, b).splitlines()
    assert "  lr  0.1 → 0.2  (+0.1)" in lines
    assert lines[lines.index("code") + 1:] == [
        "  A: not in a git repository",
        "  B: not in a git repository",
        "  the code cannot be compared: a run outside git has no code state",
    ]


def test_the_same_run_twice(repo: Path) -> None:
    run_id = new(repo, "-n", "only")
    assert diff(repo, "@", run_id) == f"@ and {run_id} are the same run: {run_id}\n"


def test_hostile_record_content_reaches_no_terminal_raw(repo: Path) -> None:
    evil = "\x1b]52;c;aGVsbG8=\x07\x1b[2J\u202e"
    (repo / f"file{chr(27)}[31m.py").write_text(f"print('{evil}')\n")
    a = new(repo, "-n", f"note {evil}", "-p", f"opt=adam{evil}")
    tag_by_hand(repo / ".journal", a, "t" + evil)   # `journal new -t` refuses it; a hand does not
    b = new(repo, "-n", "plain", "-p", "opt=sgd")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"subject {evil}")
    c = new(repo, "-n", "later")
    for refs in ((a, b), (b, a), (a, c)):
        done = journal("diff", *refs, cwd=repo)
        assert done.returncode == 0, done.stderr
        for raw in (b"\x1b", b"\x07", "\u202e".encode()):
            assert raw not in done.stdout, (refs, done.stdout)
    assert "\\x1b]52;c;aGVsbG8=" in diff(repo, a, b)


def test_unknown_refs_are_one_line(repo: Path) -> None:
    new(repo, "-n", "one")
    done = journal("diff", "@", "nosuch", cwd=repo)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines()[0] == "journal: error: unknown run 'nosuch'"
    assert b"Traceback" not in done.stderr
    done = journal("diff", "@~5", "@", cwd=repo)
    assert done.returncode == 2 and b"there is no run @~5" in done.stderr


def test_a_run_before_the_first_commit_compares_against_the_empty_tree(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("print('first')\n")
    a = new(repo, "-n", "before any commit")
    commit_all(repo, "first")
    (repo / "train.py").write_text("print('second')\n")
    b = new(repo, "-n", "after")
    lines = diff(repo, a, b).splitlines()
    assert "  A: no commit yet on main, uncommitted changes in train.py" in lines
    assert "  one run was made before the first commit" in lines
    assert "-print('first')" in lines and "+print('second')" in lines


def test_a_linked_worktree_is_left_untouched_too(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "main")
    worktree = tmp_path / "wt"
    git(main, "worktree", "add", "-q", str(worktree))
    (worktree / "train.py").write_text("print('in the worktree')\n")
    a = new(worktree, "-n", "A")
    (worktree / "train.py").write_text("print('changed again')\n")
    b = new(worktree, "-n", "B")
    before = snapshot(main), snapshot(worktree)
    output = diff(worktree, a, b)
    assert "-print('in the worktree')\n+print('changed again')\n" in output
    assert (snapshot(main), snapshot(worktree)) == before
    assert os.path.isdir(main / ".git" / "worktrees")
    assert subprocess.run(["git", "status", "--porcelain", "train.py"], cwd=worktree,
                          capture_output=True, check=True).stdout == b" M train.py\n"


def test_a_patch_that_does_not_apply_is_said(repo: Path) -> None:
    (repo / "train.py").write_text("print('A')\n")
    a = new(repo, "-n", "A")
    (repo / "train.py").write_text("print('B')\n")
    b = new(repo, "-n", "B")
    (repo / ".journal" / "patches" / f"{b}.patch").write_text(
        "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
        "@@ -1 +1 @@\n-not what the commit holds\n+print('B')\n")
    lines = diff(repo, a, b).splitlines()
    assert any(line.startswith("  the patch of run B does not apply (`git apply` failed: error: ")
               and line.endswith("): comparing its commit only") for line in lines), lines
    assert "-print('A')" in lines and "+print('hello')" in lines

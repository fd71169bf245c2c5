"""`journal checkout`: a run's exact code, rebuilt in a new linked worktree; the user's own
checkout, index and branches untouched."""

from __future__ import annotations

from pathlib import Path

from conftest import git, journal, make_repo, only_record, records


def state(repo: Path) -> tuple[str, str, str, str]:
    """What the user's checkout is: HEAD, branches, index and status."""
    return (git(repo, "rev-parse", "HEAD"), git(repo, "branch", "--list"),
            git(repo, "ls-files", "--stage"), git(repo, "status", "--porcelain"))


def test_a_run_is_rebuilt_byte_for_byte_beside_the_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj", {"train.py": "lr = 0.1\n", "data/x.bin": "a\0b"})
    (repo / "train.py").write_text("lr = 0.05\n")
    (repo / "data" / "x.bin").write_bytes(b"a\0c\1")
    (repo / "notes.txt").write_text("an untracked file\n")
    (repo / ".env").write_text("TOKEN=hunter2\n")
    assert journal("new", "-n", "before the change", cwd=repo).returncode == 0
    run = only_record(repo / ".journal")
    (repo / "train.py").write_text("lr = 0.5  # moved on since\n")
    before = state(repo)
    done = journal("checkout", "@", cwd=repo)
    assert done.returncode == 0, done.stderr
    target = Path(done.stdout.decode().strip())
    assert done.stdout.decode() == f"{target}\n"                  # the path, and only it
    assert target.parent == tmp_path and target.name.startswith("proj-")
    assert (target / "train.py").read_text() == "lr = 0.05\n"
    assert (target / "data" / "x.bin").read_bytes() == b"a\0c\1"
    assert (target / "notes.txt").read_text() == "an untracked file\n"
    assert not (target / ".env").exists()
    assert b".env" in done.stderr and b"left out" in done.stderr
    assert git(target, "rev-parse", "HEAD").strip() == run["git"]["commit"]
    assert state(repo) == before                                  # the user's checkout as it was


def test_checkout_refuses_a_folder_that_exists_and_a_run_without_a_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj", {"train.py": "x\n"})
    assert journal("new", "-n", "a run", cwd=repo).returncode == 0
    (tmp_path / "taken").mkdir()
    done = journal("checkout", "@", str(tmp_path / "taken"), cwd=repo)
    assert done.returncode == 2 and b"exists already" in done.stderr
    assert b"Traceback" not in done.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    assert journal("new", "-n", "no git here", cwd=outside).returncode == 0
    done = journal("checkout", "@", cwd=outside)
    assert done.returncode == 2 and b"has no commit" in done.stderr
    done = journal("checkout", "nosuchrun", cwd=repo)
    assert done.returncode == 2


def test_rerun_repeats_a_run_on_its_exact_code_as_a_new_run(tmp_path: Path) -> None:
    """The command runs again in a new worktree with the run's code (uncommitted change and
    all), from the same sub-folder, with arguments added; the new record says `rerun_of`, and
    `journal diff` shows what changed. The user's checkout is untouched."""
    import sys

    script = ("import argparse\np = argparse.ArgumentParser()\n"
              "p.add_argument('--lr', type=float, default=0.1)\n"
              "p.add_argument('--seed', type=int, default=0)\na = p.parse_args()\n"
              "print('LR', a.lr, 'SEED', a.seed, open('../VERSION').read().strip())\n")
    repo = make_repo(tmp_path / "proj", {"src/train.py": script, "VERSION": "v1\n"})
    (repo / "VERSION").write_text("v1-dirty\n")
    first = journal("new", "-q", "--", sys.executable, "train.py", "--lr", "0.5",
                    cwd=repo / "src")
    assert first.stdout == b"LR 0.5 SEED 0 v1-dirty\n", first.stderr
    (repo / "VERSION").write_text("v2\n")                     # the user has moved on
    before = state(repo)
    again = journal("rerun", "@", "--", "--seed", "3", cwd=repo / "src")
    assert again.returncode == 0, again.stderr
    assert again.stdout == b"LR 0.5 SEED 3 v1-dirty\n"        # the old code, the same folder
    assert state(repo) == before
    runs = journal("list", "--json", "-n", "0", cwd=repo).stdout.decode().splitlines()
    assert len(runs) == 2
    from conftest import records

    old, new = sorted(records(repo / ".journal"), key=lambda record: record["id"])
    assert new["rerun_of"] == old["id"] and new["note"] == f"rerun of {old['id']}"
    assert new["command"] == [*old["command"], "--seed", "3"] and new["cwd"] == "src"
    assert new["params"]["seed"] == 3 and new["git"]["worktree"].startswith("proj-")
    diff = journal("diff", old["id"], new["id"], cwd=repo).stdout.decode()
    assert "seed" in diff


def test_rerun_refuses_a_command_that_held_a_secret(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj", {"train.py": "print(1)\n"})
    assert journal("new", "-q", "--", "true", "--api-key", "sk-live-0123456789abcdefghij",
                   cwd=repo).returncode == 0
    done = journal("rerun", "@", cwd=repo)
    assert done.returncode == 2 and b"held a secret" in done.stderr
    assert not list(tmp_path.glob("proj-*"))


def _tree_of_work_tree(repo: Path) -> str:
    """The tree of the files in `repo` as they are (the journal folder aside), made in a
    scratch index the way a user would check it by hand."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": os.path.join(scratch, "index")}
        subprocess.run(["git", "read-tree", "HEAD"], cwd=repo, env=env, check=True)
        subprocess.run(["git", "add", "-A", "--", ".", ":!.journal"], cwd=repo, env=env, check=True)
        return subprocess.run(["git", "write-tree"], cwd=repo, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()


def test_the_captured_tree_is_recorded_and_checked_on_checkout(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj", {"train.py": "lr = 0.1\n", "lib/model.py": "x = 1\n"})
    (repo / "train.py").write_text("lr = 0.05\n")
    (repo / "lib" / "model.py").unlink()
    (repo / "notes.txt").write_text("untracked\n")
    expected = _tree_of_work_tree(repo)
    assert journal("new", "-n", "run", "--", "true", cwd=repo).returncode == 0
    assert journal("new", "-n", "a note", cwd=repo).returncode == 0
    run, note = sorted((r for r in records(repo / ".journal")), key=lambda r: r["started"])
    assert run["git"]["tree"] == note["git"]["tree"] == expected
    done = journal("checkout", run["id"], cwd=repo)
    assert done.returncode == 0, done.stderr
    assert f"checked: its tree is the recorded {expected[:12]}".encode() in done.stderr
    target = Path(done.stdout.decode().strip())
    assert _tree_of_work_tree(target) == expected

    # A patch changed after the run rebuilds other code: refused, and nothing is left behind.
    patch = repo / ".journal" / run["git"]["patch"]
    patch.write_text(patch.read_text().replace("+lr = 0.05", "+lr = 0.07"))
    done = journal("checkout", run["id"], str(tmp_path / "tampered"), cwd=repo)
    assert done.returncode == 2 and b"is not what it ran" in done.stderr
    assert not (tmp_path / "tampered").exists()
    assert b"Traceback" not in done.stderr


def test_a_run_without_a_tree_is_checked_by_its_patch_alone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj", {"train.py": "lr = 0.1\n"})
    (repo / "train.py").write_text("lr = 0.2\n")
    assert journal("new", "-n", "old", cwd=repo).returncode == 0
    path = next((repo / ".journal" / "runs").rglob("*.toml"))
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith("tree = ")))
    done = journal("checkout", "@", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert b"no recorded tree id, so the patch applying cleanly is the check" in done.stderr
    assert (Path(done.stdout.decode().strip()) / "train.py").read_text() == "lr = 0.2\n"


def test_a_patch_changed_to_add_ignored_files_or_pointing_outside_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj", {"train.py": "lr = 0.1\n", ".gitignore": "build/\n"})
    (repo / "train.py").write_text("lr = 0.2\n")
    assert journal("new", "-n", "run", cwd=repo).returncode == 0
    run = only_record(repo / ".journal")
    patch = repo / ".journal" / run["git"]["patch"]
    patch.write_text(patch.read_text() + (
        "diff --git a/build/evil.sh b/build/evil.sh\nnew file mode 100755\n"
        "--- /dev/null\n+++ b/build/evil.sh\n@@ -0,0 +1 @@\n+echo pwned\n"))
    done = journal("checkout", "@", str(tmp_path / "one"), cwd=repo)
    assert done.returncode == 2 and b"is not what it ran" in done.stderr
    assert not (tmp_path / "one").exists()
    outside = tmp_path / "outside.patch"
    outside.write_text(patch.read_text())
    record = next((repo / ".journal" / "runs").rglob("*.toml"))
    record.write_text(record.read_text().replace(f'patch = "{run["git"]["patch"]}"',
                                                 'patch = "../../outside.patch"'))
    done = journal("checkout", "@", str(tmp_path / "two"), cwd=repo)
    assert done.returncode == 2 and b"is outside the journal folder" in done.stderr
    assert not (tmp_path / "two").exists()

"""`journal checkout`: a run's exact code, rebuilt in a new linked worktree; the user's own
checkout, index and branches untouched."""

from __future__ import annotations

from pathlib import Path

from conftest import git, journal, make_repo, only_record


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

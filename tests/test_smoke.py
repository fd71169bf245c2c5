from pathlib import Path

from conftest import journal, only_record


def test_new_records_a_finished_run(repo: Path) -> None:
    done = journal("new", "-n", "first", "--", "python3", "-c", "print('ok')", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n"
    record = only_record(repo / ".journal")
    assert record["status"] == "finished"


def test_the_tests_run_the_working_trees_code(repo: Path) -> None:
    """In this process and in every process a test starts (`python -m journal`, a script under
    `journal new`), `journal` is this checkout's package, never an installed copy."""
    import subprocess
    import sys

    from conftest import ROOT

    import journal as package

    assert Path(package.__file__).resolve().is_relative_to(ROOT / "journal")
    probe = "import journal, sys; sys.stdout.write(journal.__file__)"
    alone = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, check=True)
    assert Path(alone.stdout.decode()).resolve().is_relative_to(ROOT / "journal")
    wrapped = journal("new", "-q", "--", sys.executable, "-c", probe, cwd=repo)
    assert Path(wrapped.stdout.decode()).resolve().is_relative_to(ROOT / "journal")

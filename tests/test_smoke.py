from pathlib import Path

from conftest import journal, only_record


def test_new_records_a_finished_run(repo: Path) -> None:
    done = journal("new", "-n", "first", "--", "python3", "-c", "print('ok')", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n"
    record = only_record(repo / ".journal")
    assert record["status"] == "finished"

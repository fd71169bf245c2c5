"""`journal compare`: one row a run, the params that differ and every metric, as a Markdown
table, CSV or JSON; sorted like `journal list --sort`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from conftest import journal, records

from journal.render.markdown import markdown_parser


def sweep(repo: Path) -> list[str]:
    """Four entries: lr and seed vary, opt is the same everywhere; one has no loss."""
    for lr, loss, acc in (("0.1", "0.9", "70"), ("0.01", "0.4", "81.5"), ("0.001", "0.2", "82.476")):
        done = journal("new", "-n", f"lr {lr}\n\nmore text", "-p", f"lr={lr}", "-p", "opt=adam",
                       "-p", "seed=1", "-m", f"loss={loss}", "-m", f"acc={acc}", cwd=repo)
        assert done.returncode == 0, done.stderr
    assert journal("new", "-n", "no loss here | pipes", "-p", "lr=1", "-p", "opt=adam",
                   "-p", "seed=2", "-m", "acc=10", cwd=repo).returncode == 0
    return [run["id"] for run in sorted(records(repo / ".journal"), key=lambda r: r["started"])]


def test_a_table_of_the_params_that_differ_and_every_metric(repo: Path) -> None:
    ids = sweep(repo)
    done = journal("compare", "--sort", "-loss", cwd=repo)
    assert done.returncode == 0, done.stderr
    table = done.stdout.decode()
    lines = table.splitlines()
    assert lines[0] == "| run | status | note | params.lr | params.seed | metrics.loss | metrics.acc |"
    order = [line.split("`")[1] for line in lines[2:]]
    assert order == [ids[2][:19], ids[1][:19], ids[0][:19], ids[3][:19]]   # lowest loss first
    assert lines[2].endswith("| 0.001 | 1 | 0.2 | 82.476 |")
    assert lines[5].endswith("| 1 | 2 | — | 10 |")                      # no loss: last, and —
    assert "opt" not in lines[0]                                        # the same everywhere
    # One table for a Markdown reader: a header and four rows of seven cells, pipes escaped.
    tokens = markdown_parser().parse(table)
    assert [t.type for t in tokens].count("tr_open") == 5
    assert [t.type for t in tokens].count("td_open") == 4 * 7
    assert "no loss here \\| pipes" in table


def test_given_runs_csv_and_json(repo: Path) -> None:
    ids = sweep(repo)
    done = journal("compare", ids[0], ids[3], "-f", "csv", cwd=repo)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode())))
    assert [row["run"] for row in rows] == [ids[0], ids[3]]
    assert rows[1]["metrics.loss"] == "" and rows[0]["params.lr"] == "0.1"
    done = journal("compare", ids[3], ids[0], "--sort", "acc", "-f", "json", cwd=repo)
    found = json.loads(done.stdout)
    assert [row["run"] for row in found] == [ids[0], ids[3]]
    assert found[0]["metrics.acc"] == 70 and found[1]["metrics.loss"] is None


def test_bad_input_is_one_line(repo: Path) -> None:
    sweep(repo)
    for args, words in ((("nosuchrun",), b"nosuchrun"), (("-f", "xml"), b"unknown format"),
                        (("--sort", "-"), b"--sort needs")):
        done = journal("compare", *args, cwd=repo)
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert b"Traceback" not in done.stderr
    empty = journal("compare", "--tag", "nothing-has-it", cwd=repo)
    assert empty.returncode == 0 and empty.stdout == b""


def test_non_finite_metrics_and_booleans_are_kept(repo: Path) -> None:
    assert journal("new", "-n", "a", "-m", "acc=nan", "-p", "flag=true", cwd=repo).returncode == 0
    assert journal("new", "-n", "b", "-m", "acc=0.5", "-p", "flag=false", cwd=repo).returncode == 0
    table = journal("compare", cwd=repo).stdout.decode()
    assert "| nan |" in table
    rows = list(csv.DictReader(io.StringIO(journal("compare", "-f", "csv", cwd=repo).stdout.decode())))
    assert {row["metrics.acc"] for row in rows} == {"nan", "0.5"}
    assert {row["params.flag"] for row in rows} == {"true", "false"}
    assert {row["metrics.acc"] for row in json.loads(journal("compare", "-f", "json", cwd=repo).stdout)} \
        == {"nan", 0.5}


def test_filters_apply_to_named_runs_and_notes_say_so(repo: Path) -> None:
    ids = sweep(repo)
    assert journal("tag", ids[0], "+best", cwd=repo).returncode == 0
    done = journal("compare", ids[0], ids[1], "--tag", "best", "-f", "json", cwd=repo)
    assert [row["run"] for row in json.loads(done.stdout)] == [ids[0]]
    found = json.loads(journal("compare", "-f", "json", cwd=repo).stdout)
    assert {row["status"] for row in found} == {"note"}          # sweep() made note-only entries


def test_a_run_without_params_beside_one_with_them_shows_the_params(repo: Path) -> None:
    assert journal("new", "-n", "tuned", "-p", "lr=0.1", "-m", "acc=0.9", "--", "true",
                   cwd=repo).returncode == 0
    assert journal("new", "-n", "defaults", "-m", "acc=0.8", "--", "true", cwd=repo).returncode == 0
    assert journal("new", "-n", "an idea", cwd=repo).returncode == 0
    rows = json.loads(journal("compare", "-f", "json", cwd=repo).stdout)
    assert [(row["note"], row.get("params.lr"), row["status"]) for row in rows] == [
        ("an idea", None, "note"), ("defaults", None, "finished"), ("tuned", 0.1, "finished")]
    alone = json.loads(journal("compare", "-f", "json", "@", "@~2", cwd=repo).stdout)
    assert all("params.lr" not in row for row in alone)      # a note beside a run: no columns

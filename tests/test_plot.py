"""`journal plot METRIC [REF...] [filters]`: one metric's per-step curve for several runs, in the
terminal (Braille, plotille) or as an SVG file; plotille loaded by `plot` and nothing else."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import journal

FIT = ("import journal\nwith journal.start() as run:\n"
       "    for step in range({points}):\n"
       "        run.log(step=step * 10, loss={scale} / (step + 1), acc=step / {points})\n")


def fit(repo: Path, note: str, scale: float = 2.0, points: int = 300) -> str:
    (repo / "fit.py").write_text(FIT.format(points=points, scale=scale))
    done = journal("new", "-n", note, "-t", "sweep", "--", sys.executable, "fit.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    return sorted((repo / ".journal" / "metrics").glob("*.jsonl"))[-1].stem


def test_plot_draws_each_run_in_the_terminal_with_a_legend(repo: Path) -> None:
    first, second = fit(repo, "baseline"), fit(repo, "大きいモデル", scale=4.0)
    assert journal("new", "-n", "no curves", "--", "true", cwd=repo).returncode == 0
    done = journal("plot", "loss", cwd=repo)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "\x1b[" not in out                          # a pipe: no colour, a marker a run
    legend = out.split("Legend:", 1)[1]
    assert f"{first[:19]} baseline" in legend and f"{second[:19]} 大きいモデル" in legend
    assert "no curves" not in out                      # a run without the series is not drawn
    ticks = [float(tick) for tick in re.findall(r"^ +([0-9.]+) \|", out, re.M)]
    assert 4 <= max(ticks) <= 4.2 and min(ticks) < 0.2        # the y axis spans both runs
    assert re.search(r"^ +\| 0 +\d+", out, re.M)               # the step axis, from 0
    assert any("\u2800" <= char <= "\u28ff" or char in "•x" for char in out)


def test_plot_refs_and_filters_choose_the_runs(repo: Path) -> None:
    first, second, third = (fit(repo, f"run {n}", scale=n) for n in (1, 2, 3))
    one = journal("plot", "acc", first, third, cwd=repo).stdout.decode().split("Legend:")[1]
    assert first[:19] in one and third[:19] in one and second[:19] not in one
    newest = journal("plot", "acc", "-n", "1", cwd=repo).stdout.decode().split("Legend:")[1]
    assert third[:19] in newest and second[:19] not in newest
    tagged = journal("plot", "acc", "--tag", "nope", cwd=repo)
    assert tagged.returncode == 2 and b"no run selected logged a series named 'acc'" in \
        tagged.stderr


def test_a_missing_series_is_one_line_naming_those_there_are(repo: Path) -> None:
    run_id = fit(repo, "baseline")
    done = journal("plot", "val_loss", cwd=repo)
    assert done.returncode == 2 and done.stdout == b""
    err = done.stderr.decode()
    assert err.startswith("journal: error: no run selected logged a series named 'val_loss' "
                          "(series logged: loss, acc)") and "Traceback" not in err
    assert journal("new", "-n", "plain", "--", "true", cwd=repo).returncode == 0
    named = journal("plot", "loss", run_id, "@", cwd=repo)
    assert named.returncode == 0 and b"logged no series named 'loss' (left out)" in named.stderr
    assert journal("plot", "loss", "nosuchref", cwd=repo).returncode != 0


def test_svg_goes_to_a_file_never_over_one_without_force(repo: Path) -> None:
    fit(repo, "a <b>&"), fit(repo, "b", scale=3.0)
    done = journal("plot", "loss", "--svg", "loss.svg", cwd=repo)
    assert done.returncode == 0 and done.stdout == b""
    chart = (repo / "loss.svg").read_text()
    root = ElementTree.fromstring(chart)                 # well-formed XML
    svg = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{svg}svg" and len(root.findall(f"{svg}polyline")) == 2
    labels = [text.text for text in root.findall(f"{svg}text")]
    assert any(label and label.endswith("a <b>&") for label in labels)
    (repo / "loss.svg").write_text("mine")
    again = journal("plot", "loss", "--svg", "loss.svg", cwd=repo)
    assert again.returncode != 0 and b"exists" in again.stderr
    assert (repo / "loss.svg").read_text() == "mine"
    assert journal("plot", "loss", "--svg", "loss.svg", "--force", cwd=repo).returncode == 0
    assert (repo / "loss.svg").read_text() == chart
    to_stdout = journal("plot", "loss", "--svg", "-", cwd=repo)
    assert to_stdout.stdout.decode() == chart


def test_a_long_series_is_thinned_and_keeps_its_ends(repo: Path) -> None:
    run_id = fit(repo, "long", points=2)
    _side(repo, run_id, [f'{{"step": {100 + n}, "metrics": {{"loss": {1 / (n + 1)}}}}}'
                         for n in range(100_000)])
    done = journal("plot", "loss", "--svg", "-", cwd=repo)
    points = re.search(r'points="([^"]+)"', done.stdout.decode())
    assert points is not None and len(points.group(1).split()) <= 2 * 644
    assert ">100099</text>" in done.stdout.decode()            # the last step, drawn


def _loaded(args: list[str], cwd: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "journal", *args], cwd=cwd,
                          capture_output=True, env={**os.environ, "COLUMNS": "100"})
    return {line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in done.stderr.decode().splitlines() if line.startswith("import time:")}


def test_only_plot_loads_the_plotting_library(repo: Path) -> None:
    fit(repo, "baseline", points=20)
    for args in (["show", "-f", "md"], ["export", "-f", "html"], ["list"], ["compare"]):
        assert "plotille" not in _loaded(args, repo), args
    assert "plotille" in _loaded(["plot", "loss"], repo)


def test_a_sweep_s_legend_names_the_params_that_differ(repo: Path) -> None:
    for lr in ("0.001", "0.003"):
        (repo / "fit.py").write_text(FIT.format(points=20, scale=1.0))
        done = journal("new", "-n", "lr sweep with a long note that says a lot about it", "-p",
                       f"lr={lr}", "--", sys.executable, "fit.py", cwd=repo)
        assert done.returncode == 0, done.stderr
    legend = journal("plot", "loss", cwd=repo).stdout.decode().split("Legend:")[1]
    assert "(lr=0.001)" in legend and "(lr=0.003)" in legend


def test_bad_svg_targets_are_one_line(repo: Path, tmp_path: Path) -> None:
    fit(repo, "a", points=20)
    missing = journal("plot", "loss", "--svg", str(tmp_path / "no" / "such" / "a.svg"), cwd=repo)
    assert missing.returncode == 2 and b"there is no folder" in missing.stderr
    assert not (tmp_path / "no").exists()                 # no folder made
    folder = journal("plot", "loss", "--svg", str(tmp_path), cwd=repo)
    assert folder.returncode == 2 and b"--svg needs a file name" in folder.stderr
    lone = journal("plot", "loss", "--force", cwd=repo)
    assert lone.returncode == 2 and b"--force goes with --svg FILE" in lone.stderr
    wrote = journal("plot", "loss", "--svg", "a.svg", cwd=repo)
    assert wrote.stderr.decode().startswith("journal: wrote a.svg: 1 run(s)")


def _side(repo: Path, run_id: str, lines: list[str]) -> None:
    side = repo / ".journal" / "metrics" / f"{run_id}.jsonl"
    side.write_text(side.read_text() + "".join(line + "\n" for line in lines))


@pytest.mark.parametrize("values", [
    [0.0] * 9 + [1.79e308],                 # a span at the largest float
    [-1.7976931348623157e308] * 10,         # a flat line at its edge
    [1.7976931348623157e308] * 10,
    [5e-324 * n for n in range(10)],        # a span of subnormals
])
def test_values_at_the_edges_of_floats_draw_in_the_terminal(repo: Path, values: list[float]
                                                            ) -> None:
    run_id = fit(repo, "edge", points=2)
    _side(repo, run_id, [json.dumps({"step": 100 + n, "metrics": {"z": value}})
                         for n, value in enumerate(values)])
    done = journal("plot", "z", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "nan" not in done.stdout.decode().lower() and "inf" not in done.stdout.decode()


def test_steps_too_wide_to_draw_say_so(repo: Path) -> None:
    run_id = fit(repo, "wide", points=2)
    _side(repo, run_id, ['{"step": -1.7e308, "metrics": {"z": 1}}',
                         '{"step": 1.7e308, "metrics": {"z": 2}}'])
    done = journal("plot", "z", cwd=repo)
    assert done.returncode == 2 and b"the steps of z span more than a float" in done.stderr
    assert journal("plot", "z", "--svg", "-", cwd=repo).stdout.count(b"<polyline") == 1


def test_nan_and_inf_are_named_in_the_legend_and_a_series_of_only_nan_is_said(repo: Path
                                                                              ) -> None:
    run_id = fit(repo, "diverged", points=5)
    _side(repo, run_id, ['{"step": 99, "metrics": {"loss": NaN, "all": NaN}}'])
    chart = journal("plot", "loss", "--svg", "-", cwd=repo).stdout.decode()
    assert "diverged, 1 NaN/inf (the last too)</text>" in chart     # a legend for one run too
    only = journal("plot", "all", cwd=repo)
    assert only.returncode == 2
    assert b"logged only NaN/inf for 'all': 1 point (left out)" in only.stderr
    assert b"no run selected logged a finite value of 'all': only NaN or inf" in only.stderr


def test_twenty_runs_each_have_a_look_of_their_own(repo: Path) -> None:
    from readkit import now, write_run

    for n in range(20):      # records and side files as a sweep leaves them, written directly
        run_id = write_run(repo / ".journal", now() - dt.timedelta(minutes=n), note=f"run {n}")
        side = repo / ".journal" / "metrics" / f"{run_id}.jsonl"
        side.parent.mkdir(exist_ok=True)
        lines = [{"step": step, "metrics": {"loss": (1 + n) / (1 + step)}} for step in range(5)]
        side.write_text("".join(json.dumps(line) + "\n" for line in lines))
    chart = journal("plot", "loss", "-n", "0", "--svg", "-", cwd=repo).stdout.decode()
    looks = re.findall(r'<polyline fill="none" stroke="(#[0-9a-f]+)" stroke-width="1.5"'
                       r'(?: stroke-dasharray="([0-9 ]+)")?', chart)
    assert len(looks) == 20 and len(set(looks)) == 20
    piped = journal("plot", "loss", "-n", "0", cwd=repo).stdout.decode().split("Legend:")[1]
    markers = re.findall(r"^⠤(.?)⠤ ", piped, re.M)
    assert len(markers) == 20 and len(set(markers)) == 16     # the Braille line and 15 markers


def test_svg_dash_is_stdout_and_dot_slash_dash_a_file(repo: Path) -> None:
    fit(repo, "a", points=5)
    assert journal("plot", "loss", "--svg", "-", cwd=repo).stdout.startswith(b"<svg")
    done = journal("plot", "loss", "--svg", "./-", cwd=repo)
    assert done.stdout == b"" and (repo / "-").read_text().startswith("<svg")
    assert journal("plot", "loss", "--svg", "", cwd=repo).returncode == 2

"""Per-step curves wherever a run is shown: a sparkline block in Markdown (`show`, `export`, the
Evernote notes), SVG charts in the HTML export and vault notes (render/svg.py), read from the
run's side file (store/sidefile.py) as a script wrote it through the Python API."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from conftest import journal
from markdown_it import MarkdownIt

from journal.render.svg import Line, line_chart
from journal.store import sidefile

FIT = """\
import math, journal
with journal.start(note='fit') as run:
    for step in range(0, {points} * 10, 10):
        run.log(step=step, loss=2.0 * math.exp(-step / 3000) + (5.0 if step == 2000 else 0.0),
                **{{'精度 <script>x</script>': step / ({points} * 10)}})
"""


def fitted(repo: Path, points: int = 2000, note: str = "fit") -> str:
    (repo / "fit.py").write_text(FIT.format(points=points))
    done = journal("new", "-n", note, "--", sys.executable, "fit.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    return next((repo / ".journal" / "metrics").glob("*.jsonl")).stem


def test_show_as_markdown_has_a_sparkline_a_series(repo: Path) -> None:
    fitted(repo, points=200)
    out = journal("show", "-f", "md", cwd=repo).stdout.decode()
    block = out.split("**Curves**\n\n```text\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert [line.split("  ")[0] for line in block] == ["loss", "精度 <script>x</script>"]
    assert block[0].endswith("2 → 1.03, 200 points")       # first → last, 4 digits at most
    # the names line up on the terminal's columns (a CJK character takes two)
    from journal.text import display_width
    starts = {display_width(line[:line.index(next(c for c in line if c in "▁▂▃▄▅▆▇█"))])
              for line in block}
    assert len(starts) == 1


def test_the_html_export_draws_each_series_as_svg(repo: Path) -> None:
    fitted(repo)
    page = journal("export", "-f", "html", cwd=repo).stdout.decode()
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 2 and '<div class="journal-curves">' in page
    loss, accuracy = charts
    assert "<title>loss</title>" in loss
    # the hostile name is text in the chart, never markup
    assert "&lt;script&gt;x&lt;/script&gt;" in accuracy and "<script>" not in page
    points = re.search(r'points="([^"]+)"', loss)
    assert points is not None
    pairs = [tuple(map(float, pair.split(","))) for pair in points.group(1).split()]
    assert 2 < len(pairs) <= 2 * 284              # two a pixel column at most, of 2,000
    # the spike at step 2,000 survives the thinning: the highest point (smallest y) is there
    top = min(pairs, key=lambda pair: pair[1])
    assert '<text x="60" y="34.0" text-anchor="end">6.027</text>' in loss   # the spike's value
    xs = [x for x, _ in pairs]
    assert xs == sorted(xs) and abs(top[0] - (70 + 2000 / 19990 * 272)) < 3
    assert "0</text>" in loss and "19990</text>" in loss           # the steps' ends


def test_a_note_cannot_forge_the_block_that_becomes_svg(repo: Path) -> None:
    forged = "```journal-curves-0000\n<script>alert(1)</script>\n```"
    fitted(repo, points=20, note=f"forged\n\n{forged}")
    page = journal("export", "-f", "html", cwd=repo).stdout.decode()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert len(re.findall("<svg ", page)) == 2


def test_a_vault_note_holds_the_charts_as_an_html_block(repo: Path, tmp_path: Path) -> None:
    run_id = fitted(repo, points=50)
    done = journal("export", "--vault", str(tmp_path / "vault"), cwd=repo)
    assert done.returncode == 0, done.stderr
    note = (tmp_path / "vault" / "runs" / f"{run_id}.md").read_text()
    blocks = [token for token in MarkdownIt("commonmark").parse(note.split("---\n", 2)[2])
              if token.type == "html_block"]
    assert len(blocks) == 1 and blocks[0].content.count("<svg ") == 2
    assert blocks[0].content.startswith('<div class="journal-curves">')


def test_a_run_without_series_has_no_curves(repo: Path) -> None:
    done = journal("new", "-n", "plain", "--", sys.executable, "-c", "pass", cwd=repo)
    assert done.returncode == 0
    assert "Curves" not in journal("show", "-f", "md", cwd=repo).stdout.decode()
    assert "<svg" not in journal("export", "-f", "html", cwd=repo).stdout.decode()


def test_the_side_file_gives_steps_and_values_and_skips_what_is_torn(tmp_path: Path) -> None:
    side = tmp_path / "run.jsonl"
    lines = [{"t": 1, "step": 5, "metrics": {"loss": 1.5, "flag": True, "nan": float("nan")}},
             {"t": 2, "metrics": {"loss": 1.0}},                 # no step: the next one
             {"t": 3, "params": {"lr": 0.1}},
             {"t": 4, "step": 10, "metrics": {"loss": 0.5, "acc": 3}}]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    side.write_text(text + '{"t": 5, "step": 11, "metr')           # killed mid-line
    expected = {"loss": ([5.0, 6.0, 10.0], [1.5, 1.0, 0.5]), "acc": ([10.0], [3.0])}
    assert sidefile.series(side) == expected
    side.write_text(text.replace('{"t": 3', 'not json\n{"t": 3'))  # a bad line in the middle
    assert sidefile.series(side) == expected
    assert sidefile.series(tmp_path / "missing.jsonl") == {}


def test_a_chart_of_one_point_is_a_dot_and_of_none_is_nothing() -> None:
    assert line_chart([Line("a", [], [])], title="t") == ""
    dot = line_chart([Line("a", [3.0], [1.0])], title="t")
    assert "<circle" in dot and "<polyline" not in dot
    flat = line_chart([Line("a", [0, 1, 2], [1.0, 1.0, 1.0]), Line("b", [0, 1], [1.0, 1.0])],
                      title="two runs")
    assert flat.count("<polyline") == 2 and ">a</text>" in flat and ">b</text>" in flat


def test_a_drawing_is_kept_until_its_side_file_changes(repo: Path) -> None:
    run_id = fitted(repo, points=100)
    first = journal("export", "-f", "html", cwd=repo).stdout.decode()
    kept = list(Path(os.environ["XDG_CACHE_HOME"]).rglob(f"{run_id}.svg"))
    assert len(kept) == 1 and "<svg " in kept[0].read_text()
    # a run still logging: its side file grows, and the chart is drawn again with the new point
    side = repo / ".journal" / "metrics" / f"{run_id}.jsonl"
    with side.open("a") as handle:
        handle.write(json.dumps({"t": 9, "step": 5000, "metrics": {"loss": 42.5}}) + "\n")
    again = journal("export", "-f", "html", cwd=repo).stdout.decode()
    assert ">42.5</text>" in again and ">42.5</text>" not in first
    # a drawing that is not for this side file (another's, or a torn copy) is never shown
    kept[0].write_text("garbage <svg>forged</svg>")
    assert "forged" not in journal("export", "-f", "html", cwd=repo).stdout.decode()

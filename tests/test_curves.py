"""Per-step curves wherever a run is shown: a sparkline block in Markdown (`show`, `export`, the
Evernote notes), SVG charts in the HTML export and vault notes (render/svg.py), read from the
run's side file (store/sidefile.py) as a script wrote it through the Python API."""

from __future__ import annotations

import json
import os
import re
import subprocess
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
    script_run(repo, FIT.format(points=points), note)
    return next((repo / ".journal" / "metrics").glob("*.jsonl")).stem


def script_run(repo: Path, source: str, note: str) -> None:
    """`journal new -n NOTE -- python fit.py` of a script that logs through the API."""
    (repo / "fit.py").write_text(source)
    done = journal("new", "-n", note, "--", sys.executable, "fit.py", cwd=repo)
    assert done.returncode == 0, done.stderr


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
    expected = {"loss": ([5.0, 6.0, 10.0], [1.5, 1.0, 0.5], 3, 0), "acc": ([10.0], [3.0], 1, 0),
                "nan": ([], [], 1, 1)}
    assert plain(sidefile.series(side)) == expected
    side.write_text(text.replace('{"t": 3', 'not json\n{"t": 3'))  # a bad line in the middle
    assert plain(sidefile.series(side)) == expected
    # a line holding two objects is no entry, read in a batch or alone
    side.write_text(text + '{"step": 11, "metrics": {"loss": 9}}, {"metrics": {"loss": 9}}\n')
    assert plain(sidefile.series(side)) == expected
    # a line longer than any entry is skipped as it is read, and the lines after it are read
    side.write_text(text + '{"step": 12, "metrics": {"loss": ' + "1" * (2 << 20) + "}}\n"
                    + '{"step": 13, "metrics": {"loss": 0.25}}\n')
    assert plain(sidefile.series(side))["loss"][1] == [1.5, 1.0, 0.5, 0.25]
    assert sidefile.series(tmp_path / "missing.jsonl") == {}


def plain(found: dict[str, sidefile.Curve]) -> dict[str, tuple[list[float], list[float], int, int]]:
    return {name: (curve.steps, curve.values, curve.points, curve.not_finite)
            for name, curve in found.items()}


def test_numbers_at_the_edges_of_floats_are_points_or_counted_never_a_crash(repo: Path
                                                                           ) -> None:
    """A diverging loss (1.5**n up to the largest float, then NaN), a value a float cannot
    hold, a step beyond any float, a name made of a lone surrogate: show, export and plot all
    say what there is."""
    script_run(repo, "import journal\nwith journal.start() as run:\n    x, s = 1.0, 0\n"
               "    while x != float('inf'):\n        run.log(step=s, loss=x); x *= 1.5; s += 1\n"
               "    run.log(step=s, loss=float('nan'))\n"
               "    run.log({'\\ud800x': 1, 'huge': 10**400}, step=10**400)\n"
               "    run.log({'\\ud800x': 2, 'huge': 3}, step=s + 2)\n", "diverged")
    shown = journal("show", "-f", "md", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    block = shown.stdout.decode().split("**Curves**", 1)[1]
    assert re.search(r"loss +\S+  1 → 1\.\d+e\+308, \d+ points, 1 NaN/inf \(the last too\)", block)
    assert "\\ud800x" in block
    page = journal("export", "-f", "html", cwd=repo)
    charts = re.findall(r"<svg .*?</svg>", page.stdout.decode(), re.S)
    assert page.returncode == 0 and len(charts) == 3
    assert not any(re.search(r'="[^"]*(nan|inf)', chart, re.I) for chart in charts)  # coordinates
    assert "1 NaN/inf (the last too)" in page.stdout.decode()
    assert journal("plot", "loss", cwd=repo).returncode == 0
    assert journal("plot", "loss", "--svg", "-", cwd=repo).stdout.count(b"<polyline") == 1


def test_a_killed_script_s_points_are_shown_without_its_final_write(repo: Path) -> None:
    """A standalone script killed mid-run never wrote [series] into its record; its side file
    has the run's name, and what it logged is drawn."""
    (repo / "fit.py").write_text(
        "import os, signal, journal\nrun = journal.start(note='killed')\n"
        "for step in range(20):\n    run.log(step=step, loss=1 / (step + 1))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "fit.py"], cwd=repo, check=False)
    out = journal("show", "-f", "md", cwd=repo).stdout.decode()
    assert "1 → 0.05, 20 points" in out
    assert journal("plot", "loss", cwd=repo).returncode == 0


def test_a_metric_name_shaped_like_a_secret_is_masked_in_the_side_file(repo: Path) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    (repo / "fit.py").write_text(
        "import journal\nwith journal.start() as run:\n    for step in range(3):\n"
        f"        run.log({{'{token}': step, 'note': 'key {token}'}}, step=step)\n")
    assert journal("new", "--", sys.executable, "fit.py", cwd=repo).returncode == 0
    side = next((repo / ".journal" / "metrics").glob("*.jsonl")).read_text()
    assert token not in side and "***" in side
    for args in (["show", "-f", "md"], ["export", "-f", "html"]):
        assert token not in journal(*args, cwd=repo).stdout.decode()



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


def test_a_drawing_in_a_cache_others_may_write_is_never_read(repo: Path) -> None:
    run_id = fitted(repo, points=30)
    assert journal("export", "-f", "html", cwd=repo).returncode == 0
    kept = next(Path(os.environ["XDG_CACHE_HOME"]).rglob(f"{run_id}.svg"))
    identity = kept.read_text().split("\n", 1)[0]
    kept.write_text(identity + "\n<svg onload=alert(1)>planted</svg>\n")   # right key, forged
    # in this user's own private folder the cache is trusted (it is as safe as the journal)...
    assert "planted" in journal("export", "-f", "html", cwd=repo).stdout.decode()
    kept.parent.chmod(0o777)                   # ...in one another user could write, never
    try:
        from journal.store import drawn
        drawn._folder.cache_clear()
        page = journal("export", "-f", "html", cwd=repo).stdout.decode()
        assert "planted" not in page and page.count("<svg ") == 2
        kept.parent.chmod(0o700)
        drawn._folder.cache_clear()
        kept.unlink()
        kept.symlink_to("/dev/zero")           # a link is never read through
        assert journal("export", "-f", "html", cwd=repo).stdout.decode().count("<svg ") == 2
    finally:
        kept.parent.chmod(0o700)


def test_ints_past_any_float_never_reach_the_training_script(repo: Path) -> None:
    script_run(repo, "import journal\nwith journal.start() as run:\n"
               "    run.log({'loss': 1.0}, step=10**5000)\n"
               "    run.log({'loss': [10**5000], 'acc': 10**5000}, step=3)\n"
               "    run.params['p'] = 10**5000\n"
               "    run.log({'loss': 0.5}, step=4)\n"
               "print('trained to the end')\n", "huge ints")
    assert b"trained to the end" in (repo / ".journal" / "logs").glob("*.log").__next__() \
        .read_bytes()
    shown = journal("show", "-f", "md", cwd=repo)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr.decode()


def test_two_secret_names_stay_two_series_and_a_long_error_keeps_its_type(repo: Path) -> None:
    first, second = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "AKIAIOSFODNN7EXAMPLE"
    (repo / "fit.py").write_text(
        "import journal\nwith journal.start() as run:\n    for step in range(3):\n"
        f"        run.log({{'{first}': step, '{second}': 10 * step}}, step=step)\n"
        "    raise RuntimeError('loss diverged at step 3\\nsee the log for the rest')\n")
    assert journal("new", "--", sys.executable, "fit.py", cwd=repo).returncode == 1
    found = sidefile.series(next((repo / ".journal" / "metrics").glob("*.jsonl")))
    assert sorted(found) == ["***", "***_2"] and first not in str(found)
    note = journal("export", cwd=repo).stdout.decode()
    assert "failed (exit code 1): RuntimeError: loss diverged at step 3 …" in note

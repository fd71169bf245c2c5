"""`journal export`: a week of real runs in a real git repo, written as a note a person would write.

Runs are recorded by journal's own recorder (real commands, real git capture) at chosen times, so
that days and ranges can be tested; export runs through the real CLI entry point in-process, and
in a subprocess where the exit code and stderr matter. The note is parsed with markdown-it-py and
checked by its structure, with hostile notes and params.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, journal, records

from journal.cli.main import main
from journal.render.markdown import markdown_parser

PARSER = markdown_parser()
JST = dt.timezone(dt.timedelta(hours=9))
MONDAY = dt.datetime(2025, 3, 10, tzinfo=JST)            # the week exported: 2025-03-10 .. 16
WEEK = ("--since", "2025-03-10", "--until", "2025-03-16")
HOSTILE_NOTE = (
    "# Why `tick` | pipe\n\n"
    "<div>raw html</div> and <script>document.title='pwned'</script>\n\n"
    "```python\n# not a heading\nprint('|')\n```\n\n"
    "## A sub heading\n\n---\n\n"
    "MLPのレイヤ数を3に増やしてみる ** unclosed `back\n\n"
    + "long " * 2000 + "\n\n- a list at the end\n- of the note"
)


@pytest.fixture(autouse=True)
def tokyo() -> Any:
    """Local time is Tokyo's, so days are JST days whatever the machine says."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def record(repo: Path, when: dt.datetime, *, note: str = "", command: tuple[str, ...] = (),
           params: dict | None = None, metrics: dict | None = None, tags: tuple[str, ...] = ()
           ) -> str:
    """A real run (real command, real git capture) that started at `when`, run in `repo`."""
    import dataclasses

    from journal.capture.recording import NewRun, record_new
    from journal.store.context import Context

    here, streams = Path.cwd(), (sys.stdout, sys.stderr)
    os.chdir(repo)
    sys.stdout = sys.stderr = open(os.devnull, "w")     # the command's output: real fds, dropped
    request = NewRun(command=list(command), note=note, tags=tags, params=params or {},
                     metrics=metrics or {})
    try:
        context = dataclasses.replace(Context.find(repo, os.environ), now=lambda: when)
        outcome = record_new(request, context, warn=lambda message: None)
    finally:
        os.chdir(here)
        sys.stdout.close()
        sys.stdout, sys.stderr = streams
    return outcome.run_id


def commit_at(repo: Path, when: dt.datetime, message: str) -> None:
    (repo / "train.py").write_text(f"print({message!r})\n")
    git(repo, "add", "train.py")
    stamp = when.isoformat()
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, check=True,
                   env={**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})


def export(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           *args: str) -> tuple[int, str, str]:
    """`journal export ARGS` through the real entry point: (exit code, stdout, stderr)."""
    monkeypatch.chdir(repo)
    capsys.readouterr()
    try:
        main(["export", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ok(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
       *args: str) -> str:
    code, out, err = export(repo, monkeypatch, capsys, *args)
    assert code == 0, err
    return out


def body_of(note: str) -> str:
    assert note.startswith("---\n")
    return note.split("\n---\n", 1)[1]


def headings(tokens: list[Any]) -> list[tuple[str, str]]:
    return [(t.tag, shown(tokens[i + 1])) for i, t in enumerate(tokens) if t.type == "heading_open"]


def shown(token: Any) -> str:
    return "".join(c.content for c in token.children or []
                   if c.type in ("text", "code_inline", "text_special"))


@pytest.fixture
def week(repo: Path) -> dict[str, str]:
    """A week of work: four runs over two days (one failed, one interrupted, one on a dirty
    tree), one commit in the week and runs and commits before and after it."""
    py = sys.executable
    ids = {}
    commit_at(repo, MONDAY - dt.timedelta(days=3), "before the week")
    ids["early"] = record(repo, MONDAY - dt.timedelta(days=2), note="too early",
                          command=(py, "train.py", "--lr", "0.1"))
    ids["adam"] = record(repo, MONDAY + dt.timedelta(hours=9), note="Adam instead of SGD",
                         command=(py, "train.py", "--lr", "3e-4", "--batch_size", "32"),
                         metrics={"acc": 80.5, "loss": 0.40}, tags=("adam",))
    ids["failed"] = record(repo, MONDAY + dt.timedelta(hours=15), note="Bigger batch",
                           command=(py, "-c", "import sys; sys.exit(3)", "--lr", "3e-4",
                                    "--batch_size", "64"))
    commit_at(repo, MONDAY + dt.timedelta(days=1, hours=11), "add warm-up")
    (repo / "train.py").write_text("print('uncommitted')\n")
    ids["best"] = record(repo, MONDAY + dt.timedelta(days=2, hours=10),
                         note="MLPのレイヤ数を3に増やしてみる",
                         command=(py, "train.py", "--lr", "1e-3", "--batch_size", "32"),
                         metrics={"acc": 82.476, "loss": 0.25}, tags=("adam",))
    ids["stopped"] = record(repo, MONDAY + dt.timedelta(days=2, hours=18), note="Long run",
                            command=(py, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGINT)",
                                     "--lr", "1e-3", "--batch_size", "32"))
    git(repo, "checkout", "-q", "train.py")
    commit_at(repo, MONDAY + dt.timedelta(days=9), "after the week")
    ids["late"] = record(repo, MONDAY + dt.timedelta(days=8), note="too late")
    return ids


# -- the default note -----------------------------------------------------------------------------

def test_the_default_note_tells_the_week(repo: Path, week: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    note = ok(repo, monkeypatch, capsys, *WEEK)
    front = note.split("\n---\n", 1)[0]
    assert 'title: "Experiments 2025-03-10 – 2025-03-16"' in front
    tokens = PARSER.parse(body_of(note))
    assert headings(tokens) == [
        ("h1", "Experiments 2025-03-10 – 2025-03-16"),
        ("h2", "Code changes"), ("h2", "Runs"),
        ("h3", "Monday, 2025-03-10"), ("h4", "✓ Adam instead of SGD"), ("h4", "✗ Bigger batch"),
        ("h3", "Wednesday, 2025-03-12"), ("h4", "✓ MLPのレイヤ数を3に増やしてみる"),
        ("h4", "⏹ Long run"),
    ]
    inline = [shown(t) for t in tokens if t.type == "inline"]
    summary = inline[1]
    assert summary.startswith("4 runs (2 finished, 1 failed, 1 interrupted), ")
    assert "of compute" in summary
    # The best of each headline metric, with the run that got it.
    assert f"{week['best']} MLPのレイヤ数を3に増やしてみる" in inline
    rows = [inline[i:i + 3] for i in range(len(inline) - 2)]
    assert ["acc (highest)", "82.476", f"{week['best']} MLPのレイヤ数を3に増やしてみる"] in rows
    assert ["loss (lowest)", "0.25", f"{week['best']} MLPのレイヤ数を3に増やしてみる"] in rows
    # Commits of the week only.
    commits = [text for text in inline if "add warm-up" in text or "the week" in text]
    assert len(commits) == 1 and commits[0].endswith("2025-03-11 add warm-up (Test Author)")
    # Each run: status, duration, commit with the dirty mark, the command as code, params, metrics.
    assert any(text.startswith("failed (exit code 3) · ") and week["failed"] in text for text in inline)
    assert any(text.startswith("interrupted") for text in inline)
    commands = [c.content for t in tokens if t.type == "inline" for c in t.children
                if c.type == "code_inline" and c.content.startswith(sys.executable)]
    assert commands[0] == shlex.join([sys.executable, "train.py", "--lr", "3e-4", "--batch_size", "32"])
    assert len(commands) == 4
    best_code = next(text for text in inline if text.startswith("Code:") and "dirty" in text)
    assert "(1 changed)" in best_code
    params = [text for text in inline if text.startswith("Params:")]
    # Key params: what differs between the runs (lr and batch_size), not what all share.
    assert params[0] == "Params: lr=0.0003, batch_size=32"
    metrics = [text for text in inline if text.startswith("Metrics:")]
    assert metrics == ["Metrics: acc=80.5, loss=0.4", "Metrics: —",
                       "Metrics: acc=82.476, loss=0.25", "Metrics: —"]
    assert "too early" not in note and "too late" not in note


def test_an_empty_range_is_a_short_note_not_an_error(repo: Path, week: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    note = ok(repo, monkeypatch, capsys, "--since", "2020-01-01", "--until", "2020-01-07")
    assert body_of(note) == ("\n# Experiments 2020-01-01 – 2020-01-07\n\n"
                             "No runs were recorded between 2020-01-01 and 2020-01-07.\n")
    filtered = ok(repo, monkeypatch, capsys, *WEEK, "--tag", "nope")
    assert "No runs between 2025-03-10 and 2025-03-16 match the filters." in filtered
    assert "## Code changes" in filtered          # the week's commits are still worth telling


def test_the_shared_filters_choose_the_runs(repo: Path, week: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    def titles(*args: str) -> list[str]:
        tokens = PARSER.parse(body_of(ok(repo, monkeypatch, capsys, *WEEK, *args)))
        return [text for tag, text in headings(tokens) if tag == "h4"]

    assert titles("--tag", "adam") == ["✓ Adam instead of SGD", "✓ MLPのレイヤ数を3に増やしてみる"]
    assert titles("--status", "failed", "--status", "interrupted") == ["✗ Bigger batch", "⏹ Long run"]
    assert titles("--where", "acc>81") == ["✓ MLPのレイヤ数を3に増やしてみる"]
    tokens = PARSER.parse(body_of(ok(repo, monkeypatch, capsys, "--since", "2025-03-12",
                                     "--until", "2025-03-12")))
    assert [text for tag, text in headings(tokens) if tag == "h3"] == ["Wednesday, 2025-03-12"]


def test_the_default_range_is_the_last_seven_days_and_week_is_the_iso_week(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    done = journal("new", "-n", "today's run", "--", sys.executable, "-c", "pass", cwd=repo)
    assert done.returncode == 0
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    note = ok(repo, monkeypatch, capsys)
    first = today - dt.timedelta(days=6)
    assert f"# Experiments {first} – {today}\n" in note and "today's run" in note
    this_week = ok(repo, monkeypatch, capsys, "--week")
    assert f"# Experiments {monday} – {monday + dt.timedelta(days=6)}\n" in this_week
    assert "today's run" in this_week
    last_week = ok(repo, monkeypatch, capsys, "--week", "-1")
    previous = monday - dt.timedelta(days=7)
    assert f"# Experiments {previous} – {monday - dt.timedelta(days=1)}\n" in last_week
    assert "today's run" not in last_week and "No runs were recorded" in last_week
    assert ok(repo, monkeypatch, capsys, "--week=-1") == last_week       # the `=` form too
    coming = journal("export", "--week", "1", cwd=repo)       # a week to come: surely a slip
    assert coming.returncode == 2 and coming.stdout == b""
    assert coming.stderr.decode().splitlines() == [
        "journal: error: --week 1 is a week to come; past weeks count back",
        "hint: the previous week is --week -1"]


# -- hostile content ------------------------------------------------------------------------------

def test_hostile_notes_and_params_cannot_break_the_note(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: Any) -> None:
    py = sys.executable
    hostile_value = "a|b `c` ``d``"
    ids = [
        record(repo, MONDAY + dt.timedelta(hours=9), note=HOSTILE_NOTE,
               command=(py, "-c", "pass", "--name", hostile_value, "--title", "# no heading"),
               metrics={"acc|x": 1.0, "`m`": 2.0}),
        record(repo, MONDAY + dt.timedelta(hours=10), note="```\nunclosed fence swallowing all\n",
               command=(py, "-c", "pass", "--name", "---", "--title", "<div>")),
        record(repo, MONDAY + dt.timedelta(hours=11), note="---\ntitle: fake front matter\n---",
               command=(py, "-c", "pass", "--name", "=cmd|x", "--title", "日本語")),
    ]
    note = ok(repo, monkeypatch, capsys, *WEEK)
    assert note.count("\n---\n") >= 1 and note.index("---\n") == 0
    tokens = PARSER.parse(body_of(note))
    # Raw HTML shows as text: no HTML token anywhere.
    assert not [t for t in tokens if t.type in ("html_block", "html_inline")]
    for token in tokens:
        assert not [c for c in token.children or [] if c.type == "html_inline"]
    assert any("<div>raw html</div>" in shown(t) for t in tokens if t.type == "inline")
    # Headings: the note's own went below the run's (h5, h6), the `#` in its code block is code.
    levels = headings(tokens)
    assert ("h5", "Why `tick` | pipe") not in levels       # the title line became the run heading
    assert ("h6", "A sub heading") in levels
    assert all(text != "not a heading" for _, text in levels)
    assert [text for tag, text in levels if tag == "h4"][0] == "✓ Why `tick` | pipe"
    # Each run keeps its status line and facts list: the unclosed fence was closed, and the
    # note's closing list did not swallow the facts.
    statuses = [t for t in tokens if t.type == "inline" and shown(t).startswith("finished")]
    assert len(statuses) == 3
    lists = [i for i, t in enumerate(tokens) if t.type == "bullet_list_open" and t.level == 0]
    facts = [i for i in lists if "Code:" in shown(tokens[i + 3])]
    assert len(facts) == 3
    # Params are exact in their code spans; the long line and the Japanese text are intact.
    spans = [c.content for t in tokens if t.type == "inline" for c in t.children
             if c.type == "code_inline"]
    text = "".join(shown(t) for t in tokens if t.type == "inline")
    assert f"name={hostile_value}" in text
    assert any(span.startswith("title=# no heading") for span in spans)
    assert "long " * 1999 in text and "MLPのレイヤ数を3に増やしてみる" in text
    assert "fake front matter" in text
    assert ids[0] in text


# -- formats and output ---------------------------------------------------------------------------

def test_json_and_csv_are_one_row_a_run(repo: Path, week: dict[str, str],
                                        monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    rows = json.loads(ok(repo, monkeypatch, capsys, *WEEK, "--format", "json"))
    assert [row["id"] for row in rows] == [week["adam"], week["failed"], week["best"], week["stopped"]]
    best = rows[2]
    assert best["metrics.acc"] == 82.476 and best["params.lr"] == 0.001 and best["dirty"] is True
    assert best["note"] == "MLPのレイヤ数を3に増やしてみる" and best["tags"] == ["adam"]   # a list, as list --json gives it
    assert rows[1]["status"] == "failed" and rows[1]["exit_code"] == 3
    assert rows[3]["status"] == "interrupted"
    table = list(csv.DictReader(io.StringIO(ok(repo, monkeypatch, capsys, *WEEK, "-f", "csv"))))
    assert [row["id"] for row in table] == [row["id"] for row in rows]
    assert table[2]["metrics.acc"] == "82.476" and table[0]["metrics.acc"] == "80.5"
    assert table[2]["tags"] == "adam"                      # CSV: tags joined with ;
    assert set(table[0]) == set(rows[0])
    assert ok(repo, monkeypatch, capsys, "--since", "2020-01-01", "--until", "2020-01-02",
              "-f", "json") == "[]\n"


def test_output_file_is_never_overwritten_without_force(repo: Path, week: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    target = repo / "week.md"
    code, out, err = export(repo, monkeypatch, capsys, *WEEK, "-o", "week.md")
    assert code == 0 and out == ""
    assert err == "journal: wrote week.md: 4 run(s) from 2025-03-10 to 2025-03-16\n"
    first = target.read_text()
    assert "# Experiments 2025-03-10 – 2025-03-16" in first
    target.write_text("my edits\n")
    code, out, err = export(repo, monkeypatch, capsys, *WEEK, "-o", "week.md")
    assert code == 2 and target.read_text() == "my edits\n"
    assert err == "journal: error: week.md exists: not overwriting it\nhint: add --force to replace it\n"
    code, _, _ = export(repo, monkeypatch, capsys, *WEEK, "-o", "week.md", "--force")
    assert code == 0 and target.read_text() == first
    assert not [p for p in repo.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("args, message", [
    (("--format", "xml"), "journal: error: unknown format 'xml'"),
    (("--week", "--since", "3d"), "journal: error: --week cannot be combined with --since or --until"),
    (("--week", "x"), "journal: error: unexpected argument 'x'"),
    (("3",), "journal: error: unexpected argument '3'"),
    (("--bogus",), "journal: error: no such option: --bogus"),
    (("--since", "someday"), "journal: error: cannot read the time 'someday'"),
    (("--since", "2025-03-12", "--until", "2025-03-10"), "journal: error: the range is empty"),
    (("--template", "missing.md"), "journal: error: cannot read the template missing.md: No such file"),
    (("--status", "done"), "journal: error: unknown status 'done'"),
])
def test_bad_input_is_one_line_and_exit_2(repo: Path, args: tuple[str, ...], message: str,
                                          monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    code, out, err = export(repo, monkeypatch, capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith(message), err
    assert "Traceback" not in err and err.count("journal: error:") == 1


def test_bad_input_from_a_real_process(repo: Path) -> None:
    done = journal("export", "--week", "-1", "--until", "today", cwd=repo)
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr == b"journal: error: --week cannot be combined with --since or --until\n"


def test_the_repo_template_is_used_and_template_overrides_it(repo: Path, week: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: Any) -> None:
    (repo / ".journal-template.md").write_text(
        "# Week {{week}}\n\n<!-- each run -->\n- {{started_date}} `{{id}}` {{note_title}}: {{outcome}}\n"
        "<!-- end run -->\n")
    note = ok(repo, monkeypatch, capsys, *WEEK)
    assert note.startswith("# Week 2025-W11\n\n- 2025-03-10 `" + week["adam"] + "` Adam instead of SGD")
    assert [t.type for t in PARSER.parse(note)].count("list_item_open") == 4   # one tight list
    (repo / "other.md").write_text("Runs: {{runs}}, {{failed}} failed, {{compute_time}}.\n")
    assert ok(repo, monkeypatch, capsys, *WEEK, "--template", "other.md").startswith("Runs: 4, 1 failed, ")


def test_a_template_can_group_the_week_by_machine(repo: Path, week: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: Any) -> None:
    """`<!-- each machine -->` groups the runs by host (synced from other machines), with who
    ran them; a machine's field outside such a section is one error naming the line."""
    for key, host, user in (("adam", "gpu01", "ana"), ("best", "gpu01", "bo"),
                            ("failed", "laptop", "ana")):
        path = next((repo / ".journal" / "runs").rglob(f"{week[key]}.toml"))
        text = path.read_text()
        text = "\n".join(f'host = "{host}"' if line.startswith("host = ") else
                         f'user = "{user}"' if line.startswith("user = ") else line
                         for line in text.splitlines()) + "\n"
        path.write_text(text)
    (repo / "by-machine.md").write_text(
        "# Week {{week}}\n\n<!-- each machine -->\n## {{machine}} ({{machine_runs}} runs by "
        "{{machine_users}})\n\n<!-- each run -->\n- {{note_title}}\n<!-- end run -->\n\n"
        "<!-- end machine -->\n")
    note = ok(repo, monkeypatch, capsys, *WEEK, "--template", "by-machine.md")
    this_host = os.uname().nodename
    local_user = records(repo / ".journal")[0]["user"]
    sections = {this_host: f"## {this_host} (1 runs by {local_user})\n\n- Long run\n",
                "gpu01": "## gpu01 (2 runs by ana, bo)\n\n- Adam instead of SGD\n"
                         "- MLPのレイヤ数を3に増やしてみる\n",
                "laptop": "## laptop (1 runs by ana)\n\n- Bigger batch\n"}
    assert note == "# Week 2025-W11\n\n" + "\n".join(sections[host] for host in sorted(sections))
    (repo / "bad.md").write_text("{{machine}}\n")
    done = export(repo, monkeypatch, capsys, *WEEK, "--template", "bad.md")
    assert done[0] == 2 and "bad.md:1: {{machine}} is a field of a machine" in done[2]


def test_outside_git_there_are_no_commits_but_there_are_runs(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: Any) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    record(folder, MONDAY + dt.timedelta(hours=9), note="no git here")
    note = ok(folder, monkeypatch, capsys, *WEEK)
    assert "no git here" in note and "## Code changes" not in note


def test_each_field_computed_alone_is_what_the_whole_run_gives(repo: Path,
                                                              week: dict[str, str]) -> None:
    """Export asks journal.render.RunFields for the few fields a template shows, one group at a
    time (speed): each must be what the full set says, so a run reads the same in `show` and in
    `export`, and every field has its group."""
    from journal.render.run import FIELDS, RunFields, run_fields
    from journal.store.source import RunSource

    hostile = record(repo, MONDAY, note=HOSTILE_NOTE, command=(sys.executable, "-c", "pass", "--x", "a|`b`"),
                     metrics={"m|x": 1.5})
    source = RunSource(repo / ".journal", print, environ=os.environ)
    for run_id in (*week.values(), hostile):
        run = source.get(run_id)
        for level in (2, 4):
            expected = run_fields(run, repo / ".journal", heading_level=level)
            assert expected.keys() == FIELDS.keys()
            for name in FIELDS:
                alone = RunFields(run, repo / ".journal", heading_level=level)[name]
                assert alone == expected[name], (run_id, name)
            assert expected["note_title"] and expected["id"]


def test_records_are_untouched_by_export(repo: Path, week: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    before = records(repo / ".journal")
    status = git(repo, "status", "--porcelain")
    ok(repo, monkeypatch, capsys, *WEEK, "-f", "html")
    assert records(repo / ".journal") == before and git(repo, "status", "--porcelain") == status


def test_help_has_an_example() -> None:
    from typer.testing import CliRunner

    from journal.cli.app import app

    result = CliRunner().invoke(app, ["export", "--help"])
    assert result.exit_code == 0 and "Example: journal export --week -1" in result.stdout
    assert "--week" in result.stdout and "--force" in result.stdout


def test_a_hand_edited_record_with_wrong_types_is_exported_not_a_crash(
        repo: Path, week: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    path = next(path for path in (repo / ".journal" / "runs").rglob("*.toml")
                if path.stem == week["best"])
    text = path.read_text()
    text = text.replace('tags = ["adam"]', "tags = 7")
    assert "tags = 7" in text
    path.write_text(text)
    for fmt in ("md", "html", "json", "csv"):
        out = ok(repo, monkeypatch, capsys, *WEEK, "-f", fmt)
        if fmt == "html":       # the page's text, without its markup
            out = html.unescape(re.sub(r"<[^>]+>", "", out))
        assert week["best"] in out and "82.476" in out, fmt
    code, out, err = export(repo, monkeypatch, capsys, *WEEK, "-f", "json")
    assert code == 0
    assert [row["tags"] for row in json.loads(out) if row["id"] == week["best"]] == [7]
    assert f"warning: {path}: fields of the wrong kind: tags (not a list)" in err


def test_the_weekly_note_tells_the_truth(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: Any) -> None:
    """Amendments (with their time) and tags under each run; a note-only idea listed as a note,
    not counted as a run nor marked finished; "best" only from finished runs, the run named;
    killed and interrupted runs marked and counted."""
    py = sys.executable
    good = record(repo, MONDAY + dt.timedelta(hours=9), note="Baseline", command=(py, "-c", "pass"),
                  metrics={"acc": 80.5}, tags=("baseline",))
    record(repo, MONDAY + dt.timedelta(hours=10), note="Diverged",
           command=(py, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
           metrics={"acc": 99.9})
    record(repo, MONDAY + dt.timedelta(hours=11), note="Stopped by hand",
           command=(py, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGINT)"))
    idea = record(repo, MONDAY + dt.timedelta(hours=12), note="idea: warm-up may fix the spike")
    at = {**os.environ, "JOURNAL_NOW": (MONDAY + dt.timedelta(hours=13)).isoformat()}
    assert journal("note", good, "hidden=128 helped", cwd=repo, env=at).returncode == 0
    assert journal("tag", idea, "+todo", cwd=repo, env=at).returncode == 0
    note = ok(repo, monkeypatch, capsys, *WEEK)
    assert "**3 runs** (1 finished, 1 killed, 1 interrupted), 1 note," in note
    assert "| acc (highest) | 80.5 | `" + good + "` Baseline |" in note     # not the killed 99.9
    assert "#### ☠ Diverged" in note and "#### ⏹ Stopped by hand" in note
    assert "#### ✎ Note: idea: warm-up may fix the spike" in note
    assert "#### ✓ idea" not in note
    run_section = note[note.index("#### ✓ Baseline"):note.index("#### ☠ Diverged")]
    assert "> **Amended 2025-03-10 13:00" in run_section
    assert "hidden=128 helped" in run_section and "**Tags:** `baseline`" in run_section
    note_section = note[note.index("#### ✎ Note"):]
    assert "tags +todo" in note_section and "`todo`" in note_section
    (repo / "counts.md").write_text("{{runs}} runs, {{notes}} notes, {{finished}} finished, "
                                    "{{killed}} killed, {{interrupted}} interrupted, "
                                    "{{crashed}} crashed, {{failed}} failed\n")
    assert ok(repo, monkeypatch, capsys, *WEEK, "--template", "counts.md") == (
        "3 runs, 1 notes, 1 finished, 1 killed, 1 interrupted, 0 crashed, 0 failed\n")
    rows = {row["id"]: row for row in json.loads(ok(repo, monkeypatch, capsys, *WEEK, "-f", "json"))}
    assert rows[idea]["status"] == "note" and rows[good]["status"] == "finished"
    table = list(csv.DictReader(io.StringIO(ok(repo, monkeypatch, capsys, *WEEK, "-f", "csv"))))
    assert [row["status"] for row in table if row["id"] == idea] == ["note"]


def test_one_metric_or_param_of_a_run_with_its_rounding(repo: Path, week: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: Any) -> None:
    (repo / "one.md").write_text(
        "<!-- each run -->\n- {{note_title}}: acc {{metric:acc}} ({{metric:acc:1}}), "
        "lr {{param:lr}}, batch {{param:batch_size:2}}, none {{metric:Hoge1 Acc}}\n"
        "<!-- end run -->\n")
    note = ok(repo, monkeypatch, capsys, *WEEK, "--template", "one.md")
    assert "- MLPのレイヤ数を3に増やしてみる: acc 82.476 (82.5), lr 0.001, batch 32.00, none —" in note
    (repo / "bad.md").write_text("{{metric:acc}}\n")
    code, _out, err = export(repo, monkeypatch, capsys, *WEEK, "--template", "bad.md")
    assert code == 2 and "is a field of a run" in err

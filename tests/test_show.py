"""`journal show`: a run as a Markdown note, safe whatever the record holds.

Runs are made with the real `journal new` in real git repos; `show` runs in-process through
typer's CliRunner (stdout is a pipe there), in a subprocess for exit codes and stderr, and on a
pseudo-terminal for the rich rendering. Output is parsed with markdown-it-py and checked by
structure, and once against an exact golden note.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from conftest import git, journal, only_record, records
from readkit import drain, tag_by_hand
from typer.testing import CliRunner

from journal.cli.app import app
from journal.render.markdown import markdown_parser

PARSER = markdown_parser()
TRAIN = """\
import sys
print("epoch 1 loss 0.5")
print("\\x1b[32mgreen\\x1b[0m \\x1b]52;c;aGk=\\x07clip \\x1b[2Jcleared")
print("progress 10%\\rprogress 100%")
print("acc 82.476")
sys.exit(int(sys.argv[-1]) if sys.argv[-1].isdigit() else 0)
"""
# What must never reach a terminal or a pipe raw.
RAW_HOSTILE = ("\x1b", "\x9b", "\x9d", "\u202e", "\u200b", "\x07")


@pytest.fixture
def lab(repo: Path) -> Path:
    (repo / "train.py").write_text(TRAIN)
    git(repo, "commit", "-qam", "train")
    return repo


def new_run(repo: Path, *args: str) -> dict:
    done = journal("new", *args, cwd=repo)
    assert done.returncode in (0, 1), done.stderr
    return records(repo / ".journal")[-1]


def show(repo: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(app, ["show", *args])
    assert result.exit_code == 0, (result.stderr, result.exception)
    return result.stdout


def tokens_of(markdown: str) -> list:
    return PARSER.parse(markdown)


def headings(tokens: list) -> list[tuple[int, str]]:
    """Each heading's level and its text as a reader sees it."""
    return [(int(token.tag[1]), "".join(child.content for child in tokens[index + 1].children))
            for index, token in enumerate(tokens) if token.type == "heading_open"]


def html_tokens(tokens: list) -> list[str]:
    found = [token.content for token in tokens if token.type.startswith("html")]
    for token in tokens:
        found += [child.content for child in token.children or () if child.type.startswith("html")]
    return found


def table_rows(tokens: list) -> list[list[str]]:
    """Each table row as its cells' text, header rows included."""
    rows: list[list[str]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows and token.map and token.level >= 4:
            rows[-1].append("".join(child.content for child in token.children))
    return rows


def list_items(tokens: list) -> list[str]:
    """The source text of each top-level bullet item."""
    items = []
    for index, token in enumerate(tokens):
        if token.type == "list_item_open" and token.level == 1:
            items.append(tokens[index + 2].content)
    return items


# -- the note ---------------------------------------------------------------------------------------

def test_a_run_is_a_note_with_its_facts(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (lab / "train.py").write_text(TRAIN + "# tweak\n")
    (lab / "notes.txt").write_text("scratch\n")
    record = new_run(lab, "-n", "Adam instead of SGD\nbecause the loss plateaued", "-t", "adam",
                     "-m", "acc=82.476", "--", sys.executable, "train.py", "--lr", "3e-4")
    out = show(lab, monkeypatch)
    tokens = tokens_of(out)
    assert headings(tokens) == [(2, "Adam instead of SGD")]
    assert tokens[4].content == "because the loss plateaued"
    items = list_items(tokens)
    short = record["git"]["commit"][:7]
    assert any(item.startswith("**Code:** `" + short + "` on `main`, **dirty**") for item in items)
    assert "**Changed:** `train.py`" in items and "**Untracked:** `notes.txt`" in items
    assert "**Tags:** `adam`" in items
    assert f"**Log:** `.journal/logs/{record['id']}.log` ({record['log']['bytes']} bytes)" in items
    assert any(item.startswith("**When:** ") for item in items)
    status = next(token.content for token in tokens if token.type == "inline" and "run `" in token.content)
    assert status == f"**✓ finished (exit code 0)** · run `{record['id']}`"
    fence = next(token for token in tokens if token.type == "fence")
    assert fence.info == "sh" and fence.content == f"{sys.executable} train.py --lr 3e-4\n"
    assert table_rows(tokens) == [["param", "value"], ["lr", "0.0003"], ["metric", "value"], ["acc", "82.476"]]
    assert html_tokens(tokens) == []


def test_hostile_note_and_params_keep_the_structure(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_line = "very long line " * 400
    note = (f"# Heading in the note\n\n```\n# not a heading\n```\n\n<script>alert(1)</script>\n\n"
            f"---\n\n日本語のメモ: 学習率を下げた\n\n{long_line}\n\n```\nnever closed")
    record = new_run(lab, "-n", note, "-p", "we|ird=a`b|c", "-p", "-x=<div>", "-t", "x|y",
                     "--", sys.executable, "train.py", "--name", "# not | a heading")
    out = show(lab, monkeypatch)
    tokens = tokens_of(out)
    assert headings(tokens) == [(2, "Heading in the note")]
    assert html_tokens(tokens) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in PARSER.render(out)
    fences = [token for token in tokens if token.type == "fence"]
    assert fences[0].content == "# not a heading\n"
    assert fences[1].content == "never closed\n"           # closed: it does not swallow the rest
    assert fences[2].info == "sh" and "'# not | a heading'" in fences[2].content
    assert [token.type for token in tokens].count("hr") == 1
    texts = [token.content for token in tokens if token.type == "inline"]
    assert "日本語のメモ: 学習率を下げた" in texts and long_line.strip() in texts
    rows = table_rows(tokens)
    assert ["we|ird", "a`b|c"] in rows and ["name", "# not | a heading"] in rows
    assert [[name, str(value)] for name, value in record["params"].items()] == rows[1:]
    assert "<div>" in record["params"].values()
    assert "**Tags:** `x`\\|`y`" in list_items(tokens)


def test_note_headings_are_demoted_below_the_run_heading(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new_run(lab, "-n", "Title line\n\n# Results\n\n## Details\n\n```md\n# fenced\n```")
    tokens = tokens_of(show(lab, monkeypatch))
    assert headings(tokens) == [(2, "Title line"), (3, "Results"), (4, "Details")]


def test_a_note_only_entry_and_an_empty_note(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = new_run(lab)
    out = show(lab, monkeypatch)
    tokens = tokens_of(out)
    assert headings(tokens) == [(2, empty["id"])]
    assert f"**✎ note only (no command)** · run `{empty['id']}`" in out
    assert "**Command**" not in out and table_rows(tokens) == []


def test_amendments_are_shown_with_their_time(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new_run(lab, "-n", "first idea", "--", sys.executable, "train.py")
    assert journal("note", "@", "this run had a data leak\n\n- see #12", cwd=lab).returncode == 0
    tokens = tokens_of(show(lab, monkeypatch))
    quote = tokens.index(next(token for token in tokens if token.type == "blockquote_open"))
    inside = [token for token in tokens[quote:] if token.type == "inline"][:3]
    assert re.fullmatch(r"\*\*Amended \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+\*\*", inside[0].content)
    assert inside[1].content == "this run had a data leak" and inside[2].content == "see #12"
    assert headings(tokens) == [(2, "first idea")]


def test_several_runs_are_separate_notes(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_run(lab, "-n", "first run", "--", sys.executable, "train.py")
    second = new_run(lab, "-n", "second run\n- ends with a list", "--", sys.executable, "train.py", "1")
    out = show(lab, monkeypatch, "@", first["id"][:22], "@")
    tokens = tokens_of(out)
    assert headings(tokens) == [(2, "second run"), (2, "first run")]
    assert [token.type for token in tokens].count("hr") == 1
    assert f"**✗ failed (exit code 1)** · run `{second['id']}`" in out
    # The note's own list stays its own: the facts are a second list.
    assert [token.type for token in tokens].count("bullet_list_open") == 3


def test_diff_shows_the_patch(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = new_run(lab, "-n", "clean", "--", sys.executable, "train.py")
    (lab / "train.py").write_text(TRAIN + "# tweak ```` `|`\n")
    dirty = new_run(lab, "-n", "dirty", "--", sys.executable, "train.py")
    tokens = tokens_of(show(lab, monkeypatch, "--diff"))
    fence = [token for token in tokens if token.type == "fence"][-1]
    patch = (lab / ".journal" / dirty["git"]["patch"]).read_text()
    assert fence.info == "diff" and fence.content == patch and "+# tweak ```` `|`" in patch
    assert "**Patch:** none, the work tree was clean" in show(lab, monkeypatch, clean["id"], "--diff")


def test_log_shows_the_last_lines_without_escapes(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = new_run(lab, "-n", "logged", "--", sys.executable, "train.py")
    out = show(lab, monkeypatch, "--log", "--lines", "3")
    fence = [token for token in tokens_of(out) if token.type == "fence"][-1]
    assert fence.info == "text"
    assert fence.content == "green clip cleared\nprogress 100%\nacc 82.476\n"
    assert f"**Log**, last 3 lines of `.journal/logs/{record['id']}.log`" in out
    assert not any(char in out for char in RAW_HOSTILE)


def test_paths_in_a_record_do_not_leave_the_journal(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = new_run(lab, "-n", "tampered", "--", sys.executable, "train.py")
    (lab.parent / "secret.txt").write_text("TOP SECRET\n")
    path = next((lab / ".journal" / "runs").rglob("*.toml"))
    text = path.read_text().replace(f'path = "logs/{record["id"]}.log"', 'path = "../../secret.txt"')
    path.write_text(text.replace('dirty = false', 'dirty = false\npatch = "../../secret.txt"'))
    out = show(lab, monkeypatch, "--diff", "--log")
    assert "TOP SECRET" not in out
    assert "is outside the journal folder, so it is not shown" in out


# -- safety -------------------------------------------------------------------------------------

HOSTILE_NOTE = ("OSC 52 \x1b]52;c;aGk=\x07 link \x1b]8;;http://evil\x07x\x1b]8;;\x07 "
                "csi \x1b[2J\x1b[H c1 \x9b31m \x9d0;t\x9c bidi \u202eevil\u202c zero\u200bwidth"
                "\n\nA [harmless link](https://evil.example/steal) in the body.")


@pytest.fixture
def hostile_run(lab: Path) -> Path:
    git(lab, "checkout", "-q", "-b", "feature\u202egnp.exe")
    (lab / "evil\x1b]52;c;aGk=\x07name.txt").write_text("x\n")
    journal("new", "-n", HOSTILE_NOTE, "-p", "p\x1b[31m=v\x9bx", "-m", "m\u202e=1",
            "--", sys.executable, "train.py", "--arg", "\x1b]8;;http://evil\x07", cwd=lab)
    run_id = next((lab / ".journal" / "runs").rglob("*.toml")).stem
    tag_by_hand(lab / ".journal", run_id, "t\u200bag")   # `journal new -t` refuses it; a hand not
    return lab


@pytest.mark.parametrize("fmt", ["md", "toml", "json", "report"])
def test_hostile_text_never_reaches_a_pipe_raw(hostile_run: Path, fmt: str) -> None:
    extra = ("--diff", "--log") if fmt == "md" else ()
    done = journal("show", "--format", fmt, *extra, cwd=hostile_run)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert not any(char in out for char in RAW_HOSTILE), [c for c in RAW_HOSTILE if c in out]
    assert "\\x1b]52;c;aGk=\\x07" in out or "\\u001b]52;c;aGk=\\u0007" in out
    assert "\\u202e" in out


def test_hostile_text_in_markdown_is_escaped_text(hostile_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = tokens_of(show(hostile_run, monkeypatch))
    assert headings(tokens)[0][1] == ("OSC 52 \\x1b]52;c;aGk=\\x07 link \\x1b]8;;http://evil\\x07x"
                                      "\\x1b]8;;\\x07 csi \\x1b[2J\\x1b[H c1 \\x9b31m \\x9d0;t\\x9c "
                                      "bidi \\u202eevil\\u202c zero\\u200bwidth")
    items = list_items(tokens)
    assert any("`feature\\u202egnp.exe`" in item for item in items)
    assert any("`evil\\x1b]52;c;aGk=\\x07name.txt`" in item for item in items)
    assert ["p\\x1b[31m", "v\\x9bx"] in table_rows(tokens)


def test_json_escapes_what_a_terminal_would_obey(hostile_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = show(hostile_run, monkeypatch, "--format", "json")
    record = only_record(hostile_run / ".journal")
    assert json.loads(out) == json.loads(json.dumps(record, default=lambda value: value.isoformat()))
    assert "\\u202e" in out and "\\u001b" in out


def _on_terminal(args: list[str], cwd: Path) -> bytes:
    """Run the CLI with stdout on a pseudo-terminal, as a user would see it."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    child = subprocess.Popen([sys.executable, "-m", "journal", *args], cwd=cwd, stdout=slave,
                             stderr=subprocess.PIPE, env=env)
    os.close(slave)
    output = drain(master)
    assert child.wait(timeout=30) == 0, child.stderr.read() if child.stderr else ""
    return output


def test_on_a_terminal_only_colours_are_sent(hostile_run: Path) -> None:
    out = _on_terminal(["show", "--diff", "--log"], hostile_run).decode()
    sequences = set(re.findall(r"\x1b.[^a-zA-Z\x07]*.?", out))
    assert sequences and all(re.fullmatch(r"\x1b\[[0-9;]*m", seq) for seq in sequences), sequences
    assert not any(char in out for char in RAW_HOSTILE[1:])
    assert "\\x1b]52;c;aGk=\\x07" in out and "\\u202e" in out
    assert "\x1b[32mgreen\x1b[0m clip cleared" in out      # the log keeps its colour, nothing else
    assert "progress 100%" in out and "progress 10%" not in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "harmless link (https://evil.example/steal)" in plain    # a link shows where it goes


# -- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ref", "message"), [
    ("nope", "journal: error: unknown run 'nope'"),
    ("../../etc/passwd", "journal: error: unknown run '../../etc/passwd'"),
    ("2", "journal: error: ambiguous run '2': 2 runs match: "),
    ("@~5", "journal: error: there is no run @~5: the journal has 2 run(s)"),
])
def test_bad_refs_are_one_line_and_exit_2(lab: Path, ref: str, message: str) -> None:
    new_run(lab, "-n", "one")
    new_run(lab, "-n", "two")
    done = journal("show", "@", ref, cwd=lab)
    assert done.returncode == 2 and done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert lines[0].startswith(message) and len(lines) <= 2 and b"Traceback" not in done.stderr


def test_unknown_format_is_one_line(lab: Path) -> None:
    new_run(lab, "-n", "one")
    done = journal("show", "--format", "yaml", cwd=lab)
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode().splitlines()[0] == "journal: error: unknown format 'yaml'"


def test_diff_and_log_belong_to_the_note(lab: Path) -> None:
    new_run(lab, "-n", "one")
    done = journal("show", "--format", "json", "--log", cwd=lab)
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode().splitlines()[0] == (
        "journal: error: --diff and --log add to the Markdown note, not to --format json")


@pytest.mark.parametrize("reader", ["index", "files"])
def test_a_record_that_does_not_parse_is_skipped(lab: Path, reader: str) -> None:
    env = {**os.environ, "JOURNAL_NO_INDEX": "1" if reader == "files" else "0"}
    older = new_run(lab, "-n", "older run")
    newer = new_run(lab, "-n", "newer run")
    broken = lab / ".journal" / "runs" / "2000-01" / "20000101-000000.000-nocommit-broken.toml"
    broken.parent.mkdir(parents=True)
    broken.write_text("note = 'unterminated\n")
    warning = f"journal: warning: skipped {broken}: not a valid record"
    done = journal("show", "@", older["id"], cwd=lab, env=env)
    # The index reads every record, so it tells; reading the files reads only the two asked for.
    assert done.returncode == 0 and (warning in done.stderr.decode()) == (reader == "index")
    assert headings(tokens_of(done.stdout.decode())) == [(2, "newer run"), (2, "older run")]
    # Asked for by name, it cannot be shown: the others are, and the command fails.
    done = journal("show", newer["id"], "20000101", cwd=lab, env=env)
    stderr = done.stderr.decode()
    assert done.returncode == 2 and warning in stderr and "Traceback" not in stderr
    assert stderr.splitlines()[-2].startswith("journal: error: ")


def test_toml_is_the_record_file(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new_run(lab, "-n", "as a file", "--", sys.executable, "train.py")
    path = next((lab / ".journal" / "runs").rglob("*.toml"))
    assert show(lab, monkeypatch, "--format", "toml") == path.read_text()


def test_report_format(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = new_run(lab, "-n", "reported", "-m", "acc=82.476", "--", sys.executable, "train.py")
    out = show(lab, monkeypatch, "--format", "report")
    assert out.startswith(f"journal run {record['id']}\n") and "82.476" in out


# -- the exact note -------------------------------------------------------------------------------

GOLDEN_RECORD = """\
schema = 1
id = "20261128-074207.123-9ac7188-k3f9qa"
note = "MLP with 3 layers instead of 2\\n\\n2 layers *underfit*; see `train.py`."
tags = ["mlp", "baseline"]
status = "finished"
started = 2026-11-28T16:42:07.123+09:00
ended = 2026-11-28T20:12:19.456+09:00
duration = 12612.333
exit_code = 0
command = ["python", "train.py", "--layers", "3", "--name", "a b"]
cwd = "experiments"
host = "gpu01"

[git]
commit = "9ac71880000000000000000000000000000000aa"
branch = "main"
dirty = true
changed = ["train.py"]
untracked = []
patch = "patches/20261128-074207.123-9ac7188-k3f9qa.patch"
left_out = [".env"]

[params]
layers = 3
name = "a b"

[metrics]
"Hoge1 Acc" = 82.476

[log]
path = "logs/20261128-074207.123-9ac7188-k3f9qa.log"
bytes = 10423

[[amendments]]
at = 2026-11-29T09:00:00+09:00
text = "this run had a data leak"
"""

GOLDEN_NOTE = """\
## MLP with 3 layers instead of 2

2 layers *underfit*; see `train.py`.

> **Amended 2026-11-29 09:00:00 JST**
>
> this run had a data leak

**✓ finished (exit code 0)** · run `20261128-074207.123-9ac7188-k3f9qa`

- **When:** 2026-11-28 16:42:07 JST to 20:12:19, 3h 30m 12s
- **Code:** `9ac7188` on `main`, **dirty** (1 changed)
- **Changed:** `train.py`
- **Left out of the patch:** `.env`
- **Tags:** `mlp`, `baseline`
- **Host:** `gpu01` in `experiments`
- **Log:** `.journal/logs/20261128-074207.123-9ac7188-k3f9qa.log` (10423 bytes)
- **Patch:** `.journal/patches/20261128-074207.123-9ac7188-k3f9qa.patch`

**Command**

```sh
python train.py --layers 3 --name 'a b'
```

**Params**

| param | value |
|---|--:|
| layers | 3 |
| name | a b |

**Metrics**

| metric | value |
|---|--:|
| Hoge1 Acc | 82.476 |
"""


def test_golden_note(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    runs = folder / ".journal" / "runs" / "2026-11"
    runs.mkdir(parents=True)
    (runs / "20261128-074207.123-9ac7188-k3f9qa.toml").write_text(GOLDEN_RECORD)
    tomllib.loads(GOLDEN_RECORD)
    done = journal("show", cwd=folder, env={**os.environ, "TZ": "Asia/Tokyo"})
    assert done.stderr == b"" and done.stdout.decode() == GOLDEN_NOTE


def test_a_running_record_whose_wrapper_died_shows_crashed(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs = tmp_path / ".journal" / "runs" / "2026-11"
    runs.mkdir(parents=True)
    (runs / "20261128-074207.123-nocommit-aaaaaa.toml").write_text(textwrap.dedent(f"""\
        schema = 1
        id = "20261128-074207.123-nocommit-aaaaaa"
        note = "long job"
        status = "running"
        started = 2026-11-28T16:42:07.123+09:00
        command = ["python", "train.py"]
        host = "{os.uname().nodename}"
        pid = {dead.pid}
        """))
    out = show(tmp_path, monkeypatch)
    assert "**⚠ crashed (its journal process is gone; the record still said running)**" in out


def test_a_hand_edited_record_of_odd_types_still_shows(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / ".journal" / "runs" / "2026-11"
    runs.mkdir(parents=True)
    (runs / "20261128-074207.123-nocommit-bbbbbb.toml").write_text(textwrap.dedent("""\
        note = 5
        tags = "single"
        status = 7
        started = "yesterday"
        ended = 2026-11-28
        duration = nan
        command = "python train.py"
        git = "oops"
        params = [1, 2]
        amendments = ["not a table", {at = "later", text = 3}]
        log = {path = 5}
        [metrics]
        nested = {a = 1, b = [1.5, true]}
        when = 2026-11-28T10:00:00
        """))
    out = show(tmp_path, monkeypatch, "--diff", "--log")
    tokens = tokens_of(out)
    assert headings(tokens) == [(2, "5")]
    assert ["nested", '{"a": 1, "b": [1.5, true]}'] in table_rows(tokens)
    assert "**Amended later**" in out and "**Tags:** `single`" in out


# -- start-up cost ------------------------------------------------------------------------------

def test_show_imports_only_what_its_format_needs(lab: Path) -> None:
    from test_cli import _modules_loaded_by

    new_run(lab, "-n", "one")
    assert _modules_loaded_by("show", "--format", "json", cwd=lab).isdisjoint({"markdown_it", "rich"})
    piped = _modules_loaded_by("show", cwd=lab)     # (markdown-it only if a note needs parsing)
    assert "rich" not in piped
    assert "markdown_it" not in _modules_loaded_by("list", cwd=lab)


def test_format_md_opens_with_front_matter_a_yaml_parser_reads(repo: Path) -> None:
    import datetime as dt

    import yaml

    hostile = 'quote " colon: dash - hash # --- \u202e end'
    done = journal("new", "-n", hostile, "-t", "adam", "-t", "baseline", "-p", "lr=3e-4",
                   "-p", "optim.name=adam", "-p", f"label={hostile}", "-m", "acc=82.476",
                   "-m", "val/loss=0.31", "--", "true", cwd=repo)
    assert done.returncode == 0, done.stderr
    out = journal("show", "-f", "md", cwd=repo).stdout.decode()
    assert out.startswith("---\n")
    front, body = out[4:].split("\n---\n", 1)
    properties = yaml.safe_load(front)
    record = records(repo / ".journal")[0]
    assert properties["id"] == record["id"] and properties["status"] == "finished"
    assert properties["tags"] == ["adam", "baseline"]
    assert properties["metric_acc"] == 82.476 and properties["metric_val_loss"] == 0.31
    assert properties["param_lr"] == 0.0003 and properties["param_optim_name"] == "adam"
    assert properties["param_label"] == hostile
    assert isinstance(properties["created"], dt.datetime) and properties["dirty"] is False
    assert "\u202e" not in front                         # escaped, inert on a screen
    assert body.lstrip().startswith("## ")
    plain = journal("show", "-f", "md", "--no-front-matter", cwd=repo).stdout.decode()
    assert not plain.startswith("---") and plain.lstrip().startswith("## ")
    assert not journal("show", cwd=repo).stdout.decode().startswith("---")


def test_front_matter_keeps_lists_and_non_finite_numbers(repo: Path) -> None:
    import math

    import yaml

    done = journal("new", "-n", "diverged", "-m", "loss=nan", "-m", "gain=inf", "-p",
                   "L" * 1100 + "=5", cwd=repo)
    assert done.returncode == 0, done.stderr
    path = next((repo / ".journal" / "runs").rglob("*.toml"))
    path.write_text(path.read_text() + "\n[params]\nlayers = [1, 2, 3]\n"
                    if "[params]" not in path.read_text() else
                    path.read_text().replace("[params]\n", "[params]\nlayers = [1, 2, 3]\n"))
    front = journal("show", "-f", "md", cwd=repo).stdout.decode().split("---\n")[1]
    properties = yaml.safe_load(front)
    assert math.isnan(properties["metric_loss"]) and properties["metric_gain"] == math.inf
    assert properties["param_layers"] == [1, 2, 3]
    assert not any(key.startswith("param_LLLL") for key in properties)   # too long a key: left out


def test_on_a_terminal_each_logged_series_is_a_sparkline(repo: Path) -> None:
    script = repo / "fit.py"
    script.write_text(
        "import journal\n"
        "with journal.start(note='fit') as run:\n"
        "    for step in range(50):\n"
        "        run.log(step=step, loss=1 / (step + 1), **{'val/acc\\x1b[31m': step / 50})\n")
    done = journal("new", "-n", "fit", "--", sys.executable, str(script), cwd=repo)
    assert done.returncode == 0, done.stderr
    out = _on_terminal(["show"], repo).decode()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "Curves" in plain
    curves = plain.split("Curves", 1)[1]
    loss = next(line for line in curves.splitlines() if line.strip().startswith("loss"))
    assert "█" in loss and "1 → 0.02, 50 points" in loss
    assert "val/acc\\x1b[31m" in curves and "\x1b[31m" not in out.split("Curves")[1]
    piped = journal("show", cwd=repo).stdout.decode()     # Markdown: the sparklines as text
    block = piped.split("**Curves**\n\n```text\n", 1)[1].split("```", 1)[0]
    assert block.startswith("loss ") and "1 → 0.02, 50 points" in block and "\x1b" not in block


def test_several_runs_as_markdown_have_no_front_matter_mid_file(repo: Path) -> None:
    for note in ("first", "second"):
        assert journal("new", "-n", note, "--", "true", cwd=repo).returncode == 0
    one = journal("show", "-f", "md", "@", cwd=repo).stdout.decode()
    assert one.startswith("---\nid: ")
    two = journal("show", "-f", "md", "@", "@~1", cwd=repo).stdout.decode()
    assert "id: " not in two and two.count("\n---\n") == 1
    assert two.index("# second") < two.index("# first")

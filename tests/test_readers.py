"""The exports read where their readers are: every Markdown note journal writes parses to the
same structure in markdown-it (what journal renders with, and Obsidian's engine is CommonMark
too), mistune and cmark-gfm (GitHub's); every front matter parses as YAML with its values'
types. The browser, headless Chromium, is tests/test_html.py's."""

from __future__ import annotations

import datetime as dt
import html.parser
import sys
from pathlib import Path

import cmarkgfm
import mistune
import pytest
import yaml
from cmarkgfm.cmark import Options as CmarkOptions
from conftest import journal, records
from markdown_it import MarkdownIt

NOTES = {
    "list": "Adam instead of SGD\n\n- lr 3e-4\n- warm-up 500 steps\n\n> a quote | with a bar",
    "table": "表のノート: MLPのレイヤ数を3に増やしてみる\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "code": "# Heading in a note\n\n```python\nprint('``` inside')\n```\n\n1. one\n2. two",
    "hostile": "<!-- each run --> {{id}} *not closed **[link](https://example.com/a_b) "
               "<div>raw</div>\n"
               "---\nnot: front matter\n---",
}
FIT = ("import journal\nwith journal.start() as run:\n"
       "    for step in range(30):\n        run.log(step=step, loss=1 / (step + 1), 精度=step)\n")

BLOCKS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "table", "thead", "tbody",
          "tr", "th", "td", "pre", "blockquote", "hr", "svg", "div"}


class _Skeleton(html.parser.HTMLParser):
    """The block structure of rendered HTML: each block tag, with the text of headings and
    table cells (entities decoded, spaces collapsed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[str] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.items.append(tag)
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6", "th", "td"):
                self._text = []

    def handle_endtag(self, tag: str) -> None:
        if self._text is not None and tag in ("h1", "h2", "h3", "h4", "h5", "h6", "th", "td"):
            self.items.append(" ".join("".join(self._text).split()))
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def skeleton(rendered: str) -> list[str]:
    parser = _Skeleton()
    parser.feed(rendered)
    return parser.items


def three_readers(markdown: str) -> dict[str, list[str]]:
    """The skeleton as each reader sees `markdown` (raw HTML kept by each, tables on)."""
    it = MarkdownIt("commonmark", {"html": True}).enable("table")
    mist = mistune.create_markdown(escape=False, plugins=["table"])
    gfm = cmarkgfm.github_flavored_markdown_to_html(markdown, options=CmarkOptions.CMARK_OPT_UNSAFE)
    return {"markdown-it": skeleton(it.render(markdown)), "mistune": skeleton(str(mist(markdown))),
            "cmark-gfm": skeleton(gfm)}


def same_structure(markdown: str) -> list[str]:
    seen = three_readers(markdown)
    assert seen["markdown-it"] == seen["mistune"] == seen["cmark-gfm"], seen
    return seen["markdown-it"]


def body_of(note: str) -> tuple[object, str]:
    """(the YAML front matter, parsed; the Markdown after it)."""
    assert note.startswith("---\n")
    front, _, body = note[4:].partition("\n---\n")
    return yaml.safe_load(front), body


@pytest.fixture
def week(repo: Path) -> list[str]:
    """A week as a researcher has it: runs whose notes hold lists, tables, code and hostile text,
    an amendment, tags, a failed run, a note-only idea and a run with curves."""
    for name, note in NOTES.items():
        done = journal("new", "-n", note, "-t", name, "-t", "週報", "-m", "acc=82.476",
                       "-p", "lr=3e-4", "--", sys.executable, "-c", "pass", cwd=repo)
        assert done.returncode == 0, done.stderr
    assert journal("new", "-n", "diverged | NaN", "--", "false", cwd=repo).returncode == 1
    assert journal("new", "-n", "idea: cosine schedule\n\n* try it", cwd=repo).returncode == 0
    (repo / "fit.py").write_text(FIT)
    assert journal("new", "-n", "curves", "--", sys.executable, "fit.py", cwd=repo).returncode == 0
    ids = [run["id"] for run in sorted(records(repo / ".journal"), key=lambda r: r["started"])]
    assert journal("note", ids[0], "hidden=128 helped\n\n- really", cwd=repo).returncode == 0
    return ids


def test_the_weekly_note_reads_the_same_in_three_markdown_parsers(repo: Path, week: list[str]
                                                                   ) -> None:
    out = journal("export", cwd=repo).stdout.decode()
    front, body = body_of(out)
    assert isinstance(front, dict) and front["tags"] == ["journal"]
    assert str(front["title"]).startswith("Experiments ")
    items = same_structure(body)
    # what the note holds survives all three: the runs' headings, the note's own table, the
    # amendment's quote, the sparkline block
    headings = [items[i + 1] for i, item in enumerate(items) if item == "h4"]
    assert "✓ Adam instead of SGD" in headings and "✗ diverged | NaN" in headings
    assert "✎ Note: idea: cosine schedule" in headings
    assert "blockquote" in items and items.count("table") >= 2 and "pre" in items


def test_show_and_vault_notes_read_the_same_in_three_parsers_with_typed_properties(
        repo: Path, week: list[str], tmp_path: Path) -> None:
    for run_id in week:
        front, body = body_of(journal("show", "-f", "md", run_id, cwd=repo).stdout.decode())
        assert isinstance(front, dict) and front["id"] == run_id
        same_structure(body)
    assert journal("export", "--vault", str(tmp_path / "vault"), cwd=repo).returncode == 0
    notes = sorted((tmp_path / "vault").rglob("*.md"))
    assert len(notes) == len(week) + 1
    for note in notes:
        front, body = body_of(note.read_text(encoding="utf-8"))
        assert isinstance(front, dict)
        items = same_structure(body)
        if front.get("id") == week[-1]:
            assert items.count("svg") == 2      # the curves, an HTML block in all three
    # the front matter's values have their types
    first = body_of((tmp_path / "vault" / "runs" / f"{week[0]}.md").read_text())[0]
    assert isinstance(first, dict)
    assert first["metric_acc"] == 82.476 and first["param_lr"] == 0.0003
    assert first["tags"] == ["list", "週報"] and isinstance(first["created"], dt.datetime)
    assert first["status"] == "finished" and first["dirty"] in (True, False)
    hostile = body_of((tmp_path / "vault" / "runs" / f"{week[3]}.md").read_text())[0]
    assert isinstance(hostile, dict) and hostile["id"] == week[3]

"""`journal export --format html`: one self-contained page where a note's `<script>` is text.

Checked twice: by parsing the page (no script, no external reference, an inline style and a
Content-Security-Policy), and in a real browser, headless Chromium, whose DOM after loading shows
the notes and metrics and proves that nothing ran. `.ci/run` installs Debian's chromium.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_export import MONDAY, WEEK, export, ok, record, tokyo  # noqa: F401 (tokyo: autouse)

PWN = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=\"document.title='pwned by img'\">"
NOTE = (f"Hostile note {PWN}\n\nAlso {IMG} and ![tracker](https://example.com/pixel.png)"
        " and [a link](javascript:alert(1))\n\n```\n<script>alert('in code')</script>\n```\n\n"
        "日本語のノート: MLPのレイヤ数を3に増やしてみる")


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


@pytest.fixture
def page(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> str:
    record(repo, MONDAY + dt.timedelta(hours=9), note=NOTE,
           command=(sys.executable, "-c", "pass", "--opt", "<b>bold</b>"),
           metrics={"acc": 82.476, "loss": 0.25})
    return ok(repo, monkeypatch, capsys, *WEEK, "--format", "html")


def test_the_page_is_self_contained_and_runs_nothing(page: str) -> None:
    parsed = parse(page)
    tags = [tag for tag, _ in parsed.tags]
    assert page.startswith("<!DOCTYPE html>") and "script" not in tags and "img" not in tags
    assert tags.count("style") == 1 and "link" not in tags and "iframe" not in tags
    csp = [attrs["content"] for tag, attrs in parsed.tags
           if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs, (tag, attrs)
        if tag == "a":
            assert not str(attrs.get("href", "")).startswith("javascript:")
    assert "url(" not in page and "@import" not in page
    text = "".join(parsed.text)
    assert PWN in text and IMG in text and "<script>alert('in code')</script>" in text
    assert "<b>bold</b>" in text
    assert "[image: tracker]" in text
    assert "82.476" in text and "MLPのレイヤ数を3に増やしてみる" in text
    assert parsed.title == "Experiments 2025-03-10 – 2025-03-16"


def test_raw_html_in_a_template_is_text_in_the_page(repo: Path, page: str,
                                                   monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    (repo / "t.md").write_text('# {{since}}\n\n<div onclick="steal()">raw</div>\n\n<b>inline</b> too\n')
    parsed = parse(ok(repo, monkeypatch, capsys, *WEEK, "-f", "html", "--template", "t.md"))
    assert [tag for tag, _ in parsed.tags if tag in ("div", "b")] == []
    text = "".join(parsed.text)
    assert '<div onclick="steal()">raw</div>' in text and "<b>inline</b> too" in text


def test_the_page_goes_to_a_file(repo: Path, page: str, monkeypatch: pytest.MonkeyPatch,
                                 capsys: Any) -> None:
    code, out, _ = export(repo, monkeypatch, capsys, *WEEK, "-f", "html", "-o", "week.html")
    assert code == 0 and out == ""
    assert (repo / "week.html").read_text(encoding="utf-8") == page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_chromium() is None, reason="Chromium not found (.ci/run installs Debian's "
                                                "`chromium` with apt-get where it can)")
def test_a_real_browser_shows_the_notes_and_runs_no_script(repo: Path, page: str,
                                                            tmp_path: Path) -> None:
    target = tmp_path / "week.html"
    target.write_text(page, encoding="utf-8")
    done = subprocess.run(
        [str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-extensions", "--no-default-browser-check",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", target.as_uri()],
        capture_output=True, timeout=120)
    dom = done.stdout.decode("utf-8")
    assert done.returncode == 0 and "</html>" in dom, done.stderr.decode(errors="replace")[-2000:]
    parsed = parse(dom)
    # No script ran: the title is the page's own, and the DOM holds no script or image element.
    assert parsed.title == "Experiments 2025-03-10 – 2025-03-16"
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags and "img" not in tags
    # The note, its hostile HTML as text, the command and the metrics are on the page.
    text = "".join(parsed.text)
    for shown in (PWN, IMG, "Hostile note", "日本語のノート", "acc=82.476", "82.476",
                  "--opt '<b>bold</b>'", "Experiments 2025-03-10 – 2025-03-16"):
        assert shown in text, shown

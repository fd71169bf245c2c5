"""`journal export --format html`: one self-contained page where a note's `<script>` is text.

Checked twice: by parsing the page (no script, no external reference, an inline style and a
Content-Security-Policy), and in a real browser, headless Chromium, whose DOM after loading shows
the notes and metrics and proves that nothing ran. `.ci/run` installs Debian's chromium.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import re
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


def _browse(page: str, tmp_path: Path, *args: str) -> str:
    """Headless Chromium on `page` (a file): what it prints (`--dump-dom`: the DOM after load)."""
    target = tmp_path / "page.html"
    target.write_text(page, encoding="utf-8")
    done = subprocess.run(
        [str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-extensions", "--no-default-browser-check",
         "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *args, target.as_uri()],
        capture_output=True, timeout=120, cwd=tmp_path)
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert "--dump-dom" not in args or "</html>" in out
    return out


browser = pytest.mark.skipif(_chromium() is None, reason="Chromium not found (.ci/run installs "
                                                         "Debian's `chromium` with apt-get)")


@browser
def test_a_real_browser_shows_the_notes_and_runs_no_script(repo: Path, page: str,
                                                            tmp_path: Path) -> None:
    dom = _browse(page, tmp_path, "--dump-dom")
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


def _png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """(width, height, rows of RGB pixels) of an 8-bit, non-interlaced RGB or RGBA PNG: what
    Chromium's screenshots are."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    size = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * size
    rows: list[list[tuple[int, int, int]]] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up),
                           (abs(guess - corner), 2, corner))[2]
                line[i] = (line[i] + near) & 255
        rows.append([tuple(line[x * size:x * size + 3]) for x in range(width)])  # type: ignore[misc]
        previous = line
    return width, height, rows


def _cjk_font() -> bool:
    found = subprocess.run(["fc-list", ":lang=ja"], capture_output=True, text=True) \
        if shutil.which("fc-list") else None
    return bool(found and found.stdout.strip())


CURVE = (0, 114, 178)      # render/svg.py's first colour: a curve's pixels (anti-aliased: near it)


@browser
@pytest.mark.skipif(not _cjk_font(), reason="no Japanese font (.ci/run installs "
                                            "fonts-ipafont-gothic with apt-get)")
def test_the_curves_draw_in_a_real_browser_cjk_names_included(repo: Path, tmp_path: Path) -> None:
    from conftest import journal

    (repo / "fit.py").write_text(
        "import journal\nwith journal.start() as run:\n    for step in range(200):\n"
        "        run.log(step=step, **{'精度': step % 50, '\u0378\u0378': step % 50})\n")
    assert journal("new", "-n", "曲線", "--", sys.executable, "fit.py", cwd=repo).returncode == 0
    page = journal("export", "-f", "html", cwd=repo).stdout.decode()
    assert page.count("<svg ") == 2
    _browse(page, tmp_path, "--window-size=900,800", "--screenshot=shot.png")
    width, height, rows = _png((tmp_path / "shot.png").read_bytes())
    drawn = [(x, y) for y in range(height) for x in range(width)
             if sum(abs(a - b) for a, b in zip(rows[y][x], CURVE)) < 60]
    # two charts side by side: the curve's pixels fall in two columns of the page
    middle = (min(x for x, _ in drawn) + max(x for x, _ in drawn)) // 2
    charts = [[(x, y) for x, y in drawn if (x < middle) == first] for first in (True, False)]
    assert all(len(points) > 300 for points in charts), [len(points) for points in charts]
    titles = []
    for points in charts:
        left, top = min(x for x, _ in points), min(y for _, y in points)
        # the saw-tooth reaches the top of the plot five times, each at its own column
        assert len({x for x, y in points if y <= top + 1}) >= 5
        crop = [tuple(rows[y][left - 6:left + 40]) for y in range(top - 30, top - 8)]
        assert any(pixel[0] < 200 for line in crop for pixel in line)     # the title is drawn
        titles.append(crop)
    # With a Japanese font 精度 has glyphs of its own; without one it would be the same
    # "no glyph" boxes as the two unassigned characters of the other chart's title.
    assert titles[0] != titles[1]


NUMBERS_SCRIPT = """<script>
const broken = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
let count = 0;
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  for (const match of node.data.matchAll(/[0-9]+(?:[.,:][0-9]+)*/g)) {
    const range = document.createRange();
    range.setStart(node, match.index);
    range.setEnd(node, match.index + match[0].length);
    const tops = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
    count += 1;
    if (tops.size > 1) broken.push(match[0]);
  }
}
document.title = (broken.length ? "broken " + broken.join(" ") : "whole") + " of " + count;
</script>"""


@browser
@pytest.mark.parametrize("width", [320, 480])
def test_numbers_never_break_mid_digit_in_a_narrow_pane(repo: Path, tmp_path: Path, width: int,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: Any) -> None:
    for hour, value in enumerate((82.47612345678901, 1234567.891011, 0.000123456789)):
        record(repo, MONDAY + dt.timedelta(hours=9 + hour), note=f"run {hour} 日本語のノート",
               command=(sys.executable, "-c", "pass"),
               metrics={"validation_accuracy_top1": value, "loss": value / 3, "epoch": 12345678})
    page = ok(repo, monkeypatch, capsys, *WEEK, "--format", "html")
    # the page as written, with a script that measures where each number's digits fall (the
    # page's own policy forbids scripts: it is taken out of this copy)
    measured = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    measured = measured.replace("</body>", NUMBERS_SCRIPT + "</body>")
    dom = _browse(measured, tmp_path, f"--window-size={width},2000", "--dump-dom")
    title = parse(dom).title
    assert title.startswith("whole of ") and int(title.split()[-1]) > 40, title

"""The Markdown-safety primitives: whatever a record holds, the Markdown says exactly that.

Each check parses the output with markdown-it-py (as rich and notes apps would) and looks at the
structure, for hand-picked hostile strings and for a few thousand random ones.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from journal.render.markdown import (
    code_block,
    code_span,
    inline_text,
    markdown_parser,
    note_markdown,
    split_title,
    table_cell,
)
from journal.text import printable, printable_block

HOSTILE = [
    "# heading", "## x ##", "- item", "+ item", "* item", "1. first", "2) second", "---", "***",
    "___", "===", "> quote", "    indented", "```python", "~~~", "<div>", "<script>alert(1)</script>",
    "<!-- comment -->", "<http://x.y>", "[link](http://evil)", "![img](x.png)", "[ref]: http://x",
    "*em* _em_ **strong** __strong__", "~~strike~~", "a|b|c", "`code`", "``a`b``", "\\", "\\*",
    "&amp; &#65; &copy", "#tag", "==highlight==", "%%comment%%", "$x^2$", "[[wiki]]", "{{id}}",
    "batch_size", "snake_case_name", "_leading", "trailing_", "-0.5", "1.5", "100%", "a  ", "  b",
    "line\nbreak", "tab\there", "\x1b]52;c;aGk=\x07", "\x1b[2J\x1b[H", "\x9b31m", "\u202eevil",
    "zero\u200bwidth", "日本語のメモ", "x" * 3000, "|", "-", "+", "1.", "a\\", "=", "<", "`",
]


def _random_strings(count: int, seed: int = 7) -> list[str]:
    alphabet = "ab1 -+*_=#<>`|\\[]()!&;%$~:{}.\n\t\x1b\u202e日"
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(count)]


CASES = HOSTILE + _random_strings(1000)
PARSER = markdown_parser()


def _inline_children(markdown: str) -> tuple[list[str], list]:
    tokens = PARSER.parse(markdown)
    return [token.type for token in tokens], [token for token in tokens if token.type == "inline"]


def _text(inline: object) -> str:
    return "".join("\n" if child.type == "softbreak" else child.content
                   for child in inline.children)  # type: ignore[attr-defined]


@pytest.mark.parametrize("context", ["{}", "para\n{}", "## {}", "- {}", "> {}"])
def test_inline_text_is_one_plain_piece_of_text_in_every_context(context: str) -> None:
    for text in CASES:
        expected = printable(text).strip(" ")
        source = context.format(inline_text(text))
        types, inlines = _inline_children(source)
        assert "html_block" not in types and "fence" not in types and "code_block" not in types
        assert "hr" not in types and "table_open" not in types, (text, source)
        assert types.count("bullet_list_open") == context.startswith("- ")
        assert types.count("ordered_list_open") == 0, (text, source)
        assert types.count("heading_open") == context.startswith("## "), (text, source)
        assert all(child.type in ("text", "softbreak") for inline in inlines
                   for child in inline.children), (text, source)
        if context == "para\n{}":
            assert _text(inlines[0]) == ("para\n" + expected if expected else "para"), (text, source)
        elif expected:
            assert _text(inlines[0]) == expected, (text, source)


def test_inline_text_leaves_no_notes_app_markup() -> None:
    for text in CASES:
        escaped = inline_text(text)
        for markup in ("==", "%%", "[[", "{{"):
            assert markup not in escaped, (text, escaped)
        for char in "#$<&|`*[":
            assert escaped.count(char) == escaped.count("\\" + char), (text, escaped)


def test_inline_text_keeps_plain_text_readable() -> None:
    assert inline_text("batch_size=32 lr 3e-4 train.py 82.476%") == "batch_size=32 lr 3e-4 train.py 82.476%"
    assert inline_text("-0.5") == "\\-0.5" and table_cell("-0.5") == "-0.5"
    assert inline_text("1. first") == "1\\. first" and inline_text("1.5") == "1.5"


def test_table_cells_stay_cells() -> None:
    for text in CASES:
        row = f"| {table_cell('name')} | {table_cell(text) or ' '} |"
        tokens = PARSER.parse(f"| a | b |\n|---|---|\n{row}\n")
        cells = [token for token in tokens if token.type == "inline"][2:]
        assert len(cells) == 2, (text, row)
        assert _text(cells[1]) == printable(text).strip(" "), (text, row)


@pytest.mark.parametrize("context", ["x {} y", "| a |\n|---|\n| {} |\n"])
def test_code_span_shows_the_text_verbatim(context: str) -> None:
    cases = CASES + ["`", "``", "` a `", "  ", " a ", "a`` `b", "|a|", "a\\|b"]
    for text in cases:
        source = context.format(code_span(text))
        inline = [token for token in PARSER.parse(source) if token.type == "inline"][-1]
        shown = "".join(child.content for child in inline.children)
        expected = printable(text)
        if context.startswith("x"):
            shown = shown[2:-2]
        assert shown == expected, (text, source)
        code = "".join(child.content for child in inline.children if child.type == "code_inline")
        assert code == expected.replace("|", ""), (text, source)


def test_code_span_of_nothing_is_nothing() -> None:
    assert code_span("") == ""


def test_code_block_cannot_be_closed_from_inside() -> None:
    for text in CASES + ["```\nclosed?\n```", "````", "a\n```` \nb", "~~~\nx\n~~~"]:
        block = code_block(text, "py`thon x")
        tokens = PARSER.parse(block + "after\n")
        assert [token.type for token in tokens][:1] == ["fence"], (text, block)
        assert tokens[0].info == "pythonx"
        body = printable_block(text)
        assert tokens[0].content == (body if body.endswith("\n") or not body else body + "\n")
        assert tokens[-2].content == "after"      # the paragraph after the block is not swallowed


def _headings(markdown: str) -> list[tuple[int, str]]:
    tokens = PARSER.parse(markdown)
    return [(int(token.tag[1]), tokens[index + 1].content) for index, token in enumerate(tokens)
            if token.type == "heading_open"]


def _html(markdown: str) -> list[str]:
    found = []
    for token in PARSER.parse(markdown):
        if token.type.startswith("html"):
            found.append(token.content)
        found += [child.content for child in token.children or () if child.type.startswith("html")]
    return found


NOTE = """# Results

The loss plateaued. <script>alert(1)</script> and `<b>` in code.

```python
# not a heading
<div>not html either</div>
```

Setext title
============

> ## quoted heading <i>x</i>

- a list item
  ### heading in a list

<div>
<span onclick="x()">block html</span>
</div>

| col <b> | `<c>` |
|---|---|
| <u>u</u> | x |

###### deepest
"""


def test_note_headings_are_demoted_by_tokens() -> None:
    out = note_markdown(NOTE, 3)
    assert _headings(out) == [(3, "Results"), (3, "Setext title"), (4, "quoted heading \\<i>x\\</i>"),
                              (5, "heading in a list"), (6, "deepest")]
    fences = [token for token in PARSER.parse(out) if token.type == "fence"]
    assert fences[0].content == "# not a heading\n<div>not html either</div>\n"


def test_note_html_is_shown_as_text() -> None:
    out = note_markdown(NOTE, 2)
    assert _html(out) == []
    rendered = PARSER.render(out)
    assert "<script>" not in rendered and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "<code>&lt;b&gt;</code>" in rendered            # code spans are left as written
    assert "&lt;span onclick=" in rendered and "<span" not in rendered
    assert "<div>" not in rendered and "<u>" not in rendered


def test_note_markdown_matches_a_parser_with_html_off() -> None:
    """What the escaping aims at: the note reads as markdown-it reads it with raw HTML disabled."""
    for note in [NOTE, "a <b>bold</b> word", "<div>\n*x*\n</div>", "<!-- c -->\ntext", "x <a href='y'>z</a>"]:
        mine = PARSER.render(note_markdown(note, 1))
        reference = markdown_parser(html=False).render(printable_block(note).strip("\n") + "\n")
        assert mine == reference, note


def test_random_hostile_notes_never_leave_html_or_high_headings() -> None:
    fragments = ["# h", "<div>", "</div>", "<b>", "`<i>`", "```", "~~~", "    <x>", "> <q>", "- <li>",
                 "text", "", "<!--", "-->", "<?php", "Title\n===", "| a | <t> |\n|---|---|", "\\<",
                 "<script>", "</script>", "<pre>", "`` ` ``", "\x1b[31m", "&lt;"]
    rng = random.Random(3)
    for _ in range(400):
        note = "\n".join(rng.choice(fragments) for _ in range(rng.randint(1, 12)))
        out = note_markdown(note, 4)
        assert _html(out) == [], (note, out)
        assert all(level >= 4 for level, _ in _headings(out)), (note, out)
        # Whatever follows the note is not swallowed by it (an open fence, an HTML block).
        tokens = PARSER.parse(out + "\nAFTER\n")
        assert tokens[-3].type == "paragraph_open" and tokens[-2].content == "AFTER", (note, out)
        assert "\x1b" not in out


def test_note_control_characters_are_shown_escaped() -> None:
    out = note_markdown("hi \x1b]52;c;aGk=\x07 \u202eevil \u200b", 3)
    assert out == "hi \\x1b]52;c;aGk=\\x07 \\u202eevil \\u200b\n"


def test_empty_note() -> None:
    assert note_markdown("", 3) == "" and note_markdown("\n  \n", 3) == ""


@pytest.mark.parametrize(("note", "title", "rest"), [
    ("Adam instead of SGD\nbecause the loss plateaued", "Adam instead of SGD", "because the loss plateaued"),
    ("# Results\n\nacc 82.476", "Results", "\nacc 82.476"),
    ("Setext\n===\nbody", "Setext", "body"),
    ("Title\n    continued, not code", "Title", "continued, not code"),
    ("\n\n  first line  \n", "first line", ""),
    ("- a list first", None, "- a list first"),
    ("```\ncode first\n```", None, "```\ncode first\n```"),
    ("", None, ""),
])
def test_split_title(note: str, title: str | None, rest: str) -> None:
    assert split_title(note) == (title, rest)


def test_importing_the_module_does_not_load_markdown_it() -> None:
    code = "import sys, journal.render.markdown, journal.render.run; assert 'markdown_it' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

"""Markdown that says exactly what the record says: the escaping primitives of every renderer.

Record content lands in Markdown in a few ways, each with its own rules:

- `inline_text`: plain text (a branch, a file name, a note's first line) in a paragraph, list
  item or heading. Nothing in it can open markup: no emphasis, link, code span, HTML, heading,
  list, thematic break, setext underline or front matter, nor the notes-app extras (Obsidian's
  `#tag`, `==highlight==`, `%%comment%%`, `$math$`, `[[link]]`). It renders as `printable(text)`.
- `table_cell`: the same for a cell of a GFM table, where a value may start with `-`.
- `code_span`: text shown verbatim inline, with enough backticks; also safe in a table cell.
- `code_block`: text shown verbatim as a fenced block, with a fence longer than any backtick run.
- `note_markdown`: a note, which IS Markdown and renders as such, with its headings demoted
  below the run's own heading and its raw HTML shown as text, found by parsing (markdown-it-py),
  not by regex: a `#` line inside a fenced block is not a heading.

Every function also makes its text terminal-safe first (journal.text): escape sequences,
C0/C1 controls, bidi overrides and zero-width characters come out as visible `\\x1b`, `\\u202e`.
Inline results are one line; block results end with a newline and must stand on their own lines
with a blank line before and after them.

markdown-it-py (~40 ms) is imported only by the functions that parse (`note_markdown`,
`split_title`, `markdown_parser`), so a command that prints no Markdown never loads it.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from journal.text import printable, printable_block

if TYPE_CHECKING:     # markdown-it-py's types, for this package's other users of its objects
    from markdown_it import MarkdownIt as MarkdownIt
    from markdown_it.renderer import RendererHTML as RendererHTML
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token as Token
    from markdown_it.utils import OptionsDict as OptionsDict

__all__ = ["inline_text", "table_cell", "code_span", "table_code", "code_block", "note_markdown",
           "split_title", "title_line", "markdown_parser"]

# Punctuation that opens inline markup wherever it stands. `_` only at a word boundary (intraword
# `_` cannot open emphasis, so `batch_size` stays readable); `{` so that no `{{placeholder}}` of an
# export template can be spelled by record content.
_ALWAYS = frozenset("\\`*[]<>&|~$#{")
_ORDERED_MARKER = re.compile(r"\d{1,9}[.)](?= |$)")
_FENCE_INFO = re.compile(r"[^A-Za-z0-9_+.#-]")
_BACKTICKS = re.compile(r"`+")


_NOTHING_TO_ESCAPE = re.compile(r"[A-Za-z0-9 .,:;/()'\"!?@^]*")   # letters, digits, plain marks


def _escape(text: str, *, line_start: bool) -> str:
    text = printable(str(text)).strip(" ")
    # Most cells and words (numbers, names) hold nothing that opens markup: as they are, but at a
    # line's start, where `1.` opens a list.
    if _NOTHING_TO_ESCAPE.fullmatch(text) and not (line_start and text[:1].isdigit()):
        return text
    out: list[str] = []
    last = len(text) - 1
    for i, char in enumerate(text):
        before = text[i - 1] if i else ""
        after = text[i + 1] if i < last else ""
        if char in _ALWAYS:
            char = "\\" + char
        elif char == "_":
            if not (before.isalnum() and after.isalnum()):
                char = "\\_"
        elif char == "=":
            # Obsidian's ==highlight==; at the start of a line, a setext underline.
            if "=" in (before, after) or (line_start and i == 0):
                char = "\\="
        elif char == "%" and "%" in (before, after):
            char = "\\%"        # Obsidian's %%comment%%
        out.append(char)
    if line_start and text:
        first = text[0]
        if first == "-" or (first == "+" and text[1:2] in ("", " ")):
            out[0] = "\\" + first        # a list item, a thematic break or a setext underline
        elif match := _ORDERED_MARKER.match(text):
            end = match.end() - 1        # `1.` or `1)`: escape the punctuation
            out[end] = "\\" + text[end]
    return "".join(out)


def inline_text(text: object) -> str:
    """Plain text as an inline Markdown fragment, one line, that renders as `printable(text)`
    (leading and trailing spaces dropped) in a paragraph, list item or heading, even at the
    start of a line."""
    return _escape(str(text), line_start=True)


def table_cell(text: object) -> str:
    """Plain text for a GFM table cell: as `inline_text`, without the escapes only the start of a
    line needs (`-0.5` stays as it is). `inline_text` is safe in a cell too."""
    return _escape(str(text), line_start=False)


def code_span(text: object) -> str:
    """`text` as inline code, shown verbatim, one line, safe in a paragraph, list item, heading or
    GFM table cell. Each span is delimited by a backtick run of a length that appears nowhere in
    it, padded with one space where CommonMark strips one. A table splits its row at `|` before it
    looks for code spans, so a `|` is written between two spans as an escaped `\\|` (it reads as
    `|` everywhere, outside the code font). Control characters (newlines too) are shown escaped.
    Empty text gives an empty string (CommonMark has no empty code span)."""
    return "\\|".join(_one_span(piece) for piece in printable(str(text)).split("|"))


def table_code(text: object) -> str:
    """The same as `code_span`, which is safe in a table cell already (kept for callers that
    name the context)."""
    return code_span(text)


def _one_span(text: str) -> str:
    if not text:
        return ""
    lengths = {len(run) for run in _BACKTICKS.findall(text)}
    size = 1
    while size in lengths:
        size += 1
    fence = "`" * size
    if text[0] == "`" or text[-1] == "`" or (text[0] == " " == text[-1] and text.strip(" ")):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def code_block(text: object, info: str = "") -> str:
    """`text` as a fenced code block, shown verbatim: the fence is longer than any backtick run in
    the text, so no line inside can close it. `info` is the language (`sh`, `diff`, `text`);
    anything but a plain word is dropped from it. Ends with a newline."""
    body = printable_block(str(text))
    if body and not body.endswith("\n"):
        body += "\n"
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{_FENCE_INFO.sub('', printable(info))}\n{body}{fence}\n"


# -- notes: Markdown, made safe by tokens --------------------------------------------------------

_MAX_PASSES = 64


def lines_of(token: Token) -> tuple[int, int]:
    """The source lines a block token spans: (first, end), end excluded. Block tokens carry them;
    a token without them is a parser change journal does not know, and fails loudly."""
    if token.map is None:
        raise ValueError(f"markdown-it gave a {token.type} token no line range")
    first, end = token.map
    return first, end


def markdown_parser(*, html: bool = True) -> MarkdownIt:
    """The parser every part of journal reads Markdown with: CommonMark plus GFM tables and
    strikethrough, as rich and most notes apps read it. `html=True` (CommonMark's default) finds
    raw HTML as HTML; pass `html=False` to show it as text, e.g. for an HTML export."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": html}).enable(["table", "strikethrough"])


@functools.cache
def _plain_parser() -> MarkdownIt:
    return markdown_parser()


@functools.cache
def _recording_parser() -> MarkdownIt:
    """A parser that also notes where in each inline token's text raw HTML starts: inline tokens
    carry no positions of their own, and the `<` to escape must be found in the source."""
    from markdown_it.rules_inline import html_inline

    parser = markdown_parser(html=True)

    def html_inline_at(state: StateInline, silent: bool) -> bool:
        start = state.pos
        found = html_inline(state, silent)
        if found and not silent:
            # Keyed by the inline text: the children list is replaced after parsing (text_join),
            # and the same text always parses the same way.
            state.env.setdefault("html_at", set()).add((state.src, start))
        return bool(found)

    parser.inline.ruler.at("html_inline", html_inline_at)
    return parser


def note_markdown(note: object, demote_to_level: int = 3) -> str:
    """A note (Markdown) made safe to embed below a heading: its headings are shifted so that `#`
    becomes level `demote_to_level` (`##` the next, at most 6; setext headings become ATX), raw
    HTML is escaped so it shows as text, an unclosed code fence is closed, and control characters
    are shown escaped. The rest of the Markdown is kept as written. Empty note: empty string;
    otherwise ends with a newline."""
    lines = _trimmed_lines(printable_block(str(note or "")))
    if not lines:
        return ""
    parser = _recording_parser()
    for _ in range(_MAX_PASSES):
        env: dict[str, Any] = {}
        tokens = parser.parse("\n".join(lines), env)
        escapes = _html_positions(tokens, lines, env.get("html_at", set()))
        if escapes is None:
            break                   # a position could not be found: show the note as text
        if not escapes:
            return "\n".join(_restructure(tokens, lines, demote_to_level)) + "\n"
        for line_no, column in sorted(escapes, reverse=True):
            line = lines[line_no]
            lines[line_no] = line[:column] + "\\" + line[column:]
    return code_block("\n".join(lines), "text")


def title_line(note: object, fallback: str = "") -> str:
    """The note's title as written (`split_title`), else its first line that is not blank (a
    note that opens with a list or code), else `fallback`: what names a run in one line."""
    text = str(note or "")
    return split_title(text)[0] or (text.strip().splitlines() or [fallback])[0]


def split_title(note: object) -> tuple[str | None, str]:
    """A note's title and the rest, both as written (not escaped): the first line of an opening
    paragraph, or the text of an opening heading. (None, note) when the note is empty or opens
    with anything else (a list, code, a quote, a table), which makes no title."""
    lines = _trimmed_lines(str(note or ""))
    # The title is in the first block, which a blank line ends (a block that runs on past one,
    # a fence or an HTML block, makes no title anyway): its lines are all that need parsing.
    # Only link reference definitions leave nothing there; then the whole note is parsed.
    end = next((index for index, line in enumerate(lines) if not line.strip()), len(lines))
    if end == 1 and _NOTHING_TO_ESCAPE.fullmatch(lines[0]) and lines[0][:1].isalpha():
        # A first block of one line of plain words is a paragraph: no parse needed.
        return lines[0].strip(), "\n".join(lines[1:])
    tokens = _plain_parser().parse("\n".join(lines[:end])) if lines else []
    if not tokens and end < len(lines):
        tokens = _plain_parser().parse("\n".join(lines))
    first = tokens[0] if tokens else None
    if first is None or not first.map or first.type not in ("paragraph_open", "heading_open"):
        return None, str(note or "")
    if first.type == "heading_open":
        return tokens[1].content.split("\n")[0], "\n".join(lines[first.map[1]:])
    rest = lines[first.map[0] + 1:]
    if rest and first.map[1] > first.map[0] + 1:
        rest[0] = rest[0].lstrip()     # it continued the paragraph; alone, indented, it is code
    return lines[first.map[0]].strip(), "\n".join(rest)


def _trimmed_lines(text: str) -> list[str]:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _html_positions(tokens: list[Token], lines: list[str], html_at: set[tuple[str, int]]
                    ) -> set[tuple[int, int]] | None:
    """(line, column) of the `<` opening each raw HTML block or inline HTML in this parse."""
    found: set[tuple[int, int]] = set()
    offsets: dict[str, list[int]] = {}
    for source, offset in html_at:
        offsets.setdefault(source, []).append(offset)
    cursors: dict[int, int] = {}        # where the previous cell of a table row ended
    for token in tokens:
        if token.type == "html_block" and token.map:
            line_no = token.map[0]
            column = lines[line_no].find("<")
            if column < 0:
                return None
            found.add((line_no, column))
        elif token.type == "inline" and token.map:
            content_lines = token.content.split("\n")
            starts: list[int] = []
            for index, content_line in enumerate(content_lines):
                line_no = token.map[0] + index
                if line_no >= len(lines):
                    return None
                start = lines[line_no].find(content_line, cursors.get(line_no, 0))
                if start < 0:
                    return None
                cursors[line_no] = start + len(content_line)
                starts.append(start)
            for offset in offsets.get(token.content, ()):
                index = token.content.count("\n", 0, offset)
                column = starts[index] + offset - (token.content.rfind("\n", 0, offset) + 1)
                line_no = token.map[0] + index
                if lines[line_no][column:column + 1] != "<":
                    return None
                found.add((line_no, column))
    return found


def _restructure(tokens: list[Token], lines: list[str], demote_to_level: int) -> list[str]:
    """Demote the headings and close a code fence left open at the end of the note."""
    lines = list(lines)
    shift = max(0, demote_to_level - 1)
    headings = [(index, token) for index, token in enumerate(tokens)
                if token.type == "heading_open" and token.map]
    for index, token in reversed(headings):          # setext headings change the line count
        level = min(6, int(token.tag[1]) + shift)
        first, end = lines_of(token)
        if token.markup.startswith("#"):
            line = lines[first]
            start = line.find("#")
            stop = start
            while stop < len(line) and line[stop] == "#":
                stop += 1
            lines[first] = line[:start] + "#" * level + line[stop:]
        else:
            content = tokens[index + 1].content
            prefix_end = lines[first].find(content.split("\n")[0])
            prefix = lines[first][:max(prefix_end, 0)]
            text = " ".join(part.strip() for part in content.split("\n"))
            if text.endswith("#"):
                text = text[:-1] + "\\#"    # else a closing sequence of the ATX heading
            lines[first:end] = [f"{prefix}{'#' * level} {text}".rstrip()]
    return _close_fence(lines)


def _close_fence(lines: list[str]) -> list[str]:
    """A fence never closed runs to the end of the document: in a run's note it would swallow
    everything after the note. Only a fence at the top level can do that (a container's end
    closes the fences inside it)."""
    tokens = _plain_parser().parse("\n".join(lines))
    for token in tokens:
        if token.type == "fence" and token.level == 0 and token.map and token.map[1] == len(lines):
            start, end = token.map
            fence = re.escape(token.markup[0]) + "{%d,}" % len(token.markup)
            closer = re.compile(r" {0,3}" + fence + r"[ \t]*")
            if end - start < 2 or not closer.fullmatch(lines[end - 1]):
                return [*lines, token.markup]
    return lines

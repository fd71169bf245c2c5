"""Export templates: plain Markdown with `{{field}}` placeholders and sections that repeat.

A template is a note a notes-app user can read and edit:

    ---                                      optional YAML front matter, as Obsidian reads it
    title: "Experiments {{since}} – {{until}}"
    ---
    # Experiments {{since}} – {{until}}
    {{summary}}
    <!-- each day -->
    ### {{day}}
    <!-- each run -->
    #### {{note_title}}
    - **Command:** {{command}}
    <!-- end run -->
    <!-- end day -->

Sections are marked by HTML comments that stand as blocks of their own at the top level (notes
apps hide them): `each day` … `end day`, `each machine` … `end machine` (the runs grouped by
host), `each run` … `end run` (inside a day or a machine: its runs, elsewhere: all runs), and
`if runs`, `if no runs`, `if commits`, `if no commits` … `end if`.
The lines between the markers repeat as they are. Any other top-level HTML comment is a note to
the template's reader and is left out of the export.

The template is parsed with markdown-it-py, and each placeholder is filled for the place its
token lands in, so a value is escaped for where it goes: Markdown text, a table cell, a code
span or a fenced code block (the fence grows to fit), a paragraph of its own (the only place a
block value such as `{{note}}` may go), or the front matter. Nothing is evaluated: a template
never runs code. `\\{{` writes a literal `{{`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from journal.errors import UsageError
from journal.render.markdown import code_block, code_span, lines_of, markdown_parser

if TYPE_CHECKING:
    from journal.render.markdown import MarkdownIt, Token

_PLACEHOLDER = re.compile(r"(?<!\\)\{\{(.*?)\}\}")
_NAME = re.compile(r"[a-z][a-z0-9_]*|(?:metric|param):[^{}:]+(?::\d{1,2})?")
# `{{metric:acc}}`, `{{param:optim.lr}}`, `{{metric:Hoge1 Acc:2}}` (2 decimals): one value of a run
VALUE_FIELDS = ("metric:", "param:")
# Each placeholder becomes a private-use sentinel before parsing, so the token it lands in says
# where it is; markdown-it treats these characters as plain text.
_SENTINEL = re.compile("\ue000(\\d+)\ue001")
# A comment of up to three words opening with each/end/if is meant as a marker; longer ones are
# notes to the reader.
_MARKER_LIKE = re.compile(r"<!--\s*((?:each|end|if)(?:\s+[\w-]+){0,2})\s*-->", re.I)
_COMMENT_BLOCK = re.compile(r"\s*(?:<!--.*?-->\s*)+", re.S)
_BACKTICKS = re.compile(r"`+")

ROOT, DAY, MACHINE, RUN, NOTE, IF = "whole note", "day", "machine", "run", "note", "if"
GROUPS = (DAY, MACHINE)        # the runs grouped by the day they started, or by their host
ENTRIES = (RUN, NOTE)          # runs (a command ran) and note-only entries, listed apart
_MARKERS = ("each day", "end day", "each machine", "end machine", "each run", "end run",
            "each note", "end note", "end if")


@dataclass(frozen=True)
class Field:
    """What a placeholder may be: where it is known, and whether its value is a block."""

    scope: str                 # ROOT (anywhere), DAY / MACHINE (inside each), RUN (inside each run)
    block: bool = False        # several lines of Markdown: only in a paragraph of its own


class Value:
    """A placeholder's value: escaped Markdown (one line for inline fields, any for blocks), and
    the text it shows, for the places a template shows text verbatim (code spans, fenced blocks,
    front matter). Without `plain`, that text is read from the Markdown when first needed."""

    __slots__ = ("markdown", "_plain")

    def __init__(self, markdown: str, plain: str | None = None) -> None:
        self.markdown = markdown
        self._plain = plain

    @property
    def plain(self) -> str:
        if self._plain is None:
            self._plain = markdown_text(self.markdown)
        return self._plain

    def __repr__(self) -> str:
        return f"Value({self.markdown!r})"


def markdown_text(markdown: str) -> str:
    """What Markdown shows as text: `code` and escapes as their characters, markup dropped."""
    lines = []
    for token in _text_parser().parse(markdown):
        if token.type == "inline":
            lines.append("".join(" " if child.type in ("softbreak", "hardbreak") else child.content
                                 for child in token.children or []
                                 if child.type in ("text", "code_inline", "text_special",
                                                   "softbreak", "hardbreak")))
        elif token.type in ("fence", "code_block"):
            lines.append(token.content.rstrip("\n"))
    return "\n".join(lines)


@functools.cache
def _text_parser() -> MarkdownIt:
    return markdown_parser(html=False)


# A value, or for blocks a function of the heading level the block sits under (notes demote
# their headings below it).
Filler = Union[Value, Callable[[int], Value]]


@dataclass
class Day:
    fields: Mapping[str, Filler]
    runs: Sequence[Mapping[str, Filler]]
    notes: Sequence[Mapping[str, Filler]] = ()


@dataclass
class Data:
    fields: Mapping[str, Filler]
    days: Sequence[Day]
    conditions: Mapping[str, bool]
    machines: Sequence[Day] = ()       # the same runs, grouped by host

    @property
    def runs(self) -> list[Mapping[str, Filler]]:
        return [run for day in self.days for run in day.runs]

    @property
    def notes(self) -> list[Mapping[str, Filler]]:
        return [note for day in self.days for note in day.notes]


class TemplateError(UsageError):
    """A template that cannot be used: names the file and line."""


# -- the compiled template ------------------------------------------------------------------------

@dataclass
class _Inline:
    name: str
    table: bool = False

    def render(self, get: Callable[[str, int], Value]) -> str:
        text = get(self.name, 0).markdown.replace("\n", " ")
        # A pipe escaped once more is read by the table, then the Markdown escape stays: GFM.
        return text.replace("|", "\\|") if self.table else text


@dataclass
class _CodeSpan:
    content: str               # the span's content, with sentinels
    names: dict[int, str]
    table: bool = False

    def render(self, get: Callable[[str, int], Value]) -> str:
        text = _SENTINEL.sub(lambda m: get(self.names[int(m[1])], 0).plain, self.content)
        return code_span(text)        # safe in a table cell too: its `|` are escaped


@dataclass
class _Fence:
    info: str
    content: str               # the block's text, with sentinels
    names: dict[int, str]

    def render(self, get: Callable[[str, int], Value]) -> str:
        text = _SENTINEL.sub(lambda m: get(self.names[int(m[1])], 0).plain, self.content)
        return code_block(text, self.info)      # the fence grows past any backtick run in it


@dataclass
class _Block:
    name: str
    prefix: str                # what stood before the placeholder on its line (list, quote)
    level: int                 # the heading level the block sits under
    blank_before: bool

    def render(self, get: Callable[[str, int], Value]) -> str:
        value = get(self.name, self.level).markdown.strip("\n")
        if not value.strip():
            return ""
        # Continuation lines keep quote markers and turn list markers into indentation.
        cont = re.sub(r"[-*+]|\d{1,9}[.)]", lambda m: " " * len(m[0]), self.prefix)
        lines = value.split("\n")
        out = [self.prefix + lines[0]] + [cont + line if line.strip() else cont.rstrip()
                                          for line in lines[1:]]
        before = cont.rstrip() + "\n" if self.blank_before else ""
        return before + "\n".join(out) + "\n" + cont.rstrip() + "\n"


@dataclass
class _Yaml:
    name: str
    quoted: bool               # inside a "..." scalar

    def render(self, get: Callable[[str, int], Value]) -> str:
        text = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", get(self.name, 0).plain)
        if self.quoted:
            return text.replace("\\", "\\\\").replace('"', '\\"')
        if re.fullmatch(r"[\w][\w .:/+-]*", text) and ": " not in text:
            return text
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_Slot = Union[_Inline, _CodeSpan, _Fence, _Block, _Yaml]


@dataclass
class _Section:
    kind: str                  # ROOT, DAY, RUN or IF
    condition: str = ""        # for IF: "runs", "no runs", ...
    line: int = 0
    body: list[_Part] = field(default_factory=list)


_Part = Union[str, _Slot, _Section]          # text as written, a placeholder, a section


@dataclass
class Template:
    source: str                # where it came from, for messages
    front_matter: list[_Part]
    root: _Section
    fields_used: set[str]

    def render(self, data: Data) -> str:
        return "".join(self.render_parts(data))

    def run_block_level(self, default: int = 2) -> int:
        """The heading level the first block inside `each run` sits under: computing a run's
        fields once, for that level, serves the whole run."""
        stack = [(self.root, False)]
        while stack:
            section, in_run = stack.pop()
            for part in section.body:
                if isinstance(part, _Section):
                    stack.append((part, in_run or part.kind in ENTRIES))
                elif in_run and isinstance(part, _Block):
                    return max(part.level, 1)
        return default

    def render_parts(self, data: Data) -> tuple[str, str]:
        """The front matter (empty without one) and the Markdown body."""
        front = _fill(self.front_matter, data.fields) if self.front_matter else ""
        out: list[str] = []
        self._render(self.root.body, data, None, _Scope(data.fields), out)
        return front, "".join(out).strip("\n") + "\n"

    def _render(self, parts: list[_Part], data: Data, day: Day | None,
                scope: _Scope, out: list[str]) -> None:
        get = _getter(scope)
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif not isinstance(part, _Section):
                out.append(part.render(get))
            elif part.kind in GROUPS:
                for each in (data.days if part.kind == DAY else data.machines):
                    self._render(part.body, data, each, scope.inside(each.fields), out)
            elif part.kind == RUN:
                for run in (day.runs if day is not None else data.runs):
                    self._render(part.body, data, day, scope.inside(run), out)
            elif part.kind == NOTE:
                for note in (day.notes if day is not None else data.notes):
                    self._render(part.body, data, day, scope.inside(note), out)
            elif _condition_holds(part.condition, data.conditions):
                self._render(part.body, data, day, scope, out)


def _condition_holds(condition: str, conditions: Mapping[str, bool]) -> bool:
    negated = condition.startswith("no ")
    return bool(conditions.get(condition[3:] if negated else condition)) != negated


class _Scope(Mapping[str, Filler]):
    """The values a placeholder can name: the innermost section's first (a run's, then its
    day's, then the whole note's). Read-only: the run's values are computed as they are asked."""

    def __init__(self, *layers: Mapping[str, Filler]) -> None:
        self.layers = layers

    def inside(self, inner: Mapping[str, Filler]) -> _Scope:
        return _Scope(inner, *self.layers)

    def __getitem__(self, name: str) -> Filler:
        for layer in self.layers:
            try:
                return layer[name]
            except KeyError:
                continue
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for layer in self.layers for name in layer))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _getter(scope: Mapping[str, Filler]) -> Callable[[str, int], Value]:
    def get(name: str, level: int) -> Value:
        filler = scope[name]
        return filler(level) if callable(filler) else filler
    return get


def _fill(parts: list[_Part], scope: Mapping[str, Filler]) -> str:
    """Text and placeholders (the front matter holds no sections)."""
    get = _getter(scope)
    return "".join(part if isinstance(part, str) else part.render(get) for part in parts
                   if not isinstance(part, _Section))


# -- compiling ------------------------------------------------------------------------------------

def compile_template(text: str, source: str, schema: Mapping[str, Field],
                     conditions: Sequence[str]) -> Template:
    """Parse `text` once; `render` then fills it for any number of days and runs."""
    return _Compiler(text, source, schema, conditions).compile()


class _Compiler:
    def __init__(self, text: str, source: str, schema: Mapping[str, Field],
                 conditions: Sequence[str]) -> None:
        self.source = source
        self.schema = schema
        self.conditions = set(conditions)
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").splitlines(keepends=True)
        self.names: dict[int, str] = {}        # sentinel number -> field name
        self.where: dict[int, int] = {}        # sentinel number -> line (0-based)
        self.context: dict[int, str] = {}      # sentinel number -> how it is filled
        self.dropped: set[int] = set()         # lines left out: markers and template comments
        self.markers: dict[int, str] = {}      # line -> marker text
        self.line_slots: dict[int, tuple[int, _Slot]] = {}     # first line -> (end line, slot)
        self.span_slots: dict[int, list[tuple[int, int, _Slot]]] = {}   # line -> (start, end, slot)

    def fail(self, line: int, problem: str) -> TemplateError:
        return TemplateError(f"{self.source}:{line + 1}: {problem}")

    # -- placeholders become sentinels -------------------------------------------------------

    def _sentinels(self) -> list[str]:
        out = []
        for number, line in enumerate(self.lines):
            def swap(match: re.Match[str], number: int = number) -> str:
                name = match[1].strip()
                if not _NAME.fullmatch(name):
                    if name.startswith(VALUE_FIELDS):
                        raise self.fail(number, f"bad placeholder {match[0]!r}: write "
                                                "{{metric:NAME}} or {{param:NAME}}, with :N for "
                                                "N decimals (0 to 99): {{metric:acc:2}}")
                    raise self.fail(number, f"bad placeholder {match[0]!r}: write {{{{name}}}} "
                                            f"with a field name; {self.known()}")
                index = len(self.names)
                self.names[index] = name
                self.where[index] = number
                return f"\ue000{index}\ue001"
            out.append(_PLACEHOLDER.sub(swap, line))
        return out

    def known(self) -> str:
        groups: dict[str, list[str]] = {ROOT: [], DAY: [], MACHINE: [], RUN: []}
        for name, spec in self.schema.items():
            groups[spec.scope].append(name)
        return (f"known fields: {', '.join(groups[ROOT])}; in each day: {', '.join(groups[DAY])}"
                f"; in each machine: {', '.join(groups[MACHINE])}"
                f"; in each run: {', '.join(groups[RUN])}")

    # -- compile -------------------------------------------------------------------------------

    def compile(self) -> Template:
        lines = self._sentinels()
        front_end = self._front_matter_end(lines)
        body = ["\n"] * front_end + lines[front_end:]
        self._classify(markdown_parser(html=True).parse("".join(body)), body)
        for index, name in self.names.items():
            line = self.where[index]
            if index not in self.context and line >= front_end:
                raise self.fail(line, f"{{{{{name}}}}} is in a link address, an image address or "
                                      "raw HTML, where it cannot be filled safely; put it in text")
        front = self._front_matter_parts(lines[:front_end])
        root = self._sections(lines, front_end)
        used = {name for index, name in self.names.items() if index in self.context
                or self.where[index] < front_end}
        return Template(self.source, front, root, used)

    def _front_matter_end(self, lines: list[str]) -> int:
        if not lines or lines[0].rstrip() != "---":
            return 0
        for number in range(1, len(lines)):
            if lines[number].rstrip() in ("---", "..."):
                return number + 1
        raise self.fail(0, "the front matter opened by `---` here is never closed by `---`")

    def _front_matter_parts(self, lines: list[str]) -> list[_Part]:
        parts: list[_Part] = []
        for number, line in enumerate(lines):
            position = 0
            for match in _SENTINEL.finditer(line):
                name = self.names[int(match[1])]
                spec = self._spec(name, number)
                if spec.scope != ROOT or spec.block:
                    raise self.fail(number, f"{{{{{name}}}}} cannot go in the front matter: only "
                                            "one-line fields of the whole note can")
                before = line[position:match.start()]
                parts.append(before)
                quoted = (line[:match.start()].count('"') - line[:match.start()].count('\\"')) % 2
                parts.append(_Yaml(name, bool(quoted)))
                position = match.end()
            parts.append(line[position:])
        return parts

    def _spec(self, name: str, line: int) -> Field:
        if name.startswith(VALUE_FIELDS):
            return Field(RUN)
        spec = self.schema.get(name)
        if spec is None:
            raise self.fail(line, f"unknown placeholder {{{{{name}}}}}; {self.known()}")
        return spec

    def _classify(self, tokens: list[Token], body: list[str]) -> None:
        heading = 0
        cell = False
        paragraph_map: list[int] | None = None
        for token in tokens:
            kind = token.type
            if kind == "heading_open":
                heading = int(token.tag[1])
            elif kind in ("th_open", "td_open"):
                cell = True
            elif kind in ("th_close", "td_close"):
                cell = False
            elif kind == "paragraph_open":
                paragraph_map = token.map
            elif kind == "html_block":
                self._html_block(token)
            elif kind == "fence":
                self._fence(token)
            elif kind == "code_block" and _SENTINEL.search(token.content):
                raise self.fail(lines_of(token)[0], "a placeholder in an indented code block cannot be "
                                              "filled safely; use a fenced code block (```)")
            elif kind == "inline":
                standalone = paragraph_map if not cell and token.map == paragraph_map else None
                self._inline(token, body, cell, standalone, heading, token.level)
                paragraph_map = None

    def _html_block(self, token: Token) -> None:
        first, end = lines_of(token)
        content = token.content
        marker = _MARKER_LIKE.search(content)
        if marker:
            if token.level != 0:
                raise self.fail(first, "a section marker must be at the top level, not inside a "
                                       "list or quote")
            if content.strip() != marker[0] or first + 1 != end:
                raise self.fail(first, f"the section marker {marker[0]!r} must stand on a line "
                                       "of its own")
            self.markers[first] = " ".join(marker[1].lower().split())
            self.dropped.add(first)
        elif token.level == 0 and _COMMENT_BLOCK.fullmatch(content):
            self.dropped.update(range(first, end))
            for match in _SENTINEL.finditer(content):
                self.context[int(match[1])] = "dropped"
        elif _SENTINEL.search(content):
            raise self.fail(first, "a placeholder in raw HTML cannot be filled safely; put it "
                                   "in Markdown text")

    def _fence(self, token: Token) -> None:
        found = [int(m[1]) for m in _SENTINEL.finditer(token.content)]
        if _SENTINEL.search(token.info):
            raise self.fail(lines_of(token)[0], "a placeholder cannot go in a code block's info string")
        if not found:
            return
        if token.level != 0:
            raise self.fail(lines_of(token)[0], "a fenced code block with placeholders must be at the "
                                          "top level, not inside a list or quote")
        names = {index: self.names[index] for index in found}
        for index in found:
            self.context[index] = "code"
        slot = _Fence(token.info.strip(), token.content, names)
        self.line_slots[lines_of(token)[0]] = (lines_of(token)[1], slot)

    def _inline(self, token: Token, body: list[str], cell: bool, standalone: list[int] | None,
                heading: int, level: int) -> None:
        children = token.children or []
        if standalone is not None:
            only = _SENTINEL.fullmatch(token.content.strip())
            if only:
                index = int(only[1])
                if self._spec(self.names[index], self.where[index]).block:
                    self._block(index, standalone, body, heading)
                    return
        for child in children:
            if child.type == "text":
                for match in _SENTINEL.finditer(child.content):
                    index = int(match[1])
                    self._needs_inline(index)
                    self.context[index] = "text"
                    self._span(index, body, len(match[0]), _Inline(self.names[index], cell))
            elif child.type == "code_inline":
                found = [int(m[1]) for m in _SENTINEL.finditer(child.content)]
                if found:
                    self._code_span(child, found, body, cell)
            elif child.type == "html_inline" and _MARKER_LIKE.search(child.content):
                raise self.fail(lines_of(token)[0], "a section marker must stand on a line of its own, "
                                              "with blank lines around it")

    def _needs_inline(self, index: int) -> None:
        name, line = self.names[index], self.where[index]
        if self._spec(name, line).block:
            raise self.fail(line, f"{{{{{name}}}}} is several lines of Markdown: put it alone in a "
                                  "paragraph of its own (blank lines around it)")

    def _block(self, index: int, lines_map: list[int], body: list[str], heading: int) -> None:
        first, end = lines_map
        line = body[first]
        col = line.index("\ue000")
        prefix = line[:col]
        previous = first - 1
        blank_before = not prefix.strip() and (previous < 0 or previous in self.dropped
                                               or previous in self.markers or body[previous].strip() != "")
        if end < len(body) and not body[end].strip():
            end += 1                       # the block brings its own blank line after
        self.context[index] = "block"
        self.line_slots[first] = (end, _Block(self.names[index], prefix, heading, blank_before))

    def _span(self, index: int, body: list[str], width: int, slot: _Slot) -> None:
        line = self.where[index]
        col = body[line].index(f"\ue000{index}\ue001")
        self.span_slots.setdefault(line, []).append((col, col + width, slot))

    def _code_span(self, child: Token, found: list[int], body: list[str], cell: bool) -> None:
        index = found[0]
        line = self.where[index]
        text = body[line]
        col = text.index(f"\ue000{index}\ue001")
        size = len(child.markup)
        opener = [m for m in _BACKTICKS.finditer(text, 0, col) if len(m[0]) == size]
        closer = [m for m in _BACKTICKS.finditer(text, col) if len(m[0]) == size]
        if not opener or not closer or any(self.where[i] != line for i in found):
            raise self.fail(line, "a code span with a placeholder must be on one line")
        for i in found:
            self._needs_inline(i)
            self.context[i] = "code"
        names = {i: self.names[i] for i in found}
        span = _CodeSpan(child.content, names, cell)
        self.span_slots.setdefault(line, []).append((opener[-1].start(), closer[0].end(), span))

    # -- sections ------------------------------------------------------------------------------

    def _sections(self, lines: list[str], start: int) -> _Section:
        stack = [_Section(ROOT)]
        number = start
        while number < len(lines):
            if number in self.markers:
                self._marker(stack, number)
                number += 1
                continue
            if number in self.dropped:
                number += 1
                continue
            body = stack[-1].body
            if number in self.line_slots:
                end, slot = self.line_slots[number]
                self._check_scope(stack, [i for i in self._indices(lines, number, end)])
                body.append(slot)
                number = end
                continue
            line = lines[number]
            position = 0
            self._check_scope(stack, self._indices(lines, number, number + 1))
            for col, end_col, slot in sorted(self.span_slots.get(number, ()), key=lambda s: s[0]):
                body.append(line[position:col])
                body.append(slot)
                position = end_col
            body.append(line[position:])
            number += 1
        if len(stack) > 1:
            open_section = stack[-1]
            raise self.fail(open_section.line, f"<!-- {_opening(open_section)} --> is never "
                                               f"closed: add <!-- {_closing(open_section)} -->")
        return stack[0]

    def _indices(self, lines: list[str], first: int, end: int) -> list[int]:
        return [int(m[1]) for line in lines[first:end] for m in _SENTINEL.finditer(line)
                if self.context.get(int(m[1])) != "dropped"]

    def _check_scope(self, stack: list[_Section], indices: list[int]) -> None:
        kinds = {section.kind for section in stack}
        for index in indices:
            name, line = self.names[index], self.where[index]
            scope = self._spec(name, line).scope
            if scope == RUN and not kinds & set(ENTRIES):
                raise self.fail(line, f"{{{{{name}}}}} is a field of a run: use it between "
                                      "<!-- each run --> and <!-- end run --> (or each note)")
            if scope in GROUPS and scope not in kinds:
                raise self.fail(line, f"{{{{{name}}}}} is a field of a {scope}: use it between "
                                      f"<!-- each {scope} --> and <!-- end {scope} -->")

    def _marker(self, stack: list[_Section], number: int) -> None:
        marker = self.markers[number]
        known = [*_MARKERS[:8], *(f"if {no}{name}" for name in sorted(self.conditions)
                                  for no in ("", "no ")), _MARKERS[8]]
        if marker not in known:
            raise self.fail(number, f"unknown section marker <!-- {marker} -->; known: "
                                    + ", ".join(known))
        verb, _, what = marker.partition(" ")
        current = stack[-1]
        if verb == "end":
            wanted = {"day": DAY, "machine": MACHINE, "run": RUN, "note": NOTE, "if": IF}[what]
            if current.kind != wanted:
                opened = (f"<!-- {_opening(current)} --> opened at line {current.line + 1} is "
                          "still open" if current.kind != ROOT else "nothing is open")
                raise self.fail(number, f"<!-- {marker} --> does not close anything here: "
                                        f"{opened}")
            stack.pop()
            return
        if verb == "if":
            section = _Section(IF, what, number)
        else:
            kind = {"day": DAY, "machine": MACHINE, "note": NOTE}.get(what, RUN)
            kinds = {section.kind for section in stack}
            if kinds & set(ENTRIES) or (kind in GROUPS and kinds & set(GROUPS)):
                outer = next(s for s in reversed(stack) if s.kind in (*GROUPS, *ENTRIES))
                raise self.fail(number, f"<!-- {marker} --> cannot go inside "
                                        f"<!-- {_opening(outer)} -->")
            section = _Section(kind, line=number)
        current.body.append(section)
        stack.append(section)


def _opening(section: _Section) -> str:
    if section.kind == IF:
        return f"if {section.condition}"
    return f"each {section.kind}"


def _closing(section: _Section) -> str:
    return f"end {section.kind}"


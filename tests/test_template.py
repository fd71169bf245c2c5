"""Export templates: sections found by document structure, placeholders filled for where they land,
and every mistake one clear error naming the template's line.

Most tests compile a template with the export's real field schema and render it with hand-made
values (the template module knows nothing of runs); the CLI tests at the end use real runs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import journal

from journal.render.fields import CONDITIONS, TEMPLATE_FIELDS
from journal.render.markdown import code_span, inline_text, markdown_parser
from journal.render.template import Data, Day, TemplateError, Value, compile_template

PARSER = markdown_parser()


def compile_(text: str):
    return compile_template(textwrap.dedent(text), "t.md", TEMPLATE_FIELDS, CONDITIONS)


def error(text: str) -> str:
    with pytest.raises(TemplateError) as caught:
        compile_template(text, "t.md", TEMPLATE_FIELDS, CONDITIONS)
    return caught.value.message


def run(title: str, **more: Value) -> dict:
    return {"note_title": Value(inline_text(title), title), "id": Value(inline_text(title), title),
            **more}


def data(*days: tuple[str, list[dict]], runs: bool = True, commits: bool = False, **fields: Value
         ) -> Data:
    base = {"since": Value("2026-11-23"), "until": Value("2026-11-29"),
            "summary": Value("Two runs.\n"), "commits": Value("- a commit\n"), **fields}
    return Data(base, [Day({"day": Value(inline_text(name))}, day_runs) for name, day_runs in days],
                {"runs": runs, "commits": commits})


def render(text: str, value: Data) -> str:
    return compile_(text).render(value)


def test_sections_repeat_per_day_and_per_run() -> None:
    out = render("""\
        # Week {{since}}

        <!-- each day -->
        ## {{day}}

        <!-- each run -->
        ### {{note_title}}
        <!-- end run -->
        <!-- end day -->
        """, data(("Mon", [run("a"), run("b")]), ("Tue", [run("c")])))
    tokens = PARSER.parse(out)
    headings = [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [("h1", "Week 2026-11-23"), ("h2", "Mon"), ("h3", "a"), ("h3", "b"),
                        ("h2", "Tue"), ("h3", "c")]
    assert "<!--" not in out      # markers never reach the note


def test_a_run_section_outside_days_lists_every_run_and_a_compact_template_makes_one_list() -> None:
    out = render("""\
        Runs:

        <!-- each run -->
        - {{note_title}}
        <!-- end run -->
        """, data(("Mon", [run("a"), run("b")]), ("Tue", [run("c")])))
    tokens = PARSER.parse(out)
    assert [t.type for t in tokens].count("bullet_list_open") == 1
    assert [t.content for t in tokens if t.type == "inline"] == ["Runs:", "a", "b", "c"]


def test_conditions_show_or_hide_their_lines() -> None:
    text = """\
        <!-- if runs -->
        there are runs
        <!-- end if -->
        <!-- if no runs -->
        nothing this week
        <!-- end if -->
        <!-- if commits -->
        {{commits}}
        <!-- end if -->
        """
    assert render(text, data(runs=True)).strip() == "there are runs"
    assert render(text, data(runs=False, commits=True)).strip() == "nothing this week\n\n- a commit"


def test_a_marker_inside_a_code_block_is_text_not_a_section() -> None:
    out = render("""\
        ```html
        <!-- each run -->
        # not a heading {{since}}
        ```
        """, data(("Mon", [run("a")])))
    tokens = PARSER.parse(out)
    assert [t.type for t in tokens] == ["fence"]
    assert tokens[0].content == "<!-- each run -->\n# not a heading 2026-11-23\n"


def test_template_comments_are_left_out_and_their_placeholders_ignored() -> None:
    out = render("""\
        <!--
          Notes for whoever edits this: {{anything}} goes here.
        -->
        <!-- if you change this, keep the markers -->
        # Week {{since}}
        """, data())
    assert out == "# Week 2026-11-23\n"


def shown(inline_token) -> str:
    """The text an inline token shows: code and text, escapes resolved."""
    return "".join(c.content for c in inline_token.children
                   if c.type in ("text", "code_inline", "text_special"))


@pytest.mark.parametrize("hostile", ["a ` b", "``", "`start", "pipe | inside", "x" * 300, "日本語 | `x`"])
def test_a_placeholder_in_a_code_span_shows_the_text_exactly(hostile: str) -> None:
    template = compile_template("Run `{{since}}` here\n\n| a | b |\n|---|---|\n| `{{since}}` | x |\n",
                                "t.md", TEMPLATE_FIELDS, CONDITIONS)
    out = template.render(Data({"since": Value(inline_text(hostile), hostile)}, [], {}))
    inlines = [t for t in PARSER.parse(out) if t.type == "inline"]
    assert len(inlines) == 5          # the paragraph, 2 header cells, 2 body cells: no split cell
    assert shown(inlines[0]) == f"Run {hostile} here"
    assert shown(inlines[3]) == hostile
    assert all(c.type != "text" or "`" not in c.content for c in inlines[3].children)


def test_a_placeholder_in_a_fenced_block_grows_the_fence() -> None:
    value = "line\n```\n# still code"
    template = compile_template("```sh\necho {{since}}\n```\n", "t.md", TEMPLATE_FIELDS, CONDITIONS)
    out = template.render(Data({"since": Value("x", value)}, [], {}))
    tokens = PARSER.parse(out)
    assert [t.type for t in tokens] == ["fence"]
    assert tokens[0].content == f"echo {value}\n" and tokens[0].info == "sh"


def test_a_placeholder_in_a_table_cell_cannot_split_the_row() -> None:
    title = "a | b \\| c"
    template = compile_template("| run | day |\n|---|---|\n| {{since}} | x |\n", "t.md", TEMPLATE_FIELDS,
                                CONDITIONS)
    out = template.render(Data({"since": Value(inline_text(title))}, [], {}))
    cells = [t for t in PARSER.parse(out) if t.type == "inline"]
    assert len(cells) == 4
    assert shown(cells[2]) == title and shown(cells[3]) == "x"


def test_a_table_cell_escapes_even_a_bare_pipe() -> None:
    # Values are escaped Markdown already; the cell escapes `|` once more, as GFM reads a row.
    template = compile_template("| a | b |\n|---|---|\n| {{since}} | {{until}} |\n", "t.md",
                                TEMPLATE_FIELDS, CONDITIONS)
    out = template.render(Data({"since": Value("x | y"), "until": Value("`p|q`")}, [], {}))
    cells = [t for t in PARSER.parse(out) if t.type == "inline"]
    assert [shown(cell) for cell in cells] == ["a", "b", "x | y", "p|q"]


def test_a_block_goes_in_a_paragraph_of_its_own_with_its_headings_below_the_run() -> None:
    note = lambda level: Value(f"{'#' * (level + 1)} Inside\n\ntext\n")   # noqa: E731
    out = render("""\
        <!-- each run -->
        #### {{note_title}}
        {{note}}
        - after
        <!-- end run -->
        """, data(("Mon", [run("a", note=note), run("b", note=note)])))
    tokens = PARSER.parse(out)
    headings = [t.tag for t in tokens if t.type == "heading_open"]
    assert headings == ["h4", "h5", "h4", "h5"]
    assert [t.type for t in tokens].count("bullet_list_open") == 2


def test_a_block_in_a_list_item_or_quote_keeps_its_container() -> None:
    block = Value("first\n\n- one\n- two\n")
    compiled = compile_template("- item\n- {{summary}}\n\n> {{summary}}\n", "t.md", TEMPLATE_FIELDS, CONDITIONS)
    out = compiled.render(Data({"summary": block}, [], {}))
    tokens = PARSER.parse(out)
    assert [t.type for t in tokens if t.type.endswith("_open") and t.level == 0] == [
        "bullet_list_open", "blockquote_open"]
    assert [t.content for t in tokens if t.type == "inline"] == [
        "item", "first", "one", "two", "first", "one", "two"]


def test_an_empty_block_leaves_no_gap() -> None:
    template = compile_template("a\n\n{{summary}}\n\nb\n", "t.md", TEMPLATE_FIELDS, CONDITIONS)
    out = template.render(Data({"summary": Value("")}, [], {}))
    assert out == "a\n\nb\n"


def test_front_matter_is_filled_for_yaml() -> None:
    template = compile_template('---\ntitle: "Week {{since}}"\nrange: {{until}}\n---\n# x\n',
                                "t.md", TEMPLATE_FIELDS, CONDITIONS)
    front, body = template.render_parts(Data(
        {"since": Value("", 'say "hi" \\ there'), "until": Value("", "a: b #c")}, [], {}))
    assert front == '---\ntitle: "Week say \\"hi\\" \\\\ there"\nrange: "a: b #c"\n---\n'
    assert body == "# x\n"


def test_escaped_braces_stay_literal() -> None:
    assert render("Write \\{{since}} for the date.\n", data()) == "Write \\{{since}} for the date.\n"


def test_record_text_cannot_spell_a_placeholder() -> None:
    out = render("# {{since}}\n", data(since=Value(inline_text("{{until}}"))))
    assert "2026-11-29" not in out and PARSER.parseInline(out[2:].strip())[0].children[0].content == "{{until}}"


# -- errors: one line naming the template's line --------------------------------------------------

@pytest.mark.parametrize("text, line, words", [
    ("# x\n\n{{nope}}\n", 3, "unknown placeholder {{nope}}; known fields: since"),
    ("{{ __import__('os').system('id') }}\n", 1, "bad placeholder"),
    ("{{since.__class__}}\n", 1, "bad placeholder"),
    ("a\n<!-- each run -->\n{{id}}\n", 2, "<!-- each run --> is never closed: add <!-- end run -->"),
    ("<!-- end day -->\n", 1, "does not close anything here: nothing is open"),
    ("<!-- each run -->\n<!-- each day -->\n<!-- end day -->\n<!-- end run -->\n", 2, "cannot go inside"),
    ("<!-- each run -->\n<!-- end day -->\n", 2, "<!-- each run --> opened at line 1 is still open"),
    ("<!-- each week -->\n", 1, "unknown section marker <!-- each week -->; known: each day"),
    ("<!-- if cake -->\n<!-- end if -->\n", 1, "unknown section marker <!-- if cake -->; known: "),
    ("- item\n  <!-- each run -->\n", 2, "must be at the top level"),
    ("text <!-- each run --> more\n", 1, "must stand on a line of its own"),
    ("{{id}}\n", 1, "{{id}} is a field of a run"),
    ("<!-- each run -->\n{{day}}\n<!-- end run -->\n", 2, "{{day}} is a field of a day"),
    ("Summary: {{summary}}\n", 1, "{{summary}} is several lines of Markdown"),
    ("# {{summary}}\n", 1, "several lines"),
    ("[link](https://example.com/{{since}})\n", 1, "link address"),
    ("<div>{{since}}</div>\n", 1, "raw HTML"),
    ("    {{since}}\n", 1, "indented code block"),
    ("---\ntitle: {{summary}}\n---\n", 2, "cannot go in the front matter"),
    ("---\ntitle: x\n", 1, "never closed"),
])
def test_mistakes_name_the_line(text: str, line: int, words: str) -> None:
    message = error(text)
    assert message.startswith(f"t.md:{line}: "), message
    assert words in message, message
    assert "\n" not in message


def test_an_unknown_placeholder_is_one_line_from_the_cli(repo: Path) -> None:
    (repo / "bad.md").write_text("# Week {{since}}\n\n- ok\n- {{acc_best}}\n")
    done = journal("export", "--template", "bad.md", cwd=repo)
    assert done.returncode == 2 and done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and b"Traceback" not in done.stderr
    assert lines[0].startswith("journal: error: bad.md:4: unknown placeholder {{acc_best}}; known fields: ")
    assert "in each run: id, short_id, note_title" in lines[0] and "in each day: day" in lines[0]


def test_the_default_template_compiles_and_is_readable_markdown() -> None:
    from journal.store.starter import default_template

    text = default_template()
    compile_template(text, "default", TEMPLATE_FIELDS, CONDITIONS)
    assert (Path(__file__).resolve().parents[1] / ".journal-template.md").read_text() == text
    # A notes app shows it as a note: front matter, then a title, and the markers hidden.
    body = text.split("---\n", 2)[2]
    tokens = PARSER.parse(body)
    assert tokens[0].type == "html_block"
    assert next(t for t in tokens if t.type == "heading_open").tag == "h1"


def test_code_span_helper_is_the_shared_one() -> None:
    # The template fills code spans with journal.markdown's code_span: one escaping, not two.
    template = compile_template("`{{since}}`\n", "t.md", TEMPLATE_FIELDS, CONDITIONS)
    assert template.render(Data({"since": Value("", "a`b")}, [], {})) == code_span("a`b") + "\n"


def test_a_value_field_with_bad_rounding_says_how_to_write_it() -> None:
    message = error("<!-- each run -->\n{{metric:acc:100}}\n<!-- end run -->\n")
    assert message.startswith("t.md:2: bad placeholder '{{metric:acc:100}}'")
    assert "(0 to 99): {{metric:acc:2}}" in message and "known fields" not in message

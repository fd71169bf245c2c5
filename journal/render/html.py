"""An exported note as one self-contained HTML page: inline CSS, no scripts, no requests.

Rendered by the same Markdown parser as everything else in journal, with raw HTML turned off, so
a note holding `<script>` or `<img onerror=...>` shows that text instead of running it. Images
become links (loading one would be a request to wherever the note points), and a
Content-Security-Policy forbids scripts and any fetch even if something slipped through.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from journal.render.markdown import markdown_parser

if TYPE_CHECKING:
    from journal.render.markdown import MarkdownIt, OptionsDict, RendererHTML, Token

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
        "form-action 'none'")
_CSS = """
body { font: 16px/1.55 -apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans CJK JP",
       "Noto Sans", sans-serif; color: #1f2328; background: #fff; margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; overflow-wrap: anywhere; }
h1 { font-size: 1.8rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
h2 { font-size: 1.4rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.2rem; margin-top: 1.8rem; }
h4 { font-size: 1.05rem; margin-top: 1.5rem; }
h5, h6 { font-size: 1rem; }
code { font: .9em/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       background: #f3f4f6; border-radius: 4px; padding: .1em .3em; }
pre { background: #f6f8fa; border-radius: 6px; padding: .8rem 1rem; overflow-x: auto; }
pre code { background: none; padding: 0; white-space: pre; }
table { border-collapse: collapse; margin: .8rem 0; display: block; overflow-x: auto;
        overflow-wrap: break-word; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
blockquote { margin: 0; padding: 0 1rem; color: #59636e; border-left: 4px solid #d0d7de; }
hr { border: 0; border-top: 1px solid #d0d7de; }
a { color: #0969da; }
.n { white-space: nowrap; }
.journal-curves { display: flex; flex-wrap: wrap; gap: .5rem 1rem; margin: .8rem 0; }
.journal-curves svg { max-width: 100%; height: auto; }
"""
_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="journal export">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}</main>
</body>
</html>
"""


def html_page(markdown_text: str, title: str | None = None, marker: str | None = None,
              figures: Mapping[str, str] | None = None) -> str:
    """The page for a Markdown body (front matter already taken off). The title is the first
    heading's text unless given. A fenced block whose info string is `marker` holds a key of
    `figures`, SVG that journal drew (render/curves.py): that goes into the page in the block's
    place; every other block is text."""
    parser = markdown_parser(html=False)
    parser.add_render_rule("image", _image_as_link)
    parser.add_render_rule("text", _text)
    parser.add_render_rule("code_inline", _code_inline)
    if marker and figures:
        def fence(self: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict,
                  env: MutableMapping[str, Any]) -> str:
            token = tokens[index]
            if token.info.strip() == marker and token.content.strip() in figures:
                return figures[token.content.strip()]
            return self.fence(tokens, index, options, env)

        parser.add_render_rule("fence", fence)
    tokens = parser.parse(markdown_text)
    if title is None:
        title = next((tokens[i + 1].content for i, token in enumerate(tokens)
                      if token.type == "heading_open"), "journal export")
        title = _inline_text(parser, title)
    body = parser.renderer.render(tokens, parser.options, {})
    return _PAGE.format(csp=_CSP, title=html.escape(title), css=_CSS, body=body)


def _inline_text(parser: MarkdownIt, source: str) -> str:
    """A heading's Markdown as the plain text a browser tab shows."""
    tokens = parser.parseInline(source)
    children = tokens[0].children if tokens else []
    return "".join(child.content for child in children or []
                   if child.type in ("text", "code_inline", "text_special"))


def _image_as_link(self: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict,
                   env: MutableMapping[str, Any]) -> str:
    token = tokens[index]
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env))
    label = f"[image: {alt}]" if alt else "[image]"
    src = token.attrGet("src") or ""
    if not src:
        return label
    return f'<a href="{html.escape(str(src))}">{label}</a>'


# A number (sign, digits, separators, exponent) is one unbreakable piece: a narrow pane may wrap
# a long line anywhere (`overflow-wrap: anywhere`), but never turns 82.476 into 82.4 and 76.
_NUMBER = re.compile(r"[-−]?[0-9]+(?:[.,:][0-9]+)*(?:[eE][-+]?[0-9]+)?")


def _unbroken_numbers(escaped: str) -> str:
    """Escaped text with each number in a span that does not wrap. (The escaping makes only
    named entities, `&amp;` and the like, so every digit here is the text's own.)"""
    return _NUMBER.sub(lambda match: f'<span class="n">{match[0]}</span>', escaped)


def _text(self: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict,
          env: MutableMapping[str, Any]) -> str:
    return _unbroken_numbers(html.escape(tokens[index].content, quote=False))


def _code_inline(self: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict,
                 env: MutableMapping[str, Any]) -> str:
    token = tokens[index]
    return (f"<code{self.renderAttrs(token)}>"
            f"{_unbroken_numbers(html.escape(token.content, quote=False))}</code>")

"""Evernote's export format (`.enex`): what the seed's researcher pastes every final report into.

    <?xml version="1.0" encoding="UTF-8"?>
    <!DOCTYPE en-export SYSTEM "http://xml.evernote.com/pub/evernote-export4.dtd">
    <en-export export-date="20261130T120000Z" application="journal" version="0.1.0">
      <note>
        <title>Adam instead of SGD</title>
        <created>20261130T105111Z</created>
        <updated>20261130T113000Z</updated>
        <tag>adam</tag>
        <content><![CDATA[<?xml version="1.0" encoding="UTF-8"?>
    <!DOCTYPE en-note SYSTEM "http://xml.evernote.com/pub/enml2.dtd">
    <en-note>...</en-note>]]></content>
      </note>
    </en-export>

A note's content is ENML, Evernote's subset of XHTML: the note's Markdown rendered by the one
Markdown parser (raw HTML shown as text, as in the HTML export), then kept to ENML's elements
and attributes: `class` and `id` go, an image becomes a link, a link that is not http(s) or
mailto becomes its text, and characters XML cannot hold become U+FFFD. Times are UTC in the
format's fixed `yyyymmddThhmmssZ`.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from journal.render.markdown import markdown_parser

ENEX_DOCTYPE = '<!DOCTYPE en-export SYSTEM "http://xml.evernote.com/pub/evernote-export4.dtd">'
ENML_DOCTYPE = '<!DOCTYPE en-note SYSTEM "http://xml.evernote.com/pub/enml2.dtd">'
# ENML 2's elements (of those Markdown can make), and the attributes kept on them.
ENML_ELEMENTS = frozenset({
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "span", "strike", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
_KEPT_ATTRIBUTES = {"a": {"href"}, "td": {"style"}, "th": {"style"}, "ol": {"start"}}
_SAFE_LINK = re.compile(r"(?i)(https?|mailto):")
# What XML 1.0 cannot hold at all (and noncharacters Evernote refuses)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
TITLE_MAX = 255


@dataclass
class EnexNote:
    title: str
    markdown: str
    created: dt.datetime | None
    updated: dt.datetime | None = None
    tags: Sequence[str] = field(default_factory=list)


def enex_file(notes: Sequence[EnexNote], now: dt.datetime, version: str) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', ENEX_DOCTYPE,
             f'<en-export export-date="{enex_time(now)}" application="journal" '
             f'version={quoteattr(xml_text(version))}>']
    for note in notes:
        parts.append("  <note>")
        parts.append(f"    <title>{escape(_title(note.title))}</title>")
        parts.append("    <content><![CDATA[" + _cdata(enml(note.markdown)) + "]]></content>")
        if note.created is not None:
            parts.append(f"    <created>{enex_time(note.created)}</created>")
        if note.updated is not None:
            parts.append(f"    <updated>{enex_time(note.updated)}</updated>")
        for tag in _tags(note.tags):
            parts.append(f"    <tag>{escape(tag)}</tag>")
        parts.append("    <note-attributes><source>journal</source></note-attributes>")
        parts.append("  </note>")
    parts.append("</en-export>")
    return "\n".join(parts) + "\n"


def enml(markdown_text: str) -> str:
    """A note's Markdown as an ENML document."""
    parser = markdown_parser(html=False)
    parser.options["xhtmlOut"] = True
    body = parser.render(xml_text(markdown_text))
    try:
        root = ElementTree.fromstring(f"<en-note>{body}</en-note>")
    except ElementTree.ParseError:      # not expected of markdown-it; the text, then, as it is
        root = ElementTree.Element("en-note")
        ElementTree.SubElement(root, "pre").text = xml_text(markdown_text)
    _keep_to_enml(root)
    inner = ElementTree.tostring(root, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{ENML_DOCTYPE}\n{inner}'


def _keep_to_enml(element: ElementTree.Element) -> None:
    for child in list(element):
        if child.tag == "img":                           # an image is a link, never a request
            src, alt = child.get("src", ""), child.get("alt", "")
            child.tag, child.attrib = "a", {"href": src}
            child.text = f"[image: {alt}]" if alt else "[image]"
        if child.tag not in ENML_ELEMENTS:
            child.tag = "span"
        kept = _KEPT_ATTRIBUTES.get(child.tag, set())
        child.attrib = {name: value for name, value in child.attrib.items() if name in kept}
        if child.tag == "a" and not _SAFE_LINK.match(child.get("href", "")):
            child.tag, child.attrib = "span", {}
        _keep_to_enml(child)


def enex_time(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
TAGS_MAX = 100


def _title(title: str) -> str:
    # Evernote: 1 to 255 characters, no control characters, no leading or trailing space
    one_line = " ".join(_CONTROL.sub(" ", xml_text(title)).split()) or "Untitled"
    return one_line[:TITLE_MAX].strip()


def _tags(tags: Sequence[str]) -> list[str]:
    """At most 100, each once whatever its case (Evernote's tags are case-blind)."""
    kept: dict[str, str] = {}
    for tag in map(_tag, tags):
        if tag and tag.casefold() not in kept:
            kept[tag.casefold()] = tag
    return list(kept.values())[:TAGS_MAX]


def _tag(tag: str) -> str:
    # Evernote: no commas, 1 to 100 characters, no control characters, no outer space
    return " ".join(_CONTROL.sub(" ", xml_text(tag)).replace(",", " ").split())[:100].strip()


def _cdata(text: str) -> str:
    return text.replace("]]>", "]]]]><![CDATA[>")

"""`journal export -f enex`: an Evernote export file, one note a run (or the weekly note with
`--single`), checked against journal's RELAX NG schemas of ENEX and ENML (tests/data) with lxml,
the ENML inside each note parsed and checked too."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from conftest import journal, records

etree = pytest.importorskip("lxml.etree")
DATA = Path(__file__).resolve().parent / "data"


def schema(name: str) -> object:
    return etree.RelaxNG(etree.parse(str(DATA / name)))


def check(enex: bytes) -> list[object]:
    """The export's notes, after checking the file and each note's ENML."""
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    document = etree.fromstring(enex, parser)
    enex_schema, enml_schema = schema("enex.rng"), schema("enml.rng")
    assert enex_schema.validate(document), enex_schema.error_log
    notes = document.findall("note")
    for note in notes:
        content = note.find("content").text
        assert content.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE en-note SYSTEM')
        enml = etree.fromstring(content.encode(), parser)
        assert enml_schema.validate(enml), (enml_schema.error_log, content)
    return notes


def test_one_note_a_run_with_created_times_and_tags(repo: Path) -> None:
    hostile = "Hoge ]]> <script>alert(1)</script> & \x1b[31mred \u202e ![i](http://x/i.png)"
    assert journal("new", "-n", f"Adam instead of SGD\n\n{hostile}", "-t", "adam", "-t",
                   "a,b", "-m", "acc=82.476", "--", sys.executable, "-c", "print(1)",
                   cwd=repo).returncode == 0
    assert journal("new", "-n", "idea: warm-up", cwd=repo).returncode == 0
    assert journal("note", "@~1", "[link](javascript:alert(1)) and [ok](https://example.com)",
                   cwd=repo).returncode == 0
    done = journal("export", "-f", "enex", cwd=repo)
    assert done.returncode == 0, done.stderr
    notes = check(done.stdout)
    assert [note.findtext("title") for note in notes] == ["Adam instead of SGD", "idea: warm-up"]
    first = notes[0]
    assert [tag.text for tag in first.findall("tag")] == ["adam", "a b"]
    run = sorted(records(repo / ".journal"), key=lambda r: r["started"])[0]
    assert first.findtext("created") == run["started"].astimezone(dt.timezone.utc).strftime(
        "%Y%m%dT%H%M%SZ")
    assert first.findtext("updated") >= first.findtext("created")
    content = first.find("content").text
    assert "<script>" not in content and "&lt;script&gt;" in content
    assert "82.476" in content and "https://example.com" in content
    assert 'href="javascript' not in content and 'href="https://example.com"' in content


def test_the_weekly_note_as_one_note(repo: Path) -> None:
    assert journal("new", "-n", "a run", "--", "true", cwd=repo).returncode == 0
    done = journal("export", "-f", "enex", "--single", cwd=repo)
    assert done.returncode == 0, done.stderr
    notes = check(done.stdout)
    assert len(notes) == 1 and notes[0].findtext("title").startswith("Experiments ")
    assert [tag.text for tag in notes[0].findall("tag")] == ["journal"]
    bad = journal("export", "--single", cwd=repo)
    assert bad.returncode == 2 and b"--single is for -f enex" in bad.stderr
    # the template's front matter title is the note's title, as a notes app reads it
    (repo / "t.md").write_text('---\ntitle: "Week \\"{{week}}\\" of the sweep"\n---\n'
                               "# Heading below\n\n{{summary}}\n")
    titled = check(journal("export", "-f", "enex", "--single", "--template", "t.md",
                           cwd=repo).stdout)
    assert titled[0].findtext("title").startswith('Week "') and \
        titled[0].findtext("title").endswith('" of the sweep')


def test_titles_and_tags_keep_to_evernotes_rules(repo: Path) -> None:
    tags = [f"t{number}" for number in range(120)] + ["Adam", "adam"]
    args = [arg for tag in tags for arg in ("-t", tag)]
    assert journal("new", "-n", "del\x7fchar and [c](HTTP://ok)", *args, cwd=repo).returncode == 0
    notes = check(journal("export", "-f", "enex", cwd=repo).stdout)
    assert "\x7f" not in notes[0].findtext("title")
    found = [tag.text for tag in notes[0].findall("tag")]
    assert len(found) == 100 and len({tag.casefold() for tag in found}) == 100

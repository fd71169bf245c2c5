"""REFs: `@`, `latest`, `@~N`, a full id, a unique prefix; ambiguous and unknown REFs are one
line and exit 2; a REF is matched against ids, never joined into a path."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from conftest import journal, records
from readkit import cli, now, one_error_line, write_run

from journal.errors import UsageError
from journal.store.source import RunSource


def sources(journal_dir: Path) -> list[RunSource]:
    """The same journal read through the index and straight from the files."""
    indexed = RunSource(journal_dir, print, environ=os.environ)
    assert indexed.index is not None
    return [indexed, RunSource(journal_dir, print, environ=os.environ, use_index=False)]


@pytest.fixture
def three(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three runs a minute apart, ids sharing a long prefix (same second of the same day)."""
    jd = tmp_path / ".journal"
    t0 = now().replace(microsecond=0) - dt.timedelta(hours=1)
    ids = [write_run(jd, t0, run_id=f"{t0:%Y%m%d}-090000.000-9ac7188-{tail}", note=f"run {n}")
           for n, tail in zip("123", ("aaaa1", "aaab2", "aabc3"))]
    return tmp_path, ids


def test_at_latest_and_nth_before(three: tuple[Path, list[str]]) -> None:
    root, ids = three
    for source in sources(root / ".journal"):
        assert source.resolve_id("@") == source.resolve_id("latest") == ids[2]
        assert source.resolve_id("@~0") == ids[2]
        assert source.resolve_id("@~1") == source.resolve_id("latest~1") == ids[1]
        assert source.resolve_id(" @~2 ") == ids[0]
        assert source.resolve("@~1").record["note"] == "run 2"
        with pytest.raises(UsageError, match=r"there is no run @~3: the journal has 3 run\(s\)"):
            source.resolve_id("@~3")


def test_full_id_and_unique_prefix(three: tuple[Path, list[str]]) -> None:
    root, ids = three
    for source in sources(root / ".journal"):
        assert source.resolve_id(ids[0]) == ids[0]
        assert source.resolve_id(ids[1][:-1]) == ids[1]          # ...-aaab
        assert source.resolve_id(ids[2][:-2]) == ids[2]          # ...-aab
        assert source.resolve_id(ids[0][:-1]) == ids[0]          # ...-aaaa


def test_an_id_that_is_a_prefix_of_another_is_itself(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    write_run(jd, run_id="baseline")
    write_run(jd, run_id="baseline-2")
    for source in sources(jd):
        assert source.resolve_id("baseline") == "baseline"
        assert source.resolve_id("baseline-") == "baseline-2"


def test_ambiguous_prefix_lists_the_candidates(three: tuple[Path, list[str]]) -> None:
    root, ids = three
    prefix = ids[0][:-3]                                         # ...-aa
    for source in sources(root / ".journal"):
        with pytest.raises(UsageError) as caught:
            source.resolve_id(prefix)
        assert caught.value.message == (
            f"ambiguous run {prefix!r}: 3 runs match: {ids[2]}, {ids[1]}, {ids[0]}")
    line = one_error_line(cli("show", prefix, cwd=root))
    assert line == f"journal: error: ambiguous run {prefix!r}: 3 runs match: {ids[2]}, {ids[1]}, {ids[0]}"


def test_many_candidates_are_cut_short(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ids = [write_run(jd, run_id=f"sweep-{n:02d}") for n in range(12)]
    line = one_error_line(cli("show", "sweep", cwd=tmp_path))
    assert line.startswith("journal: error: ambiguous run 'sweep': 12 runs match: sweep-11, sweep-10")
    assert line.endswith(" ...") and ids[0] not in line


@pytest.mark.parametrize("ref", ["nope", "../../etc/passwd", "/etc/passwd", "..", ".", "runs",
                                 "2026-11/x", "", " ", "@~", "@~-1", "HEAD", "a*", "\x1b[2J"])
def test_unknown_refs_are_one_line_exit_2(three: tuple[Path, list[str]], ref: str) -> None:
    root, _ids = three
    for source in sources(root / ".journal"):
        with pytest.raises(UsageError, match="unknown run"):
            source.resolve_id(ref)
    line = one_error_line(cli("show", ref, cwd=root))
    assert line.startswith("journal: error: unknown run "), line
    assert "\x1b" not in line
    if ref == "\x1b[2J":          # shown escaped once, as the user would type it
        assert line == "journal: error: unknown run '\\x1b[2J'"


def test_a_path_like_ref_never_reads_a_file(tmp_path: Path) -> None:
    """Even when the path exists and holds a record-like TOML file."""
    jd = tmp_path / ".journal"
    write_run(jd)
    outside = tmp_path / "evil.toml"
    outside.write_text('schema = 1\nnote = "not a run"\nstatus = "finished"\n')
    for ref in ("../evil", "../../evil", str(tmp_path / "evil"), "runs/../../evil"):
        assert one_error_line(cli("show", ref, cwd=tmp_path)).startswith("journal: error: unknown run")


def test_empty_journal(tmp_path: Path) -> None:
    (tmp_path / ".journal" / "runs").mkdir(parents=True)
    for source in sources(tmp_path / ".journal"):
        with pytest.raises(UsageError, match=r"there is no run @: the journal has 0 run\(s\)"):
            source.resolve_id("@")


def test_refs_through_the_real_cli(repo: Path) -> None:
    """Runs made by `journal new`; REFs resolved by a reading command in a real process."""
    for note in ("first", "second", "third"):
        assert journal("new", "-n", note, cwd=repo).returncode == 0
    made = [record["id"] for record in records(repo / ".journal")]
    (repo / "nested").mkdir()
    done = journal("show", "--format", "json", "@~1", made[0][:26], cwd=repo / "nested")
    assert done.returncode == 0, done.stderr
    text, shown, decoder = done.stdout.decode(), [], json.JSONDecoder()
    while text.strip():
        value, end = decoder.raw_decode(text.lstrip())
        shown.append(value)
        text = text.lstrip()[end:]
    assert [run["note"] for run in shown] == ["second", "first"]
    missing = journal("show", "0000", cwd=repo)
    assert missing.returncode == 2
    assert missing.stderr.decode().splitlines()[0] == "journal: error: unknown run '0000'"

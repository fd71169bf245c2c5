"""REFs: `@`, `latest`, `@~N`, a full id, a unique prefix; ambiguous and unknown REFs are one
line and exit 2; a REF is matched against ids, never joined into a path."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from conftest import journal, records
from readkit import cli, now, one_error_line, record_path, write_run

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
    stamp = t0.astimezone(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")   # ids say the UTC start
    ids = [write_run(jd, t0, run_id=f"{stamp}.000-9ac7188-{tail}", note=f"run {n}")
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


def test_one_run_in_two_month_folders_is_read_from_its_own(tmp_path: Path) -> None:
    """A copy of a record in another folder (a move, a merge): every command reads and writes
    the file in the run's month folder, and names the other in a warning."""
    jd = tmp_path / ".journal"
    run_id = write_run(jd, now(), note="the real one")
    home = next((jd / "runs").rglob(f"{run_id}.toml"))
    stray = jd / "runs" / "2001-01" / f"{run_id}.toml"
    stray.parent.mkdir(parents=True)
    stray.write_text(home.read_text().replace("the real one", "a stale copy"))
    for env in ({}, {"JOURNAL_NO_INDEX": "1"}):
        for args in (("list",), ("show", run_id), ("grep", "-F", "copy")):
            result = cli(*args, cwd=tmp_path, env=env)
            assert "a stale copy" not in result.out, (args, env)
            assert f"warning: skipped {stray}: a second record file of run {run_id}" in result.err
        assert "the real one" in cli("show", "@", cwd=tmp_path, env=env).out
    assert cli("note", run_id, "amended", cwd=tmp_path).code == 0
    assert "amended" in home.read_text() and "amended" not in stray.read_text()


def test_a_run_from_a_clock_ahead_does_not_stay_at(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    ahead = write_run(jd, now() + dt.timedelta(days=200), note="from a clock ahead")
    latest = write_run(jd, now() - dt.timedelta(minutes=1), note="the latest run")
    for env in ({}, {"JOURNAL_NO_INDEX": "1"}):
        result = cli("show", "@", cwd=tmp_path, env=env)
        assert "the latest run" in result.out and "from a clock ahead" not in result.out
        assert f"warning: run {ahead} starts in the future" in result.err
    assert cli("note", "@", "for the latest", cwd=tmp_path).code == 0
    assert "for the latest" in record_path(jd, latest).read_text()
    assert cli("list", cwd=tmp_path).lines[0].startswith(ahead)      # still listed, by its id


def test_at_reads_past_many_runs_from_a_clock_ahead(tmp_path: Path) -> None:
    """`@~N` reads the newest ids only, more of them when runs from a clock ahead come first."""
    jd = tmp_path / ".journal"
    past = [write_run(jd, now() - dt.timedelta(hours=50 - n), note=f"past {n}") for n in range(50)]
    for n in range(40):
        write_run(jd, now() + dt.timedelta(days=100 + n), note=f"ahead {n}")
    for env in ({}, {"JOURNAL_NO_INDEX": "1"}):
        assert past[-1] in cli("show", "@", cwd=tmp_path, env=env).out
        assert "past 37" in cli("show", "@~12", cwd=tmp_path, env=env).out
        result = cli("show", "@~50", cwd=tmp_path, env=env)
        assert result.code != 0 and "the journal has 50 run(s)" in result.err


def test_a_dash_reads_the_refs_from_standard_input_as_peco_and_fzf_give_them(
        three: tuple[Path, list[str]]) -> None:
    folder, ids = three
    listed = journal("list", cwd=folder).stdout
    chosen = listed.splitlines(keepends=True)[1]            # the line a user picked
    shown = journal("show", "-", "-f", "json", cwd=folder, input=chosen)
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == ids[1]
    every = journal("show", "-", cwd=folder, input=listed).stdout.decode()
    assert every.index(ids[2]) < every.index(ids[1]) < every.index(ids[0])   # in their order
    coloured = journal("list", "--color", "always", cwd=folder).stdout
    first = journal("show", "-", "-f", "json", cwd=folder,     # colours taken off the id
                    input=coloured.splitlines(keepends=True)[0])
    assert json.loads(first.stdout)["id"] == ids[2]
    pair = journal("diff", "-", "-", cwd=folder, input=listed.splitlines(keepends=True)[0]
                   + listed.splitlines(keepends=True)[2])
    assert pair.returncode == 0 and ids[2] in pair.stdout.decode() and ids[0] in pair.stdout.decode()
    grepped = journal("grep", "-F", "run 2", "--no-logs", cwd=folder).stdout     # `<id>:note:run 2`
    twice = grepped + grepped                         # grep names a run once a line: one REF
    assert journal("note", "-", "seen twice", cwd=folder, input=twice).returncode == 0
    assert json.loads(journal("show", "-", "-f", "json", cwd=folder, input=grepped).stdout
                      )["id"] == ids[1]
    for args, given, said in ((["show", "-"], b"\n\n", "no REF on standard input"),
                              (["note", "-", "x"], listed, "standard input gave 3 REFs"),
                              (["diff", "-", "-"], listed, "diff - - takes two")):
        done = journal(*args, cwd=folder, input=given)
        assert done.returncode == 2 and said in done.stderr.decode(), done.stderr

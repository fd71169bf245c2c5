"""`journal note` and `journal tag`: amendments kept in order, formatting kept, locks, redaction."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from conftest import journal, only_record, records

PY = sys.executable


def record_file(repo: Path) -> Path:
    files = sorted((repo / ".journal" / "runs").rglob("*.toml"))
    assert len(files) == 1, files
    return files[0]


def new_note_run(repo: Path, *args: str) -> str:
    done = journal("new", "-n", "original note", *args, cwd=repo)
    assert done.returncode == 0, done.stderr
    return only_record(repo / ".journal")["id"]


def error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    """The one error line of a failed command, never a traceback. A `hint:` line may follow it;
    warnings about unreadable records (every reading command gives them) may come before."""
    assert done.returncode == 2, done.stderr
    lines = done.stderr.decode().splitlines()
    assert b"Traceback" not in done.stderr
    errors = [line for line in lines if line.startswith("journal: error: ")]
    assert len(errors) == 1, lines
    at = lines.index(errors[0])
    assert all(line.startswith("journal: warning: ") for line in lines[:at]), lines
    assert all(line.startswith("hint: ") for line in lines[at + 1:]), lines
    return errors[0]


# -- notes --------------------------------------------------------------------------------------

def test_amendments_are_appended_in_order_with_their_time(repo: Path) -> None:
    run_id = new_note_run(repo)
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    first = journal("note", "@", "this run had a data leak", cwd=repo)
    second = journal("note", run_id[:22], "line one\nline two", cwd=repo)
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert first.returncode == second.returncode == 0, (first.stderr, second.stderr)
    assert first.stderr == f"journal: amended {run_id}\n".encode()
    record = only_record(repo / ".journal")
    assert record["note"] == "original note"       # the original is never rewritten
    assert [a["text"] for a in record["amendments"]] == ["this run had a data leak",
                                                         "line one\nline two"]
    times = [a["at"] for a in record["amendments"]]
    assert all(t.tzinfo is not None for t in times)
    assert before <= times[0] <= times[1] <= after
    assert record["status"] == "finished" and record["id"] == run_id


def test_amending_keeps_the_files_hand_formatting(repo: Path) -> None:
    new_note_run(repo, "-t", "draft", "-p", "lr=0.1")
    path = record_file(repo)
    text = path.read_text()
    text = text.replace("status =", "# checked by hand: the seed was fixed\nstatus =")
    text = text.replace("lr = 0.1", "lr = 0.1   # from the sweep")
    path.write_text(text)

    assert journal("note", "@", "first", cwd=repo).returncode == 0
    assert journal("tag", "@", "+baseline", cwd=repo).returncode == 0
    assert journal("note", "@", "second", cwd=repo).returncode == 0

    new_text = path.read_text()
    assert "# checked by hand: the seed was fixed\nstatus =" in new_text
    assert "lr = 0.1   # from the sweep" in new_text
    # Every line of the file is still there, in order, except the tags line that changed.
    old_lines = [line for line in text.splitlines() if not line.startswith("tags =")]
    remaining = iter(new_text.splitlines())
    assert all(any(line == other for other in remaining) for line in old_lines)
    assert 'tags = ["draft", "baseline"]' in new_text
    assert new_text.count("[[amendments]]") == 3
    record = tomllib.loads(new_text)
    assert [a.get("text") or a["tags"] for a in record["amendments"]] == [
        "first", ["+baseline"], "second"]
    assert record["params"] == {"lr": 0.1}


def test_hand_written_inline_amendments_are_extended_in_their_own_form(repo: Path) -> None:
    new_note_run(repo)
    path = record_file(repo)
    text = path.read_text().replace(
        "status =",
        'amendments = [{at = 2026-11-01T10:00:00.000+09:00, text = "by hand"}]\nstatus =')
    path.write_text(text)
    assert journal("note", "@", "by journal", cwd=repo).returncode == 0
    record = only_record(repo / ".journal")
    assert [a["text"] for a in record["amendments"]] == ["by hand", "by journal"]
    assert "[[amendments]]" not in path.read_text()


def test_twenty_notes_at_once_keep_all_twenty(repo: Path) -> None:
    run_id = new_note_run(repo)
    processes = [
        subprocess.Popen([PY, "-m", "journal", "note", run_id, f"amendment {n}"], cwd=repo,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in range(20)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    record = only_record(repo / ".journal")
    texts = sorted(a["text"] for a in record["amendments"])
    assert texts == sorted(f"amendment {n}" for n in range(20))
    assert record["note"] == "original note"
    assert not list((repo / ".journal").rglob("*.lock"))
    assert not list((repo / ".journal").rglob("*.tmp"))


def test_amendments_made_while_the_run_goes_survive_its_final_write(repo: Path) -> None:
    wrapper = subprocess.Popen(
        [PY, "-m", "journal", "new", "-n", "long run", "-t", "first", "--",
         "sh", "-c", "sleep 1.5"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not records(repo / ".journal"):
        assert time.monotonic() < deadline, "the run was never put on record"
        time.sleep(0.02)
    run_id = records(repo / ".journal")[0]["id"]
    tagged = journal("tag", run_id, "+live", "-first", cwd=repo)
    assert tagged.returncode == 0, tagged.stderr
    # Keep amending until the wrapper has finished, so some amendments land right at its end.
    texts = []
    while wrapper.poll() is None:
        text = f"during {len(texts)}"
        done = journal("note", run_id, text, cwd=repo)
        assert done.returncode == 0, done.stderr
        texts.append(text)
    assert wrapper.wait() == 0
    record = only_record(repo / ".journal")
    assert record["status"] == "finished" and record["exit_code"] == 0
    assert record["duration"] >= 1.5
    assert [a.get("text") or a["tags"] for a in record["amendments"]] == [
        ["+live", "-first"], *texts] and texts
    assert record["tags"] == ["live"]
    assert record["note"] == "long run"


def test_secrets_in_notes_and_tags_are_redacted(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text('[redact]\nvalues = ["mycorp_[0-9a-f]{8}"]\n')
    new_note_run(repo)
    token = "ghp_" + "a1B2c3D4e5" * 4
    done = journal("note", "@", f"pushed with {token}, internal mycorp_deadbeef, HF_TOKEN=hunter2",
                   cwd=repo)
    assert done.returncode == 0, done.stderr
    assert journal("tag", "@", "+" + token, cwd=repo).returncode == 0
    raw = record_file(repo).read_text()
    for secret in (token, "mycorp_deadbeef", "hunter2"):
        assert secret not in raw
    record = only_record(repo / ".journal")
    assert record["amendments"][0]["text"] == "pushed with ***, internal ***, HF_TOKEN=***"
    assert record["tags"] == ["***"]


def test_hostile_text_is_stored_escaped_and_the_record_stays_valid(repo: Path) -> None:
    new_note_run(repo)
    hostile = 'esc \x1b]52;c;aGk=\x07 bidi \u202e quote " backslash \\ nul-free \x85 end'
    assert journal("note", "@", hostile, cwd=repo).returncode == 0
    raw = record_file(repo).read_bytes()
    assert b"\x1b" not in raw and "\u202e".encode() not in raw and "\x85".encode() not in raw
    assert only_record(repo / ".journal")["amendments"][0]["text"] == hostile


def test_an_empty_note_is_refused(repo: Path) -> None:
    new_note_run(repo)
    before = record_file(repo).read_bytes()
    line = error_line(journal("note", "@", "  ", cwd=repo))
    assert line == "journal: error: the note text is empty"
    assert record_file(repo).read_bytes() == before


def test_a_record_that_does_not_parse_is_named_and_left_untouched(repo: Path) -> None:
    run_id = new_note_run(repo)
    path = record_file(repo)
    broken = path.read_bytes() + b"\nbroken = [\n"
    path.write_bytes(broken)
    done = journal("note", run_id, "late insight", cwd=repo)
    line = error_line(done)
    assert str(path) in line and "not a valid record" in line and "not changed" in line
    assert path.read_bytes() == broken
    done = journal("tag", run_id[:20], "+x", cwd=repo)
    assert str(path) in error_line(done)
    assert path.read_bytes() == broken
    assert not list((repo / ".journal").rglob("*.lock"))


def test_an_unknown_run_is_one_line(repo: Path) -> None:
    new_note_run(repo)
    assert error_line(journal("note", "nosuchrun", "x", cwd=repo)) == \
        "journal: error: unknown run 'nosuchrun'"
    assert "unknown run" in error_line(journal("tag", "../../etc/passwd", "+x", cwd=repo))


# -- tags ---------------------------------------------------------------------------------------

def test_tags_are_added_and_removed_in_order(repo: Path) -> None:
    run_id = new_note_run(repo, "-t", "draft", "-t", "adam")
    done = journal("tag", "@", "-draft", "+baseline", "sweep", "+adam", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"journal: {run_id}: tags adam, baseline, sweep\n".encode()
    assert only_record(repo / ".journal")["tags"] == ["adam", "baseline", "sweep"]


def test_a_leading_minus_tag_is_a_removal_not_an_option(repo: Path) -> None:
    # `-draft` must reach the command; `-hyper` starts with -h, which must not print help.
    new_note_run(repo, "-t", "draft", "-t", "hyper", "-t", "keep")
    done = journal("tag", "@", "-draft", cwd=repo)
    assert done.returncode == 0, done.stderr
    done = journal("tag", "@", "-hyper", cwd=repo)
    assert done.returncode == 0 and done.stdout == b"", (done.stdout, done.stderr)
    assert only_record(repo / ".journal")["tags"] == ["keep"]
    assert journal("tag", "@", "--", "-keep", cwd=repo).returncode == 0
    assert only_record(repo / ".journal")["tags"] == []


def test_removing_a_missing_tag_warns_and_keeps_the_change_for_sync(repo: Path) -> None:
    """The tags stay as they are; the change is kept with its time, because another machine's
    copy of the run may have the tag (`journal sync` applies changes in time order)."""
    run_id = new_note_run(repo, "-t", "a")
    done = journal("tag", "@", "-nope", cwd=repo)
    assert done.returncode == 0
    assert done.stderr.decode().splitlines() == [
        f"journal: warning: run {run_id} has no tag 'nope' here", f"journal: {run_id}: tags a"]
    record = only_record(repo / ".journal")
    assert record["tags"] == ["a"] and [a["tags"] for a in record["amendments"]] == [["-nope"]]


def test_a_record_without_tags_gets_them(repo: Path) -> None:
    new_note_run(repo)
    path = record_file(repo)
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith("tags =")))
    assert journal("tag", "@", "+found", cwd=repo).returncode == 0
    assert only_record(repo / ".journal")["tags"] == ["found"]


def test_odd_tags_are_one_clear_error(repo: Path) -> None:
    new_note_run(repo, "-t", "a")
    before = record_file(repo).read_bytes()
    for bad in ("+", "-", "", "two words", "++x", "--x", "+-x", "esc\x1b[2J", "zero\u200bwidth",
                "x" * 201):
        line = error_line(journal("tag", "@", "+ok", bad, cwd=repo))
        assert "tag" in line and "\x1b" not in line, (bad, line)
    assert record_file(repo).read_bytes() == before


def test_records_with_finer_or_naive_times_can_be_amended(repo: Path) -> None:
    """A hand-made record with microseconds, or times without an offset, keeps them as written:
    only the fields that change are checked against what the writer makes of them."""
    run_id = new_note_run(repo)
    path = record_file(repo)
    text = path.read_text()
    text = text.replace(text.split("started = ")[1].split("\n")[0], "2026-11-28T16:42:07.123456+09:00")
    path.write_text(text + "\n[naive]\nat = 2026-11-28T16:42:07\nday = 2026-11-28\n")
    assert journal("note", run_id, "still amendable", cwd=repo).returncode == 0
    assert journal("tag", run_id, "+hand", cwd=repo).returncode == 0
    record = only_record(repo / ".journal")
    assert record["started"].microsecond == 123456
    assert record["naive"] == {"at": dt.datetime(2026, 11, 28, 16, 42, 7), "day": dt.date(2026, 11, 28)}
    assert [a.get("text") or a["tags"] for a in record["amendments"]] == [
        "still amendable", ["+hand"]] and record["tags"] == ["hand"]
    assert "started = 2026-11-28T16:42:07.123456+09:00" in path.read_text()


def test_a_record_that_does_not_parse_is_named_without_taking_its_lock(repo: Path) -> None:
    run_id = new_note_run(repo)
    path = record_file(repo)
    path.write_text("not = [valid\n")
    line = error_line(journal("note", run_id, "x", cwd=repo))
    assert str(path) in line and "not a valid record" in line
    assert not path.with_name(path.name + ".lock").exists()


def test_an_empty_lock_left_by_a_killed_writer_is_broken_once_old(repo: Path) -> None:
    """A `journal note` killed between creating the lock and writing its pid leaves an empty
    lock: a fresh one is waited for (its writer is about to fill it), an old one is broken."""
    import os

    run_id = new_note_run(repo)
    path = record_file(repo)
    lock = path.with_name(path.name + ".lock")
    lock.write_text("")
    old = time.time() - 60
    os.utime(lock, (old, old))
    started = time.monotonic()
    done = journal("note", run_id, "after the crash", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 5
    assert [a["text"] for a in only_record(repo / ".journal")["amendments"]] == ["after the crash"]
    assert not lock.exists()


def test_a_live_writers_lock_is_never_broken(repo: Path) -> None:
    """Only a dead holder's lock is broken; a live one (here: this test's own pid) is waited for
    until the time runs out, and nothing is written meanwhile."""
    import os

    from journal.store import lock as locking

    run_id = new_note_run(repo)
    path = record_file(repo)
    lock = path.with_name(path.name + ".lock")
    lock.write_text(f"{os.getpid()} {os.uname().nodename}\n")
    before = path.read_bytes()
    saved = locking.LOCK_TIMEOUT
    locking.LOCK_TIMEOUT = 0.3
    try:
        done = journal("note", run_id, "must wait", cwd=repo)
    finally:
        locking.LOCK_TIMEOUT = saved
    assert done.returncode == 2 and b"is locked by another journal process" in done.stderr
    assert path.read_bytes() == before and lock.exists()


def test_a_run_with_a_none_param_takes_notes_and_tags(repo: Path) -> None:
    """argparse's `default=None` is a None param, written `{}`: amending must read it as every
    reader does, not see a changed field and refuse."""
    (repo / "train.py").write_text(
        "import argparse\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--resume', default=None)\n"
        "parser.add_argument('--lr', type=float, default=0.1)\n"
        "parser.parse_args()\n")
    done = journal("new", "-n", "with a None default", "--", PY, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "resume = {}" in record_file(repo).read_text()
    noted = journal("note", "@", "data leak", cwd=repo)
    tagged = journal("tag", "@", "+best", cwd=repo)
    assert noted.returncode == tagged.returncode == 0, (noted.stderr, tagged.stderr)
    record = only_record(repo / ".journal")            # the file as TOML has it
    assert record["params"]["resume"] == {} and record["params"]["lr"] == 0.1
    assert record["amendments"][0]["text"] == "data leak"
    shown = journal("show", "@", cwd=repo).stdout.decode()
    assert "data leak" in shown and "best" in shown and "resume" in shown
